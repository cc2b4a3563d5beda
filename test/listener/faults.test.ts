// romana-listener through faults: changes made while it was stopped, or while romanad was down, are
// all applied afterwards (deletions included); a forced 410 Gone leads to a relist and the right state;
// killing the leading listener hands over within the lease duration, and two listeners never both write.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireBuilt } from '../helpers/romanad.js';
import { Scene, eventually, namespace, netpol, node, pod, sleep } from './helpers.js';

const SPEC = { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] };

/** What romanad holds, as sorted names: hosts, tenants, pods and policies. */
async function held(s: Scene): Promise<string> {
  const [h, n, p, pol] = await Promise.all([
    s.admin.get<{ hosts: { name: string; labels: Record<string, string> }[] }>('/hosts'),
    s.admin.get<{ namespaces: { name: string; labels: Record<string, string> }[] }>('/namespaces'),
    s.admin.get<{ pods: { namespace: string; name: string; labels: Record<string, string> }[] }>('/pods'),
    s.admin.get<{ policies: { id: string }[] }>('/policies'),
  ]);
  return JSON.stringify({
    hosts: h.hosts.map((x) => `${x.name}:${x.labels.v ?? ''}`).sort(),
    tenants: n.namespaces.map((x) => `${x.name}:${x.labels.v ?? ''}`).sort(),
    pods: p.pods.map((x) => `${x.namespace}/${x.name}:${x.labels.v ?? ''}`).sort(),
    policies: pol.policies.map((x) => x.id).sort(),
  });
}

/** The same, computed from the API server's objects. */
function expected(s: Scene): string {
  const v = (o: Record<string, any>) => (o.metadata.labels?.v ?? '') as string; // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.stringify({
    hosts: s.list('v1', 'Node').map((x) => `${x.metadata.name}:${v(x)}`).sort(),
    tenants: s.list('v1', 'Namespace').map((x) => `${x.metadata.name}:${v(x)}`).sort(),
    pods: s.list('v1', 'Pod').map((x) => `${x.metadata.namespace}/${x.metadata.name}:${v(x)}`).sort(),
    policies: s.list('networking.k8s.io/v1', 'NetworkPolicy').map((x) => `${x.metadata.namespace}/${x.metadata.name}`).sort(),
  });
}

const converged = (s: Scene, what: string, ms = 8000) => eventually(what, ms, async () => {
  const [have, want] = [await held(s), expected(s)];
  if (have !== want) throw new Error(`romanad holds ${have}, the API server says ${want}`);
  return true;
});

/** Changes of every kind: creations, relabellings and deletions. */
function churn(s: Scene, round: number): void {
  s.create(node(`n${round}`, `192.168.20.${round}`, { 'example.com/rack': round % 2 ? 'r1' : 'r2' }));
  s.create(namespace(`ns${round}`, { v: String(round) }));
  s.create(pod(`ns${round}`, 'p', `n${round}`, { v: String(round) }));
  s.create(netpol(`ns${round}`, 'np', SPEC));
  if (round > 1) {
    s.patch('v1', 'Namespace', undefined, `ns${round - 1}`, { metadata: { labels: { v: `changed${round}` } } });
    s.patch('v1', 'Pod', `ns${round - 1}`, 'p', { metadata: { labels: { v: `changed${round}` } } });
    s.remove('networking.k8s.io/v1', 'NetworkPolicy', `ns${round - 1}`, 'np');
    s.remove('v1', 'Node', undefined, `n${round - 1}`);
  }
  if (round > 2) s.remove('v1', 'Namespace', undefined, `ns${round - 2}`);
}

describe('romana-listener through faults', () => {
  const s = new Scene();
  before(async () => {
    requireBuilt();
    await s.start();
  });
  after(() => s.stop());

  it('applies what changed while it was stopped, deletions included', async () => {
    const l = await s.listener('one');
    churn(s, 1);
    await converged(s, 'first round');
    await l.stop();
    churn(s, 2);
    churn(s, 3);
    const l2 = await s.listener('one-again');
    await converged(s, 'after restart');
    await s.synced(l2);
    await l2.stop();
  });

  it('applies what changed while romanad was down, once it is back', async () => {
    const l = await s.listener('two');
    await converged(s, 'before');
    await s.romanad.kill();
    churn(s, 4);
    await sleep(1500); // the listener tries, fails and backs off
    assert.match(JSON.stringify(await s.status(l)), /"synced":false/);
    churn(s, 5);
    await s.startRomanad();
    await converged(s, 'after romanad is back', 40000);
    await s.synced(l, 40000);
    await l.stop();
  });

  it('relists after a forced 410 Gone and applies the differences, deletions included', async () => {
    const l = await s.listener('three');
    await s.synced(l);
    const gone = (await s.status(l)).resourceVersions.pod;
    const [requestsBefore, expiredBefore] = [s.kube.requests.length, s.kube.registry.store.expiredWatches];
    // The watches stall (nothing more is sent on them), changes happen, the history is compacted, and
    // the watches end: the listener resumes from a resourceVersion the server no longer has.
    s.kube.registry.store.freezeWatches();
    churn(s, 6);
    s.kube.registry.store.compact();
    s.kube.closeWatches();
    await converged(s, 'after the relist');
    assert.ok(s.kube.registry.store.expiredWatches >= expiredBefore + 5, 'every kind\'s watch was answered 410 Gone');
    const since = s.kube.requests.slice(requestsBefore);
    for (const r of ['nodes', 'namespaces', 'pods', 'networkpolicies']) assert.ok(since.some((x) => x.verb === 'list' && x.resource === r), `${r} listed again`);
    assert.ok(Number((await s.status(l)).resourceVersions.pod) > Number(gone));
    await l.stop();
  });

  it('hands over within the lease duration when the leader dies, and never has two writers', async () => {
    const a = await s.listener('leader-a', 'a');
    await s.synced(a);
    const b = await s.listener('follower-b', 'b');
    await eventually('b follows', 5000, async () => (await s.status(b)).holder === 'leader-a');
    assert.equal((await s.status(b)).leading, false);
    assert.equal((await fetch(`${b.url}/readyz`)).status, 200, 'a follower is ready');
    const auditStart = s.audit().length;
    churn(s, 7);
    await converged(s, 'a applies');
    await a.kill();
    const killedAt = Date.now();
    churn(s, 8);
    await eventually('b leads', 5000, async () => (await s.status(b)).leading);
    const handover = Date.now() - killedAt;
    assert.ok(handover <= 2000 + 1000, `took over in ${handover} ms (lease 2 s, plus one retry period and a poll)`);
    await converged(s, 'b applies');
    // The audit log names who wrote: first only listener-a, then only listener-b.
    const writers = s.audit().slice(auditStart).filter((e) => e.who.startsWith('listener-')).map((e) => e.who);
    assert.ok(writers.length > 0);
    const switches = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
    assert.ok(switches <= 1, `writers interleave: ${writers.join(' ')}`);
    assert.equal(writers[0], 'listener-a');
    assert.equal(writers[writers.length - 1], 'listener-b');
    const lease = s.get('coordination.k8s.io/v1', 'Lease', 'romana-system', 'romana-listener')!;
    assert.equal(lease.spec.holderIdentity, 'follower-b');
    assert.ok(lease.spec.leaseTransitions >= 1);
    await b.stop();
  });
});
