// The renderers of the neutral form (ir.ts): what each spells for the matches the compiler does not
// emit yet (a masked address, for non-contiguous layouts) and for the vmap dispatch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IrHost, L4Match } from '../../src/core/policy/ir.js';
import { renderIptables } from '../../src/core/policy/render-iptables.js';
import { nftComment, nftRuleKey, renderNft } from '../../src/core/policy/render-nft.js';
import { NftModel } from './nft-model.js';
import { Netfilter } from './netfilter-model.js';

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

describe('nftables renderer', () => {
  const h = renderNft(HAND_MADE);
  const rules = (n: string) => h.chains.find((c) => c.name === n)!.rules;

  it('spells a masked address as a bitwise match, ports of one protocol as one set, and counts into named counters', () => {
    assert.deepEqual(rules('ROMANA-PI-Y'), [
      'ip saddr & 255.0.255.0 == 10.0.1.0 tcp dport { 80, 8000-8080 } counter name "ROMANA-PI-Y" meta mark set meta mark | 0x00010000',
      'ip saddr @ROMANA-NET-Z ip daddr & 255.255.0.255 == 10.2.0.3 counter name "ROMANA-PI-Y" meta mark set meta mark | 0x00010000',
    ]);
    assert.deepEqual(h.counters, ['ROMANA-EPI-X', 'ROMANA-PI-Y']);
    assert.deepEqual([...h.counterPolicies], [['ROMANA-PI-Y', { id: 'p', direction: 'ingress' }]]);
  });

  it('a hook chain is a base chain at priority filter - 10 that lets IPv6 through; a vmap is a verdict map', () => {
    const fwd = h.chains.find((c) => c.name === 'ROMANA-FORWARD')!;
    assert.equal(fwd.base, 'type filter hook forward priority filter - 10; policy accept;');
    assert.deepEqual(fwd.rules, ['meta nfproto ipv6 accept', 'ct state established,related accept', 'jump ROMANA-INGRESS']);
    assert.deepEqual(rules('ROMANA-INGRESS'), ['ip daddr vmap @ROMANA-INGRESS-MAP']);
    assert.deepEqual(h.sets.find((s) => s.name === 'ROMANA-INGRESS-MAP')!.elements, ['10.2.0.3 : goto ROMANA-EPI-X', '10.2.0.4 : goto ROMANA-EPI-X']);
    assert.deepEqual(h.sets.find((s) => s.name === 'ROMANA-NET-Z'), { name: 'ROMANA-NET-Z', kind: 'set', type: 'ipv4_addr', interval: true, comment: 'z', elements: ['10.9.0.0/16'] });
  });

  it('port alternatives: a rule per protocol, a concatenation only where it saves two sets, an l4proto set for the rest, ICMP by name', () => {
    const ir = structuredClone(HAND_MADE);
    const rulesFor = (l4: L4Match[]) => {
      ir.chains[3].rules = [{ match: { l4 }, verdict: { kind: 'return' } }];
      return renderNft(ir).chains[3].rules;
    };
    assert.deepEqual(rulesFor([
      { proto: 'tcp', ports: [[53, 53], [2379, 2380]] }, { proto: 'udp', ports: [[53, 53], [67, 67]] }, { proto: 'sctp' },
      { proto: 'icmp', type: 8 }, { proto: 'icmp', type: 0 }, { proto: 'icmp', type: 3, code: 4 }, { proto: 'icmp', type: 42, code: 7 },
    ]), [
      'meta l4proto . th dport { tcp . 53, tcp . 2379-2380, udp . 53, udp . 67 } return',
      'meta l4proto sctp return',
      'icmp type { echo-reply, echo-request } return',
      'icmp type destination-unreachable icmp code frag-needed return',
      'icmp type 42 icmp code 7 return',
    ]);
    assert.deepEqual(rulesFor([{ proto: 'tcp', ports: [[80, 80], [443, 443]] }, { proto: 'udp', ports: [[53, 53]] }, { proto: 'icmp', type: 8 }]), [
      'tcp dport { 80, 443 } return', 'udp dport 53 return', 'icmp type echo-request return',
    ]);
  });

  it('means what the iptables rendering means, packet by packet (both models)', () => {
    const ipt = renderIptables(HAND_MADE);
    const a = new Netfilter(ipt.iptables, ipt.ipset);
    const b = new NftModel(h);
    const packets = [
      { src: '10.7.1.9', dst: '10.2.0.3', proto: 'tcp' as const, dport: 8080 }, // masked source, port in range
      { src: '10.7.2.9', dst: '10.2.0.3', proto: 'tcp' as const, dport: 8080 }, // masked source does not match
      { src: '10.9.3.3', dst: '10.2.0.3', proto: 'udp' as const, dport: 1 }, // set source, masked destination
      { src: '10.9.3.3', dst: '10.2.0.4', proto: 'udp' as const, dport: 1 },
      { src: '10.9.3.3', dst: '10.2.0.5', proto: 'udp' as const, dport: 1 }, // no map entry: not isolated
      { src: '10.9.3.3', dst: '10.2.0.4', proto: 'udp' as const, dport: 1, state: 'ESTABLISHED' as const },
    ];
    const got = packets.map((p) => [a.run('ROMANA-FORWARD', p), b.run('ROMANA-FORWARD', p)]);
    assert.deepEqual(got, [['RETURN', 'RETURN'], ['DROP', 'DROP'], ['RETURN', 'RETURN'], ['DROP', 'DROP'], ['RETURN', 'RETURN'], ['ACCEPT', 'ACCEPT']]);
    assert.equal(b.counters.get('ROMANA-PI-Y'), 2);
    assert.equal(b.counters.get('ROMANA-EPI-X'), 2);
  });

  it('compares rules whatever order nft lists an anonymous set\'s elements in', () => {
    assert.equal(nftRuleKey('meta l4proto . th dport { udp . 2000, tcp . 1020 } accept'), nftRuleKey('meta l4proto . th dport { tcp . 1020, udp . 2000 } accept'));
    assert.notEqual(nftRuleKey('tcp dport { 80, 81 } accept'), nftRuleKey('tcp dport { 80, 82 } accept'));
    assert.equal(nftRuleKey('ip saddr 10.0.0.1 accept'), 'ip saddr 10.0.0.1 accept');
  });

  it('comments: quotes and non-ASCII replaced, long ones cut', () => {
    assert.equal(nftComment('pods {"app":"a"} in ns'), "pods {'app':'a'} in ns");
    assert.equal(nftComment('caf\u00e9'), 'caf?');
    assert.equal(nftComment('x'.repeat(300)).length, 120);
  });
});
