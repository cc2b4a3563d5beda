// The agent's incremental desired state equals the one computed from scratch, after any sequence of store
// events: hosts, namespaces, addresses, pod metadata, blocks, policies and the topology put and deleted in
// any order, including records that are wrong (bad JSON, clashing addresses, bad interface names). The
// pool of values is small on purpose, so that events collide: an address moves to another IP, a pod
// gains the labels a selector asks for, a policy is replaced by another one with the same id.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DesiredTracker, desiredState } from '../../src/agent/desired.js';
import { TOPOLOGY, addressKey, blockKey, hostKey, namespaceKey, podKey, policyKey } from '../../src/control/keys.js';
import { parseCidr } from '../../src/core/net/ipv4.js';

const J = JSON.stringify;
const NS = ['blue', 'red', 'ops'];
const SEG = ['web', 'db'];
const HOSTS = ['h1', 'h2', 'h3'];
const LAYOUT = { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 };

// Addresses mostly lie in their tenant's blocks (so that owner blocks and masks can stand for a tenant
// exactly), sometimes not: classic blocks 10.1.0.0/28 (blue), 10.1.0.16/28 (red), 10.1.1.16/28 (ops), and
// in the layout network 10.<host>.<tenant id>.<segment id, endpoint id> (blue 1, red 2, ops 3).
const tenantIps: Record<string, string[]> = {
  blue: ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.1.17', '10.2.1.18', '10.1.1.33'],
  red: ['10.1.0.17', '10.1.0.18', '10.1.0.19', '10.1.2.17', '10.2.2.18'],
  ops: ['10.1.1.20', '10.1.1.21', '10.3.3.17', '10.3.3.33'],
};
const anyIp = fc.constantFrom(...Object.values(tenantIps).flat(), '10.1.0.9', 'bogus');
const blockCidrs = ['10.1.0.0/28', '10.1.0.16/28', '10.1.1.16/28', '10.2.1.16/28', '10.9.0.0/28'];
const tenantBlocks: Record<string, string[]> = { blue: ['10.1.0.0/28', '10.1.1.16/28'], red: ['10.1.0.16/28'], ops: ['10.1.1.16/28', '10.2.1.16/28'] };

const labelsArb = fc.dictionary(fc.constantFrom('app', 'role', 'romana.io/segment'), fc.constantFrom('a', 'b', 'web', 'db'), { maxKeys: 2 });

const hostEvent = fc.record({
  name: fc.constantFrom(...HOSTS), id: fc.constantFrom(1, 2, 3, undefined), ip: fc.constantFrom('192.168.0.1', '192.168.0.2', '192.168.0.3', 'not-an-ip'),
}).map((h) => ({ key: hostKey(h.name), value: J({ name: h.name, ip: h.ip, labels: {}, agent_port: 9604, ...(h.id ? { id: h.id } : {}) }) }));

const nsEvent = fc.record({ name: fc.constantFrom(...NS), labels: fc.dictionary(fc.constantFrom('team', 'env'), fc.constantFrom('x', 'y'), { maxKeys: 2 }) })
  .map((n) => ({ key: namespaceKey(n.name), value: J({ name: n.name, labels: n.labels }) }));

const addressEvent = fc.record({
  n: fc.integer({ min: 0, max: 9 }), host: fc.constantFrom(...HOSTS), tenant: fc.constantFrom(...NS), segment: fc.constantFrom(...SEG),
  own: fc.integer({ min: 0, max: 9 }), other: anyIp, pod: fc.option(fc.constantFrom('p1', 'p2', 'p3')),
  ifname: fc.constantFrom('rmn0', 'rmn1', 'bad name', undefined), namespace: fc.option(fc.constantFrom(...NS), { freq: 4 }),
  // Now and then a name other than the key's, shared with other addresses: the order of endpoints is by name.
  alias: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }),
}).map((a) => ({
  key: addressKey(`x${a.n}`),
  value: J({
    name: a.alias === null ? `x${a.n}` : `y${a.alias}`, ip: a.own < 8 ? tenantIps[a.tenant][a.own % tenantIps[a.tenant].length] : a.other, host: a.host, tenant: a.tenant, segment: a.segment, network: 'n', block: '',
    attributes: { ...(a.pod ? { pod: a.pod } : {}), ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.ifname ? { host_ifname: `${a.ifname}${a.n}`.slice(0, 15) } : {}) },
  }),
}));

const podEvent = fc.record({
  ns: fc.constantFrom(...NS), name: fc.constantFrom('p1', 'p2', 'p3', 'x1', 'x2'), labels: labelsArb,
  ports: fc.array(fc.record({ name: fc.constantFrom('http', 'metrics'), port: fc.constantFrom(80, 8080, 9100) }), { maxLength: 2 }),
}).map((p) => ({
  key: podKey(p.ns, p.name),
  value: J({ namespace: p.ns, name: p.name, labels: p.labels, ports: [...new Map(p.ports.map((x) => [x.name, { ...x, protocol: 'TCP' }])).values()] }),
}));

const blockEvent = fc.record({ host: fc.constantFrom(...HOSTS), tenant: fc.constantFrom(...NS), segment: fc.constantFrom(...SEG), own: fc.integer({ min: 0, max: 5 }), other: fc.constantFrom(...blockCidrs) })
  .map((b) => {
    const cidr = b.own < 4 ? tenantBlocks[b.tenant][b.own % tenantBlocks[b.tenant].length] : b.other;
    return { key: blockKey(b.host, b.tenant, b.segment, 'n', parseCidr(cidr)), value: J({ cidr, host: b.host, tenant: b.tenant, segment: b.segment, network: 'n', group: '0:0', used: [0], ops: 1 }) };
  });

// Peers and targets the compiler treats differently: selectors, namespace selectors, whole namespaces
// and segments (owner blocks or masks), CIDRs with exceptions, named ports, the host.
const npPeer = fc.constantFrom(
  { podSelector: { matchLabels: { app: 'a' } } },
  { podSelector: {} },
  { namespaceSelector: { matchLabels: { team: 'x' } } },
  { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'red' } } },
  { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'blue' } }, podSelector: { matchLabels: { 'romana.io/segment': 'db' } } },
  { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/28'] } },
  { podSelector: { matchExpressions: [{ key: 'role', operator: 'Exists' }] } },
);
const npPorts = fc.constantFrom([], [{ port: 80 }], [{ port: 'http' }], [{ port: 'metrics', protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]);
const networkPolicy = fc.record({
  ns: fc.constantFrom(...NS), name: fc.constantFrom('a', 'b'), target: fc.constantFrom({}, { matchLabels: { app: 'a' } }, { matchLabels: { role: 'db' } }),
  ingress: fc.option(fc.array(fc.record({ from: fc.array(npPeer, { minLength: 1, maxLength: 2 }), ports: npPorts }), { maxLength: 2 })),
  egress: fc.option(fc.array(fc.record({ to: fc.array(npPeer, { minLength: 1, maxLength: 2 }), ports: npPorts }), { maxLength: 1 })),
}).map((p) => ({
  key: policyKey(`${p.ns}/${p.name}`),
  value: J({
    id: `${p.ns}/${p.name}`, kind: 'NetworkPolicy',
    object: {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: p.ns },
      spec: {
        podSelector: p.target, policyTypes: [...(p.ingress ? ['Ingress'] : []), ...(p.egress ? ['Egress'] : [])],
        ...(p.ingress ? { ingress: p.ingress } : {}), ...(p.egress ? { egress: p.egress } : {}),
      },
    },
  }),
}));
const romanaPolicy = fc.record({
  id: fc.constantFrom('r1', 'r2'), tenant: fc.constantFrom(...NS), segment: fc.option(fc.constantFrom(...SEG)),
  peer: fc.constantFrom({ tenant: 'red' }, { tenant: 'blue', segment: 'web' }, { peer: 'host' }, { peer: 'any' }, { cidr: '10.1.0.0/24' }),
  onHost: fc.boolean(),
}).map((p) => ({
  key: policyKey(p.id),
  value: J({
    id: p.id, kind: 'RomanaPolicy',
    object: {
      id: p.id, direction: 'ingress', applied_to: [{ tenant: p.tenant, ...(p.segment ? { segment: p.segment } : {}) }, ...(p.onHost ? [{ peer: 'host' }] : [])],
      ingress: [{ peers: [p.peer], rules: [{ protocol: 'tcp', ports: [5432] }] }],
    },
  }),
}));
const badPolicy = fc.constantFrom({ key: policyKey('blue/a'), value: '{not json' }, { key: policyKey('r1'), value: J({ id: 'r1', kind: 'RomanaPolicy', object: { nonsense: true } }) });

const topologyEvent = fc.constantFrom(
  { key: TOPOLOGY, value: J({ document: { networks: [{ name: 'n', cidr: '10.0.0.0/8' }], topologies: [{ networks: ['n'], map: [] }] }, placements: {} }) },
  {
    key: TOPOLOGY, value: J({
      document: { networks: [{ name: 'lay', cidr: '10.0.0.0/8', layout: LAYOUT }], topologies: [{ networks: ['lay'], map: [] }] },
      placements: { h1: ['0:0'], h2: ['0:0'], h3: ['0:0'] },
    }),
  },
);

const put = fc.oneof(
  { arbitrary: hostEvent, weight: 2 }, { arbitrary: nsEvent, weight: 2 }, { arbitrary: addressEvent, weight: 5 }, { arbitrary: podEvent, weight: 3 },
  { arbitrary: blockEvent, weight: 3 }, { arbitrary: networkPolicy, weight: 3 }, { arbitrary: romanaPolicy, weight: 2 }, { arbitrary: badPolicy, weight: 1 },
  { arbitrary: topologyEvent, weight: 1 },
).map((e) => ({ type: 'put' as const, ...e }));
const del = fc.oneof(hostEvent, nsEvent, addressEvent, podEvent, blockEvent, networkPolicy, romanaPolicy, topologyEvent).map((e) => ({ type: 'delete' as const, key: e.key }));
/** Events come in batches, as a watch delivers one transaction's events together. */
const batches = fc.array(fc.array(fc.oneof({ arbitrary: put, weight: 4 }, { arbitrary: del, weight: 1 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 40 });
/** Every run starts from a small cluster (hosts registered, a classic or a layout topology), then the events change it. */
const start = (layout: boolean): [string, string][] => [
  ...HOSTS.map((h, i) => [hostKey(h), J({ name: h, ip: `192.168.0.${i + 1}`, labels: {}, agent_port: 9604, id: i + 1 })] as [string, string]),
  layout ? [TOPOLOGY, J({
    document: { networks: [{ name: 'lay', cidr: '10.0.0.0/8', layout: LAYOUT }], topologies: [{ networks: ['lay'], map: [] }] },
    placements: { h1: ['0:0'], h2: ['0:0'], h3: ['0:0'] },
  })] : [TOPOLOGY, J({ document: { networks: [{ name: 'n', cidr: '10.0.0.0/8' }], topologies: [{ networks: ['n'], map: [] }] }, placements: {} })],
];

describe('incremental desired state', () => {
  it('equals the desired state from scratch after every batch of store events', () => {
    fc.assert(fc.property(batches, fc.constantFrom(...HOSTS), fc.boolean(), (evs, host, layout) => {
      const tracker = new DesiredTracker(host);
      const snap = new Map<string, string>(start(layout));
      for (const [k, v] of snap) tracker.set(k, v);
      for (const batch of evs) {
        for (const e of batch) {
          if (e.type === 'put') {
            snap.set(e.key, e.value);
            tracker.set(e.key, e.value);
          } else {
            snap.delete(e.key);
            tracker.delete(e.key);
          }
        }
        assert.deepStrictEqual(tracker.state(), desiredState(snap, host));
      }
    }), { numRuns: 600 });
  });

  it('follows each kind of change a kept answer depends on (scenarios the property might hit rarely)', () => {
    const np = (ns: string, name: string, spec: object) => J({ id: `${ns}/${name}`, kind: 'NetworkPolicy', object: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec } });
    const addr = (n: string, ip: string, host: string, tenant: string, extra: object = {}) =>
      [addressKey(n), J({ name: n, ip, host, tenant, segment: 'web', network: 'n', block: '', attributes: { host_ifname: `rmn${n}`, ...extra } })] as const;
    const block = (host: string, tenant: string, cidr: string) => [blockKey(host, tenant, 'web', 'n', parseCidr(cidr)), J({ cidr, host, tenant, segment: 'web', network: 'n', group: '0:0', used: [0], ops: 1 })] as const;
    const steps: (readonly [string, string | undefined])[][] = [
      // A namespace selector peer, then the namespace's labels change under it.
      [[namespaceKey('red'), J({ name: 'red', labels: { team: 'x' } })], addr('a1', '10.1.0.1', 'h1', 'blue'), addr('a2', '10.1.0.17', 'h2', 'red'),
        [policyKey('blue/in'), np('blue', 'in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] })]],
      [[namespaceKey('red'), J({ name: 'red', labels: { team: 'y' } })]],
      [[namespaceKey('red'), J({ name: 'red', labels: { team: 'x' } })]],
      // A whole-namespace peer stands for red's block while the block holds red's pods only.
      [block('h2', 'red', '10.1.0.16/28'), [policyKey('blue/in2'), np('blue', 'in2', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'red' } } }] }] })]],
      [addr('a3', '10.1.0.18', 'h2', 'blue')], // a blue pod inside red's block: the block no longer stands for red
      [[addressKey('a3'), undefined]],
      [[hostKey('h9'), J({ name: 'h9', ip: '10.1.0.20', labels: {}, agent_port: 9604 })]], // a host address inside it
      [[hostKey('h9'), undefined], block('h2', 'red', '10.1.0.32/28')],
      // A pod moves to this host, changes labels, gets a named port.
      [addr('a2', '10.1.0.17', 'h1', 'red')],
      [[podKey('red', 'a2'), J({ namespace: 'red', name: 'a2', labels: { app: 'a' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] })],
        [policyKey('red/named'), np('red', 'named', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 'http' }] }] })]],
      [[podKey('red', 'a2'), J({ namespace: 'red', name: 'a2', labels: { app: 'a' }, ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] })]],
      [[policyKey('blue/in'), undefined], addr('a1', '10.1.0.2', 'h1', 'blue')],
    ];
    for (const host of HOSTS) {
      const t = new DesiredTracker(host);
      const snap = new Map(start(false));
      for (const [k, v] of snap) t.set(k, v);
      steps.forEach((step, i) => {
        for (const [k, v] of step) {
          if (v === undefined) (snap.delete(k), t.delete(k));
          else (snap.set(k, v), t.set(k, v));
        }
        assert.deepStrictEqual(t.state(), desiredState(snap, host), `host ${host}, step ${i}`);
      });
    }
  });

  it('a change it does not care about costs nothing: the same state object comes back', () => {
    const t = new DesiredTracker('h1');
    t.set(hostKey('h1'), J({ name: 'h1', ip: '192.168.0.1', labels: {}, agent_port: 9604 }));
    const a = t.state();
    t.set('/romana/host-status/h2', J({ host: 'h2' }));
    assert.equal(t.state(), a);
    t.set(hostKey('h1'), J({ name: 'h1', ip: '192.168.0.1', labels: {}, agent_port: 9604 }));
    assert.equal(t.state(), a, 'the same value again');
  });
});
