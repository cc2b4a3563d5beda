// Topology replacement, decided by the pure core: re-placement by containment (renamed networks,
// restructured groups), the document/API ownership of hosts and labels, and the changes in words.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import { parseCidr, formatCidr } from '../../src/core/net/ipv4.js';
import { groupPath, parseTopology, type Layout } from '../../src/core/topology/layout.js';
import { type ReplaceInput, planReplacement } from '../../src/core/topology/replace.js';

const one = (map: unknown[], net: object = { name: 'n', cidr: '10.0.0.0/16' }) => parseTopology({ networks: [net], topologies: [{ networks: [(net as { name: string }).name], map }] });
const racks = (...names: string[]) => names.map((name) => ({ name, groups: [] }));
const block = (cidr: string, host: string, network = 'n', addresses = 1) => ({ network, cidr: parseCidr(cidr), host, tenant: 't', segment: 's', addresses });
const host = (name: string, labels: Record<string, string> = {}) => ({ name, ip: `192.168.0.${name.replace(/\D/g, '') || 9}`, labels });
const paths = (l: Layout, p: Record<string, string[]>) => Object.fromEntries(Object.entries(p).map(([h, ks]) => [h, ks.map((k) => groupPath(l.groupsByKey.get(k)!))]));
const conflictWith = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof RomanaError && e.kind === 'conflict' && re.test(e.message));

function plan(i: Partial<ReplaceInput> & { layout: Layout }) {
  return planReplacement({ hosts: [], blocks: [], blackouts: [], ...i });
}

describe('re-placement by containment', () => {
  const old = one(racks('r1', 'r2'));
  const current = { layout: old, placements: { h1: ['0:0'], h2: ['0:1'] } };
  const hosts = [host('h1'), host('h2')];

  it('a renamed network (same CIDR) keeps every block, under the new name', () => {
    const l = one(racks('r1', 'r2'), { name: 'pods', cidr: '10.0.0.0/16' });
    const p = plan({ layout: l, current, hosts, blocks: [block('10.0.128.0/29', 'h2', 'n', 3)], blackouts: [{ network: 'n', cidr: parseCidr('10.0.200.0/24') }] });
    assert.deepEqual(p.blocks, [{ network: 'pods', leaf: '0:1' }]);
    assert.deepEqual(paths(l, p.placements), { h1: ['r1'], h2: ['r2'] });
    assert.deepEqual([...p.blackouts].map(([n, cs]) => [n, cs.map(formatCidr)]), [['pods', ['10.0.200.0/24']]]);
    assert.deepEqual(p.changes.map((c) => `${c.object} ${c.name} ${c.change}`), ['network n renamed', 'blocks n -> pods moved', 'blackout 10.0.200.0/24 moved']);
    assert.match(p.changes[1].detail, /1 block\(s\) and 3 address\(es\) move to network pods, keeping their IPs, hosts and owners/);
  });

  it('restructured groups: a host goes to the leaf that holds its blocks, wherever that is', () => {
    // r1 becomes a zone of two racks; h1's block sits in the second of them.
    const l = one([{ name: 'zone', groups: racks('a', 'b') }, { name: 'r2', groups: [] }]);
    const p = plan({ layout: l, current, hosts, blocks: [block('10.0.64.8/29', 'h1'), block('10.0.64.16/29', 'h1')] });
    assert.deepEqual(paths(l, p.placements), { h1: ['zone/b'], h2: ['r2'] });
    assert.deepEqual(p.blocks.map((b) => b.leaf), ['0:0.1', '0:0.1']);
    assert.deepEqual(p.changes.filter((c) => c.object === 'host').map((c) => `${c.name}: ${c.detail}`), ['h1: from r1 to zone/b']);
  });

  it('hosts without blocks stay in the group of the same name when it still takes them', () => {
    const l = one(racks('r0', 'r2', 'r1'));
    const p = plan({ layout: l, current, hosts });
    assert.deepEqual(paths(l, p.placements), { h1: ['r1'], h2: ['r2'] });
  });

  it('refuses only a block that truly cannot be placed, and names it', () => {
    conflictWith(() => plan({ layout: one(racks('r1', 'r2'), { name: 'n', cidr: '10.1.0.0/16' }), current, hosts, blocks: [block('10.0.128.0/29', 'h2', 'n', 2)] }),
      /^block 10\.0\.128\.0\/29 \(host 'h2', tenant 't', segment 's', network 'n', 2 addresses\) would lie in no network of the new topology$/);
    // Three groups pad to four: the fourth quarter is in no group.
    conflictWith(() => plan({ layout: one(racks('a', 'b', 'c')), current, hosts, blocks: [block('10.0.200.0/29', 'h2')] }), /block 10\.0\.200\.0\/29 .* would lie in no leaf group/);
    conflictWith(() => plan({ layout: one(racks('a', 'b')), current, hosts, blocks: [block('10.0.0.0/29', 'h1'), block('10.0.128.0/29', 'h1')] }), /host 'h1' would have blocks in two groups/);
    conflictWith(() => plan({ layout: one(racks('a'), { name: 'n', cidr: '10.0.0.0/16', block_mask: 28 }), hosts, blocks: [block('10.0.0.0/29', 'h1')] }), /keep its block_mask 29/);
    conflictWith(() => plan({ layout: one(racks('a'), { name: 'n', cidr: '10.0.0.0/16', tenants: ['other'] }), hosts, blocks: [block('10.0.0.0/29', 'h1')] }), /reserved for tenants other/);
    conflictWith(() => plan({ layout: one([{ name: 'a', assignment: { rack: 'x' }, groups: [] }]), hosts, blocks: [block('10.0.0.0/29', 'h1')] }), /host 'h1' must stay in group a, which holds block 10\.0\.0\.0\/29 .* its labels \(none\) do not match/);
    conflictWith(() => plan({ layout: one(racks('a')), hosts, blackouts: [{ network: 'n', cidr: parseCidr('10.9.0.0/24') }] }), /blackout 10\.9\.0\.0\/24 \(network 'n'\) would lie in no network/);
  });
});

describe('who owns hosts and labels', () => {
  const listed = (labels: object) => one([{ name: 'r1', groups: [{ name: 'h1', ip: '192.168.0.1', labels }] }, { name: 'r2', groups: [{ name: 'h3', ip: '192.168.0.3', labels: { a: 'b' } }] }]);

  it('the first topology adds the hosts it lists, where it lists them', () => {
    const l = listed({ rack: 'a' });
    const p = plan({ layout: l });
    assert.deepEqual(p.added, [{ name: 'h1', ip: '192.168.0.1', labels: { rack: 'a' } }, { name: 'h3', ip: '192.168.0.3', labels: { a: 'b' } }]);
    assert.deepEqual(paths(l, p.placements), { h1: ['r1'], h3: ['r2'] });
    assert.ok(p.changes.some((c) => `${c.object} ${c.name} ${c.change}: ${c.detail}` === 'host h3 added: listed in the document: 192.168.0.3 in r2'));
  });
  it('later, a listed host places an existing host (its labels stay the API\'s); a missing one is skipped, not added', () => {
    const l = listed({ rack: 'old' });
    const current = { layout: one(racks('r1', 'r2')), placements: { h1: ['0:1'], h2: ['0:0'] } };
    const p = plan({ layout: l, current, hosts: [host('h1', { rack: 'new' }), host('h2')] });
    assert.deepEqual(p.added, []);
    assert.deepEqual(paths(l, p.placements), { h1: ['r1'], h2: ['r1'] });
    const notes = p.changes.filter((c) => c.object === 'host').map((c) => `${c.name} ${c.change}: ${c.detail}`);
    assert.deepEqual(notes, [
      'h1 moved: from r2 to r1',
      'h1 kept: labels stay rack=new as set through the API (the document lists rack=old; change them with romana host label)',
      'h3 skipped: listed in the document but does not exist: not added (romana host add adds a host; a removed host stays removed)',
    ]);
  });
  it('never removes a host: every stored host is placed', () => {
    const p = plan({ layout: one(racks('only')), hosts: [host('h1'), host('h2'), host('h3')] });
    assert.deepEqual(Object.keys(p.placements), ['h1', 'h2', 'h3']);
  });
  it('a listed host whose IP belongs to another, or that exists with another IP, is refused', () => {
    assert.throws(() => plan({ layout: listed({}), hosts: [{ name: 'h1', ip: '10.9.9.9', labels: {} }] }), (e: RomanaError) => e.kind === 'exists' && /already exists with IP 10\.9\.9\.9/.test(e.message));
    assert.throws(() => plan({ layout: listed({}), hosts: [{ name: 'x', ip: '192.168.0.3', labels: {} }] }), (e: RomanaError) => e.kind === 'exists' && /belongs to host 'x'/.test(e.message));
  });
});

describe('changes in words', () => {
  it('networks added, removed and changed; groups added, removed and re-carved', () => {
    const old = parseTopology({ networks: [{ name: 'a', cidr: '10.0.0.0/16' }, { name: 'b', cidr: '10.1.0.0/16' }], topologies: [{ networks: ['a', 'b'], map: racks('r1', 'r2') }] });
    const l = parseTopology({ networks: [{ name: 'a', cidr: '10.0.0.0/15' }, { name: 'c', cidr: '10.5.0.0/16' }], topologies: [{ networks: ['a', 'c'], map: racks('r1', 'r2', 'r3') }] });
    const p = plan({ layout: l, current: { layout: old, placements: {} } });
    assert.deepEqual(p.changes.map((c) => `${c.object} ${c.name} ${c.change}: ${c.detail}`), [
      'network b removed: 10.1.0.0/16, /29 blocks',
      'network a changed: 10.0.0.0/16, /29 blocks -> 10.0.0.0/15, /29 blocks',
      'network c added: 10.5.0.0/16, /29 blocks',
      'group r1 changed: a 10.0.0.0/17, b 10.1.0.0/17 -> a 10.0.0.0/17, c 10.5.0.0/18',
      'group r2 changed: a 10.0.128.0/17, b 10.1.128.0/17 -> a 10.0.128.0/17, c 10.5.64.0/18',
      'group r3 added: a 10.1.0.0/17, c 10.5.128.0/18',
    ]);
    assert.deepEqual(plan({ layout: old, current: { layout: old, placements: {} } }).changes, [], 'the same document changes nothing');
  });
});
