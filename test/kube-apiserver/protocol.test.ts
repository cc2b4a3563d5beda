// The stand-in API server's protocol through real clients (the real kubectl and
// @kubernetes/client-node): paginated lists (limit/continue, one consistent snapshot, 410 for an
// expired continue token); watches from a resourceVersion, bookmarks when asked, 410 Gone with an
// Expired Status when the resourceVersion is older than the history; the CRD's kind (apply, printer
// columns, schema refusals, status subresource); Leases with optimistic concurrency (409 Conflict).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { ROOT } from '../helpers/romanad.js';
import { StandIn, requireKubectl } from './helpers.js';

const pods = (ns: string, names: string[]) => names.map((n) => `apiVersion: v1
kind: Pod
metadata: {name: ${n}, namespace: ${ns}}
spec: {containers: [{name: c, image: "busybox:1.36"}]}
`).join('---\n');

/** The JSON lines a raw watch printed. */
const events = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: Record<string, any> }); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the test API server\'s protocol through real clients', () => {
  const k = new StandIn({ bookmarkIntervalMs: 200 });
  let kc: KubeConfig;
  before(async () => {
    requireKubectl();
    await k.start();
    kc = new KubeConfig();
    kc.loadFromFile(k.kubeconfig);
    // (not `kubectl create namespace`: kubectl's generators send protobuf, which the stand-in does not speak)
    await k.ok(['create', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: pages}\n');
    await k.ok(['create', '-f', '-'], pods('pages', ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']));
  });
  after(() => k.stop());

  it('lists in pages with limit and continue, all pages from one snapshot', async () => {
    const start = k.server.requests.length;
    assert.equal((await k.ok(['get', 'pods', '-n', 'pages', '--chunk-size=3', '-o', 'name'])).trim().split('\n').length, 7);
    const lists = k.server.requests.slice(start).filter((r) => r.verb === 'list' && r.resource === 'pods');
    assert.deepEqual(lists.map((r) => [r.query.limit, Boolean(r.query.continue)]), [['3', false], ['3', true], ['3', true]], 'kubectl followed the continue tokens');
    // client-node: a pod created between pages is not in the later pages (they show the first page's resourceVersion).
    const core = kc.makeApiClient(CoreV1Api);
    const first = await core.listNamespacedPod({ namespace: 'pages', limit: 3 });
    assert.deepEqual(first.items.map((p) => p.metadata!.name), ['p1', 'p2', 'p3']);
    assert.ok(first.metadata?._continue);
    assert.equal(first.metadata?.remainingItemCount, 4);
    await k.ok(['create', '-f', '-'], pods('pages', ['p8']));
    const rest = await core.listNamespacedPod({ namespace: 'pages', limit: 10, _continue: first.metadata!._continue });
    assert.deepEqual(rest.items.map((p) => p.metadata!.name), ['p4', 'p5', 'p6', 'p7']);
    assert.equal(rest.metadata?.resourceVersion, first.metadata?.resourceVersion);
    assert.equal((await core.listNamespacedPod({ namespace: 'pages' })).items.length, 8);
    // Once the history is compacted past it, the token is refused with 410 Gone (Expired).
    k.server.registry.store.compact();
    await assert.rejects(core.listNamespacedPod({ namespace: 'pages', limit: 3, _continue: first.metadata!._continue }), (e: { code?: number; body?: string }) => {
      assert.equal(e.code, 410);
      const st = JSON.parse(e.body!);
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, 'Expired');
      return true;
    });
  });

  it('watches from a resourceVersion, with bookmarks when asked; too old a resourceVersion is 410 Gone (Expired)', async () => {
    const rv = k.server.registry.store.rv;
    await k.ok(['label', 'pod', 'p1', '-n', 'pages', 'seen=yes']);
    await k.ok(['delete', 'pod', 'p2', '-n', 'pages']);
    // From rv: exactly the two changes since, then bookmarks with the latest resourceVersion, until the timeout.
    const out = events(await k.ok(['get', '--raw', `/api/v1/namespaces/pages/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`]));
    assert.deepEqual(out.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`), ['MODIFIED p1', 'DELETED p2']);
    const marks = out.filter((e) => e.type === 'BOOKMARK');
    assert.ok(marks.length >= 2, `bookmarks: ${marks.length}`);
    assert.equal(marks[0].object.kind, 'Pod');
    assert.equal(Number(marks[marks.length - 1].object.metadata.resourceVersion), k.server.registry.store.rv);
    // Without allowWatchBookmarks, none.
    const plain = events(await k.ok(['get', '--raw', `/api/v1/namespaces/pages/pods?watch=1&resourceVersion=${k.server.registry.store.rv}&timeoutSeconds=1`]));
    assert.deepEqual(plain, []);
    // Older than the history: one ERROR event carrying a 410 Status, then the end of the watch.
    k.server.registry.store.compact();
    const old = events(await k.ok(['get', '--raw', `/api/v1/namespaces/pages/pods?watch=1&resourceVersion=${rv}`]));
    assert.equal(old.length, 1);
    assert.equal(old[0].type, 'ERROR');
    assert.deepEqual([old[0].object.kind, old[0].object.status, old[0].object.code, old[0].object.reason], ['Status', 'Failure', 410, 'Expired']);
    assert.match(old[0].object.message, /too old resource version/);
  });

  it('serves the CRD\'s kind: kubectl applies the CRD and RomanaPolicies, shows the printer columns, and the schema refuses bad ones', async () => {
    assert.match(await k.ok(['apply', '-f', join(ROOT, 'deploy', 'kubernetes', 'crd.yaml')]), /customresourcedefinition.apiextensions.k8s.io\/romanapolicies.romana.io created/);
    const rp = (dir: string) => `apiVersion: romana.io/v1\nkind: RomanaPolicy\nmetadata: {name: web}\nspec:\n  direction: ${dir}\n  applied_to: [{tenant: shop, segment: web}]\n  ingress: [{peers: [{peer: any}], rules: [{protocol: tcp, ports: [80]}]}]\n`;
    assert.match(await k.ok(['apply', '-f', '-'], rp('ingress')), /romanapolicy.romana.io\/web created/);
    assert.match(await k.ok(['get', 'rp']), /^NAME\s+DIRECTION\s+ACCEPTED\s+AGE\nweb\s+ingress\s+<none>\s+\d+s$/m);
    const bad = await k.kubectl(['apply', '-f', '-'], rp('sideways'));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^The RomanaPolicy "web" is invalid: spec\.direction: Unsupported value: "sideways": supported values: "ingress", "egress"$/m);
    const typo = await k.kubectl(['create', '-f', '-'], rp('ingress').replace('name: web', 'name: typo').replace('peers:', 'peerz:'));
    assert.equal(typo.code, 1);
    // kubectl 1.20 asks for no strict field validation, so the server prunes the unknown field (as the real
    // one does) and the entry then lacks its peers.
    assert.match(typo.err, /^The RomanaPolicy "typo" is invalid: spec\.ingress\[0\]\.peers: Required value$/m);
    // The status subresource (a JSON patch from client-node): status changes, spec does not; the column shows it.
    const co = kc.makeApiClient(CustomObjectsApi);
    await co.patchClusterCustomObjectStatus({ group: 'romana.io', version: 'v1', plural: 'romanapolicies', name: 'web', body: [
      { op: 'add', path: '/status', value: { conditions: [{ type: 'Accepted', status: 'True' }] } },
      { op: 'replace', path: '/spec/direction', value: 'egress' },
    ] });
    assert.match(await k.ok(['get', 'rp', 'web']), /^web\s+ingress\s+True\s+/m);
    assert.match(await k.ok(['delete', 'rp', 'web']), /romanapolicy.romana.io "web" deleted/);
  });

  it('Leases: created, renewed by update, and a stale update is 409 Conflict with a Status body', async () => {
    const leases = kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.createNamespacedLease({ namespace: 'pages', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date() } } });
    const renewed = await leases.replaceNamespacedLease({ namespace: 'pages', name: 'l', body: { ...lease, spec: { ...lease.spec, renewTime: new Date() } } });
    assert.ok(Number(renewed.metadata!.resourceVersion) > Number(lease.metadata!.resourceVersion));
    await assert.rejects(leases.replaceNamespacedLease({ namespace: 'pages', name: 'l', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } }), (e: { code?: number; body?: string }) => {
      assert.equal(e.code, 409);
      const st = JSON.parse(e.body!);
      assert.deepEqual([st.kind, st.reason, st.code], ['Status', 'Conflict', 409]);
      assert.match(st.message, /Operation cannot be fulfilled on leases.coordination.k8s.io "l": the object has been modified; please apply your changes to the latest version and try again/);
      return true;
    });
    assert.match(await k.ok(['get', 'leases', '-n', 'pages']), /^l\s+a\s+\d+s$/m);
  });
});
