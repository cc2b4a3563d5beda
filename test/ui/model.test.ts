// The console's pure parts: the map model (use, free space, blackouts, colours, search), the matrix
// grids, and finding the line of the field an API error names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineOf, splitError } from '../../src/ui/fieldpath.js';
import { grids, type Simulation } from '../../src/ui/matrix-model.js';
import { type Address, type Block, allHosts, buildModel, search } from '../../src/ui/model.js';

const DOC = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/24', block_mask: 29 }],
  topologies: [{
    networks: ['pods'],
    map: [
      { name: 'zone-a', cidrs: { pods: '10.0.0.0/25' }, cidr: '10.0.0.0/25', groups: [{ name: 'h1', ip: '192.168.0.1', labels: {} }] },
      { name: 'zone-b', cidrs: { pods: '10.0.0.128/25' }, cidr: '10.0.0.128/25', groups: [
        { cidrs: { pods: '10.0.0.128/26' }, groups: [{ name: 'h2', ip: '192.168.0.2', labels: {} }] },
      ] },
    ],
  }],
};
const block = (cidr: string, host: string, tenant: string, segment: string, used: number): Block => ({ cidr, network: 'pods', host, tenant, segment, allocated_ip_count: used });
const BLOCKS = [block('10.0.0.0/29', 'h1', 't1', 'a', 3), block('10.0.0.8/29', 'h1', 't1', 'b', 8), block('10.0.0.128/29', 'h2', 't2', '', 1)];
const HOSTS = [{ name: 'h1', ip: '192.168.0.1' }, { name: 'h2', ip: '192.168.0.2' }, { name: 'h9', ip: '192.168.0.9' }];
const ADDRS: Address[] = [
  { name: 'pod-1', ip: '10.0.0.1', host: 'h1', tenant: 't1', segment: 'a', network: 'pods', block: '10.0.0.0/29', attributes: { namespace: 'web', pod: 'front-1' } },
  { name: 'vm-7', ip: '10.0.0.130', host: 'h2', tenant: 't2', segment: '', network: 'pods', block: '10.0.0.128/29' },
];

describe('map model', () => {
  const m = buildModel(DOC, BLOCKS, [{ network: 'pods', cidr: '10.0.0.64/26' }], HOSTS);

  it('puts each host in its groups with its blocks and use; a host in no topology is listed apart', () => {
    const hosts = allHosts(m);
    assert.deepEqual(hosts.map((h) => [h.name, h.blocks.length, h.allocated, h.size, h.path.join('/')]), [
      ['h1', 2, 11, 16, 'zone-a'], ['h2', 1, 1, 8, 'zone-b/10.0.0.128/26'], ['h9', 0, 0, 0, ''],
    ]);
    assert.deepEqual(m.unplaced.map((h) => h.name), ['h9']);
  });

  it('counts group and network space: in blocks, blacked out, free', () => {
    const a = m.topologies[0].roots[0];
    assert.equal(a.kind, 'group');
    assert.deepEqual(a.kind === 'group' && a.use.pods, { size: 128, inBlocks: 16, allocated: 11, blackedOut: 64, free: 48 });
    assert.deepEqual(m.networks[0].use, { size: 256, inBlocks: 24, allocated: 12, blackedOut: 64, free: 168 });
    assert.deepEqual(m.networks[0].blackouts, ['10.0.0.64/26']);
  });

  it('gives each tenant its hue and each of its segments its own shade', () => {
    assert.deepEqual(m.owners.map((o) => [o.tenant, o.segment, o.blocks]), [['t1', 'a', 1], ['t1', 'b', 1], ['t2', '', 1]]);
    const hue = (c: string) => c.split(' ')[0];
    assert.equal(hue(m.owners[0].color), hue(m.owners[1].color));
    assert.notEqual(m.owners[0].color, m.owners[1].color);
    assert.notEqual(hue(m.owners[0].color), hue(m.owners[2].color));
  });

  it('search: an address by IP, name or pod with its block, host and group; a free IP; a host', () => {
    const one = (q: string) => search(m, ADDRS, q);
    for (const q of ['10.0.0.1', 'pod-1', 'web/front-1', 'FRONT']) {
      const [h] = one(q);
      assert.deepEqual([h.kind, h.host, h.block, h.group], ['address', 'h1', '10.0.0.0/29', 'zone-a'], q);
      assert.match(h.detail, /pod web\/front-1 · block 10\.0\.0\.0\/29 · host h1 · group zone-a/);
    }
    assert.deepEqual(one('10.0.0.5').map((h) => [h.kind, h.block, h.host]), [['free-ip', '10.0.0.0/29', 'h1']]);
    assert.match(one('10.0.0.70')[0].detail, /blacked out \(10\.0\.0\.64\/26\)/);
    assert.match(one('10.0.0.200')[0].detail, /group zone-b · free space/);
    assert.deepEqual(one('h2').map((h) => [h.kind, h.host, h.group]), [['host', 'h2', 'zone-b / 10.0.0.128/26']]);
    assert.deepEqual(one('192.168.0.2').map((h) => h.host), ['h2']);
    assert.deepEqual(one('10.9.9.9'), []);
  });
});

describe('matrix grids', () => {
  const sim: Simulation = {
    source: 'file', problems: [], policies: [],
    endpoints: { pods: [{ key: 'x/a', namespace: 'x', name: 'a', ip: '1.1.1.1', ports: [] }, { key: 'y/b', namespace: 'y', name: 'b', ip: '1.1.1.2', ports: [] }], externals: [{ key: 'ext/w', name: 'w', ip: '8.8.8.8' }] },
    results: [
      { from: 'y/b', to: 'x/a', port: 80, protocol: 'TCP', allowed: false }, { from: 'x/a', to: 'x/a', port: 80, protocol: 'TCP', allowed: true },
      { from: 'ext/w', to: 'y/b', port: 53, protocol: 'UDP', allowed: true }, { from: 'x/a', to: 'y/b', port: 443, protocol: 'TCP', allowed: true },
    ],
  };
  it('one grid per port (TCP first, by number), rows in cluster order, externals last', () => {
    const g = grids(sim, 'pod');
    assert.deepEqual(g.map((x) => x.port), ['80/TCP', '443/TCP', '53/UDP']);
    assert.deepEqual([g[0].rows, g[0].cols], [['x/a', 'y/b'], ['x/a']]);
    assert.deepEqual(g[0].cells.get('y/b\0x/a'), { allowed: 0, total: 1 });
  });
  it('by namespace: counts of allowed probes', () => {
    const g = grids({ ...sim, results: [...sim.results, { from: 'x/a', to: 'x/a', port: 80, protocol: 'TCP', allowed: false }] }, 'namespace');
    assert.deepEqual(g[0].cells.get('x\0x'), { allowed: 1, total: 2 });
    assert.deepEqual(g[2].rows, ['externals']);
  });
});

describe('the field an error names', () => {
  const yaml = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a
  labels:
    app.kubernetes.io/name: x
spec:
  podSelector: {}
  ingress:
    - from:
        - podSelector: {}
      ports:
        - port: 99999
`;
  it('splits "path: message" and finds the line, through lists and dotted label keys', () => {
    assert.deepEqual(splitError('spec.ingress[0].ports[0].port: must be an integer from 1 to 65535, got 99999'), { path: 'spec.ingress[0].ports[0].port', message: 'must be an integer from 1 to 65535, got 99999' });
    assert.equal(lineOf(yaml, 'spec.ingress[0].ports[0].port'), 13);
    assert.equal(lineOf(yaml, 'metadata.labels.app.kubernetes.io/name'), 6);
    assert.equal(lineOf(yaml, 'spec.ingress[0].from[0].podSelector.nothere'), 11, 'the deepest field that exists');
    assert.equal(lineOf(JSON.stringify({ spec: { podSelector: { matchLabels: { a: 1 } } } }, null, 2), 'spec.podSelector.matchLabels.a'), 5);
    assert.equal(lineOf(yaml, 'nothing'), undefined);
    assert.deepEqual(splitError('body: expected one policy'), { path: 'body', message: 'expected one policy' });
    assert.deepEqual(splitError('a plain sentence'), { path: '', message: 'a plain sentence' });
  });
});
