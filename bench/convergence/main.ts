// Convergence: time from `POST /policies` until every host's agent has applied it, p50/p99 over 20
// changes, in labs of 3 and 8 hosts (real namespaces, agents and kernel). Needs root and a build.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { down, labApi, up } from '../../src/lab/lab.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fmt, percentile } from '../lib/stats.js';

const CHANGES = 20;

const exec = promisify(execFile);
/** An agent's last applied revision, asked inside its host namespace (agents listen there only). */
async function applied(netns: string): Promise<number> {
  try {
    const { stdout } = await exec('ip', ['netns', 'exec', netns, 'curl', '-sf', '-m', '1', 'http://127.0.0.1:9604/status']);
    return (JSON.parse(stdout) as { last_applied_revision?: number }).last_applied_revision ?? -1;
  } catch {
    return -1;
  }
}

async function measure(hosts: number): Promise<number[]> {
  const name = `bc${hosts}`;
  process.env.ROMANA_LAB_DIR = join(tmpdir(), `romana-bench-${name}`);
  await down(name);
  const pods = Array.from({ length: hosts * 2 }, (_, i) => ({ namespace: 'bench', name: `p${i}`, labels: { app: `a${i % 4}` }, ports: [{ port: 80, protocol: 'TCP' }] }));
  const file = join(tmpdir(), `romana-bench-${name}.json`);
  writeFileSync(file, JSON.stringify({ namespaces: [{ name: 'bench', labels: {} }], pods, externals: [], policies: [] }));
  const s = await up({ name, hosts, clusterFile: file });
  const api = labApi(s);
  const times: number[] = [];
  try {
    for (let i = 0; i < CHANGES; i++) {
      const policy = {
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bench', namespace: 'bench' },
        spec: { podSelector: { matchLabels: { app: `a${i % 4}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 4}` } } }], ports: [{ port: 80 + i }] }] },
      };
      const t0 = performance.now();
      await api.post('/policies', policy);
      const { revision } = await api.get<{ revision: number }>('/store/list?prefix=/romana/none');
      const pending = new Set(s.hosts.map((h) => h.netns));
      // All hosts are asked at once, round after round; the time includes one round of asking (~10 ms).
      while (pending.size) {
        const seen = await Promise.all([...pending].map(async (ns) => [ns, await applied(ns)] as const));
        for (const [ns, rev] of seen) if (rev >= revision) pending.delete(ns);
        if (performance.now() - t0 > 30000) throw new Error(`hosts ${[...pending].join(', ')} did not converge in 30 s`);
      }
      times.push(performance.now() - t0);
    }
  } finally {
    await down(name);
  }
  return times.sort((a, b) => a - b);
}

console.log(`Convergence: POST /policies until every agent applied it (${CHANGES} changes)`);
console.log('| hosts | p50 ms | p99 ms | max ms |\n|---|---|---|---|');
for (const hosts of [3, 8]) {
  const t = await measure(hosts);
  console.log(`| ${hosts} | ${fmt(percentile(t, 50), 0)} | ${fmt(percentile(t, 99), 0)} | ${fmt(t[t.length - 1], 0)} |`);
}
