// Romana's host/tenant/segment layout, pure: the seed's example, address arithmetic, masked owner
// matches, ID choice (lowest free, reuse, exhaustion naming the part) and host IDs across topology
// changes; and the topology document's `layout` field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanaError } from '../../src/core/errors.js';
import {
  type AddressLayout, type LayoutNetwork, chooseHostId, decodeAddress, exhausted, formatMasked, hostCidr, layoutAddress,
  lowestFreeId, matchesMasked, maxId, ownerMatch, segmentCidr, tenantCidr,
} from '../../src/core/ipam/address-layout.js';
import { cidrContains, cidrContainsIp, formatCidr, formatIp, parseCidr, parseIp } from '../../src/core/net/ipv4.js';
import { parseTopology } from '../../src/core/topology/layout.js';
import { assignHostIds, checkLayoutsKept, placeHost } from '../../src/core/topology/placement.js';

const classic: LayoutNetwork = { name: 'classic', cidr: parseCidr('10.0.0.0/8'), layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } };
const kindIs = (kind: string, re?: RegExp) => (e: unknown) => e instanceof RomanaError && e.kind === kind && (!re || re.test(e.message));

describe("the seed's example", () => {
  it('host 1 is 10.1.0.0/16, tenant 1 on it 10.1.1.0/24, its segment 1 10.1.1.16/28, endpoint 11 10.1.1.27', () => {
    assert.equal(formatCidr(hostCidr(classic, 1)), '10.1.0.0/16');
    assert.equal(formatCidr(tenantCidr(classic, 1, 1)), '10.1.1.0/24');
    assert.equal(formatCidr(segmentCidr(classic, 1, 1, 1)), '10.1.1.16/28');
    assert.equal(formatIp(layoutAddress(classic, { host: 1, tenant: 1, segment: 1, endpoint: 11 })), '10.1.1.27');
    assert.deepEqual(decodeAddress(classic, parseIp('10.1.1.27')), { host: 1, tenant: 1, segment: 1, endpoint: 11 });
  });
  it('"tenant 1 on every host" is one masked match, 10.0.1.0/255.0.255.0', () => {
    assert.equal(formatMasked(ownerMatch(classic, 1)), '10.0.1.0/255.0.255.0');
    assert.equal(formatMasked(ownerMatch(classic, 1, 1)), '10.0.1.16/255.0.255.240');
    assert.equal(formatMasked({ value: parseIp('10.0.0.0'), mask: parseIp('255.0.0.0') }), '10.0.0.0/8');
  });
  it('parses from a topology document: the block mask is the segment prefix and groups do not carve', () => {
    const l = parseTopology({
      networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: classic.layout }],
      topologies: [{ networks: ['classic'], map: [{ name: 'r1', groups: [] }, { name: 'r2', groups: [] }] }],
    });
    assert.equal(l.networks[0].blockMask, 28);
    assert.deepEqual(l.networks[0].layout, classic.layout);
    assert.deepEqual(l.leaves.map((g) => formatCidr(g.cidrs.classic)), ['10.0.0.0/8', '10.0.0.0/8']);
  });
});

describe('the layout field of a network', () => {
  const doc = (net: object) => ({ networks: [{ name: 'n', cidr: '10.0.0.0/16', ...net }], topologies: [{ networks: ['n'], map: [] }] });
  const refused = (net: object, re: RegExp) => assert.throws(() => parseTopology(doc(net)), kindIs('invalid', re));
  it('the widths must add up to exactly the free bits', () => {
    refused({ layout: { host_bits: 4, tenant_bits: 4, segment_bits: 4, endpoint_bits: 3 } }, /networks\[0\]\.layout: .*= 15, but the \/16 network has 16 free bits/);
    refused({ layout: { host_bits: 5, tenant_bits: 4, segment_bits: 4, endpoint_bits: 4 } }, /= 17/);
    assert.equal(parseTopology(doc({ layout: { host_bits: 4, tenant_bits: 4, segment_bits: 4, endpoint_bits: 4 } })).networks[0].blockMask, 28);
  });
  it('takes no block_mask, no zero width, and no unknown field', () => {
    refused({ block_mask: 28, layout: { host_bits: 4, tenant_bits: 4, segment_bits: 4, endpoint_bits: 4 } }, /networks\[0\]\.block_mask: a network with a layout takes no block_mask/);
    refused({ layout: { host_bits: 0, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } }, /networks\[0\]\.layout\.host_bits/);
    refused({ layout: { host_bits: 4, tenant_bits: 4, segment_bits: 4, endpoint_bits: 4, vlan_bits: 1 } }, /networks\[0\]\.layout/);
    refused({ layout: { host_bits: 8, tenant_bits: 4, segment_bits: 4 } }, /networks\[0\]\.layout/);
  });
  it('a listed host id must be unique and fit the host bits', () => {
    const d = (ids: number[]) => ({
      networks: [{ name: 'n', cidr: '10.0.0.0/16', layout: { host_bits: 2, tenant_bits: 6, segment_bits: 4, endpoint_bits: 4 } }],
      topologies: [{ networks: ['n'], map: ids.map((id, i) => ({ name: `h${i}`, ip: `192.168.0.${i + 1}`, id })) }],
    });
    assert.throws(() => parseTopology(d([2, 2])), kindIs('invalid', /map\[1\]\.id: 2 is already the ID of host 'h0'/));
    assert.throws(() => parseTopology(d([4])), kindIs('invalid', /map\[0\]\.id: 4 is outside the host IDs 1-3 of network 'n'/));
    assert.equal(parseTopology(d([3, 1])).listedHosts.get('h0')!.host.id, 3);
  });
});

const layoutArb = fc.tuple(fc.integer({ min: 0, max: 24 }), fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 3, maxLength: 3 }))
  .map(([prefix, w]): LayoutNetwork => {
    // Whatever is left over goes to the endpoint bits, so the widths always fill the network.
    const endpoint = 32 - prefix - w[0] - w[1] - w[2];
    const layout: AddressLayout = { host_bits: w[0], tenant_bits: w[1], segment_bits: w[2], endpoint_bits: endpoint };
    return { name: 'n', cidr: { base: prefix === 0 ? 0 : (0x0a000000 >>> (32 - prefix)) * 2 ** (32 - prefix), prefix }, layout };
  })
  .filter((n) => n.layout.endpoint_bits >= 1);
const idsOf = (n: LayoutNetwork) => fc.record({
  host: fc.integer({ min: 1, max: maxId(n.layout, 'host') }), tenant: fc.integer({ min: 1, max: maxId(n.layout, 'tenant') }),
  segment: fc.integer({ min: 1, max: maxId(n.layout, 'segment') }), endpoint: fc.integer({ min: 1, max: maxId(n.layout, 'endpoint') }),
});

describe('address arithmetic (property)', () => {
  it('decode(address(ids)) = ids, and the address nests in its segment, tenant and host CIDRs inside the network', () => {
    fc.assert(fc.property(layoutArb.chain((n) => fc.tuple(fc.constant(n), idsOf(n))), ([n, ids]) => {
      const ip = layoutAddress(n, ids);
      assert.deepEqual(decodeAddress(n, ip), { ...ids });
      const seg = segmentCidr(n, ids.host, ids.tenant, ids.segment);
      const ten = tenantCidr(n, ids.host, ids.tenant);
      const host = hostCidr(n, ids.host);
      assert.ok(cidrContainsIp(seg, ip));
      assert.ok(cidrContains(ten, seg) && cidrContains(host, ten) && cidrContains(n.cidr, host));
      assert.equal(seg.prefix, 32 - n.layout.endpoint_bits);
    }));
  });
  it('different IDs give different addresses', () => {
    fc.assert(fc.property(layoutArb.chain((n) => fc.tuple(fc.constant(n), idsOf(n), idsOf(n))), ([n, a, b]) => {
      const same = a.host === b.host && a.tenant === b.tenant && a.segment === b.segment && a.endpoint === b.endpoint;
      assert.equal(layoutAddress(n, a) === layoutAddress(n, b), same);
    }));
  });
  it('an owner match holds exactly for addresses of that tenant (and segment), on any host', () => {
    fc.assert(fc.property(layoutArb.chain((n) => fc.tuple(fc.constant(n), idsOf(n), idsOf(n), fc.boolean())), ([n, owner, other, withSegment]) => {
      const m = ownerMatch(n, owner.tenant, withSegment ? owner.segment : undefined);
      const want = other.tenant === owner.tenant && (!withSegment || other.segment === owner.segment);
      assert.equal(matchesMasked(m, layoutAddress(n, other)), want);
      assert.equal(matchesMasked(m, (n.cidr.base + 2 ** (32 - n.cidr.prefix)) % 2 ** 32), false, 'nothing outside the network');
    }));
  });
  it('IDs outside 1..2^bits-1 are refused', () => {
    assert.throws(() => hostCidr(classic, 0), kindIs('invalid', /host id 0 is outside 1-255/));
    assert.throws(() => segmentCidr(classic, 1, 256, 1), kindIs('invalid', /tenant id 256/));
    assert.throws(() => layoutAddress(classic, { host: 1, tenant: 1, segment: 16, endpoint: 1 }), kindIs('invalid', /segment id 16 is outside 1-15/));
  });
});

describe('ID choice', () => {
  it('lowest free, starting at 1, and a released ID is reused first (property)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 40 })), fc.integer({ min: 1, max: 40 }), (used, max) => {
      const got = lowestFreeId(used, max);
      const want = Array.from({ length: max }, (_, i) => i + 1).find((i) => !used.includes(i));
      assert.equal(got, want);
    }));
    assert.equal(lowestFreeId([1, 2, 3], 5), 4);
    assert.equal(lowestFreeId([1, 3], 5), 2, 'reuse after release');
    assert.equal(lowestFreeId([1, 2, 3], 3), undefined);
    assert.equal(lowestFreeId([], 2 ** 29 - 1), 1);
  });
  it('exhaustion is no_available_ip naming the part, whose IDs, and the network', () => {
    const tiny: LayoutNetwork = { name: 'tiny', cidr: parseCidr('10.0.0.0/24'), layout: { host_bits: 2, tenant_bits: 2, segment_bits: 2, endpoint_bits: 2 } };
    for (const part of ['host', 'tenant', 'segment', 'endpoint'] as const) {
      const e = exhausted(tiny, part, part === 'host' ? undefined : 'x');
      assert.equal(e.kind, 'no_available_ip');
      assert.match(e.message, new RegExp(`the ${part} IDs .*in network 'tiny' ran out \\(2 ${part} bits: IDs 1-3, all in use\\)`));
    }
  });
  it('host IDs: asked for, lowest free, unique, fitting every layout network of the host', () => {
    const small: LayoutNetwork = { ...classic, name: 'small', layout: { host_bits: 2, tenant_bits: 14, segment_bits: 4, endpoint_bits: 4 } };
    assert.equal(chooseHostId([classic], new Map(), undefined), 1);
    assert.equal(chooseHostId([classic], new Map([[1, 'a'], [3, 'c']]), undefined), 2);
    assert.equal(chooseHostId([classic], new Map([[1, 'a']]), 7), 7);
    assert.throws(() => chooseHostId([classic], new Map([[7, 'a']]), 7), kindIs('exists', /7 is already the ID of host 'a'/));
    assert.throws(() => chooseHostId([classic, small], new Map(), 4), kindIs('invalid', /4 is outside the host IDs 1-3 of network 'small'/));
    assert.throws(() => chooseHostId([classic, small], new Map([[1, 'a'], [2, 'b'], [3, 'c']]), undefined), kindIs('no_available_ip', /the host IDs in network 'small' ran out/));
    assert.equal(chooseHostId([], new Map(), undefined), undefined, 'no layout network: no ID needed');
  });
});

describe('host IDs across placement and topology changes', () => {
  const doc = {
    networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: classic.layout }],
    topologies: [{ networks: ['classic'], map: [{ name: 'r1', groups: [{ name: 'b', ip: '192.168.0.2' }, { name: 'a', ip: '192.168.0.1', id: 5 }] }, { name: 'r2', groups: [] }] }],
  };
  const layout = parseTopology(doc);
  it('listed hosts first, in document order (a listed id wins), then hosts added through the API', () => {
    const hosts = [{ name: 'api1' }, { name: 'a' }, { name: 'b' }, { name: 'api2' }];
    const placements = { api1: ['0:1'], a: ['0:0'], b: ['0:0'], api2: placeHost(layout, { a: ['0:0'] }, { name: 'api2', ip: '192.168.0.9', labels: {} }) };
    assert.deepEqual(assignHostIds(layout, placements, hosts, []), { b: 1, a: 5, api1: 2, api2: 3 });
  });
  it('a host keeps its ID; a removed host\'s ID is free again', () => {
    const placements = { a: ['0:0'], b: ['0:0'], c: ['0:1'] };
    assert.deepEqual(assignHostIds(layout, placements, [{ name: 'a', id: 5 }, { name: 'b', id: 4 }, { name: 'c', id: 9 }], []), { a: 5, b: 4, c: 9 });
    assert.deepEqual(assignHostIds(layout, { ...placements, d: ['0:1'] }, [{ name: 'a', id: 5 }, { name: 'b' }, { name: 'd' }], []), { a: 5, b: 1, d: 2 });
  });
  it('a listed id may not move a host whose addresses carry another; blocks must be in their host\'s CIDR', () => {
    const block = { network: 'classic', host: 'a', cidr: segmentCidr(classic, 7, 1, 1) };
    assert.throws(() => assignHostIds(layout, { a: ['0:0'], b: ['0:0'] }, [{ name: 'a', id: 7 }, { name: 'b' }], [block]), kindIs('conflict', /listed with id 5, but its addresses carry its id 7/));
    assert.deepEqual(assignHostIds(layout, { a: ['0:0'], b: ['0:0'] }, [{ name: 'a', id: 7 }, { name: 'b' }], []), { a: 5, b: 1 }, 'without addresses it may');
    assert.throws(() => assignHostIds(layout, { a: ['0:0'], b: ['0:0'] }, [{ name: 'a', id: 5 }, { name: 'b', id: 1 }], [{ ...block, host: 'b' }]), kindIs('conflict', /not in the host's CIDR/));
  });
  it('a layout network with blocks keeps its CIDR and widths', () => {
    const before = layout.networks;
    const widened = parseTopology({ ...doc, networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { ...classic.layout, tenant_bits: 7, segment_bits: 5 } }] }).networks;
    const plain = parseTopology({ ...doc, networks: [{ name: 'classic', cidr: '10.0.0.0/8' }] }).networks;
    const blocks = [{ network: 'classic', host: 'a', cidr: segmentCidr(classic, 5, 1, 1) }];
    assert.throws(() => checkLayoutsKept(before, widened, blocks), kindIs('conflict', /network 'classic' has blocks/));
    assert.throws(() => checkLayoutsKept(before, plain, blocks), kindIs('conflict'));
    assert.throws(() => checkLayoutsKept(plain, before, blocks), kindIs('conflict'));
    checkLayoutsKept(before, widened, []);
    checkLayoutsKept(before, parseTopology(doc).networks, blocks);
  });
});
