// Fault test: a host cut off from the underlay (its fabric port down) while the policy changes. It keeps
// enforcing the policy it last saw, shows that it is disconnected and behind, tears nothing down, and
// catches up once the link is back. A real lab (romana lab up): romanad, agents, pods through romana-cni.
// Needs root, iproute2, iptables, ipset, tcpdump, curl and a build (node scripts/build.mjs).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import { RemoteStore } from '../../src/store/remote.js';
import { ROOT, sleep, waitFor } from '../agent/helpers.js';
import { TestLab, requireRootAndTools } from '../lab/helpers.js';
import { agentStatus, dataplane } from './helpers.js';

const webIn = (from: string[]) => JSON.stringify({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web-in', namespace: 'shop' },
  spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: from.map((app) => ({ podSelector: { matchLabels: { app } } })), ports: [{ port: 8080 }] }] },
});
/** Before: only the client may reach web. After (applied during the partition): only other and db. */
const BEFORE = webIn(['client']);
const AFTER = webIn(['other', 'db']);

describe('fault: a host partitioned from the underlay', { timeout: 150_000 }, () => {
  const lab = new TestLab();
  let s: ReturnType<TestLab['state']>;
  const pod = (name: string) => s.pods.find((p) => p.name === name)!;

  /** Real TCP connections from one pod to web:8080, made inside the pod (no converge first: host-1 may be cut off). */
  async function reaches(from: string, timeoutMs = 1000): Promise<boolean> {
    const c = spawn('ip', ['netns', 'exec', pod(from).netns, process.execPath, join(ROOT, 'dist', 'romana-lab-worker.mjs'), 'probe-from', '--timeout', String(timeoutMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.stdin.end(JSON.stringify([{ ip: pod('web').ip, port: 8080, protocol: 'TCP' }]));
    const code = await new Promise<number | null>((r) => c.on('close', r));
    assert.equal(code, 0, `probe from ${from}: ${err}`);
    return (JSON.parse(out) as boolean[])[0];
  }

  async function verdicts(): Promise<Record<string, boolean>> {
    const [client, other, db] = await Promise.all(['client', 'other', 'db'].map((p) => reaches(p)));
    return { client, other, db };
  }

  async function storeRevision(): Promise<number> {
    const token = readFileSync(s.adminTokenFile, 'utf8').trim();
    const res = await fetch(`${s.apiUrl}/store/list?prefix=${encodeURIComponent('/romana/none')}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { revision: number }).revision;
  }

  const applyPolicy = (text: string) => {
    const f = join(lab.dir, 'policy.json');
    writeFileSync(f, text);
    lab.api('policy', 'apply', '-f', f);
  };
  const link = (state: 'up' | 'down') => {
    const r = spawnSync('ip', ['-n', s.fabric, 'link', 'set', 'h1', state], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };

  before(() => {
    requireRootAndTools();
    writeFileSync(join(lab.dir, 'cluster.yaml'), [
      'namespaces: [{name: shop, labels: {}}]',
      'pods:',
      '  - {namespace: shop, name: web, host: host-1, labels: {app: web}, ports: [{port: 8080, protocol: TCP}]}',
      '  - {namespace: shop, name: client, host: host-1, labels: {app: client}}',
      '  - {namespace: shop, name: other, host: host-1, labels: {app: other}}',
      '  - {namespace: shop, name: db, host: host-2, labels: {app: db}}',
      `policies: [${BEFORE}]`, '',
    ].join('\n'));
    lab.lab('up', '-f', join(lab.dir, 'cluster.yaml'), '--hosts', '2');
    s = lab.state();
  });
  after(() => {
    if (s) spawnSync('ip', ['-n', s.fabric, 'link', 'set', 'h1', 'up']);
    lab.down();
  });

  it('keeps enforcing its last policy while cut off, tears nothing down, and catches up when the link returns', async (t) => {
    const h1 = s.hosts[0].netns;
    lab.lab('wait');
    assert.deepEqual(await verdicts(), { client: true, other: false, db: false }, 'the first policy, before the partition');
    const before = await dataplane(h1);
    const appliedBefore = (await agentStatus(h1)).last_applied_revision;

    link('down');
    const cutAt = Date.now();
    applyPolicy(AFTER);
    const target = await storeRevision();
    assert.ok(target > appliedBefore);

    // host-2 follows the change; host-1 cannot hear it, and says so.
    await waitFor('host-2 to apply the new policy', async () => (await agentStatus(s.hosts[1].netns)).last_applied_revision >= target, 15_000, 200);
    const cut = await waitFor('host-1 to report the store unreachable', async () => {
      const st = await agentStatus(h1);
      return st.store_connected === false ? st : undefined;
    }, 30_000, 500);
    t.diagnostic(`host-1 noticed the partition after ${Date.now() - cutAt} ms: ${cut.last_error}`);
    assert.ok(cut.last_applied_revision < target, `host-1 is behind: applied ${cut.last_applied_revision}, store at ${target}`);
    assert.equal(cut.last_applied_revision, appliedBefore);
    assert.match(cut.last_error ?? '', /romanad|watch|heartbeat/);

    // Meanwhile host-1 enforces exactly what it had: same verdicts between its own pods, same kernel state.
    assert.deepEqual({ client: await reaches('client'), other: await reaches('other') }, { client: true, other: false }, 'host-1 still enforces the old policy');
    await sleep(3000); // more than one drift interval of the lab's agents (2 s)
    assert.equal(await dataplane(h1), before, 'host-1\'s routes, sets and rules are untouched while it is cut off');
    assert.equal((await agentStatus(h1)).last_applied_revision, appliedBefore);

    link('up');
    const healAt = Date.now();
    await waitFor('host-1 to catch up', async () => {
      const st = await agentStatus(h1);
      return st.store_connected && st.last_applied_revision >= target;
    }, 30_000, 200);
    t.diagnostic(`host-1 caught up ${Date.now() - healAt} ms after the link came back`);
    assert.notEqual(await dataplane(h1), before, 'host-1 applied the new policy');
    lab.lab('wait');
    assert.deepEqual(await verdicts(), { client: false, other: true, db: true }, 'the new policy everywhere, after the partition');
  });
});

// The moment of a partition the lab cannot time: the agent listed, then the link died before romanad
// answered its watch. A real socket that accepts and never answers stands in for that romanad.
describe('fault: romanad silent before answering (a link lost between listing and watching)', () => {
  it('fails the listing and the watch with kind unavailable within the request timeout, so the agent retries', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((c) => sockets.add(c)).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const store = new RemoteStore({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requestTimeoutMs: 800 });
    try {
      for (const call of [() => store.list('/romana/'), () => store.watch('/romana/', 1, { onEvents: () => undefined })]) {
        const t0 = Date.now();
        const outcome = await Promise.race([call().then(() => 'answered', (e: unknown) => e), sleep(5000).then(() => 'hung')]);
        assert.ok(outcome instanceof RomanaError && outcome.kind === 'unavailable', `expected an unavailable error, got ${String(outcome)}`);
        assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
      }
    } finally {
      for (const c of sockets) c.destroy();
      server.close();
    }
  });
});
