// The renderers of the neutral form (ir.ts): what each spells for the matches the compiler does not
// emit yet (a masked address, for non-contiguous layouts) and for the vmap dispatch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IrHost } from '../../src/core/policy/ir.js';
import { renderIptables } from '../../src/core/policy/render-iptables.js';

/** One hook chain with a masked source, a masked destination, a set and a vmap dispatch. */
export const HAND_MADE: IrHost = {
  markBit: 0x10000,
  chains: [
    { name: 'ROMANA-FORWARD', hook: 'forward', rules: [
      { match: { ct: 'established' }, verdict: { kind: 'accept' } },
      { match: {}, verdict: { kind: 'jump', chain: 'ROMANA-INGRESS' } },
    ] },
    { name: 'ROMANA-INGRESS', rules: [{ match: {}, verdict: { kind: 'vmap', key: 'dst', map: 'ROMANA-INGRESS-MAP' } }] },
    { name: 'ROMANA-EPI-X', comment: 'ingress of endpoints selected by p', rules: [
      { match: {}, verdict: { kind: 'unmark' } },
      { match: {}, verdict: { kind: 'jump', chain: 'ROMANA-PI-Y' } },
      { match: { marked: true }, verdict: { kind: 'return' } },
      { match: {}, verdict: { kind: 'drop' }, counter: 'ROMANA-EPI-X' },
    ] },
    { name: 'ROMANA-PI-Y', comment: 'policy p ingress', policy: { id: 'p', direction: 'ingress' }, rules: [
      { match: { src: { kind: 'masked', addr: '10.0.1.0', mask: '255.0.255.0' }, l4: [{ proto: 'tcp', ports: [[80, 80], [8000, 8080]] }] }, verdict: { kind: 'mark' }, counter: 'ROMANA-PI-Y' },
      { match: { src: { kind: 'set', set: 'ROMANA-NET-Z' }, dst: { kind: 'masked', addr: '10.2.0.3', mask: '255.255.0.255' } }, verdict: { kind: 'mark' }, counter: 'ROMANA-PI-Y' },
    ] },
  ],
  sets: [{ name: 'ROMANA-NET-Z', type: 'net', entries: ['10.9.0.0/16'], definition: '{}', comment: 'z' }],
  maps: [{ name: 'ROMANA-INGRESS-MAP', entries: [{ ip: '10.2.0.3', chain: 'ROMANA-EPI-X' }, { ip: '10.2.0.4', chain: 'ROMANA-EPI-X' }], comment: 'd' }],
  naiveRules: 0,
};

describe('iptables renderer', () => {
  it('spells a masked address as iptables-save does (address/mask), a vmap as one goto per entry', () => {
    const o = renderIptables(HAND_MADE);
    const rules = (n: string) => o.tables.chains.find((c) => c.name === n)!.rules;
    assert.deepEqual(rules('ROMANA-PI-Y'), [
      '-s 10.0.1.0/255.0.255.0 -p tcp -m multiport --dports 80,8000:8080 -j MARK --set-xmark 0x10000/0x10000',
      '-d 10.2.0.3/255.255.0.255 -m set --match-set ROMANA-NET-Z src -j MARK --set-xmark 0x10000/0x10000',
    ]);
    assert.deepEqual(rules('ROMANA-INGRESS'), ['-d 10.2.0.3/32 -g ROMANA-EPI-X', '-d 10.2.0.4/32 -g ROMANA-EPI-X']);
    assert.deepEqual(rules('ROMANA-EPI-X'), ['-j MARK --set-xmark 0x0/0x10000', '-j ROMANA-PI-Y', '-m mark --mark 0x10000/0x10000 -j RETURN', '-j DROP']);
    assert.match(o.iptables, /^# ROMANA-PI-Y: policy p ingress$/m);
  });
});
