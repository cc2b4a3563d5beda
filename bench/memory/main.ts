// Memory (RSS, from /proc) of the two long-lived processes at the scale of issue 14, and over a churn:
// - romanad (the built bundle, SQLite) holding 100,000 addresses and 2,000 policies, while 8 clients
//   allocate and release addresses and replace policies through the API;
// - an agent (the built bundle, in a scratch network namespace, reaching romanad through the lab's
//   relay) on the 10,127-rule host of bench/dataplane in a cluster of 10,000 endpoints, while pods
//   come and go and a policy is replaced, as store events (romanad on a real etcd, written directly).
// Baselines in the same run: each process on a store with nothing in it. RSS is sampled every 10 s.
//
//   sudo node --import tsx bench/memory/main.ts       (BENCH_MEMORY_SECONDS=600 by default: 10 minutes)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../src/agent/node-flags.js';
import { ApiClient } from '../../src/cli/client.js';
import { Control } from '../../src/control/control.js';
import { addressKey, hostKey, namespaceKey, podKey, policyKey } from '../../src/control/keys.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { startEtcd } from '../../test/helpers/etcd.js';
import { ROOT, type Romanad, startRomanad } from '../../test/helpers/romanad.js';
import { policy, snapshot } from '../dataplane/snap.js';
import { fmt, measure } from '../lib/stats.js';

const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 600);
// Which halves to run (BENCH_MEMORY_PARTS=agent while working on one): romanad, agent, or both.
const PARTS = new Set((process.env.BENCH_MEMORY_PARTS ?? 'romanad,agent').split(','));
const ADDRESSES = 100_000, POLICIES = 2_000, ENDPOINTS = 10_000, HOSTS = 100;
const J = JSON.stringify;
/** The npm packages the agent's bundle imports (dist/romana-agent.mjs). */
const AGENT_LIBRARIES = [...readFileSync(join(ROOT, 'dist', 'romana-agent.mjs'), 'utf8').matchAll(/^import .* from "([^".][^"]*)";$/gm)].map((m) => m[1]).filter((m, i, a) => !m.startsWith('node:') && a.indexOf(m) === i);
/** The agent's node flags, as bin/romana-agent gives them; BENCH_AGENT_NODE_FLAGS='' measures it without. */
const agentNodeFlags = () => process.env.BENCH_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? AGENT_NODE_FLAGS;
const agentEnv = () => (process.env.BENCH_AGENT_NODE_FLAGS === undefined ? AGENT_ENV : {});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resident set of a process, in MiB. */
/** CPU time a process has used (user + system), in seconds. */
const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime: fields 14 and 15, in clock ticks (USER_HZ 100)
};
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const k8sPolicy = (i: number, port: number) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `p${i % 10}`, namespace: `t${i % 200}` },
  spec: { podSelector: { matchLabels: { app: `a${i % 5}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 5}` } } }, { namespaceSelector: { matchLabels: { team: `x${i % 7}` } } }], ports: [{ port }] }] },
});

/** A store with 100,000 addresses (through the IPAM, 100 hosts, 200 tenants) and 2,000 policies. */
async function seedRomanad(dir: string): Promise<void> {
  const store = await openStore({ dataDir: dir });
  const c = new Control(store);
  await c.topology.replace({ networks: [{ name: 'n', cidr: '10.0.0.0/8', block_mask: 28 }], topologies: [{ networks: ['n'], map: Array.from({ length: 4 }, () => ({ groups: [] })) }] });
  for (let h = 0; h < HOSTS; h++) await c.topology.addHost({ name: `host-${h}`, ip: `192.168.${h >> 8}.${h & 255}` });
  await measure(ADDRESSES, 64, (i) => c.ipam.allocate({ name: `pre-${i}`, host: `host-${i % HOSTS}`, tenant: `t${i % 200}`, segment: `s${(i >> 8) % 2}` }));
  for (let i = 0; i < POLICIES; i++) await c.policies.apply(k8sPolicy(i * 10, 80));
  await store.close();
}

interface Series { label: string; samples: number[] }
const summary = (s: Series) => {
  const third = Math.max(1, Math.floor(s.samples.length / 3));
  const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  return `| ${s.label} | ${fmt(s.samples[0], 0)} | ${fmt(Math.max(...s.samples), 0)} | ${fmt(s.samples[s.samples.length - 1], 0)} | ${fmt(avg(s.samples.slice(0, third)), 0)} → ${fmt(avg(s.samples.slice(-third)), 0)} |`;
};

/** romanad's churn: 8 clients allocating and releasing (a window of 32 each), one replacing policies. */
async function romanadChurn(r: Romanad, until: number): Promise<number> {
  let ops = 0;
  const api = new ApiClient({ baseUrl: r.url, timeoutMs: 10_000 });
  const allocators = Array.from({ length: 8 }, async (_, w) => {
    const held: string[] = [];
    for (let i = 0; Date.now() < until; i++) {
      const name = `churn-${w}-${i}`;
      await api.post('/address', { name, host: `host-${w}`, tenant: `c${w}`, segment: 's' });
      held.push(name);
      if (held.length > 32) await api.del(`/address?addressName=${encodeURIComponent(held.shift()!)}`);
      ops++;
    }
  });
  const writer = (async () => {
    for (let i = 0; Date.now() < until; i++) {
      await api.post('/policies', k8sPolicy(i % POLICIES * 10, 80 + (i % 3)));
      ops++;
    }
  })();
  await Promise.all([...allocators, writer]);
  return ops;
}

/** An agent in its own namespace, on romanad's unix socket through the lab's relay. */
class Agent {
  readonly ns = `ragm-${process.pid}`;
  private procs: ChildProcess[] = [];
  private readonly diagDir: string;
  constructor(private readonly sock: string, private readonly stateDir: string) {
    this.diagDir = `${stateDir}-diag`;
    mkdirSync(this.diagDir, { recursive: true });
    sh('ip', ['netns', 'add', this.ns]);
    sh('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
  }
  start(): number {
    const run = (args: string[]) => {
      const p = spawn('ip', ['netns', 'exec', this.ns, process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...agentEnv() } });
      this.procs.push(p);
      return p;
    };
    run([join(ROOT, 'dist', 'romana.mjs'), 'lab', 'relay', '--listen', '127.0.0.1:9600', '--socket', this.sock]);
    // `ip netns exec` execs node in place, so the child's pid is the agent's.
    // --heapsnapshot-signal: liveHeap() below (it only installs a signal handler).
    const a = run([...agentNodeFlags(), '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${this.diagDir}`, join(ROOT, 'dist', 'romana-agent.mjs'), '--host', 'h', '--api', 'http://127.0.0.1:9600', '--listen', '127.0.0.1', '--gateway', 'none', '--cni-state-dir', this.stateDir, '--log-level', 'warn']);
    return a.pid!;
  }
  /**
   * The agent's live data: its V8 heap right after a full collection, from the heap snapshot Node writes
   * on SIGUSR2 (it collects first). Taken last: writing the snapshot costs the agent memory of its own.
   */
  async liveHeap(pid: number): Promise<number> {
    const before = new Set(readdirSync(this.diagDir));
    process.kill(pid, 'SIGUSR2');
    for (let t = 0; t < 600; t++) {
      await sleep(200);
      const f = readdirSync(this.diagDir).find((x) => !before.has(x) && x.endsWith('.heapsnapshot'));
      // Node writes the file synchronously: once the agent answers again, it is complete.
      if (!f || !this.status()) continue;
      const file = join(this.diagDir, f);
      const snap = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
      rmSync(file);
      const width = snap.snapshot.meta.node_fields.length, at = snap.snapshot.meta.node_fields.indexOf('self_size');
      let bytes = 0;
      for (let i = at; i < snap.nodes.length; i += width) bytes += snap.nodes[i];
      return bytes / 2 ** 20;
    }
    throw new Error('the agent wrote no heap snapshot in 120 s');
  }
  /** The agent's memory figures from its /metrics (prom-client's process and V8 ones), in MiB by series. */
  memory(): Map<string, number> {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/metrics'], { encoding: 'utf8' });
    const m = new Map<string, number>();
    for (const [, k, v] of (r.stdout ?? '').matchAll(/^romana_agent_((?:nodejs|process)_[a-z_]*(?:bytes)(?:\{space="[a-z_]+"\})?) (\S+)$/gm)) m.set(k, Number(v) / 2 ** 20);
    return m;
  }
  /** The agent's V8 heap in use (MiB): its live data plus garbage not yet collected. */
  heapUsed(): number { return this.memory().get('nodejs_heap_size_used_bytes') ?? NaN; }
  /** Where the agent's resident memory is, by V8's own accounts. */
  breakdown(pid: number): string {
    const m = this.memory(), g = (k: string) => m.get(k) ?? 0;
    const space = (s: string) => g(`nodejs_heap_space_size_total_bytes{space="${s}"}`);
    const heap = g('nodejs_heap_size_total_bytes');
    const total = rss(pid);
    return `RSS ${fmt(total, 1)} MiB = V8 heap committed ${fmt(heap, 1)} (in use ${fmt(g('nodejs_heap_size_used_bytes'), 1)}; new ${fmt(space('new'), 1)}, old ${fmt(space('old'), 1)}, code ${fmt(space('code'), 1)}, large objects ${fmt(space('large_object'), 1)})`
      + ` + external ${fmt(g('nodejs_external_memory_bytes'), 1)} + the rest (Node and V8 themselves, native code, malloc) ${fmt(total - heap - g('nodejs_external_memory_bytes'), 1)}`;
  }
  status(): { last_applied_revision: number; rules: number; store_revision: number } | undefined {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/status'], { encoding: 'utf8' });
    return r.status === 0 ? JSON.parse(r.stdout) : undefined;
  }
  async waitApplied(revision: number, what: string): Promise<void> {
    for (let t = 0; t < 600; t++) {
      const s = this.status();
      if (s && s.last_applied_revision >= revision) return;
      await sleep(200);
    }
    throw new Error(`the agent did not apply ${what} (revision ${revision}) in 120 s: ${J(this.status())}`);
  }
  async stop(): Promise<void> {
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    this.procs = [];
  }
  remove(): void { spawnSync('ip', ['netns', 'del', this.ns]); }
}

/** The dataplane benchmark's host plus endpoints on other hosts, in namespaces no policy names, to 10,000. */
function agentCluster(): Map<string, string> {
  const m = snapshot();
  const have = [...m.keys()].filter((k) => k.startsWith(addressKey(''))).length;
  for (let i = 0; i < ENDPOINTS - have; i++) {
    const ns = `far${i % 100}`, name = `${ns}-${i}`;
    if (i < 100) m.set(namespaceKey(ns), J({ name: ns, labels: {} }));
    m.set(addressKey(name), J({ name, ip: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, host: `h${3 + (i % 50)}`, tenant: ns, segment: 'default', network: 'pods', block: '' }));
    m.set(podKey(ns, name), J({ namespace: ns, name, labels: { app: `a${i % 5}` }, ports: [] }));
  }
  return m;
}

async function putAll(store: Store, kv: Map<string, string>): Promise<number> {
  const all = [...kv];
  let rev = 0;
  for (let i = 0; i < all.length; i += 100) rev = (await store.txn([], all.slice(i, i + 100).map(([key, value]) => ({ type: 'put' as const, key, value })))).revision;
  return rev;
}

/** The agent's churn, as store events: a pod on this host and one elsewhere come and go; a policy is replaced. */
async function agentChurn(store: Store, until: number): Promise<{ events: number; revision: number }> {
  let events = 0, revision = 0;
  const live: string[][] = [];
  for (let i = 0; Date.now() < until; i++) {
    const host = i % 2 ? 'h' : 'h2', name = `churn-${i}`;
    const keys = [addressKey(name), podKey('ns7', name)];
    revision = (await store.txn([], [
      { type: 'put', key: keys[0], value: J({ name, ip: `10.250.${(i >> 8) & 255}.${i & 255}`, host, tenant: 'ns7', segment: 'default', network: 'pods', block: '', attributes: { pod: name, namespace: 'ns7' } }) },
      { type: 'put', key: keys[1], value: J({ namespace: 'ns7', name, labels: { app: `a${i % 5}` }, ports: [] }) },
    ])).revision;
    live.push(keys);
    if (live.length > 20) revision = (await store.txn([], live.shift()!.map((key) => ({ type: 'delete' as const, key })))).revision;
    if (i % 5 === 0) revision = await store.put(policyKey('ns7/p3'), policy('ns7', 3, 7, 5000 + (i % 2)));
    events++;
    await sleep(100);
  }
  return { events, revision };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the agent runs in a scratch network namespace');
  const tmp = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  const etcd = await startEtcd();
  const series: Series[] = [];
  const out: string[] = [];
  const say = (l: string) => { out.push(l); console.log(l); };
  const stops: (() => Promise<void>)[] = [];
  try {
    console.log(`Memory: ${SECONDS} s of churn (${[...PARTS].join(', ')}); the agent runs with ${Object.entries(agentEnv()).map(([k, v]) => `${k}=${v} `).join('')}node ${agentNodeFlags().join(' ') || '(no flags)'}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    // --- baselines. Node itself, idle, with nothing loaded: the floor under any Node process.
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
    await sleep(1000);
    say(`bare node, idle (baseline): ${fmt(rss(bare.pid!), 1)} MiB`);
    bare.kill();
    // Each process on a store with nothing in it.
    if (PARTS.has('romanad')) {
      const empty = await startRomanad({ dataDir: join(tmp, 'empty') });
      await empty.api.get('/addresses');
      say(`romanad, empty store (baseline): ${fmt(rss(empty.proc.pid!), 0)} MiB`);
      await empty.stop();
    }
    let rev = 0, liveBase = 0, baseRss = 0;
    if (PARTS.has('agent')) {
      const sockE = join(tmp, 'e.sock');
      const emptyStore = await openStore({ etcdEndpoints: [etcd.endpoint], namespace: '/mem-empty' });
      const hostOnly = new Map([[hostKey('h'), J({ name: 'h', ip: '192.168.5.1', labels: {}, agent_port: 9604 })]]);
      rev = await putAll(emptyStore, hostOnly);
      const re = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: '/mem-empty', extraArgs: ['--socket', sockE] });
      const agent = new Agent(sockE, join(tmp, 'cni-e'));
      const pid = agent.start();
      await agent.waitApplied(rev, 'its empty cluster');
      await sleep(2000);
      baseRss = rss(pid);
      say(`agent, cluster of its host only (baseline): ${agent.breakdown(pid)}`);
      liveBase = await agent.liveHeap(pid);
      say(`  its live data (V8 heap after a full collection): ${fmt(liveBase, 1)} MiB`);
      // Node with the libraries the agent loads at start, and nothing else: the runtime's share.
      const libs = spawn(process.execPath, [...agentNodeFlags(), '--input-type=module', '-e', `${AGENT_LIBRARIES.map((m) => `await import('${m}');`).join(' ')} setInterval(() => {}, 1e9)`],
        { stdio: 'ignore', cwd: ROOT, env: { ...process.env, ...agentEnv() } });
      await sleep(1500);
      say(`node with the agent's flags and its libraries (${AGENT_LIBRARIES.join(', ')}) loaded, nothing else: ${fmt(rss(libs.pid!), 1)} MiB`);
      libs.kill();
      await agent.stop();
      agent.remove();
      await re.stop();
      await emptyStore.close();
    }

    // --- at scale.
    const t = Date.now();
    const until = t + SECONDS * 1000;
    const samplers: (() => void)[] = [];
    const work: Promise<string>[] = [];
    const finish: (() => Promise<void>)[] = [];
    if (PARTS.has('romanad')) {
      const dir = join(tmp, 'big');
      await seedRomanad(dir);
      console.log(`  seeded ${ADDRESSES} addresses and ${POLICIES} policies in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      const big = await startRomanad({ dataDir: dir });
      stops.push(() => big.stop());
      const list = await big.api.get<{ addresses: unknown[] }>('/addresses');
      if (list.addresses.length !== ADDRESSES) throw new Error(`romanad lists ${list.addresses.length} addresses`);
      const s: Series = { label: `romanad, ${ADDRESSES.toLocaleString('en')} addresses + ${POLICIES.toLocaleString('en')} policies`, samples: [rss(big.proc.pid!)] };
      series.push(s);
      samplers.push(() => s.samples.push(rss(big.proc.pid!)));
      work.push(romanadChurn(big, Date.now() + (until - t)).then((ops) => `romanad served ${ops.toLocaleString('en')} changes`));
    }
    if (PARTS.has('agent')) {
      const store = await openStore({ etcdEndpoints: [etcd.endpoint], namespace: '/mem' });
      stops.push(() => store.close());
      const cluster = agentCluster();
      rev = await putAll(store, cluster);
      const sock = join(tmp, 'r.sock');
      const ra = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: '/mem', extraArgs: ['--socket', sock] });
      stops.push(() => ra.stop());
      const agent = new Agent(sock, join(tmp, 'cni'));
      stops.push(async () => { await agent.stop(); agent.remove(); });
      const pid = agent.start();
      await agent.waitApplied(rev, 'the 10,127-rule host');
      const st = agent.status()!;
      say(`agent at scale: ${st.rules.toLocaleString('en')} rules on its host, ${ENDPOINTS.toLocaleString('en')} endpoints in the cluster`);
      const s: Series = { label: `agent, ${ENDPOINTS.toLocaleString('en')} endpoints, ${st.rules.toLocaleString('en')}-rule host`, samples: [rss(pid)] };
      const heap: Series = { label: 'agent\'s V8 heap in use (live data + garbage)', samples: [agent.heapUsed()] };
      series.push(s, heap);
      samplers.push(() => { s.samples.push(rss(pid)); heap.samples.push(agent.heapUsed()); });
      const cpu0 = cpuSeconds(pid);
      work.push(agentChurn(store, Date.now() + (until - t)).then(async (churn) => {
        await agent.waitApplied(churn.revision, 'the last churn event');
        const cpu = cpuSeconds(pid) - cpu0;
        say(`agent's CPU over the churn: ${fmt(cpu, 1)} s, ${fmt((cpu * 1000) / churn.events, 1)} ms per pod event (each with its policy share and the drift checks)`);
        say(`agent at the end: ${agent.breakdown(pid)}`);
        // After the last sample: the snapshot costs the agent memory of its own.
        finish.push(async () => {
          const live = await agent.liveHeap(pid);
          say(`agent's live data (V8 heap after a full collection): ${fmt(live, 1)} MiB, ${fmt(live - liveBase, 1)} MiB more than with its host only`);
          say(`agent's floor: its RSS with its host only (${fmt(baseRss, 1)} MiB) + the live data of the cluster (${fmt(live - liveBase, 1)} MiB) = ${fmt(baseRss + live - liveBase, 1)} MiB, before any garbage or heap headroom`);
        });
        return `the agent applied ${churn.events.toLocaleString('en')} pod events (+ a policy every 5th)`;
      }));
    }
    const start = Date.now();
    const sampler = setInterval(() => {
      for (const f of samplers) f();
      console.log(`  ${((Date.now() - start) / 1000).toFixed(0)} s: ${series.map((s) => `${s.label.split(',')[0]} ${fmt(s.samples.at(-1)!, 0)}`).join(', ')} MiB, load ${loadavg()[0].toFixed(1)}`);
    }, 10_000);
    const done = await Promise.all(work).finally(() => clearInterval(sampler));
    for (const f of samplers) f();
    say(`churn: ${done.join('; ')}`);
    for (const f of finish) await f();
    say('\n| process | MiB at start | max | end | first third → last third (mean) |\n|---|---|---|---|---|');
    for (const s of series) say(summary(s));
  } finally {
    for (const f of stops.reverse()) await f().catch(() => undefined);
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
