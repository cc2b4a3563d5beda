// romana-listener: (1) the time from a NetworkPolicy created on the (stand-in) Kubernetes API server
// until every lab host enforces it, p50/p99 over 20 changes, beside the same policy posted straight to
// romanad in the same lab; (2) the listener's initial sync time and memory with 10,000 pods in 500
// namespaces, beside the same writes made straight to romanad by one client. (1) needs root.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../../src/cli/client.js';
import { down, labApi, up } from '../../src/lab/lab.js';
import { romanaPolicyCrd } from '../../src/listener/crd.js';
import type { Obj } from '../../src/testing/kube-apiserver/resources.js';
import { KubeApiServer } from '../../src/testing/kube-apiserver/server.js';
import { fmt, measure, percentile } from '../lib/stats.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHANGES = 20;
const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

async function applied(netns: string): Promise<number> {
  try {
    const { stdout } = await exec('ip', ['netns', 'exec', netns, 'curl', '-sf', '-m', '1', 'http://127.0.0.1:9604/status']);
    return (JSON.parse(stdout) as { last_applied_revision?: number }).last_applied_revision ?? -1;
  } catch {
    return -1;
  }
}

// ---- (1) API server to every host enforcing ------------------------------------------------------

async function latency(): Promise<void> {
  const name = 'blk';
  process.env.ROMANA_LAB_DIR = join(tmpdir(), `romana-bench-${name}`);
  await down(name);
  const pods = Array.from({ length: 6 }, (_, i) => ({ namespace: 'bench', name: `p${i}`, labels: { app: `a${i % 4}` }, ports: [{ port: 80, protocol: 'TCP' }] }));
  const file = join(tmpdir(), `romana-bench-${name}.json`);
  writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'bench', labels: {} }], pods, externals: [], policies: [] }));
  const s = await up({ name, hosts: 3, clusterFile: file, kubernetes: true });
  const api = labApi(s);
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(s.kube!.kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const policy = (i: number, via: string) => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `${via}-${i}`, namespace: 'bench' },
    spec: { podSelector: { matchLabels: { app: `a${i % 4}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 4}` } } }], ports: [{ port: 80 + i }] }] },
  });
  /** From t0, until romanad holds the policy and every host's agent applied that revision. */
  const enforced = async (id: string, t0: number) => {
    for (;;) {
      try {
        await api.get(`/policies/${encodeURIComponent(id)}`);
        break;
      } catch {
        if (performance.now() - t0 > 30000) throw new Error(`${id} not in romanad in 30 s`);
        await sleep(2);
      }
    }
    const { revision } = await api.get<{ revision: number }>('/store/list?prefix=/romana/none');
    const pending = new Set(s.hosts.map((h) => h.netns));
    while (pending.size) {
      const seen = await Promise.all([...pending].map(async (ns) => [ns, await applied(ns)] as const));
      for (const [ns, rev] of seen) if (rev >= revision) pending.delete(ns);
      if (performance.now() - t0 > 30000) throw new Error(`hosts ${[...pending].join(', ')} did not enforce ${id} in 30 s`);
    }
    return performance.now() - t0;
  };
  const viaKube: number[] = [];
  const direct: number[] = [];
  try {
    for (let i = 0; i < CHANGES; i++) {
      let t0 = performance.now();
      await objects.create(policy(i, 'k8s'));
      viaKube.push(await enforced(`bench/k8s-${i}`, t0));
      t0 = performance.now();
      await api.post('/policies', policy(i, 'api'));
      direct.push(await enforced(`bench/api-${i}`, t0));
    }
  } finally {
    await down(name);
  }
  viaKube.sort((a, b) => a - b);
  direct.sort((a, b) => a - b);
  console.log(`NetworkPolicy created until every host enforces it (3 hosts, ${CHANGES} changes; both include one round of asking the agents, ~10 ms)`);
  console.log('| path | p50 ms | p99 ms | max ms |\n|---|---|---|---|');
  console.log(`| kubectl-equivalent create on the API server -> romana-listener -> romanad -> agents | ${fmt(percentile(viaKube, 50), 0)} | ${fmt(percentile(viaKube, 99), 0)} | ${fmt(viaKube[viaKube.length - 1], 0)} |`);
  console.log(`| baseline: POST /policies to romanad -> agents | ${fmt(percentile(direct, 50), 0)} | ${fmt(percentile(direct, 99), 0)} | ${fmt(direct[direct.length - 1], 0)} |`);
}

// ---- (2) initial sync at scale -------------------------------------------------------------------

const TOKEN = 'bench-admin-token-0123456789';
const LTOKEN = 'bench-listener-token-0123456789';

async function romanad(dir: string, rateLimit: number): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  writeFileSync(join(dir, 'auth.json'), JSON.stringify({ tokens: [{ token: TOKEN, role: 'admin' }, { token: LTOKEN, role: 'listener' }] }));
  writeFileSync(join(dir, 'topology.json'), JSON.stringify({ networks: [{ name: 'pods', cidr: '10.0.0.0/8', block_mask: 26 }], topologies: [{ networks: ['pods'], map: [{ name: 'all', groups: [] }] }] }));
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'romanad'), '--data-dir', join(dir, 'data'), '--port', String(port), '--auth-file', join(dir, 'auth.json'),
    '--topology', join(dir, 'topology.json'), '--rate-limit', String(rateLimit), '--log-level', 'warn'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const api = new ApiClient({ baseUrl: url, token: TOKEN });
  for (let i = 0; i < 200; i++) {
    if (await api.get('/healthz').then(() => true, () => false)) return { url, proc };
    await sleep(50);
  }
  throw new Error('romanad did not start');
}

async function scale(namespaces: number, pods: number, rateLimit: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'romana-bench-listener-'));
  const kube = new KubeApiServer({ bookmarkIntervalMs: 500 });
  const kubeUrl = await kube.listen(0);
  const reg = kube.registry;
  const def = (v: string, k: string) => reg.findKind(v, k)!;
  // The listener watches RomanaPolicies too: without their CRD it never finishes its first listing.
  reg.create(def('apiextensions.k8s.io/v1', 'CustomResourceDefinition'), undefined, romanaPolicyCrd() as Obj, { manager: 'bench' });
  for (let n = 0; n < namespaces; n++) reg.create(def('v1', 'Namespace'), undefined, { metadata: { name: `ns${n}`, labels: { team: `t${n % 10}` } } }, { manager: 'bench' });
  for (let h = 0; h < 50; h++) {
    reg.create(def('v1', 'Node'), undefined, { metadata: { name: `node-${h}` }, status: { addresses: [{ type: 'InternalIP', address: `192.168.${h >> 8}.${(h & 255) + 1}` }] } }, { manager: 'bench' });
  }
  for (let p = 0; p < pods; p++) {
    reg.create(def('v1', 'Pod'), `ns${p % namespaces}`, {
      metadata: { name: `pod-${p}`, labels: { app: `a${p % 7}`, 'romana.io/segment': `s${p % 3}` } },
      spec: { nodeName: `node-${p % 50}`, containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
    }, { manager: 'bench' });
  }
  writeFileSync(join(dir, 'kubeconfig'), `apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters: [{name: b, cluster: {server: "${kubeUrl}", insecure-skip-tls-verify: true}}]\nusers: [{name: b, user: {token: x}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\n`);
  writeFileSync(join(dir, 'listener.token'), LTOKEN);
  const rd = await romanad(dir, rateLimit);
  const lport = await freePort();
  const rv = reg.store.rv;
  const t0 = performance.now();
  const listener = spawn(process.execPath, [join(ROOT, 'bin', 'romana-listener'), '--api', rd.url, '--token-file', join(dir, 'listener.token'), '--kubeconfig', join(dir, 'kubeconfig'),
    '--identity', 'bench', '--lease-namespace', 'default', '--lease-duration', '15', '--renew-deadline', '10', '--retry-period', '0.2', '--resync-period', '3600',
    '--listen', '127.0.0.1', '--port', String(lport), '--log-level', 'error'], { stdio: 'ignore' });
  reg.create(def('v1', 'Namespace'), undefined, { metadata: { name: 'default' } }, { manager: 'bench' });
  let seconds = NaN;
  let rssMb = NaN;
  try {
    for (;;) {
      const st = await fetch(`http://127.0.0.1:${lport}/status`).then((r) => r.json() as Promise<{ synced: boolean; leading: boolean; resourceVersions: Record<string, string> }>).catch(() => undefined);
      if (st?.leading && st.synced && Object.values(st.resourceVersions).every((v) => Number(v) >= rv)) break;
      if (performance.now() - t0 > 600_000) throw new Error(`no sync in 10 minutes: ${JSON.stringify(st)}`);
      await sleep(50);
    }
    seconds = (performance.now() - t0) / 1000;
    const metrics = await (await fetch(`http://127.0.0.1:${lport}/metrics`)).text();
    rssMb = Number(/^romana_listener_process_resident_memory_bytes (\S+)$/m.exec(metrics)?.[1]) / 2 ** 20;
  } finally {
    listener.kill('SIGKILL');
    rd.proc.kill('SIGTERM');
    await kube.close();
  }
  // Baseline: the same records written straight to a fresh romanad by one client, 16 at a time.
  const dir2 = mkdtempSync(join(tmpdir(), 'romana-bench-listener-'));
  const rd2 = await romanad(dir2, rateLimit);
  const api = new ApiClient({ baseUrl: rd2.url, token: TOKEN });
  const t1 = performance.now();
  // Over the rate limit: wait as romanad says and try again, as the listener does.
  const put = async (path: string, body: unknown): Promise<unknown> => {
    for (;;) {
      try {
        return await api.put(path, body);
      } catch (e) {
        if ((e as { kind?: string }).kind !== 'rate_limited') throw e;
        await sleep((e as { retryAfterMs?: number }).retryAfterMs ?? 100);
      }
    }
  };
  await measure(namespaces, 16, (n) => put(`/namespaces/ns${n}`, { labels: { team: `t${n % 10}`, 'kubernetes.io/metadata.name': `ns${n}` } }));
  await measure(pods, 16, (p) => put(`/pods/ns${p % namespaces}/pod-${p}`, { labels: { app: `a${p % 7}` }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }));
  const base = (performance.now() - t1) / 1000;
  rd2.proc.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  rmSync(dir2, { recursive: true, force: true });
  return `| ${pods} pods, ${namespaces} namespaces, 50 nodes | ${rateLimit ? `${rateLimit}/s (default)` : 'off'} | ${fmt(seconds, 1)} | ${fmt(rssMb, 0)} | ${fmt(base, 1)} |`;
}

console.log('Initial sync: listener start until romanad holds every object (listed in pages of 500, written 16 at a time)');
console.log('| cluster | romanad rate limit | listener sync s | listener RSS MB | baseline: same writes straight to romanad, s |\n|---|---|---|---|---|');
// BENCH_LISTENER_PODS: a smaller cluster for a smoke run.
const PODS = Number(process.env.BENCH_LISTENER_PODS ?? 10_000);
console.log(await scale(Math.max(1, PODS / 20), PODS, 1000));
console.log(await scale(Math.max(1, PODS / 20), PODS, 0));
if (process.getuid?.() === 0) await latency();
else console.log('(the API-server-to-enforcement figures need root: skipped)');
