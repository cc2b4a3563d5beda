// The pure IPAM integrity check: table tests for each finding, the two liveness oracles, and properties:
// a consistent state has no findings; any mix of safe corruptions is fully repaired by the repairs the
// check proposes, without losing a live address.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type CheckAddress, type CheckBlock, type CheckInput, type LivenessOracle, type RepairAction, attachmentLiveness, checkIpam, findLeaks, reportLiveness,
} from '../../src/core/ipam/check.js';
import { formatIp, parseCidr, parseIp } from '../../src/core/net/ipv4.js';

const ALL_LIVE: LivenessOracle = () => ({ state: 'live' });

/** A consistent state: owner i gets one /29 block at 10.0.i.0 holding `counts[i]` addresses. */
function state(owners: { host: string; tenant: string; count: number }[]): CheckInput {
  const s: CheckInput = { addresses: [], ipIndex: [], blocks: [], hosts: [...new Set(owners.map((o) => o.host))], reportingHosts: [] };
  owners.forEach((o, i) => {
    const cidr = `10.0.${i}.0/29`;
    const b: CheckBlock = { id: `b${i}`, cidr, network: 'n', host: o.host, tenant: o.tenant, segment: 'default', group: 'g', used: [], ops: o.count };
    for (let off = 0; off < o.count; off++) {
      const ip = formatIp(parseCidr(cidr).base + off);
      const name = `a${i}-${off}`;
      s.addresses.push({ name, ip, host: o.host, tenant: o.tenant, segment: 'default', network: 'n', block: cidr, created_at: '2024-01-01T00:00:00.000Z' });
      s.ipIndex.push({ ip, address: name });
      b.used.push(off);
    }
    if (o.count) s.blocks.push(b);
  });
  return s;
}

/**
 * What romanad's repairs do, on the pure state. Releases re-read the current state (a CAS loop); the
 * other repairs compare against the check's snapshot, so they are skipped when an earlier repair of the
 * same pass (`touched`) moved their keys.
 */
function applyRepair(s: CheckInput, a: RepairAction, touched: Set<string>): void {
  if (a.action === 'release') {
    const rec = s.addresses.find((x) => x.name === a.address && x.ip === a.ip);
    if (!rec) return;
    s.addresses = s.addresses.filter((x) => x !== rec);
    touched.add(`addr:${rec.name}`);
    const idx = s.ipIndex.find((e) => e.ip === rec.ip);
    if (idx && idx.address !== rec.name) return;
    s.ipIndex = s.ipIndex.filter((e) => e.ip !== rec.ip);
    touched.add(`ip:${rec.ip}`);
    const b = s.blocks.find((x) => x.host === rec.host && x.tenant === rec.tenant && x.cidr === rec.block);
    if (!b) return;
    touched.add(`block:${b.id}`);
    b.used = b.used.filter((o) => o !== parseIp(rec.ip) - parseCidr(b.cidr).base);
    if (b.used.length === 0) s.blocks = s.blocks.filter((x) => x !== b);
    return;
  }
  // A repair compares these keys against the snapshot, but writes only the first (src/control/check.ts):
  // an index fix never moves the address record it names, so two fixes naming one address both go ahead.
  const keys = a.action === 'recount' ? [`block:${a.block}`] : a.action === 'drop_status' ? [] : [`ip:${a.ip}`, `addr:${a.address}`];
  if (keys.some((k) => touched.has(k))) return;
  if (keys.length) touched.add(keys[0]);
  if (a.action === 'recount') {
    const b = s.blocks.find((x) => x.id === a.block)!;
    b.used = [...a.used];
    if (b.used.length === 0) s.blocks = s.blocks.filter((x) => x !== b);
  } else if (a.action === 'index') {
    s.ipIndex = [...s.ipIndex.filter((e) => e.ip !== a.ip), { ip: a.ip, address: a.address }];
  } else if (a.action === 'unindex') {
    s.ipIndex = s.ipIndex.filter((e) => !(e.ip === a.ip && e.address === a.address));
  } else {
    s.reportingHosts = s.reportingHosts!.filter((h) => h !== a.host);
  }
}

const kinds = (s: CheckInput, live = ALL_LIVE) => checkIpam(s, live).findings.map((f) => f.kind).sort();

describe('ipam check: findings', () => {
  const base = () => state([{ host: 'h1', tenant: 't', count: 3 }, { host: 'h2', tenant: 't', count: 2 }]);

  it('a consistent state has no findings', () => {
    assert.deepEqual(checkIpam(base(), ALL_LIVE).findings, []);
  });
  it('an address missing from the IP index, and an index entry with no address, are repaired by (un)indexing', () => {
    const s = base();
    s.ipIndex = s.ipIndex.filter((e) => e.address !== 'a0-1');
    s.ipIndex.push({ ip: '10.0.0.7', address: 'ghost' });
    const f = checkIpam(s, ALL_LIVE).findings;
    assert.deepEqual(f.map((x) => [x.kind, x.subject, x.safe]), [['index_missing', 'a0-1', true], ['index_dangling', '10.0.0.7', true]]);
    assert.deepEqual(f[0].repair, [{ action: 'index', ip: '10.0.0.1', address: 'a0-1' }]);
    assert.deepEqual(f[1].repair, [{ action: 'unindex', ip: '10.0.0.7', address: 'ghost' }]);
  });
  it('a block whose count disagrees with its addresses names the stale and the unmarked IPs', () => {
    const s = base();
    s.blocks[0].used = [0, 2, 5]; // 10.0.0.1 is in use but not marked; 10.0.0.5 is marked with no address
    const [f] = checkIpam(s, ALL_LIVE).findings;
    assert.equal(f.kind, 'count_mismatch');
    assert.match(f.detail, /no address: 10\.0\.0\.5/);
    assert.match(f.detail, /could be handed out twice\): 10\.0\.0\.1/);
    assert.deepEqual(f.repair, [{ action: 'recount', block: 'b0', used: [0, 1, 2] }]);
  });
  it('a block counted twice for one offset is a mismatch too', () => {
    const s = base();
    s.blocks[1].used = [0, 1, 1];
    assert.deepEqual(kinds(s), ['count_mismatch']);
  });
  it('two addresses with one IP: duplicate_ip, not safe, never called leaked', () => {
    const s = base();
    s.addresses.push({ ...s.addresses[0], name: 'dup', attributes: { host_ifname: 'x' } });
    const f = checkIpam(s, () => ({ state: 'dead', why: 'gone' })).findings;
    const dup = f.find((x) => x.kind === 'duplicate_ip')!;
    assert.equal(dup.safe, false);
    assert.deepEqual(dup.repair, []);
    assert.match(dup.advice!, /remove all but one/);
    assert.ok(!f.some((x) => x.kind === 'leaked' && (x.subject === 'dup' || x.subject === 'a0-0')));
  });
  it("a block whose host is gone: orphan_block, repaired by releasing its addresses (only while the host stays gone)", () => {
    const s = base();
    s.hosts = ['h1'];
    s.reportingHosts = ['h2'];
    const f = checkIpam(s, () => ({ state: 'dead', why: 'x' })).findings;
    const orphan = f.find((x) => x.kind === 'orphan_block')!;
    assert.equal(orphan.host, 'h2');
    assert.deepEqual(orphan.repair.map((r) => r.action === 'release' && [r.address, r.host_gone]), [['a1-0', true], ['a1-1', true]]);
    assert.ok(f.some((x) => x.kind === 'orphan_status' && x.subject === 'h2'));
    assert.ok(!f.some((x) => x.kind === 'leaked' && x.host === 'h2'), "a gone host's addresses are not leaks");
  });
  it('an address without its block, or outside it, is reported and not repaired automatically', () => {
    const s = base();
    s.addresses.push({ name: 'nob', ip: '10.9.0.1', host: 'h1', tenant: 't', segment: 'default', network: 'n', block: '10.9.0.0/29' });
    s.ipIndex.push({ ip: '10.9.0.1', address: 'nob' });
    s.addresses.push({ name: 'out', ip: '10.0.5.1', host: 'h1', tenant: 't', segment: 'default', network: 'n', block: '10.0.0.0/29' });
    s.ipIndex.push({ ip: '10.0.5.1', address: 'out' });
    const f = checkIpam(s, ALL_LIVE).findings;
    assert.deepEqual(f.map((x) => [x.kind, x.subject, x.safe]), [['address_without_block', 'nob', false], ['address_outside_block', 'out', false]]);
  });
  it('two owners holding one block is overlapping_block; unreadable records are bad_record', () => {
    const s = base();
    s.blocks.push({ ...s.blocks[0], id: 'b0-again', tenant: 'u', used: [1] });
    s.unreadable = [{ id: '/romana/addresses/x', why: 'not JSON' }];
    assert.deepEqual(kinds(s), ['bad_record', 'count_mismatch', 'overlapping_block']);
  });
});

describe('ipam check: liveness', () => {
  const now = Date.parse('2024-01-01T01:00:00Z');
  const addr = (over: Partial<CheckAddress> = {}): CheckAddress => ({
    name: 'a', ip: '10.0.0.1', host: 'h1', tenant: 't', segment: 's', network: 'n', block: '10.0.0.0/29',
    attributes: { host_ifname: 'rmn1' }, created_at: '2024-01-01T00:00:00Z', ...over,
  });
  const report = (at: string, interfaces: string[]) => [{ host: 'h1', received_at: at, interfaces, last_applied_revision: 1 }];
  const o = { staleMs: 120_000, graceMs: 60_000 };

  it('dead only with a fresh report made after the grace period that lacks the interface', () => {
    const live = reportLiveness(report('2024-01-01T00:59:30Z', ['lo', 'eth0']), now, o);
    assert.equal(live(addr()).state, 'dead');
    assert.equal(reportLiveness(report('2024-01-01T00:59:30Z', ['rmn1']), now, o)(addr()).state, 'live');
  });
  it('unknown: no interface recorded, no report, a stale report, a young address', () => {
    const live = reportLiveness(report('2024-01-01T00:59:30Z', []), now, o);
    assert.match(JSON.stringify(live(addr({ attributes: {} }))), /no host interface recorded/);
    assert.match(JSON.stringify(live(addr({ host: 'h2' }))), /has not reported/);
    assert.match(JSON.stringify(reportLiveness(report('2024-01-01T00:50:00Z', []), now, o)(addr())), /older than 120 s/);
    assert.match(JSON.stringify(live(addr({ created_at: '2024-01-01T00:59:00Z' }))), /too recently/);
    assert.match(JSON.stringify(live(addr({ created_at: '2024-01-01T01:00:10Z' }))), /too recently/, 'allocated after the report');
  });
  it('a record without an allocation time counts as old', () => {
    assert.equal(reportLiveness(report('2024-01-01T00:59:30Z', []), now, o)(addr({ created_at: undefined })).state, 'dead');
  });
  it('CNI GC: dead exactly when the attachment is not valid; other plugins and networks are unknown', () => {
    const live = attachmentLiveness([{ containerID: 'c1', ifname: 'eth0' }], 'romana-cni', 'net');
    const mk = (attributes: Record<string, string>) => addr({ attributes });
    assert.equal(live(mk({ plugin: 'romana-cni', cni_network: 'net', container_id: 'c1', ifname: 'eth0' })).state, 'live');
    assert.equal(live(mk({ plugin: 'romana-cni', cni_network: 'net', container_id: 'c2', ifname: 'eth0' })).state, 'dead');
    assert.equal(live(mk({ plugin: 'romana-cni', cni_network: 'other', container_id: 'c2', ifname: 'eth0' })).state, 'unknown');
    assert.equal(live(mk({ plugin: 'x', container_id: 'c2', ifname: 'eth0' })).state, 'unknown');
    assert.equal(live(mk({ plugin: 'romana-cni', cni_network: 'net' })).state, 'unknown');
  });
  it('findLeaks proposes a release conditional on the IP and allocation time, and counts the unjudged by reason', () => {
    const r = findLeaks([addr(), addr({ name: 'b', attributes: {} }), addr({ name: 'c', attributes: {} })], reportLiveness(report('2024-01-01T00:59:30Z', []), now, o));
    assert.deepEqual(r.findings.map((f) => f.repair), [[{ action: 'release', address: 'a', ip: '10.0.0.1', created_at: '2024-01-01T00:00:00Z' }]]);
    assert.deepEqual(r.unjudged, [{ why: 'no host interface recorded (not a CNI endpoint)', count: 2 }]);
  });
});

describe('ipam check: properties', () => {
  const owners = fc.array(fc.record({ host: fc.constantFrom('h1', 'h2', 'h3'), tenant: fc.constantFrom('t', 'u'), count: fc.integer({ min: 1, max: 8 }) }), { minLength: 1, maxLength: 6 });

  it('a consistent state has no findings', () => {
    fc.assert(fc.property(owners, (os) => checkIpam(state(os), ALL_LIVE).findings.length === 0));
  });

  // Safe corruptions (what a crash between non-atomic steps, or a removed host, could leave behind).
  const corruption = fc.record({ what: fc.constantFrom('drop-index', 'dangling-index', 'wrong-index', 'unmark', 'stale-mark', 'drop-host', 'dead'), pick: fc.nat() });
  it('the proposed repairs leave no safe finding, and keep every live address of an existing host', () => {
    fc.assert(fc.property(owners, fc.array(corruption, { maxLength: 6 }), (os, cs) => {
      const s = state(os);
      const dead = new Set<string>();
      for (const c of cs) {
        const a = s.addresses[c.pick % s.addresses.length];
        if (!a) continue;
        const b = s.blocks.find((x) => x.cidr === a.block)!;
        const off = parseIp(a.ip) - parseCidr(b.cidr).base;
        if (c.what === 'drop-index') s.ipIndex = s.ipIndex.filter((e) => e.ip !== a.ip);
        if (c.what === 'dangling-index') s.ipIndex = [...s.ipIndex.filter((e) => e.ip !== '10.1.0.1'), { ip: '10.1.0.1', address: a.name }];
        if (c.what === 'wrong-index') s.ipIndex = [...s.ipIndex.filter((e) => e.ip !== a.ip), { ip: a.ip, address: 'someone-else' }];
        if (c.what === 'unmark') b.used = b.used.filter((o) => o !== off);
        if (c.what === 'stale-mark' && b.used.length < 8) b.used = [...new Set([...b.used, 7])];
        if (c.what === 'drop-host') s.hosts = s.hosts.filter((h) => h !== a.host);
        if (c.what === 'dead') dead.add(a.name);
      }
      const live: LivenessOracle = (a) => (dead.has(a.name) ? { state: 'dead', why: 'x' } : { state: 'live' });
      const keep = s.addresses.filter((a) => !dead.has(a.name) && s.hosts.includes(a.host)).map((a) => a.name).sort();
      for (let pass = 0; pass < 3; pass++) {
        const touched = new Set<string>();
        for (const f of checkIpam(s, live).findings) for (const r of f.repair) applyRepair(s, r, touched);
      }
      const left = checkIpam(s, live).findings;
      assert.deepEqual(left.filter((f) => f.safe), [], JSON.stringify(left));
      assert.deepEqual(s.addresses.filter((a) => !dead.has(a.name) && s.hosts.includes(a.host)).map((a) => a.name).sort(), keep);
      assert.ok(!s.addresses.some((a) => dead.has(a.name) || !s.hosts.includes(a.host)), 'dead and orphaned addresses are released');
    }), { numRuns: 300 });
  });
});
