// Pure IPAM decisions: lowest free address, block carving and reuse, blackouts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanaError } from '../../src/core/errors.js';
import {
  candidateNetworks, emptyGroupState, lowestFree, nextBlock, planBlackout, planBlackoutRemoval, rebuildGroupState, returnBlock, takeBlock,
} from '../../src/core/ipam/ipam.js';
import { formatCidr, formatIp, parseCidr, parseIp } from '../../src/core/net/ipv4.js';
import type { Network } from '../../src/core/topology/layout.js';

const c = parseCidr;
const net = (name: string, cidr: string, tenants?: string[]): Network => ({ name, cidr: c(cidr), blockMask: 29, tenants });

describe('candidate networks', () => {
  const nets = [net('any1', '10.0.0.0/16'), net('t', '10.1.0.0/16', ['a', 'b']), net('any2', '10.2.0.0/16'), net('u', '10.3.0.0/16', ['a'])];
  it('tries networks listing the tenant first, in order, then wildcard ones', () => {
    assert.deepEqual(candidateNetworks(nets, 'a').map((n) => n.name), ['t', 'u', 'any1', 'any2']);
    assert.deepEqual(candidateNetworks(nets, 'z').map((n) => n.name), ['any1', 'any2']);
  });
  it('no network for the tenant is no_network', () => {
    assert.throws(() => candidateNetworks([net('t', '10.1.0.0/16', ['a'])], 'z'), (e: RomanaError) => e.kind === 'no_network');
  });
});

describe('lowest free address', () => {
  it('takes the lowest free address over all blocks, the first address included', () => {
    const r = lowestFree([{ cidr: c('10.0.0.8/29'), used: [] }, { cidr: c('10.0.0.0/29'), used: [0, 1, 3] }], []);
    assert.equal(formatIp(r!.ip), '10.0.0.2');
    assert.equal(r!.index, 1);
  });
  it('skips blacked-out addresses and reports full blocks', () => {
    const r = lowestFree([{ cidr: c('10.0.0.0/30'), used: [0] }], [c('10.0.0.0/31')]);
    assert.equal(formatIp(r!.ip), '10.0.0.2');
    assert.equal(lowestFree([{ cidr: c('10.0.0.0/31'), used: [0, 1] }], []), undefined);
  });
  it('property: the answer is free, not blacked out, and nothing lower is', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 15 })), fc.integer({ min: 0, max: 15 }), (used, bo) => {
      const block = { cidr: c('10.0.0.0/28'), used };
      const blackouts = [{ base: parseIp('10.0.0.0') + bo, prefix: 32 }];
      const r = lowestFree([block], blackouts);
      const ok = (o: number) => !used.includes(o) && o !== bo;
      const expected = Array.from({ length: 16 }, (_, i) => i).find(ok);
      assert.equal(r?.offset, expected);
    }));
  });
});

describe('carving blocks', () => {
  const g = c('10.0.0.0/27');
  it('carves in order, reuses emptied blocks first (lowest), and says when the group is full', () => {
    let s = emptyGroupState();
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const b = nextBlock(g, 29, s, [])!;
      got.push(formatCidr(b.cidr));
      s = takeBlock(s, b.index);
    }
    assert.deepEqual(got, ['10.0.0.0/29', '10.0.0.8/29', '10.0.0.16/29', '10.0.0.24/29']);
    assert.equal(nextBlock(g, 29, s, []), undefined);
    s = returnBlock(returnBlock(s, 2, 3), 1, 2);
    assert.equal(s.retired, 5);
    const r = nextBlock(g, 29, s, [])!;
    assert.deepEqual([formatCidr(r.cidr), r.reused], ['10.0.0.8/29', true]);
  });
  it('passes over blocks wholly inside a blackout', () => {
    const b = nextBlock(g, 29, emptyGroupState(), [c('10.0.0.0/28')])!;
    assert.equal(formatCidr(b.cidr), '10.0.0.16/29');
  });
  it('rebuilds a group state from the blocks present', () => {
    assert.deepEqual(rebuildGroupState(g, [c('10.0.0.16/29')]), { next: 3, free: [0, 1], retired: 0 });
    assert.deepEqual(rebuildGroupState(g, []), { next: 0, free: [], retired: 0 });
  });
});

describe('blackouts', () => {
  const nets = [net('n', '10.0.0.0/16')];
  const none = () => [];
  const kind = (k: string) => (e: RomanaError) => e.kind === k;
  it('must lie inside a network and not be the whole network', () => {
    assert.throws(() => planBlackout(nets, new Map(), c('11.0.0.0/24'), none), kind('not_found'));
    assert.throws(() => planBlackout(nets, new Map(), c('10.0.0.0/16'), none), kind('invalid'));
    assert.throws(() => planBlackout(nets, new Map(), c('10.0.0.0/8'), none), kind('invalid'));
  });
  it('conflicts with allocated addresses', () => {
    assert.throws(() => planBlackout(nets, new Map(), c('10.0.1.0/24'), () => [parseIp('10.0.1.7')]), kind('conflict'));
    assert.equal(planBlackout(nets, new Map(), c('10.0.1.0/24'), () => [parseIp('10.0.2.7')]).blackouts.length, 1);
  });
  it('a larger blackout replaces the ones it contains; a contained one is already there', () => {
    const cur = new Map([['n', [c('10.0.1.0/26'), c('10.0.1.64/26'), c('10.0.9.0/24')]]]);
    assert.deepEqual(planBlackout(nets, cur, c('10.0.1.0/24'), none).blackouts.map(formatCidr), ['10.0.1.0/24', '10.0.9.0/24']);
    assert.throws(() => planBlackout(nets, cur, c('10.0.9.0/25'), none), kind('exists'));
  });
  it('removal needs the exact CIDR', () => {
    const cur = new Map([['n', [c('10.0.1.0/24')]]]);
    assert.throws(() => planBlackoutRemoval(cur, c('10.0.1.0/25')), kind('not_found'));
    assert.deepEqual(planBlackoutRemoval(cur, c('10.0.1.0/24')), { network: 'n', blackouts: [] });
  });
});
