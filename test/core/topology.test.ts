// Carving, validation, VPC expansion and placement of the topology core.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanaError } from '../../src/core/errors.js';
import { formatCidr, parseCidr, cidrContains, cidrsOverlap } from '../../src/core/net/ipv4.js';
import { parseTopology } from '../../src/core/topology/layout.js';
import { placeHost, stillEligible } from '../../src/core/topology/placement.js';
import { renderTopology } from '../../src/core/topology/render.js';

const net = (cidr: string, extra: object = {}) => ({ networks: [{ name: 'n', cidr, ...extra }] });
const doc = (map: unknown[], cidr = '10.0.0.0/16', extra: object = {}) => ({ ...net(cidr, extra), topologies: [{ networks: ['n'], map }] });
const leafCidrs = (d: unknown) => parseTopology(d).leaves.map((l) => formatCidr(l.cidrs.n));
const invalidWith = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RomanaError && e.kind === 'invalid' && re.test(e.message));

describe('carving', () => {
  it('splits 4 groups of a /16 into /18s', () => {
    assert.deepEqual(leafCidrs(doc([{ groups: [] }, { groups: [] }, { groups: [] }, { groups: [] }])),
      ['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18', '10.0.192.0/18']);
  });
  it('pads 3 groups to 4: they also get /18s and the 4th slot stays unused', () => {
    const l = parseTopology(doc([{ groups: [] }, { groups: [] }, { groups: [] }]));
    assert.deepEqual(l.leaves.map((g) => formatCidr(g.cidrs.n)), ['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18']);
    assert.equal(l.leaves.length, 3);
  });
  it('gives a single top-level entry the whole network', () => {
    assert.deepEqual(leafCidrs(doc([{ groups: [] }])), ['10.0.0.0/16']);
  });
  it('nests: each level splits again', () => {
    assert.deepEqual(leafCidrs(doc([{ groups: [] }, { groups: [{ groups: [] }, { groups: [] }, { groups: [] }] }])),
      ['10.0.0.0/17', '10.0.128.0/19', '10.0.160.0/19', '10.0.192.0/19']);
  });
  it('carves each network of a topology independently', () => {
    const l = parseTopology({ networks: [{ name: 'a', cidr: '10.0.0.0/16' }, { name: 'b', cidr: '10.20.0.0/24' }], topologies: [{ networks: ['a', 'b'], map: [{ groups: [] }, { groups: [] }] }] });
    assert.deepEqual(l.leaves.map((g) => [formatCidr(g.cidrs.a), formatCidr(g.cidrs.b)]), [['10.0.0.0/17', '10.20.0.0/25'], ['10.0.128.0/17', '10.20.0.128/25']]);
  });
  it('property: sibling leaves are disjoint and inside the network', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 9 }), (shape) => {
      const map = shape.map((n) => ({ groups: Array.from({ length: n }, () => ({ groups: [] })) }));
      const l = parseTopology(doc(map, '10.0.0.0/8', { block_mask: 32 }));
      const cidrs = l.leaves.map((g) => g.cidrs.n);
      for (const c of cidrs) assert.ok(cidrContains(parseCidr('10.0.0.0/8'), c));
      for (let i = 0; i < cidrs.length; i++) for (let j = i + 1; j < cidrs.length; j++) assert.ok(!cidrsOverlap(cidrs[i], cidrs[j]));
      assert.equal(l.leaves.length, shape.reduce((s, n) => s + Math.max(1, n), 0));
    }));
  });
});

describe('block_mask', () => {
  it('defaults to 29, or the network prefix when longer; 0 means default', () => {
    assert.equal(parseTopology(doc([{ groups: [] }])).networks[0].blockMask, 29);
    assert.equal(parseTopology(doc([{ groups: [] }], '10.0.0.0/30')).networks[0].blockMask, 30);
    assert.equal(parseTopology(doc([{ groups: [] }], '10.0.0.0/16', { block_mask: 0 })).networks[0].blockMask, 29);
  });
  it('must lie between the prefix and 32', () => {
    invalidWith(() => parseTopology(doc([{ groups: [] }], '10.0.0.0/24', { block_mask: 20 })), /block_mask/);
    invalidWith(() => parseTopology(doc([{ groups: [] }], '10.0.0.0/24', { block_mask: 33 })), /block_mask/);
  });
  it('must not be wider than a leaf group', () => {
    const eight = Array.from({ length: 8 }, () => ({ groups: [] }));
    invalidWith(() => parseTopology(doc(eight, '10.0.0.0/24', { block_mask: 26 })), /wider than the group/);
    assert.equal(parseTopology(doc(eight, '10.0.0.0/24', { block_mask: 27 })).leaves.length, 8);
  });
});

describe('validation', () => {
  it('rejects duplicate network names, overlaps, a network in two topologies, unknown networks', () => {
    const n2 = (a: string, b: string) => [{ name: 'a', cidr: a }, { name: 'b', cidr: b }];
    invalidWith(() => parseTopology({ networks: [{ name: 'a', cidr: '10.0.0.0/16' }, { name: 'a', cidr: '10.1.0.0/16' }], topologies: [] }), /networks\[1\]\.name: duplicate/);
    invalidWith(() => parseTopology({ networks: n2('10.0.0.0/16', '10.0.128.0/17'), topologies: [] }), /networks\[1\]\.cidr: .*overlaps/);
    invalidWith(() => parseTopology({ networks: n2('10.0.0.0/16', '10.1.0.0/16'), topologies: [{ networks: ['a'], map: [] }, { networks: ['a'], map: [] }] }), /topologies\[1\]\.networks\[0\]: .*already/);
    invalidWith(() => parseTopology({ networks: n2('10.0.0.0/16', '10.1.0.0/16'), topologies: [{ networks: ['x'], map: [] }] }), /unknown network 'x'/);
  });
  it('rejects bad tenant names, bad CIDRs and host bits', () => {
    invalidWith(() => parseTopology(doc([], '10.0.0.0/16', { tenants: ['ok', 'bad name'] })), /networks\[0\]\.tenants\[1\]/);
    invalidWith(() => parseTopology(doc([], '10.0.0.1/16')), /host bits/);
    invalidWith(() => parseTopology(doc([], 'nope')), /networks\[0\]\.cidr/);
    invalidWith(() => parseTopology({ networks: 'x', topologies: [] }), /networks/);
  });
  it('rejects repeated hosts in a document, and hosts that break their assignment', () => {
    invalidWith(() => parseTopology(doc([{ groups: [{ name: 'h', ip: '1.1.1.1' }] }, { groups: [{ name: 'h', ip: '1.1.1.2' }] }])), /listed twice/);
    invalidWith(() => parseTopology(doc([{ groups: [{ name: 'h', ip: '1.1.1.1' }, { name: 'g', ip: '1.1.1.1' }] }])), /already the IP/);
    invalidWith(() => parseTopology(doc([{ assignment: { a: 'b' }, groups: [{ name: 'h', ip: '1.1.1.1' }] }])), /assignment/);
    invalidWith(() => parseTopology(doc([{ groups: [{ name: 'h', ip: '1.1.1.1' }, { groups: [] }] }])), /either hosts or groups/);
  });
  it('accepts and ignores cidr/cidrs fields, so GET output can be posted back', () => {
    const l = parseTopology(doc([{ cidr: '1.2.3.0/24', cidrs: { n: 'x' }, groups: [] }]));
    assert.equal(formatCidr(l.leaves[0].cidrs.n), '10.0.0.0/16');
  });
  it('refuses unknown fields at every level, naming them (and the field meant)', () => {
    invalidWith(() => parseTopology(doc([{ name: 'r1', assigment: { rack: 'r1' }, groups: [] }])), /^topologies\[0\]\.map\[0\]\.assigment: is not a known field \(did you mean 'assignment'\?\)$/);
    invalidWith(() => parseTopology(doc([{ groups: [] }], '10.0.0.0/16', { blockmask: 24 })), /^networks\[0\]\.blockmask: is not a known field \(did you mean 'block_mask'\?\)$/);
    invalidWith(() => parseTopology(doc([{ groups: [{ groups: [], colour: 'red' }] }])), /^topologies\[0\]\.map\[0\]\.groups\[0\]\.colour: is not a known field$/);
    invalidWith(() => parseTopology({ ...doc([]), version: 2 }), /^version: is not a known field$/);
    invalidWith(() => parseTopology({ networks: [], topologies: [{ networks: [], map: [], extra: 1 }] }), /^topologies\[0\]\.extra: is not a known field$/);
    invalidWith(() => parseTopology({ type: 'vpc', 'num-azs': 2, 'prefix-groups': 2, network: '10.0.0.0/16', zone: ['a'] }), /^zone: is not a known field \(did you mean 'zones'\?\)$/);
  });
  it('refuses fields that do not suit a host or a group', () => {
    invalidWith(() => parseTopology(doc([{ groups: [{ name: 'h', ip: '1.1.1.1', assignment: { a: 'b' } }] }])), /map\[0\]\.groups\[0\]\.assignment: a host entry has only name, ip, id and labels/);
    invalidWith(() => parseTopology(doc([{ name: 'g', labels: { rack: 'r1' }, groups: [] }])), /map\[0\]\.labels: a group has no labels/);
  });
  it('refuses duplicate group names in a topology, at any depth', () => {
    invalidWith(() => parseTopology(doc([{ name: 'r1', groups: [] }, { name: 'r1', groups: [] }])), /map\[1\]\.name: group name 'r1' is already used by topologies\[0\]\.map\[0\]/);
    invalidWith(() => parseTopology(doc([{ name: 'z', groups: [{ name: 'r', groups: [] }] }, { name: 'y', groups: [{ name: 'r', groups: [] }] }])), /map\[1\]\.groups\[0\]\.name: group name 'r' is already used/);
    assert.equal(parseTopology(doc([{ groups: [] }, { groups: [] }])).leaves.length, 2, 'unnamed groups are fine');
  });
});

describe('VPC shorthand', () => {
  const vpc = (o: object) => parseTopology({ type: 'vpc', network: '10.192.0.0/16', ...o });
  it('expands max prefix groups per zone: 3 AZs -> 16 each (largest power of two <= 16)', () => {
    const l = vpc({ 'num-azs': 3, 'prefix-groups': 'max' });
    assert.equal(l.networks[0].name, 'vpc');
    assert.equal(l.topologies[0].root.children.length, 3);
    assert.deepEqual(l.topologies[0].root.children.map((g) => g.name), ['az-1', 'az-2', 'az-3']);
    assert.equal(l.leaves.length, 48);
    assert.deepEqual(l.topologies[0].root.children[1].assignment, { 'topology.kubernetes.io/zone': 'az-2' });
  });
  it('splits the space as docs/topology.md says: zones share the network (3 pad to 4: /18s), each zone\'s prefix groups share its part (16: /22s), block_mask kept', () => {
    const l = vpc({ 'num-azs': 3, 'prefix-groups': 'max', block_mask: 27 });
    assert.equal(l.networks[0].blockMask, 27);
    const cidr = (g: { cidrs: Record<string, { base: number; prefix: number }> }) => formatCidr(g.cidrs.vpc);
    assert.deepEqual(l.topologies[0].root.children.map((z) => [z.name, cidr(z)]), [['az-1', '10.192.0.0/18'], ['az-2', '10.192.64.0/18'], ['az-3', '10.192.128.0/18']]);
    const az2 = l.topologies[0].root.children[1].children;
    assert.deepEqual([az2[0], az2[1], az2[15]].map((g) => [g.name, cidr(g), g.assignment]), [['az-2-1', '10.192.64.0/22', {}], ['az-2-2', '10.192.68.0/22', {}], ['az-2-16', '10.192.124.0/22', {}]]);
    // A host needs only the zone label; it lands in a prefix group of its zone.
    const placed = placeHost(l, {}, { name: 'h1', ip: '192.168.1.1', labels: { 'topology.kubernetes.io/zone': 'az-3' } });
    assert.deepEqual(placed.map((k) => l.groupsByKey.get(k)!.name), ['az-3-1']);
  });
  it('uses zone names, checks their count and the route limit', () => {
    assert.equal(vpc({ 'num-azs': 2, 'prefix-groups': 4, zones: ['us-a', 'us-b'] }).topologies[0].root.children[0].name, 'us-a');
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 4, zones: ['us-a'] }), /zones/);
    invalidWith(() => vpc({ 'num-azs': 3, 'prefix-groups': 17 }), /prefix-groups.*50/);
    assert.equal(vpc({ 'num-azs': 5, 'prefix-groups': 'max' }).leaves.length, 40);
  });
  it('names its own fields in errors, not the expanded document\'s', () => {
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 2, network: '10.192.0.1/16' }), /^network: .*host bits/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 2, network: 'ten' }), /^network: /);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 16, network: '10.192.0.0/28' }), /^prefix-groups: 2 zones x 16 prefix groups do not fit in 10\.192\.0\.0\/28/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 16, network: '10.192.0.0/25' }), /^block_mask: \/29 blocks do not fit in the \/30 of each prefix group/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 2, block_mask: 12 }), /^block_mask: 12 must be between/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 2, zones: ['a', 'a'] }), /^zones: 'a' is listed twice/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 2, zones: ['a', 'a-1'] }), /^zones: group name 'a-1' would be used twice/);
    invalidWith(() => vpc({ 'num-azs': 2, 'prefix-groups': 'many' }), /^prefix-groups: must be 'max' or a whole number of at least 1$/);
  });
  it('a host that fits no group is told the labels each group requires', () => {
    const l = vpc({ 'num-azs': 3, 'prefix-groups': 'max' });
    assert.throws(() => placeHost(l, {}, { name: 'h1', ip: '1.1.1.1', labels: { zone: 'az-1' } }), (e: RomanaError) => e.kind === 'no_suitable_group' &&
      e.message === "no group accepts host 'h1' (labels: zone=az-1); a host needs the labels of one of: topology.kubernetes.io/zone=az-1 (groups az-1-1…az-1-16); topology.kubernetes.io/zone=az-2 (groups az-2-1…az-2-16); topology.kubernetes.io/zone=az-3 (groups az-3-1…az-3-16)");
  });
});

describe('placement', () => {
  const l = parseTopology(doc([
    { name: 'g1', assignment: { tier: 'a' }, groups: [] }, { name: 'g2', groups: [] }, { name: 'g3', assignment: { tier: 'a' }, groups: [] },
  ]));
  const name = (k: string) => l.groupsByKey.get(k)!.name;
  it('fills the eligible leaf with the fewest hosts, ties to the first in map order', () => {
    const p: Record<string, string[]> = {};
    const order: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      p[`h${i}`] = placeHost(l, p, { name: `h${i}`, ip: `1.1.1.${i}`, labels: { tier: 'a' } });
      order.push(name(p[`h${i}`][0]));
    }
    assert.deepEqual(order, ['g1', 'g2', 'g3', 'g1', 'g2']);
  });
  it('keeps unlabelled hosts out of assigned groups; no eligible leaf is no_suitable_group', () => {
    assert.equal(name(placeHost(l, { x: [l.leaves[1].key] }, { name: 'h', ip: '1.1.1.1', labels: {} })[0]), 'g2');
    const strict = parseTopology(doc([{ assignment: { tier: 'a' }, groups: [] }]));
    assert.throws(() => placeHost(strict, {}, { name: 'h', ip: '1.1.1.1', labels: {} }), (e: RomanaError) => e.kind === 'no_suitable_group');
  });
  it('checks every level of assignment', () => {
    const nested = parseTopology(doc([{ assignment: { zone: 'z1' }, groups: [{ assignment: { rack: 'r1' }, groups: [] }] }]));
    assert.throws(() => placeHost(nested, {}, { name: 'h', ip: '1.1.1.1', labels: { rack: 'r1' } }));
    assert.equal(placeHost(nested, {}, { name: 'h', ip: '1.1.1.1', labels: { rack: 'r1', zone: 'z1' } }).length, 1);
    assert.equal(stillEligible(nested, [nested.leaves[0].key], { rack: 'r1', zone: 'z1', x: 'y' }), true);
    assert.equal(stillEligible(nested, [nested.leaves[0].key], { rack: 'r1' }), false);
  });
  it('places independently in every topology and lists listed hosts only where listed', () => {
    const two = parseTopology({
      networks: [{ name: 'a', cidr: '10.0.0.0/16' }, { name: 'b', cidr: '11.0.0.0/16' }],
      topologies: [{ networks: ['a'], map: [{ groups: [{ name: 's', ip: '2.2.2.2' }] }] }, { networks: ['b'], map: [{ groups: [] }, { groups: [] }] }],
    });
    assert.deepEqual(placeHost(two, {}, { name: 'dyn', ip: '1.1.1.1', labels: {} }), ['0:0', '1:0']);
    assert.deepEqual(placeHost(two, {}, { name: 's', ip: '2.2.2.2', labels: {} }), ['0:0']);
  });
  it('renders cidrs, a single-network cidr, and placed hosts under their leaf', () => {
    const r = renderTopology(l, [{ name: 'h', ip: '1.1.1.1', labels: {} }], { h: [l.leaves[1].key] });
    const g2 = r.topologies[0].map[1];
    assert.equal(g2.cidr, '10.0.64.0/18');
    assert.deepEqual(g2.cidrs, { n: '10.0.64.0/18' });
    assert.deepEqual(g2.groups, [{ name: 'h', ip: '1.1.1.1', labels: {} }]);
    assert.deepEqual(r.topologies[0].map[0].groups, []);
    assert.doesNotThrow(() => parseTopology(r), 'what is rendered is a valid document');
    assert.equal(r.topologies[0].map.length, 3);
  });
});
