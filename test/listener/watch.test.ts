// romana-listener watches as client-go's reflector does: list, then watch from the list's
// resourceVersion asking for bookmarks (so a quiet kind keeps a recent resourceVersion and resumes
// without a relist after the history is compacted); when the API server is away it retries with
// capped, jittered backoff and then applies what changed meanwhile; and a resync timer repairs what
// was changed in romanad behind its back, which no Kubernetes event would ever announce.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KINDS } from '../../src/listener/informers.js';
import { requireBuilt } from '../helpers/romanad.js';
import { Scene, eventually, namespace, netpol, node, pod, sleep } from './helpers.js';

const SPEC = { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] };

describe('romana-listener: watching', () => {
  const s = new Scene();
  before(async () => {
    requireBuilt();
    await s.start();
    s.create(node('w-node', '192.168.40.1', { 'example.com/rack': 'r1' }));
    s.create(namespace('watch'));
    s.create(netpol('watch', 'np', SPEC));
  });
  after(() => s.stop());

  it('lists, then watches from the list\'s resourceVersion with bookmarks; a quiet kind resumes from its bookmark after a compaction, without a relist', async () => {
    const first = s.kube.requests.length;
    const l = await s.listener('bookmarks');
    await s.synced(l);
    const mine = s.kube.requests.slice(first);
    for (const k of KINDS) {
      const list = mine.find((r) => r.path === k.path && r.verb === 'list');
      const watch = mine.find((r) => r.path === k.path && r.verb === 'watch');
      assert.ok(list && watch, `${k.k8sKind}: listed and watched (${mine.map((r) => `${r.verb} ${r.path}`).join(', ')})`);
      assert.equal(list.query.limit, '500', `${k.k8sKind}: listed in pages`);
      assert.equal(watch.query.allowWatchBookmarks, 'true', `${k.k8sKind}: asks for bookmarks`);
      assert.match(watch.query.resourceVersion, /^[1-9]\d*$/, `${k.k8sKind}: watches from the list's resourceVersion`);
      const t = Number(watch.query.timeoutSeconds);
      assert.ok(t >= 300 && t < 600, `${k.k8sKind}: a jittered server-side timeout (${t} s)`);
    }
    // Only pods change; nodes (and every other kind) hear nothing but bookmarks, yet keep up.
    const nodeRv = Number((await s.status(l)).resourceVersions.node);
    for (let i = 0; i < 5; i++) s.create(pod('watch', `p${i}`, 'w-node'));
    const upTo = s.kube.registry.store.rv;
    await eventually('every kind at the latest resourceVersion', 5000, async () =>
      Object.values((await s.status(l)).resourceVersions as Record<string, string>).every((v) => Number(v) >= upTo));
    assert.ok(Number((await s.status(l)).resourceVersions.node) > nodeRv, 'the node watch moved on by bookmarks alone');
    // Compact the history up to there and end every watch: all resume; none is answered 410 Gone.
    const [expired, before] = [s.kube.registry.store.expiredWatches, s.kube.requests.length];
    s.kube.registry.store.compact(upTo);
    s.kube.closeWatches();
    s.create(node('w-node-2', '192.168.40.2', { 'example.com/rack': 'r2' }));
    await eventually('the node made after the reconnect', 5000, async () => (await s.admin.get<{ hosts: { name: string }[] }>('/hosts')).hosts.some((h) => h.name === 'w-node-2'));
    await sleep(300);
    assert.equal(s.kube.registry.store.expiredWatches, expired, 'no watch was too old');
    const since = s.kube.requests.slice(before).filter((r) => r.user === 'admin' && KINDS.some((k) => k.path === r.path));
    assert.deepEqual(since.filter((r) => r.verb === 'list').map((r) => r.path), [], 'nothing was listed again');
    assert.equal(since.filter((r) => r.verb === 'watch').length, KINDS.length, 'every kind watched again');
    await l.stop();
  });

  it('retries an absent API server with capped, jittered backoff, then applies what changed meanwhile', async () => {
    const l = await s.listener('backoff');
    await s.synced(l);
    const port = Number(new URL(s.kubeUrl).port);
    const logStart = l.logs().length;
    await s.kube.close();
    // Changes made while no client can reach the server (they land in its storage as other writers' would).
    s.create(namespace('while-away'));
    s.create(pod('while-away', 'p', 'w-node'));
    s.remove('networking.k8s.io/v1', 'NetworkPolicy', 'watch', 'np');
    await sleep(3000);
    await s.kube.listen(port);
    await eventually('the changes made while away', 15000, async () => {
      const [ns, pods, pols] = await Promise.all([
        s.admin.get<{ namespaces: { name: string }[] }>('/namespaces'), s.admin.get<{ pods: { namespace: string; name: string }[] }>('/pods'), s.admin.get<{ policies: { id: string }[] }>('/policies'),
      ]);
      return ns.namespaces.some((n) => n.name === 'while-away') && pods.pods.some((p) => p.namespace === 'while-away') && !pols.policies.some((p) => p.id === 'watch/np');
    });
    await s.synced(l);
    // The retries, per kind: each wait within [base/2, base] * 2^attempt, capped; not all alike (jitter).
    const retries = l.logs().slice(logStart).split('\n').filter((x) => x.includes('watch failed; resuming')).map((x) => JSON.parse(x) as { kind: string; retryInMs: number });
    const byKind = new Map<string, number[]>();
    for (const r of retries) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r.retryInMs]);
    assert.deepEqual([...byKind.keys()].sort(), KINDS.map((k) => k.k8sKind).sort(), 'every kind retried');
    for (const [kind, waits] of byKind) {
      assert.ok(waits.length >= 3 && waits.length <= 12, `${kind}: ${waits.length} retries in 3 s (${waits.join(', ')}): backing off, not spinning`);
      waits.forEach((w, i) => assert.ok(w >= Math.min(30000, 200 * 2 ** i) / 2 - 1 && w <= Math.min(30000, 200 * 2 ** i) + 1, `${kind}: retry ${i} waited ${w} ms`));
    }
    const all = retries.map((r) => r.retryInMs);
    assert.ok(new Set(all).size > all.length / 2, `the waits are jittered: ${all.join(', ')}`);
    await l.stop();
  });

  it('repairs on its resync timer what was changed in romanad behind its back', async () => {
    const tamper = async () => {
      await s.admin.request('DELETE', `/policies/${encodeURIComponent('watch/np2')}`);
      await s.admin.request('PUT', '/namespaces/watch', { labels: { tampered: 'yes' } });
      await s.admin.request('DELETE', '/pods/watch/p0');
    };
    const repaired = async () => {
      const [pols, ns, pods] = await Promise.all([
        s.admin.get<{ policies: { id: string }[] }>('/policies'), s.admin.get<{ namespaces: { name: string; labels: Record<string, string> }[] }>('/namespaces'),
        s.admin.get<{ pods: { namespace: string; name: string }[] }>('/pods'),
      ]);
      return pols.policies.some((p) => p.id === 'watch/np2') && !ns.namespaces.find((n) => n.name === 'watch')?.labels.tampered
        && pods.pods.some((p) => p.namespace === 'watch' && p.name === 'p0');
    };
    s.create(netpol('watch', 'np2', SPEC));
    // Without a timer (an hour), nothing notices.
    const slow = await s.listener('no-resync', 'a', ['--resync-period', '3600']);
    await s.synced(slow);
    assert.ok(await repaired());
    await tamper();
    await sleep(4000);
    assert.equal(await repaired(), false, 'no Kubernetes event, no repair');
    await slow.stop();
    // With a 2 s timer, it is repaired within about one period.
    const l = await s.listener('resync', 'a', ['--resync-period', '2']);
    await s.synced(l);
    await tamper();
    const t0 = Date.now();
    await eventually('repaired by the resync', 5000, repaired);
    assert.ok(Date.now() - t0 <= 2000 + 1500, `repaired in ${Date.now() - t0} ms`);
    await l.stop();
  });
});
