// The dense host both firewall backends are tested on: 1,000 pods in 400 namespaces on one host, each
// namespace with its own policy (ingress only from its own namespace, on TCP 8080). Three of the pods are
// real network namespaces with servers behind a host namespace, to probe across and within namespaces.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { type Scratch, inNs, sh, waitFor } from './helpers.js';

export const NAMESPACES = 400;
export const PODS = 1000;
const ipOf = (k: number) => `10.10.${k >> 8}.${k & 255}`;
export const cluster = parseCluster({
  namespaces: Array.from({ length: NAMESPACES }, (_, n) => ({ name: `ns${n}` })),
  // Pod k (from 10, so no address ends in .0) lives in namespace k % 400: 2 or 3 pods each.
  pods: Array.from({ length: PODS }, (_, i) => ({ namespace: `ns${(i + 10) % NAMESPACES}`, name: `p${i + 10}`, ip: ipOf(i + 10), host: 'h', labels: { app: 'x' }, ports: [{ port: 8080, protocol: 'TCP' }] })),
  policies: Array.from({ length: NAMESPACES }, (_, n) => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'own-namespace', namespace: `ns${n}` },
    spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }] },
  })),
});
/** Real pods: p10 and p410 share ns10; p11 is in ns11. */
export const REAL = ['p10', 'p410', 'p11'];

export interface DenseHost { host: string; pods: Record<string, { ns: string; ip: string }>; servers: ChildProcess[] }

/** The host namespace (`<prefix>`) and the real pods (`<prefix>-<pod>`), each serving on 8080. */
export function denseHost(s: Scratch, prefix: string): DenseHost {
  const host = s.netns(prefix);
  const pods: DenseHost['pods'] = {};
  const servers: ChildProcess[] = [];
  inNs(host, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const [i, name] of REAL.entries()) {
    const p = cluster.pods.find((x) => x.name === name)!;
    const ns = s.netns(`${prefix}-${name}`);
    sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', host]);
    sh('ip', ['-n', ns, '-batch', '-'], `addr add ${p.ip}/32 dev eth0\nlink set eth0 up\nroute add 10.1.0.1 dev eth0 scope link\nroute add default via 10.1.0.1\n`);
    sh('ip', ['-n', host, '-batch', '-'], `addr add 10.1.0.1/32 dev v${i}\nlink set v${i} up\nroute add ${p.ip}/32 dev v${i} scope link\n`);
    servers.push(spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', "require('net').createServer((c)=>c.end('ok')).listen(8080)"], { stdio: 'ignore' }));
    pods[name] = { ns, ip: p.ip };
  }
  return { host, pods, servers };
}

/** Whether a TCP connection from namespace `from` to `to`:8080 gets the server's answer within 1 s. */
export function connects(from: string, to: string): Promise<boolean> {
  return new Promise((resolve) => {
    const script = `const s=require('net').connect({host:'${to}',port:8080});s.setTimeout(1000,()=>process.exit(3));s.on('data',()=>process.exit(0));s.on('error',()=>process.exit(4));`;
    const c = spawn('ip', ['netns', 'exec', from, process.execPath, '-e', script], { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code === 0));
  });
}

/** The real pods' servers answer, and each probe across or within namespaces is open exactly when simulate says. */
export async function assertEnforcedAsSimulated(d: DenseHost): Promise<void> {
  for (const p of Object.values(d.pods)) await waitFor(`server at ${p.ip}`, () => connects(d.host, p.ip), 10_000, 100);
  const probes: [string, string][] = [['p10', 'p410'], ['p410', 'p10'], ['p11', 'p10'], ['p10', 'p11'], ['p410', 'p11']];
  const key = (n: string) => cluster.pods.find((x) => x.name === n)!.key;
  const sim = simulate(cluster, probes.map(([a, b]) => ({ from: key(a), to: key(b), port: 8080, protocol: 'TCP' as const })));
  assert.deepEqual(sim.map((r) => r.allowed), [true, true, false, false, false]);
  const got = await Promise.all(probes.map(([a, b]) => connects(d.pods[a].ns, d.pods[b].ip)));
  assert.deepEqual(got.map((ok, i) => `${probes[i].join(' -> ')}: ${ok ? 'open' : 'closed'}`), probes.map((p, i) => `${p.join(' -> ')}: ${sim[i].allowed ? 'open' : 'closed'}`));
}
