// Convergence: time from `POST /policies` until every host's agent has applied it, p50/p99 over 20
// changes, in labs of 8 and 32 hosts (real namespaces, agents and kernel). Needs root and a build.
//   node --import tsx bench/convergence/main.ts [hosts...]      (default: 8 32)
// Agents are asked by one watcher process inside the lab's fabric namespace (watcher.ts), over kept-alive
// connections every 2 ms, so that asking adds little. Where the time goes is printed beside: the agents'
// own time in the sync (desired state + kernel, from their reconcile histograms), and the rest (romanad's
// write and watch fan-out through the relay, the agents' event loops, the host being busy).
// Baseline in the same run: the POST alone (romanad's answer, no agent waited for).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { down, labApi, up } from '../../src/lab/lab.js';
import { fmt, percentile } from '../lib/stats.js';

const CHANGES = 20;

class Watcher {
  private readonly proc: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  constructor(fabric: string, ips: string[]) {
    const script = fileURLToPath(new URL('./watcher.ts', import.meta.url));
    this.proc = spawn('ip', ['netns', 'exec', fabric, process.execPath, '--import', 'tsx', script, ...ips], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }
  async ask<T>(line: string): Promise<T> {
    this.proc.stdin!.write(`${line}\n`);
    const { value } = await this.lines.next();
    const out = JSON.parse(value as string);
    if (out.error) throw new Error(out.error);
    return out as T;
  }
  stop(): void { this.proc.kill('SIGTERM'); }
}

interface Result { total: number[]; post: number[]; syncMs: number; syncs: number; startS: number }

async function measure(hosts: number): Promise<Result> {
  const name = `bc${hosts}`;
  process.env.ROMANA_LAB_DIR = join(tmpdir(), `romana-bench-${name}`);
  await down(name);
  const pods = Array.from({ length: hosts * 2 }, (_, i) => ({ namespace: 'bench', name: `p${i}`, labels: { app: `a${i % 4}` }, ports: [{ port: 80, protocol: 'TCP' }] }));
  const file = join(tmpdir(), `romana-bench-${name}.json`);
  writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'bench', labels: {} }], pods, externals: [], policies: [] }));
  const tUp = performance.now();
  const s = await up({ name, hosts, clusterFile: file });
  const startS = (performance.now() - tUp) / 1000;
  const api = labApi(s);
  const watcher = new Watcher(s.fabric, s.hosts.map((h) => h.ip));
  const r: Result = { total: [], post: [], syncMs: 0, syncs: 0, startS };
  try {
    const { revision: r0 } = await api.get<{ revision: number }>('/store/list?prefix=/romana/none');
    await watcher.ask(String(r0)); // every agent answers, and has caught up
    const m0 = await watcher.ask<[number, number][]>('metrics');
    for (let i = 0; i < CHANGES; i++) {
      const policy = {
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bench', namespace: 'bench' },
        spec: { podSelector: { matchLabels: { app: `a${i % 4}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 4}` } } }], ports: [{ port: 80 + i }] }] },
      };
      const t0 = performance.now();
      await api.post('/policies', policy);
      r.post.push(performance.now() - t0);
      const { revision } = await api.get<{ revision: number }>('/store/list?prefix=/romana/none');
      await watcher.ask(String(revision));
      r.total.push(performance.now() - t0);
      await new Promise((res) => setTimeout(res, 100)); // changes apart, as a user makes them
    }
    const m1 = await watcher.ask<[number, number][]>('metrics');
    r.syncMs = m1.reduce((n, [sec], i) => n + sec - m0[i][0], 0) * 1000;
    r.syncs = m1.reduce((n, [, c], i) => n + c - m0[i][1], 0);
  } finally {
    watcher.stop();
    await down(name);
  }
  r.total.sort((a, b) => a - b);
  r.post.sort((a, b) => a - b);
  return r;
}

console.log(`Convergence: POST /policies until every agent applied it (${CHANGES} changes)`);
console.log('| hosts | lab up s | POST alone p50 ms (baseline) | p50 ms | p99 ms | max ms | agent sync, mean ms | syncs per agent per change |\n|---|---|---|---|---|---|---|---|');
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
for (const hosts of sizes.length ? sizes : [8, 32]) {
  const r = await measure(hosts);
  console.log(`| ${hosts} | ${fmt(r.startS, 0)} | ${fmt(percentile(r.post, 50), 0)} | ${fmt(percentile(r.total, 50), 0)} | ${fmt(percentile(r.total, 99), 0)} | ${fmt(r.total[r.total.length - 1], 0)} | ${fmt(r.syncMs / Math.max(1, r.syncs), 1)} | ${fmt(r.syncs / hosts / CHANGES, 2)} |`);
}
