// `romana lab`: a multi-host Romana network on one machine. A fabric namespace with a bridge is the
// underlay; each host is a namespace on it running romana-agent; pods are namespaces attached by the
// real romana-cni plugin; romanad runs in the root namespace and the hosts reach it over the fabric
// through a relay to its unix socket (so the lab adds nothing to the root namespace's network).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../agent/node-flags.js';
import { ApiClient } from '../cli/client.js';
import { DEFAULT_DATAPLANE, type DataplaneKind } from '../core/dataplane.js';
import { RomanaError, invalid } from '../core/errors.js';
import { parseCluster } from '../core/policy/cluster.js';
import { defaultProbes, type Probe, type ProbeResult } from '../core/policy/evaluate.js';
import { parseDocuments } from '../core/policy/normalize.js';
import { FABRIC_API_PORT, FABRIC_IP, FABRIC_NET, type LabPod, type LabState, labDir, loadState, saveState } from './state.js';
import { alive, ipBatch, isRoot, listNetns, must, nsExec, run, sleep, spawnIn, stopPid, sysctl } from './kernel.js';
import { freePort, waitFor } from './wait.js';
import { addListenerTokens, createPolicies, createWorkloads, kubePids, kubeSynced, podRunning, startKube } from './kube.js';
import { racksUnderlay, rackState } from './racks.js';
import { vpcState, vpcUnderlay } from './vpc.js';
import type { Underlay } from './underlay.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/ when running the bundle, else the source tree's dist/ (tests build first). */
const DIST = basename(HERE) === 'dist' ? HERE : resolve(HERE, '../../dist');
const NODE = process.execPath;
const SELF = join(DIST, 'romana.mjs');
/** The pod servers and probers: started per pod and per probe run, so not the whole CLI. */
const WORKER = join(DIST, 'romana-lab-worker.mjs');
export const POD_NETWORK = '10.240.0.0/16';
const SEGMENT_LABEL = 'romana.io/segment';

export const prefixOf = (name: string) => `rl-${name}-`;

function requireRoot(): void {
  if (!isRoot()) throw invalid('romana lab needs root (network namespaces, veth pairs and iptables)');
  for (const f of ['romanad.mjs', 'romana-agent.mjs', 'romana-cni.mjs', 'romana-lab-worker.mjs']) {
    if (!existsSync(join(DIST, f))) throw new RomanaError('invalid', `${join(DIST, f)} is missing: run \`make build\` first`);
  }
}



function runAsync(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((ok) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => ok({ code: code ?? 1, out, err }));
    c.stdin.end(input);
  });
}

const tokenFile = (s: LabState, role: 'agent' | 'cni', host: string) => join(s.dir, `${role}-${host}.token`);

/** The lab's tokens: one file each (mode 600, like the lab's directory) and romanad's auth file. */
function writeTokens(s: LabState): void {
  const tokens: { token: string; role: string; host?: string; name: string }[] = [];
  const put = (file: string, t: Omit<(typeof tokens)[number], 'token'>) => {
    const token = randomBytes(24).toString('base64url');
    tokens.push({ token, ...t });
    writeFileSync(file, token + '\n', { mode: 0o600 });
  };
  put(s.adminTokenFile, { role: 'admin', name: 'lab-admin' });
  put(join(s.dir, 'readonly.token'), { role: 'readonly', name: 'lab-readonly' });
  for (const h of s.hosts) {
    put(tokenFile(s, 'agent', h.name), { role: 'agent', host: h.name, name: `agent-${h.name}` });
    put(tokenFile(s, 'cni', h.name), { role: 'cni', host: h.name, name: `cni-${h.name}` });
  }
  writeFileSync(join(s.dir, 'auth.json'), JSON.stringify({ tokens }, null, 2), { mode: 0o600 });
}

/** A client of the lab's romanad with the lab's admin token. */
export function labApi(s: LabState): ApiClient {
  return new ApiClient({ baseUrl: s.apiUrl, token: readFileSync(s.adminTokenFile, 'utf8').trim() });
}

export interface UpOptions {
  name: string; hosts: number; clusterFile?: string; dataplane?: DataplaneKind;
  /** The cluster as Kubernetes objects on an API server stand-in, kept in romanad by romana-listener (src/lab/kube.ts). */
  kubernetes?: boolean;
  /** Racks of `hosts` hosts each, routed by BGP (src/lab/racks.ts); `announce` per rack, cycled. */
  racks?: number;
  announce?: string[];
  /** Availability zones of `hosts` hosts each, routed by a VPC route table (src/lab/vpc.ts). */
  vpc?: boolean;
  azs?: number;
}

/** The lab's underlay when it is not the default single fabric. */
const underlayOf = (s: LabState): Underlay | undefined => (s.racks ? racksUnderlay(POD_NETWORK) : s.vpc ? vpcUnderlay(POD_NETWORK) : undefined);

/** Reads a cluster file keeping the raw policy objects (they are posted to romanad as written). */
function readCluster(file?: string): Record<string, unknown> {
  if (!file) return { namespaces: [], pods: [], externals: [], policies: [] };
  const docs = parseDocuments(readFileSync(file, 'utf8'), file);
  const c = (docs[0] ?? {}) as Record<string, unknown>;
  // Validate it (errors name the field). Pod IPs come from IPAM in the lab, so stand-ins fill any gap.
  const pods = Array.isArray(c.pods) ? (c.pods as Record<string, unknown>[]) : [];
  parseCluster({ ...c, pods: pods.map((p, i) => ({ ...p, ip: `127.255.${i >> 8}.${i & 255}` })) });
  return c;
}

export async function up(o: UpOptions): Promise<LabState> {
  requireRoot();
  const prefix = prefixOf(o.name);
  if (loadState(o.name) || listNetns().some((n) => n.startsWith(prefix))) {
    throw new RomanaError('exists', `lab '${o.name}' is already up (romana lab down${o.name === 'lab' ? '' : ` --name ${o.name}`} removes it)`);
  }
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 50) throw invalid('--hosts: must be 1 to 50');
  if (o.racks !== undefined && o.vpc) throw invalid('--racks and --vpc: choose one underlay');
  const racks = o.racks !== undefined ? rackState(o.racks, o.hosts, o.announce ?? []) : undefined;
  const vpc = o.vpc ? vpcState(o.azs ?? 3, o.hosts) : undefined;
  const cluster = readCluster(o.clusterFile);
  if ((racks || vpc) && Array.isArray(cluster.externals) && cluster.externals.length) throw invalid(`externals: not supported with ${racks ? '--racks' : '--vpc'} (nothing there routes to them)`);
  const dir = labDir(o.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const s: LabState = {
    name: o.name, prefix, dir, apiUrl: '', adminTokenFile: join(dir, 'admin.token'), fabricApiUrl: `http://${FABRIC_IP}:${FABRIC_API_PORT}`, fabric: `${prefix}fab`,
    hosts: [], pods: [], externals: [], pids: {}, cluster, dataplane: o.dataplane ?? DEFAULT_DATAPLANE, ...(racks ? { racks } : {}), ...(vpc ? { vpc } : {}),
  };
  saveState(s);
  try {
    await build(s, o.hosts, o.kubernetes === true);
  } catch (e) {
    saveState(s);
    throw e;
  }
  saveState(s);
  return s;
}

async function build(s: LabState, hostCount: number, kubernetes: boolean): Promise<void> {
  const u = underlayOf(s);
  if (u) u.build(s);
  else buildFabric(s, hostCount);
  const F = s.fabric;
  saveState(s);

  // Control plane: romanad in the root namespace, reachable from the hosts through the relay. Every
  // client has its own token: the operator is admin, each agent and each host's CNI plugin are bound
  // to their host.
  writeTokens(s);
  if (kubernetes) addListenerTokens(s);
  const port = await freePort();
  const sock = join(s.dir, 'romanad.sock');
  s.apiUrl = `http://127.0.0.1:${port}`;
  s.pids.romanad = spawnIn(undefined, NODE, [
    join(DIST, 'romanad.mjs'), '--data-dir', join(s.dir, 'data'), '--port', String(port), '--socket', sock, '--auth-file', join(s.dir, 'auth.json'),
    '--audit-log', join(s.dir, 'audit.log'), '--log-level', 'warn',
  ], join(s.dir, 'romanad.log'));
  saveState(s);
  const api = labApi(s);
  await waitFor('romanad start', 15000, async () => !!(await api.get('/healthz')));
  if (u) u.relay(s, sock, [NODE, SELF]);
  else s.pids.relay = spawnIn(F, NODE, [SELF, 'lab', 'relay', '--listen', `${FABRIC_IP}:${FABRIC_API_PORT}`, '--socket', sock], join(s.dir, 'relay.log'));
  saveState(s);
  // The cluster file's networks (e.g. one with a host/tenant/segment layout) replace the default one.
  const networks = (s.cluster.networks as { name: string }[] | undefined) ?? [{ name: 'pods', cidr: POD_NETWORK, block_mask: 28 }];
  await api.post('/topology', u ? u.topology(s) : {
    networks,
    topologies: [{ networks: networks.map((n) => n.name), map: s.hosts.map((h, i) => ({ name: `rack-${i + 1}`, groups: [{ name: h.name, ip: h.ip }] })) }],
  });
  if (u) await u.start(s, api, [NODE, SELF]);

  // One agent per host.
  for (const h of s.hosts) {
    h.agentPid = spawnIn(h.netns, NODE, [
      ...AGENT_NODE_FLAGS, join(DIST, 'romana-agent.mjs'), '--host', h.name, '--api', h.apiUrl ?? s.fabricApiUrl, '--token-file', tokenFile(s, 'agent', h.name), '--drift-interval', '2', '--report-interval', '5',
      '--dataplane', s.dataplane ?? DEFAULT_DATAPLANE, ...(u ? u.agentArgs(s, h.name) : []),
    ], join(s.dir, `agent-${h.name}.log`), AGENT_ENV);
  }
  saveState(s);
  await waitFor('agents to answer', 20000, () => s.hosts.every((h) => agentStatus(h.netns) !== undefined));
  if (kubernetes) {
    await startKube(s, { node: NODE, self: SELF, dist: DIST });
    saveState(s);
  }

  // Namespaces and pods of the cluster file: metadata first, then attach through the CNI plugin.
  const c = s.cluster as { namespaces?: { name: string; labels?: Record<string, string> }[]; pods?: { namespace: string; name: string; labels?: Record<string, string>; host?: string; ports?: LabPod['ports'] }[]; externals?: { name: string; ip: string }[]; policies?: unknown[] };
  if (!kubernetes) for (const n of c.namespaces ?? []) await api.put(`/namespaces/${encodeURIComponent(n.name)}`, { labels: n.labels ?? {} });
  const hostNames = new Set(s.hosts.map((h) => h.name));
  (c.pods ?? []).forEach((p, i) => {
    const host = p.host ?? s.hosts[i % s.hosts.length].name;
    if (!hostNames.has(host)) throw invalid(`pods[${i}].host: '${host}' is not a lab host (host-1 .. host-${s.hosts.length})`);
    s.pods.push({
      namespace: p.namespace, name: p.name, netns: `${s.prefix}p${i + 1}`, host, containerId: `lab-${s.name}-${i + 1}`,
      labels: p.labels ?? {}, ports: (p.ports ?? []).map((x) => ({ ...x, protocol: (x.protocol ?? 'TCP').toUpperCase() })),
    });
  });
  if (kubernetes) await createWorkloads(s, c.namespaces ?? []);
  else for (const p of s.pods) await api.put(`/pods/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}`, { labels: p.labels, ports: p.ports });
  await Promise.all(s.pods.map((p) => attach(s, p)));
  if (kubernetes) for (const p of s.pods) await podRunning(s, p);
  saveState(s);
  for (const p of s.pods) {
    const ports = p.ports.filter((x) => x.protocol !== 'SCTP').map((x) => `${x.port}/${x.protocol}`).join(',');
    if (ports) p.serverPid = spawnIn(p.netns, NODE, [WORKER, 'serve', '--ports', ports], join(s.dir, `pod-${p.netns}.log`));
  }
  saveState(s);

  // Externals live in the fabric: their addresses on its loopback, every port redirected to one server.
  s.externals = (c.externals ?? []).map((e) => ({ name: e.name, ip: e.ip }));
  if (s.externals.length) {
    ipBatch(F, s.externals.map((e) => `addr add ${e.ip}/32 dev lo`));
    const rules = ['*nat', ...s.externals.flatMap((e) => ['tcp', 'udp'].map((pr) => `-A PREROUTING -d ${e.ip}/32 -p ${pr} -j REDIRECT --to-ports 7000`)), 'COMMIT', ''];
    nsExec(F, 'iptables-restore', ['--noflush'], rules.join('\n'));
    s.pids.external = spawnIn(F, NODE, [WORKER, 'serve', '--ports', '7000/TCP,7000/UDP'], join(s.dir, 'externals.log'));
  }
  saveState(s);

  if (kubernetes) await createPolicies(s, c.policies ?? []);
  else for (const [i, pol] of (c.policies ?? []).entries()) {
    try {
      await api.post('/policies', pol);
    } catch (e) {
      throw invalid(`policies[${i}]: ${(e as Error).message}`);
    }
  }
  await converge(s);
}

/** The default underlay: one fabric bridge, every host on one subnet. */
function buildFabric(s: LabState, hostCount: number): void {
  const F = s.fabric;
  // Underlay: a bridge in the fabric namespace, one veth per host.
  must('ip', ['netns', 'add', F]);
  ipBatch(F, ['link set lo up', 'link add br0 type bridge', 'link set br0 up', `addr add ${FABRIC_IP}/24 dev br0`]);
  sysctl(F, 'net.ipv4.ip_forward', '1');
  for (let i = 1; i <= hostCount; i++) {
    const ns = `${s.prefix}h${i}`;
    const ip = `${FABRIC_NET}.${i}`;
    must('ip', ['netns', 'add', ns]);
    must('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${i}`, 'netns', F]);
    ipBatch(F, [`link set h${i} master br0 up`]);
    // The default route via the fabric is also what lets proxy ARP answer the pods' gateway.
    ipBatch(ns, ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${FABRIC_IP}`]);
    s.hosts.push({ name: `host-${i}`, netns: ns, ip });
  }
}

async function attach(s: LabState, p: LabPod): Promise<void> {
  const h = s.hosts.find((x) => x.name === p.host)!;
  must('ip', ['netns', 'add', p.netns]);
  ipBatch(p.netns, ['link set lo up']);
  const conf = {
    cniVersion: '1.1.0', name: 'romana-lab', type: 'romana', romana_api: h.apiUrl ?? s.fabricApiUrl, romana_token_file: tokenFile(s, 'cni', h.name), host: h.name,
    runtimeConfig: { labels: p.labels },
  };
  const r = await runAsync('ip', ['netns', 'exec', h.netns, NODE, join(DIST, 'romana-cni.mjs')], JSON.stringify(conf), {
    CNI_COMMAND: 'ADD', CNI_CONTAINERID: p.containerId, CNI_NETNS: `/run/netns/${p.netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni',
    CNI_ARGS: `K8S_POD_NAMESPACE=${p.namespace};K8S_POD_NAME=${p.name}${p.uid ? `;K8S_POD_UID=${p.uid}` : ''}`,
  });
  if (r.code !== 0) throw new RomanaError('internal', `CNI ADD for pod ${p.namespace}/${p.name} failed: ${r.out}${r.err}`);
  const result = JSON.parse(r.out) as { ips: { address: string }[] };
  p.ip = result.ips[0].address.split('/')[0];
}

function agentStatus(netns: string): { last_applied_revision?: number } | undefined {
  const r = run('ip', ['netns', 'exec', netns, 'curl', '-sf', '-m', '1', 'http://127.0.0.1:9604/status']);
  return r.status === 0 ? (JSON.parse(r.stdout) as { last_applied_revision?: number }) : undefined;
}

/**
 * Waits until every agent has applied the store's current revision, and routes the pods' blocks in the
 * fabric (so externals can answer them: the lab's stand-in for BGP route publishing).
 */
export async function converge(s: LabState, timeoutMs = 30000): Promise<void> {
  if (s.kube) await kubeSynced(s, timeoutMs);
  const api = labApi(s);
  const { revision } = await api.get<{ revision: number }>('/store/list?prefix=/romana/none');
  await waitFor('agents to apply the latest state', timeoutMs, () => s.hosts.every((h) => (agentStatus(h.netns)?.last_applied_revision ?? -1) >= revision));
  const u = underlayOf(s);
  if (u) {
    let missing: string | undefined;
    return waitFor('the fabric to route the blocks', timeoutMs, async () => !(missing = await u.converged(s, api)))
      .catch((e: Error) => { throw new RomanaError('unavailable', `${e.message}: ${missing}`); });
  }
  const { blocks } = await api.get<{ blocks: { cidr: string; host: string }[] }>('/blocks');
  const hostIp = new Map(s.hosts.map((h) => [h.name, h.ip]));
  const want = blocks.map((b) => `${b.cidr} via ${hostIp.get(b.host)}`);
  const have = (JSON.parse(must('ip', ['-n', s.fabric, '-j', 'route', 'show', 'proto', 'static'])) as { dst: string; gateway?: string }[]);
  const wanted = new Set(blocks.map((b) => b.cidr));
  ipBatch(s.fabric, [
    ...have.filter((r) => !wanted.has(r.dst)).map((r) => `route del ${r.dst} proto static`),
    ...want.map((w) => `route replace ${w} proto static`),
  ]);
}

export async function down(name: string): Promise<string[]> {
  const s = loadState(name);
  const prefix = prefixOf(name);
  const done: string[] = [];
  if (s) {
    const pids = [...(underlayOf(s)?.pids(s) ?? []), ...s.pods.map((p) => p.serverPid), ...s.hosts.map((h) => h.agentPid), s.pids.external, ...kubePids(s), s.pids.relay, s.pids.romanad];
    // At once: an exited child of a `lab up` that is gone lingers until init reaps it (about 2 s here).
    await Promise.all(pids.filter((pid): pid is number => !!pid && alive(pid)).map(async (pid) => { await stopPid(pid); done.push(`stopped pid ${pid}`); }));
  }
  for (const ns of listNetns().filter((n) => n.startsWith(prefix))) {
    // Anything still running inside the lab's own namespaces was started by the lab.
    const pids = run('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) await stopPid(pid, 1000);
    must('ip', ['netns', 'del', ns]);
    done.push(`deleted netns ${ns}`);
  }
  const dir = s?.dir ?? labDir(name);
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    done.push(`removed ${dir}`);
  }
  return done;
}

export function requireState(name: string): LabState {
  const s = loadState(name);
  if (!s) throw new RomanaError('not_found', `lab '${name}' is not up (romana lab up)`);
  return s;
}

/**
 * The realized cluster file: the namespaces and policies as romanad holds them now (so policies applied
 * after `up` are included), the cluster file's externals, and every pod with its real host and address.
 */
export async function exportCluster(s: LabState): Promise<Record<string, unknown>> {
  const api = labApi(s);
  const [{ namespaces }, { policies }, nets] = await Promise.all([
    api.get<{ namespaces: { name: string; labels: Record<string, string> }[] }>('/namespaces'),
    api.get<{ policies: { object: unknown }[] }>('/policies'),
    api.get<unknown[] | { networks: unknown[] }>('/networks'),
  ]);
  return {
    networks: Array.isArray(nets) ? nets : nets.networks,
    namespaces,
    pods: s.pods.map((p) => ({ namespace: p.namespace, name: p.name, labels: p.labels, ip: p.ip, host: p.host, ports: p.ports })),
    externals: s.externals,
    policies: policies.map((p) => p.object),
  };
}

/** Real connections between pods (and externals), as `romana policy simulate` would predict them. */
export async function probe(s: LabState, probes?: Probe[], timeoutMs = 1000): Promise<ProbeResult[]> {
  await converge(s);
  const cluster = parseCluster(await exportCluster(s));
  const list = probes ?? defaultProbes(cluster);
  const ipOf = new Map<string, string>([...s.pods.map((p) => [`${p.namespace}/${p.name}`, p.ip!] as const), ...s.externals.map((e) => [`ext/${e.name}`, e.ip] as const)]);
  for (const p of list) {
    for (const k of [p.from, p.to]) if (!ipOf.has(k)) throw invalid(`--probe: '${k}' is not a pod or external of the lab`);
  }
  const bySource = new Map<string, Probe[]>();
  for (const p of list) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
  const verdicts = new Map<Probe, boolean>();
  await Promise.all([...bySource].map(async ([from, ps]) => {
    const pod = s.pods.find((p) => `${p.namespace}/${p.name}` === from);
    const ns = pod ? pod.netns : s.fabric;
    const args = ['netns', 'exec', ns, NODE, WORKER, 'probe-from', '--timeout', String(timeoutMs), ...(pod ? [] : ['--bind', ipOf.get(from)!])];
    const targets = ps.map((p) => ({ ip: ipOf.get(p.to)!, port: p.port, protocol: p.protocol }));
    const r = await runAsync('ip', args, JSON.stringify(targets));
    if (r.code !== 0) throw new RomanaError('internal', `probing from ${from} failed: ${r.err}`);
    (JSON.parse(r.out) as boolean[]).forEach((ok, i) => verdicts.set(ps[i], ok));
  }));
  return list.map((p) => ({ ...p, allowed: verdicts.get(p)! }));
}

