// The test stand-in of the Kubernetes API server against the real kubectl: discovery, get, create -f,
// apply -f (client-side: the last-applied annotation and a strategic merge patch), delete, get -w,
// status codes and messages, strict field validation, and objects shaped as a real cluster's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StandIn, requireKubectl } from './helpers.js';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: blue}}\n';
const netpol = (port: number, extra = '') => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop${extra}}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: ${port}}]
`;
const POD = `apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-1
  containers:
  - {name: web, image: "nginx:1.27", ports: [{containerPort: 80, name: http}]}
  - {name: side, image: "busybox:1.36"}
`;

describe('kubectl against the test API server', () => {
  const k = new StandIn({ bookmarkIntervalMs: 200 });
  before(async () => {
    requireKubectl();
    await k.start();
  });
  after(() => k.stop());

  it('discovers the server and its resources', async () => {
    assert.match(await k.ok(['version']), /Server Version: v1\.32\.0/);
    const res = await k.ok(['api-resources', '--no-headers']);
    for (const r of ['namespaces', 'nodes', 'pods', 'networkpolicies', 'leases', 'customresourcedefinitions', 'events']) assert.match(res, new RegExp(`^${r}\\s`, 'm'));
  });

  it('create -f, get (tables and objects), and AlreadyExists', async () => {
    assert.match(await k.ok(['create', '-f', '-'], NS), /namespace\/shop created/);
    const dup = await k.kubectl(['create', '-f', '-'], NS);
    assert.equal(dup.code, 1);
    assert.match(dup.err, /Error from server \(AlreadyExists\).*namespaces "shop" already exists/);
    assert.match(await k.ok(['get', 'namespaces']), /^shop\s+Active\s+\d+s$/m);
    const ns = JSON.parse(await k.ok(['get', 'namespace', 'shop', '-o', 'json']));
    // As a real cluster returns it: server-set metadata, the name label, managed fields, status.
    assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], 'shop');
    assert.match(ns.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(ns.metadata.resourceVersion, /^\d+$/);
    assert.match(ns.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(ns.status.phase, 'Active');
    const mf = (JSON.parse(await k.ok(['get', 'namespace', 'shop', '-o', 'json', '--show-managed-fields'])) as { metadata: { managedFields: { manager: string; operation: string; fieldsV1: Record<string, unknown> }[] } }).metadata.managedFields;
    assert.equal(mf[0].manager, 'kubectl-create');
    assert.equal(mf[0].operation, 'Update');
    assert.ok((mf[0].fieldsV1['f:metadata'] as Record<string, unknown>)['f:labels']);
    const missing = await k.kubectl(['get', 'pod', 'nope', '-n', 'shop']);
    assert.match(missing.err, /Error from server \(NotFound\): pods "nope" not found/);
  });

  it('apply -f creates with the last-applied annotation, then patches only what changed', async () => {
    assert.match(await k.ok(['apply', '-f', '-'], netpol(80)), /networkpolicy.networking.k8s.io\/web created/);
    const first = JSON.parse(await k.ok(['get', 'netpol', 'web', '-n', 'shop', '-o', 'json']));
    assert.ok(first.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'].includes('"port":80'));
    assert.deepEqual(first.spec.policyTypes, ['Ingress'], 'policyTypes defaulted as the real server does');
    assert.equal(first.spec.ingress[0].ports[0].protocol, 'TCP');
    assert.equal(first.metadata.generation, 1);
    assert.match(await k.ok(['apply', '-f', '-'], netpol(8080, ', labels: {tier: front}')), /configured/);
    const second = JSON.parse(await k.ok(['get', 'netpol', 'web', '-n', 'shop', '-o', 'json']));
    assert.equal(second.spec.ingress[0].ports[0].port, 8080);
    assert.equal(second.metadata.labels.tier, 'front');
    assert.equal(second.metadata.generation, 2);
    assert.ok(Number(second.metadata.resourceVersion) > Number(first.metadata.resourceVersion));
    // A label added by someone else survives a re-apply that does not mention it (three-way merge).
    await k.ok(['label', 'netpol', 'web', '-n', 'shop', 'owner=ops']);
    await k.ok(['apply', '-f', '-'], netpol(8080, ', labels: {tier: front}'));
    const third = JSON.parse(await k.ok(['get', 'netpol', 'web', '-n', 'shop', '-o', 'json']));
    assert.equal(third.metadata.labels.owner, 'ops');
  });

  it('strategic merge keeps list elements by their merge key (pods: containers by name)', async () => {
    await k.ok(['apply', '-f', '-'], POD);
    await k.ok(['apply', '-f', '-'], POD.replace('nginx:1.27', 'nginx:1.28'));
    const pod = JSON.parse(await k.ok(['get', 'pod', 'web-1', '-n', 'shop', '-o', 'json']));
    assert.deepEqual(pod.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`), ['web=nginx:1.28', 'side=busybox:1.36']);
    assert.equal(pod.status.phase, 'Pending');
    assert.equal(pod.spec.containers[0].ports[0].protocol, 'TCP');
    assert.match(await k.ok(['get', 'pods', '-n', 'shop', '-o', 'wide']), /^web-1\s+0\/2\s+Pending\s+0\s+\S+\s+<none>\s+node-1/m);
  });

  it('refuses bad objects with the real reasons: strict unknown fields, invalid values, wrong namespace', async () => {
    const typo = await k.kubectl(['apply', '-f', '-'], netpol(80).replace('  ingress:', '  ingres:'));
    assert.equal(typo.code, 1);
    assert.match(typo.err, /strict decoding error: unknown field "spec.ingres"/);
    const bad = await k.kubectl(['create', '-f', '-'], POD.replace('web-1', 'Bad_Name'));
    assert.match(bad.err, /The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"/);
    const noNs = await k.kubectl(['create', '-f', '-'], POD.replace('namespace: shop', 'namespace: nowhere'));
    assert.match(noNs.err, /namespaces "nowhere" not found/);
  });

  it('get -w shows changes as they happen, then delete', async () => {
    const w = k.kubectl(['get', 'netpol', '-n', 'shop', '-w', '--request-timeout=3s']);
    await new Promise((r) => setTimeout(r, 800));
    await k.ok(['label', 'netpol', 'web', '-n', 'shop', 'stage=two']);
    await k.ok(['create', '-f', '-'], netpol(443).replace('name: web', 'name: tls'));
    assert.match(await k.ok(['delete', 'netpol', 'tls', '-n', 'shop']), /networkpolicy.networking.k8s.io "tls" deleted/);
    const out = (await w).out;
    assert.match(out, /^web\s+app=web/m);
    assert.match(out, /^tls\s+app=web/m);
    assert.ok(out.split('\n').filter((l) => l.startsWith('web')).length >= 2, `the label change is shown:\n${out}`);
    assert.match(await k.ok(['get', 'netpol', '-n', 'shop', '-o', 'name']), /^networkpolicy.networking.k8s.io\/web\n$/);
    assert.match(await k.ok(['delete', 'namespace', 'shop']), /namespace "shop" deleted/);
    assert.equal((await k.kubectl(['get', 'pod', 'web-1', '-n', 'shop'])).code, 1, 'a namespace takes its objects with it');
  });
});
