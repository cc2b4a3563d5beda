// The topology's `routing` setting: validation (errors name the field), who routes what, and the BGP
// sessions of hosts and routers. Pure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import { hostBgp, routerBgp } from '../../src/core/routing/bgp.js';
import { renderHostInclude, renderRouterConfig } from '../../src/core/routing/bird.js';
import { routesItself, routingOf } from '../../src/core/routing/topology.js';
import { parseTopology } from '../../src/core/topology/layout.js';
import { renderTopology } from '../../src/core/topology/render.js';

const invalidWith = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RomanaError && e.kind === 'invalid' && re.test(e.message), `expected invalid matching ${re}`);

const tor = (n: number, extra: object = {}) => ({ name: `tor-${n}`, ip: `192.168.${200 + n}.254`, asn: 65100 + n, uplink_ip: `192.168.200.${n}`, ...extra });
const rack = (n: number, routing: object = {}, hosts: { name: string; ip: string }[] = []) => ({
  name: `rack-${n}`, routing: { type: 'bgp', asn: 65000 + n, peers: [tor(n)], ...routing }, groups: hosts,
});
const dc = (racks: unknown[], spine: object = {}) => ({
  networks: [{ name: 'pods', cidr: '10.240.0.0/16', block_mask: 28 }],
  topologies: [{ networks: ['pods'], map: [{ name: 'dc', routing: { type: 'bgp', peers: [{ name: 'spine', ip: '192.168.200.254', asn: 65000, ...spine }] }, groups: racks }] }],
});
const flat = (map: unknown[]) => ({ networks: [{ name: 'pods', cidr: '10.240.0.0/16' }], topologies: [{ networks: ['pods'], map }] });
const host = (n: number, r = 1) => ({ name: `host-${n}`, ip: `192.168.${200 + r}.${n}` });

describe('routing: validation', () => {
  const at = (routing: unknown) => flat([{ name: 'g', routing, groups: [] }]);
  it('accepts each kind', () => {
    for (const r of [{ type: 'host-routes' }, { type: 'vpc' }, { type: 'vpc', route_table: 'rtb-0abc', route_limit: 100 },
      { type: 'bgp', asn: 65001, peers: [{ ip: '10.0.0.1', asn: 65000, password: 'p w!' }] }, { type: 'bgp', asn: 65001, announce: 'aggregate', peers: [{ ip: '10.0.0.1', asn: 65000 }] }]) {
      assert.equal(routingOf(parseTopology(at(r))).groups[0].type, r.type);
    }
  });
  it('takes a string as Romana 1\'s routing label: kept, no setting; one naming a routed kind is refused', () => {
    const l = parseTopology(at('test'));
    assert.equal(routingOf(l).groups.length, 0);
    assert.equal((renderTopology(l, [], {}).topologies[0] as { map: { routing: unknown }[] }).map[0].routing, 'test');
    invalidWith(() => parseTopology(at('vpc')), /map\[0\]\.routing: a string is a Romana 1 label; vpc routing is an object/);
  });
  it('refuses unknown types and fields, naming them', () => {
    invalidWith(() => parseTopology(at({ type: 'ospf' })), /map\[0\]\.routing\.type: must be one of host-routes, bgp, vpc/);
    invalidWith(() => parseTopology(at('bgp')), /map\[0\]\.routing: /);
    invalidWith(() => parseTopology(at({ type: 'vpc', colour: 'red' })), /map\[0\]\.routing\.colour/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, peers: [{ ip: '10.0.0.1', asn: 2, port: 179 }] })), /routing\.peers\[0\]\.port/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, announce: 'all', peers: [{ ip: '10.0.0.1', asn: 2 }] })), /routing\.announce: must be one of blocks, aggregate/);
  });
  it('refuses fields of another kind', () => {
    invalidWith(() => parseTopology(at({ type: 'vpc', asn: 65001 })), /routing\.asn: does not apply to vpc/);
    invalidWith(() => parseTopology(at({ type: 'host-routes', peers: [{ ip: '10.0.0.1', asn: 1 }] })), /routing\.peers: does not apply to host-routes/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, route_table: 'rtb-1', peers: [{ ip: '10.0.0.1', asn: 2 }] })), /routing\.route_table: does not apply to bgp/);
  });
  it('needs peers and the hosts\' AS; checks addresses, passwords and ASNs', () => {
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 65001 })), /routing\.peers: bgp routing needs/);
    invalidWith(() => parseTopology(at({ type: 'bgp', peers: [{ ip: '10.0.0.1', asn: 2 }] })), /routing\.asn: bgp routing of hosts needs/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, peers: [{ ip: '10.0.0.300', asn: 2 }] })), /routing\.peers\[0\]\.ip: '10\.0\.0\.300' is not an IPv4/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, peers: [{ ip: '10.0.0.1', asn: 2, uplink_ip: 'x' }] })), /routing\.peers\[0\]\.uplink_ip/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, peers: [{ ip: '10.0.0.1', asn: 2 }, { ip: '10.0.0.1', asn: 3 }] })), /routing\.peers\[1\]\.ip: 10\.0\.0\.1 is listed twice/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 1, peers: [{ ip: '10.0.0.1', asn: 2, password: 'a"b' }] })), /routing\.peers\[0\]\.password/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 0, peers: [{ ip: '10.0.0.1', asn: 2 }] })), /routing\.asn/);
    invalidWith(() => parseTopology(at({ type: 'bgp', asn: 65001, peers: [{ ip: '10.0.0.1', asn: 65001 }] })), /routing\.peers\[0\]\.asn: 65001 is the hosts' own AS/);
  });
  it('refuses contradictory nesting', () => {
    const nest = (outer: object, inner: object) => flat([{ name: 'o', routing: outer, groups: [{ name: 'i', routing: inner, groups: [] }] }]);
    const bgpHosts = { type: 'bgp', asn: 65001, peers: [{ ip: '10.0.0.1', asn: 65100 }] };
    invalidWith(() => parseTopology(nest({ type: 'vpc' }, { type: 'vpc' })), /map\[0\]\.groups\[0\]\.routing: vpc routing inside group 'o', whose routing is vpc/);
    invalidWith(() => parseTopology(nest({ type: 'bgp', peers: [{ ip: '10.0.0.9', asn: 65000 }] }, { type: 'host-routes' })), /host-routes routing inside group 'o'/);
    invalidWith(() => parseTopology(nest({ type: 'host-routes' }, bgpHosts)), /bgp routing inside group 'o', whose routing is host-routes/);
    // A spine group above racks: every rack needs bgp routing, and the spine takes no asn/announce.
    invalidWith(() => parseTopology(dc([rack(1), { name: 'rack-2', groups: [] }])), /map\[0\]\.groups\[1\]\.routing: group 'rack-2' sits in 'dc', whose members are routers/);
    const spineAsn = dc([rack(1)]);
    (spineAsn.topologies[0].map[0].routing as Record<string, unknown>).asn = 1;
    invalidWith(() => parseTopology(spineAsn), /map\[0\]\.routing\.asn: the members of 'dc' are the routers/);
    invalidWith(() => parseTopology(dc([rack(1, { peers: [tor(1, { asn: 65000 })] })])), /routing\.peers\[0\]\.asn: 65000 is also the AS of router spine/);
  });
  it('one router, one AS', () => {
    invalidWith(() => parseTopology(dc([rack(1), rack(2, { peers: [tor(2, { name: 'tor-1' })] })])), /map\[0\]\.groups\[1\]\.routing\.peers\[0\]\.asn: router tor-1 has AS 65101/);
  });
  it('fits the VPC route limit per route table, and agrees on it', () => {
    const vpcGroups = (n: number, extra: object = {}) => flat(Array.from({ length: n }, (_, i) => ({ name: `g${i}`, routing: { type: 'vpc', ...extra }, groups: [] })));
    assert.equal(routingOf(parseTopology(vpcGroups(50))).groups.length, 50);
    invalidWith(() => parseTopology(vpcGroups(51)), /routing: the vpc groups need 51 routes in route table \(default\), over its limit of 50/);
    assert.equal(routingOf(parseTopology(vpcGroups(51, { route_limit: 60 }))).groups.length, 51);
    const mixed = vpcGroups(2);
    (mixed.topologies[0].map[1] as { routing: object }).routing = { type: 'vpc', route_limit: 70 };
    invalidWith(() => parseTopology(mixed), /map\[1\]\.routing\.route_limit: 70, but group 'g0' gives route table \(default\) a limit of 50/);
    // Two networks in one topology: two routes per group.
    const two = { networks: [{ name: 'a', cidr: '10.0.0.0/16' }, { name: 'b', cidr: '10.1.0.0/16' }], topologies: [{ networks: ['a', 'b'], map: vpcGroups(26).topologies[0].map }] };
    invalidWith(() => parseTopology(two), /need 52 routes/);
  });
  it('the VPC shorthand publishes each prefix group to the VPC', () => {
    const r = routingOf(parseTopology({ type: 'vpc', 'num-azs': 3, 'prefix-groups': 2, network: '10.192.0.0/16' }));
    assert.deepEqual(r.groups.map((g) => [g.label, g.type]), ['az-1-1', 'az-1-2', 'az-2-1', 'az-2-2', 'az-3-1', 'az-3-2'].map((n) => [n, 'vpc']));
  });
  it('is shown by GET /topology as written (a document can be posted back)', () => {
    const l = parseTopology(dc([rack(1, {}, [host(1)])]));
    const shown = renderTopology(l, [{ ...host(1), labels: {} }], { 'host-1': ['0:0.0'] });
    const again = parseTopology(shown);
    assert.deepEqual((shown.topologies[0] as { map: { routing: unknown }[] }).map[0].routing, dc([]).topologies[0].map[0].routing);
    assert.equal(routingOf(again).groups.length, 2);
  });
});

describe('routing: who routes what', () => {
  const l = parseTopology({
    networks: [{ name: 'pods', cidr: '10.240.0.0/16' }],
    topologies: [{ networks: ['pods'], map: [rack(1), rack(2), { name: 'l2', groups: [] }, { name: 'zone', routing: { type: 'vpc' }, groups: [{ groups: [] }, { groups: [] }] }] }],
  });
  const r = routingOf(l);
  it('host-routes groups are routed by every host; routed groups by their members only', () => {
    assert.equal(routesItself(r, '0:0', '0:2'), true, 'a block of an L2 group: every host routes to it');
    assert.equal(routesItself(r, '0:2', '0:0'), false, 'a block of a bgp rack, from elsewhere: the fabric carries it');
    assert.equal(routesItself(r, '0:0', '0:0'), true, 'a neighbour in the same rack');
    assert.equal(routesItself(r, '0:1', '0:0'), false, 'another rack');
    assert.equal(routesItself(r, '0:3.0', '0:3.1'), true, 'the same vpc group (its members forward within it)');
    assert.equal(routesItself(r, '0:0', '0:3.1'), false);
  });
});

describe('routing: BGP sessions', () => {
  const doc = dc([rack(1, {}, [host(1), host(2)]), rack(2, { announce: 'aggregate' }, [host(3, 2)])], { password: 'spine-pw' });
  const l = parseTopology(doc);
  const r = routingOf(l);
  const placed = [...l.listedHosts.values()].map((x) => ({ name: x.host.name, ip: x.host.ip, leaves: [x.leaf] }));
  const blocks = [{ cidr: '10.240.0.0/28', network: 'pods' }, { cidr: '10.240.0.16/28', network: 'pods' }];

  it('a host in a blocks group announces its blocks and, while it has one, the aggregate', () => {
    const h = hostBgp(l, r, host(1), ['0:0.0'], blocks);
    assert.deepEqual(h.announce.map((a) => a.prefix), ['10.240.0.0/28', '10.240.0.16/28', '10.240.0.0/17']);
    assert.deepEqual(h.sessions.map((s) => [s.neighbor, s.localIp, s.localAsn, s.peerAsn]), [['192.168.201.254', '192.168.201.1', 65001, 65101]]);
    assert.deepEqual(h.sessions[0].importReject, ['10.240.0.0/17+'], 'never its own group back from the router');
    assert.deepEqual(hostBgp(l, r, host(1), ['0:0.0'], []).announce, [], 'no block: nothing, not even the aggregate');
  });
  it('a host in an aggregate group announces only the aggregate', () => {
    const h = hostBgp(l, r, host(3, 2), ['0:0.1'], [{ cidr: '10.240.128.0/28', network: 'pods' }]);
    assert.deepEqual(h.announce.map((a) => a.prefix), ['10.240.128.0/17']);
  });
  it('a top-of-rack router peers with its hosts and the spine, and sends only the aggregate up', () => {
    const t = routerBgp(l, r, 'tor-1', placed);
    assert.deepEqual(t.sessions.map((s) => s.neighbor), ['192.168.201.1', '192.168.201.2', '192.168.200.254']);
    const up = t.sessions[2];
    assert.deepEqual([up.localIp, up.password, up.exportAccept], ['192.168.200.1', 'spine-pw', ['10.240.0.0/17']]);
    assert.deepEqual(t.sessions[0].importAccept, ['10.240.0.0/17+']);
    assert.deepEqual(t.kernelReject, ['10.240.0.0/17'], 'blocks group: the router keeps blocks, not the aggregate');
    assert.deepEqual(routerBgp(l, r, 'tor-2', placed).kernelReject, [], 'aggregate group: the aggregate is all it has');
  });
  it('the spine takes exactly one aggregate from each rack', () => {
    const s = routerBgp(l, r, '192.168.200.254', placed);
    assert.deepEqual(s.sessions.map((x) => [x.neighbor, x.peerAsn, x.importAccept]), [['192.168.200.1', 65101, ['10.240.0.0/17']], ['192.168.200.2', 65102, ['10.240.128.0/17']]]);
    assert.deepEqual(s.originate, [], 'no routers above it: nothing to originate');
  });
  it('an unknown router is not_found, listing the known ones', () => {
    assert.throws(() => routerBgp(l, r, 'tor-9', placed), (e: unknown) => e instanceof RomanaError && e.kind === 'not_found' && /routers: spine, tor-1, tor-2/.test(e.message));
  });
  it('renders stable protocol names and never lets a name end a string', () => {
    const odd = parseTopology(dc([{ ...rack(1, {}, [host(1)]), name: 'rack "1"\ninclude "/etc/shadow";' }]));
    const text = renderRouterConfig(routerBgp(odd, routingOf(odd), 'tor-1', [{ ...host(1), leaves: ['0:0.0'] }]));
    assert.doesNotMatch(text, /\ninclude/);
    assert.match(text, /protocol bgp romana_192_168_201_1 \{/);
    const inc = renderHostInclude(hostBgp(l, r, host(1), ['0:0.0'], blocks), 'host-1', { kernelTable: 82 });
    assert.match(inc, /kernel table 82;/);
    assert.match(inc, /route 10\.240\.0\.0\/17 blackhole; # aggregate of group rack-1/);
    assert.match(renderHostInclude(undefined, 'host-1', { kernelTable: 82 }), /announces nothing/);
  });
});
