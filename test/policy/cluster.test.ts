// Cluster files and policy files: formats (YAML, JSON, List, multi-document) and validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { loadPolicies, parsePolicies } from '../../src/core/policy/normalize.js';
import { assertInvalid } from './helpers.js';

const NP = (name: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: x}
spec: {podSelector: {}}
`;

describe('policy files', () => {
  it('a single YAML object, multi-document YAML, a List, a JSON array', () => {
    assert.equal(parsePolicies(NP('a')).length, 1);
    assert.deepEqual(loadPolicies(`${NP('a')}---\n${NP('b')}---\n`).map((p) => p.id), ['x/a', 'x/b']);
    const list = { apiVersion: 'v1', kind: 'List', items: [JSON.parse(JSON.stringify(parsePolicies(NP('a'))[0])), parsePolicies(NP('b'))[0]] };
    assert.deepEqual(loadPolicies(JSON.stringify(list)).map((p) => p.id), ['x/a', 'x/b']);
    assert.deepEqual(loadPolicies(JSON.stringify({ kind: 'NetworkPolicyList', items: list.items })).map((p) => p.id), ['x/a', 'x/b']);
    assert.deepEqual(loadPolicies(JSON.stringify(list.items)).map((p) => p.id), ['x/a', 'x/b']);
    const romana = JSON.stringify({ id: 'r', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [] });
    assert.deepEqual(loadPolicies(`${NP('a')}---\n${romana}\n`).map((p) => p.kind), ['NetworkPolicy', 'RomanaPolicy']);
  });

  it('errors name the object and the field; ids must be unique', () => {
    assertInvalid(() => loadPolicies(`${NP('a')}---\n${NP('b').replace('podSelector: {}', 'podSelector: {}, ingress: [{ports: [{port: 0}]}]')}`), 'policies[1].spec.ingress[0].ports[0].port');
    assertInvalid(() => loadPolicies(`${NP('a')}---\n${NP('a')}`), "policies[1]: policy id 'x/a' repeats policies[0]");
    assertInvalid(() => loadPolicies('a: [1, 2'), 'not valid YAML or JSON');
    assertInvalid(() => loadPolicies('- 1\n'), 'document 1[0]: expected a policy object');
  });
});

describe('cluster file', () => {
  const base = {
    namespaces: [{ name: 'x', labels: { team: 'blue' } }],
    pods: [{ namespace: 'x', name: 'a', labels: { app: 'a' }, ip: '10.0.0.1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 53, protocol: 'udp' }] }],
    externals: [{ name: 'dns', ip: '8.8.8.8' }],
    policies: [],
  };

  it('parses YAML and JSON alike; namespaces carry kubernetes.io/metadata.name', () => {
    const j = parseCluster(JSON.stringify(base));
    const y = parseCluster(`namespaces: [{name: x, labels: {team: blue}}]
pods:
  - {namespace: x, name: a, labels: {app: a}, ip: 10.0.0.1, ports: [{name: http, port: 80, protocol: TCP}, {port: 53, protocol: udp}]}
externals: [{name: dns, ip: 8.8.8.8}]
policies: []
`);
    assert.deepEqual(j, y);
    assert.deepEqual(j.namespaces[0].labels, { 'kubernetes.io/metadata.name': 'x', team: 'blue' });
    assert.equal(j.pods[0].key, 'x/a');
    assert.equal(j.pods[0].ports[1].protocol, 'UDP');
    assert.equal(j.externals[0].key, 'ext/dns');
  });

  it('rejects inconsistent clusters with the field path', () => {
    const mod = (f: (c: any) => void) => { const c = structuredClone(base) as any; f(c); return c; };
    assertInvalid(() => parseCluster(mod((c) => (c.pods[0].namespace = 'q'))), "pods[0].namespace: namespace 'q' is not listed");
    assertInvalid(() => parseCluster(mod((c) => c.pods.push({ ...c.pods[0], name: 'b' }))), 'pods[1].ip: 10.0.0.1 is already the address of pod x/a');
    assertInvalid(() => parseCluster(mod((c) => c.pods.push({ ...c.pods[0], ip: '10.0.0.2' }))), 'pods[1].name: pod x/a is listed twice');
    assertInvalid(() => parseCluster(mod((c) => (c.pods[0].ip = '10.0.0.300'))), "pods[0].ip: '10.0.0.300' is not an IPv4 address");
    assertInvalid(() => parseCluster(mod((c) => (c.pods[0].ports[1].name = 'http'))), "pods[0].ports[1].name: port name 'http' is used twice");
    assertInvalid(() => parseCluster(mod((c) => (c.pods[0].ports[0].protocol = 'ICMP'))), 'pods[0].ports[0].protocol: must be TCP, UDP or SCTP');
    assertInvalid(() => parseCluster(mod((c) => (c.namespaces[0].labels['kubernetes.io/metadata.name'] = 'y'))), "namespaces[0].labels.kubernetes.io/metadata.name: must equal the namespace name 'x'");
    assertInvalid(() => parseCluster(mod((c) => (c.externals[0].ip = '10.0.0.1'))), 'externals[0].ip: 10.0.0.1 is already the address of pod x/a');
    assertInvalid(() => parseCluster(mod((c) => (c.extra = 1))), 'extra: unknown field');
    assertInvalid(() => parseCluster(mod((c) => c.policies.push({ id: 'r', direction: 'up' }))), "policies[0].direction: must be 'ingress' or 'egress'");
    assertInvalid(() => parseCluster(mod((c) => (c.blocks = [{ cidr: '10.0.0.0/24', tenant: 'x' }, { cidr: '10.0.0.128/25', tenant: 'y' }]))), 'blocks[1].cidr: overlaps blocks[0]');
    assertInvalid(() => parseCluster('a: 1\n---\nb: 2\n'), 'expected one document');
  });

  it('accepts blocks as GET /blocks lists them', () => {
    const c = parseCluster({ ...base, blocks: [{ cidr: '10.0.0.0/28', network: 'n', host: 'h1', tenant: 'x', segment: 'default', allocated_ip_count: 1 }] });
    assert.deepEqual(c.blocks, [{ cidr: '10.0.0.0/28', host: 'h1', tenant: 'x', segment: 'default' }]);
  });
});
