// One host with 1,000 local pods in 400 namespaces, each namespace with its own policy (ingress only from
// its own namespace, on TCP 8080), on the nftables backend: 400 peer sets (an ipset host stops at 256 per
// network namespace), loaded in one transaction, listed back exactly as rendered, and enforced: three of
// the pods are real network namespaces with servers, probed across and within namespaces.
// Needs root, iproute2 and nft: without them this test FAILS, never skips.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { FirewallSyncResult } from '../../src/agent/firewall.js';
import { parseNftTable, planNft } from '../../src/agent/nftables.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { renderNft } from '../../src/core/policy/render-nft.js';
import { ROOT, Scratch, inNs, requireKernelTools, sh, shAsync, waitFor } from './helpers.js';

const NAMESPACES = 400;
const PODS = 1000;
const s = new Scratch();
const servers: ChildProcess[] = [];

const ipOf = (k: number) => `10.10.${k >> 8}.${k & 255}`;
const cluster = parseCluster({
  namespaces: Array.from({ length: NAMESPACES }, (_, n) => ({ name: `ns${n}` })),
  // Pod k (from 10, so no address ends in .0) lives in namespace k % 400: 2 or 3 pods each.
  pods: Array.from({ length: PODS }, (_, i) => ({ namespace: `ns${(i + 10) % NAMESPACES}`, name: `p${i + 10}`, ip: ipOf(i + 10), host: 'h', labels: { app: 'x' }, ports: [{ port: 8080, protocol: 'TCP' }] })),
  policies: Array.from({ length: NAMESPACES }, (_, n) => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'own-namespace', namespace: `ns${n}` },
    spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }] },
  })),
});
// Real pods: p10 and p410 share ns10; p11 is in ns11.
const REAL = ['p10', 'p410', 'p11'];
const pods: Record<string, { ns: string; ip: string }> = {};
let host = '';

async function child<T>(ns: string, input: object): Promise<T[]> {
  const r = await shAsync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', `${ROOT}/test/agent/sync-child.ts`], JSON.stringify(input));
  if (r.code !== 0) throw new Error(`sync-child exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

function connects(from: string, to: string): Promise<boolean> {
  return new Promise((resolve) => {
    const script = `const s=require('net').connect({host:'${to}',port:8080});s.setTimeout(1000,()=>process.exit(3));s.on('data',()=>process.exit(0));s.on('error',()=>process.exit(4));`;
    const c = spawn('ip', ['netns', 'exec', from, process.execPath, '-e', script], { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code === 0));
  });
}

before(async () => {
  requireKernelTools(['ip', 'nft']);
  host = s.netns('big');
  inNs(host, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const [i, name] of REAL.entries()) {
    const p = cluster.pods.find((x) => x.name === name)!;
    const ns = s.netns(`big-${name}`);
    sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', host]);
    sh('ip', ['-n', ns, '-batch', '-'], `addr add ${p.ip}/32 dev eth0\nlink set eth0 up\nroute add 10.1.0.1 dev eth0 scope link\nroute add default via 10.1.0.1\n`);
    sh('ip', ['-n', host, '-batch', '-'], `addr add 10.1.0.1/32 dev v${i}\nlink set v${i} up\nroute add ${p.ip}/32 dev v${i} scope link\n`);
    servers.push(spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', "require('net').createServer((c)=>c.end('ok')).listen(8080)"], { stdio: 'ignore' }));
    pods[name] = { ns, ip: p.ip };
  }
});

after(async () => {
  for (const c of servers) c.kill('SIGKILL');
  await s.cleanup();
});

describe('nftables: one host, 1,000 pods in 400 namespaces, a policy each', { timeout: 120_000 }, () => {
  const compiled = compileHost(cluster, 'h');
  const want = renderNft(compiled.ir);

  it('compiles to more peer sets than one namespace can hold as ipsets (256)', () => {
    const peerSets = want.sets.filter((x) => x.kind === 'set');
    assert.ok(peerSets.length >= NAMESPACES, `${peerSets.length} sets`);
    assert.equal(want.sets.find((x) => x.name === 'ROMANA-INGRESS-MAP')!.elements.length, PODS, 'every pod isolated for ingress');
  });

  it('loads in one transaction, lists back exactly as rendered, and a second sync changes nothing', async () => {
    const t = Date.now();
    const [first, , counters] = await child<FirewallSyncResult>(host, { kind: 'backend', backend: 'nftables', compiled });
    assert.deepEqual(first.errors, []);
    assert.ok(first.changed);
    const got = parseNftTable(inNs(host, 'nft', ['-s', 'list', 'table', 'inet', 'romana']));
    assert.equal(got.sets.size, want.sets.length);
    assert.equal(planNft(want, got).script, '', 'the kernel holds exactly the rendered table');
    assert.equal((counters as unknown as unknown[]).length, NAMESPACES, 'a counter per policy');
    const [again] = await child<FirewallSyncResult>(host, { kind: 'nft', ir: compiled.ir });
    assert.equal(again.changed, false);
    assert.ok(Date.now() - t < 60_000);
  });

  it('enforces: within a namespace open, across namespaces closed, as simulate says', async () => {
    for (const p of Object.values(pods)) await waitFor(`server at ${p.ip}`, () => connects(host, p.ip), 10_000, 100);
    const probes: [string, string][] = [['p10', 'p410'], ['p410', 'p10'], ['p11', 'p10'], ['p10', 'p11'], ['p410', 'p11']];
    const sim = simulate(cluster, probes.map(([a, b]) => ({ from: `${cluster.pods.find((x) => x.name === a)!.namespace}/${a}`, to: `${cluster.pods.find((x) => x.name === b)!.namespace}/${b}`, port: 8080, protocol: 'TCP' as const })));
    assert.deepEqual(sim.map((r) => r.allowed), [true, true, false, false, false]);
    const got = await Promise.all(probes.map(([a, b]) => connects(pods[a].ns, pods[b].ip)));
    assert.deepEqual(got.map((ok, i) => `${probes[i].join(' -> ')}: ${ok ? 'open' : 'closed'}`), probes.map((p, i) => `${p.join(' -> ')}: ${sim[i].allowed ? 'open' : 'closed'}`));
  });
});
