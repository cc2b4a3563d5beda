// Pure decisions for a requested address: where it may come from, and each refusal's reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanaError } from '../../src/core/errors.js';
import { emptyGroupState, nextBlock } from '../../src/core/ipam/ipam.js';
import { locateRequested, planRequested, planRequestedInLayout, takeSpecificBlock } from '../../src/core/ipam/requested.js';
import { formatCidr, parseCidr, parseIp } from '../../src/core/net/ipv4.js';
import type { Network } from '../../src/core/topology/layout.js';

const c = parseCidr;
const ip = parseIp;
const nets: Network[] = [
  { name: 'n', cidr: c('10.50.0.0/16'), blockMask: 29 },
  { name: 'r', cidr: c('10.60.0.0/16'), blockMask: 29, tenants: ['blue'] },
];
const groups: Record<string, string> = { n: '10.50.16.0/20', r: '10.60.0.0/20' };
const hostGroup = (net: string) => (groups[net] ? c(groups[net]) : undefined);
const refused = (re: RegExp, kind = 'invalid') => (e: unknown) => e instanceof RomanaError && e.kind === kind && re.test(e.message);

describe('locating a requested address', () => {
  it('in the host group of a network open to the tenant: that network and group', () => {
    const r = locateRequested(ip('10.50.17.3'), 't', 'h1', nets, hostGroup);
    assert.equal(r.network.name, 'n');
    assert.equal(formatCidr(r.group), '10.50.16.0/20');
  });
  it('outside every network: refused, naming the networks', () => {
    assert.throws(() => locateRequested(ip('192.168.1.1'), 't', 'h1', nets, hostGroup), refused(/not in any network.*'n' 10\.50\.0\.0\/16/));
  });
  it('in a network reserved for other tenants: refused', () => {
    assert.throws(() => locateRequested(ip('10.60.0.5'), 't', 'h1', nets, hostGroup), refused(/reserved for tenant\(s\) blue, not 't'/));
    assert.equal(locateRequested(ip('10.60.0.5'), 'blue', 'h1', nets, hostGroup).network.name, 'r');
  });
  it("in the network but outside the host's group: refused, because it could not be routed", () => {
    assert.throws(() => locateRequested(ip('10.50.0.9'), 't', 'h1', nets, hostGroup), refused(/outside host 'h1''s group 10\.50\.16\.0\/20 .*could not be routed/));
  });
  it('in a network where the host has no group: refused', () => {
    assert.throws(() => locateRequested(ip('10.60.0.5'), 'blue', 'h1', nets, (n) => (n === 'n' ? c('10.50.16.0/20') : undefined)), refused(/host 'h1' has no group/));
  });
});

describe('planning a requested address', () => {
  const group = c('10.50.16.0/20');
  it("from a block the owner holds: that block's offset", () => {
    const p = planRequested(ip('10.50.16.10'), group, 29, [{ cidr: c('10.50.16.0/29'), used: [0] }, { cidr: c('10.50.16.8/29'), used: [0] }], [], { next: 2, free: [], retired: 0 });
    assert.deepEqual(p, { kind: 'owned', index: 1, offset: 2 });
  });
  it('already taken in the owner\'s block: exists', () => {
    assert.throws(() => planRequested(ip('10.50.16.8'), group, 29, [{ cidr: c('10.50.16.8/29'), used: [0] }], [], { next: 2, free: [], retired: 0 }), refused(/10\.50\.16\.8 is already allocated/, 'exists'));
  });
  it('blacked out: refused, naming the blackout', () => {
    assert.throws(() => planRequested(ip('10.50.16.3'), group, 29, [{ cidr: c('10.50.16.0/29'), used: [] }], [c('10.50.16.0/30')], emptyGroupState()), refused(/blacked out \(10\.50\.16\.0\/30\)/));
  });
  it('in a block another host or owner holds: held, with its CIDR', () => {
    const p = planRequested(ip('10.50.16.3'), group, 29, [], [], { next: 1, free: [], retired: 0 });
    assert.equal(p.kind, 'held');
    assert.equal(formatCidr((p as { cidr: { base: number; prefix: number } }).cidr), '10.50.16.0/29');
  });
  it('in a free block past the next one: carved; the blocks skipped become free', () => {
    const p = planRequested(ip('10.50.16.42'), group, 29, [], [], { next: 2, free: [0], retired: 4 });
    assert.equal(p.kind, 'carve');
    if (p.kind !== 'carve') return;
    assert.equal(formatCidr(p.cidr), '10.50.16.40/29');
    assert.equal(p.blockIndex, 5);
    assert.equal(p.offset, 2);
    assert.deepEqual(p.group, { next: 6, free: [0, 2, 3, 4], retired: 4 });
  });
  it('in an emptied block: carved, and no longer free', () => {
    const p = planRequested(ip('10.50.16.1'), group, 29, [], [], { next: 3, free: [0, 2], retired: 0 });
    assert.deepEqual(p.kind === 'carve' && p.group, { next: 3, free: [2], retired: 0 });
  });
  it('property: after taking a specific block, carving hands out every other block exactly once, never that one', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 15 }), (next, pick) => {
      const g = c('10.0.0.0/26'); // 16 blocks of /30
      let st = { next, free: [] as number[], retired: 0 };
      if (!(pick >= next)) return; // only free blocks may be taken
      st = takeSpecificBlock(st, pick);
      const seen = new Set<number>();
      for (let b = nextBlock(g, 30, st, []); b; b = nextBlock(g, 30, st, [])) {
        assert.ok(!seen.has(b.index) && b.index !== pick && b.index >= next);
        seen.add(b.index);
        st = takeSpecificBlock(st, b.index);
      }
      assert.equal(seen.size, 16 - next - 1);
    }));
  });
});

describe('planning a requested address in a layout network', () => {
  it("from the owner's block only; never a carving", () => {
    assert.deepEqual(planRequestedInLayout(ip('10.1.2.5'), 'classic', [{ cidr: c('10.1.2.0/28'), used: [0] }], []), { kind: 'owned', index: 0, offset: 5 });
    assert.throws(() => planRequestedInLayout(ip('10.1.3.5'), 'classic', [{ cidr: c('10.1.2.0/28'), used: [0] }], []), refused(/layout: only this owner's block on this host can give it, and it has its block 10\.1\.2\.0\/28/));
    assert.throws(() => planRequestedInLayout(ip('10.1.3.5'), 'classic', [], []), refused(/no block yet/));
    assert.throws(() => planRequestedInLayout(ip('10.1.2.0'), 'classic', [{ cidr: c('10.1.2.0/28'), used: [0] }], []), refused(/already allocated/, 'exists'));
    assert.throws(() => planRequestedInLayout(ip('10.1.2.1'), 'classic', [{ cidr: c('10.1.2.0/28'), used: [0] }], [c('10.1.2.0/30')]), refused(/blacked out/));
  });
});
