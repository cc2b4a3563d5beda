// The desired dataplane of one host, computed from the agent's copy of the store's keys. Pure: no I/O,
// no clock. The managers compare it with the kernel and apply the difference.
//
// Endpoints: every address record is an endpoint. Its pod identity is attributes.namespace (else the
// tenant) / attributes.pod (else the address name); its labels and ports come from the pod metadata
// record of that identity when there is one, and the segment label is set to the address's segment
// unless the metadata says otherwise. Local endpoints (address.host == this host) get a /32 route to
// their host-side interface, attributes.host_ifname as the CNI plugin records it.
import { cidrContains, formatCidr, tryParseCidr, tryParseIp } from '../core/net/ipv4.js';
import type { Cluster, Namespace, Pod } from '../core/policy/cluster.js';
import { type CompiledHost, type CompileOptions, compileHost } from '../core/policy/compile.js';
import { DEFAULT_SEGMENT_LABEL, NAMESPACE_NAME_LABEL, type L4Protocol, type Policy } from '../core/policy/model.js';
import { normalizePolicy } from '../core/policy/normalize.js';
import { ADDRESSES, BLOCKS, HOSTS, NAMESPACES, PODS, POLICIES, podKey } from '../control/keys.js';
import type { NamespaceRecord, PodRecord } from '../control/metadata.js';
import type { PolicyRecord } from '../control/policies.js';
import type { AddressRecord, HostRecord } from '../control/records.js';
import { type LayoutView, layoutView } from './layout.js';

/** The agent's copy of the store: key → value, for every key under /romana/. */
export type Snapshot = ReadonlyMap<string, string>;

/** Normalized policies by their stored JSON text, so that unchanged policies are not normalized again. */
export type PolicyCache = Map<string, Policy | { error: string }>;

export interface DesiredOptions {
  segmentLabel?: string;
  compile?: CompileOptions;
  policyCache?: PolicyCache;
}

export interface LocalRoute { dst: string; dev: string }
export interface RemoteRoute { dst: string; host: string; hostIp: string }
export interface DesiredRoutes { local: LocalRoute[]; remote: RemoteRoute[] }

export interface Endpoint { name: string; ip: string; host: string; namespace: string; pod: string; ifname?: string }

export interface DesiredState {
  host: string;
  /** This host's record is in the store. */
  registered: boolean;
  routes: DesiredRoutes;
  /** Host-side interfaces of local endpoints (proxy ARP, proxy_delay=0). */
  interfaces: string[];
  /** What the policy compiler produced for this host; undefined when it failed (the firewall is left alone). */
  firewall?: CompiledHost;
  endpoints: { total: number; local: number; withoutInterface: string[] };
  /** Records that were skipped, and why. */
  problems: string[];
}

// Interface names go into `ip -batch` lines and /proc paths: accept only what the kernel accepts and
// nothing that could split a line or climb a path.
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

interface Parsed {
  hosts: HostRecord[];
  addresses: AddressRecord[];
  blocks: { cidr: string; host: string; tenant: string; segment: string }[];
  namespaces: NamespaceRecord[];
  policies: { key: string; value: string }[];
}

function parse(snapshot: Snapshot, problems: string[]): Parsed {
  const p: Parsed = { hosts: [], addresses: [], blocks: [], namespaces: [], policies: [] };
  const json = <T>(key: string, value: string): T | undefined => {
    try {
      return JSON.parse(value) as T;
    } catch {
      problems.push(`${key}: not JSON`);
      return undefined;
    }
  };
  for (const [key, value] of snapshot) {
    if (key.startsWith(HOSTS)) {
      const h = json<HostRecord>(key, value);
      if (h) p.hosts.push(h);
    } else if (key.startsWith(ADDRESSES)) {
      const a = json<AddressRecord>(key, value);
      if (a) p.addresses.push(a);
    } else if (key.startsWith(BLOCKS)) {
      const b = json<{ cidr: string; host: string; tenant: string; segment: string }>(key, value);
      if (b) p.blocks.push(b);
    } else if (key.startsWith(NAMESPACES)) {
      const n = json<NamespaceRecord>(key, value);
      if (n) p.namespaces.push(n);
    } else if (key.startsWith(POLICIES)) {
      p.policies.push({ key, value });
    }
  }
  return p;
}

function normalized(key: string, value: string, opts: DesiredOptions, problems: string[]): Policy | undefined {
  const cache = opts.policyCache;
  let got = cache?.get(value);
  if (!got) {
    try {
      const rec = JSON.parse(value) as PolicyRecord;
      got = normalizePolicy(rec.object, { segmentLabel: opts.segmentLabel });
    } catch (e) {
      got = { error: (e as Error).message };
    }
    cache?.set(value, got);
  }
  if ('error' in got) {
    problems.push(`${key}: ${got.error}`);
    return undefined;
  }
  return got;
}

/** The cluster as the policy compiler sees it, and every endpoint, from the store's keys. */
export function buildCluster(snapshot: Snapshot, opts: DesiredOptions = {}): { cluster: Cluster; endpoints: Endpoint[]; problems: string[]; layout: LayoutView } {
  const problems: string[] = [];
  const segmentLabel = opts.segmentLabel ?? DEFAULT_SEGMENT_LABEL;
  const p = parse(snapshot, problems);

  const namespaces = new Map<string, Namespace>();
  const addNs = (name: string, labels: Record<string, string> = {}) => {
    if (!namespaces.has(name)) namespaces.set(name, { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } });
  };
  for (const n of p.namespaces) addNs(n.name, n.labels);

  const pods: Pod[] = [];
  const endpoints: Endpoint[] = [];
  const seenIp = new Map<number, string>();
  for (const a of [...p.addresses].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    const ipNum = tryParseIp(a.ip);
    if (ipNum === undefined) {
      problems.push(`address ${a.name}: '${a.ip}' is not an IPv4 address`);
      continue;
    }
    const other = seenIp.get(ipNum);
    if (other !== undefined) {
      problems.push(`address ${a.name}: ${a.ip} is also the address of ${other}`);
      continue;
    }
    seenIp.set(ipNum, a.name);
    const attrs = a.attributes ?? {};
    const namespace = attrs.namespace || a.tenant;
    const name = attrs.pod || a.name;
    addNs(namespace);
    const meta = (() => {
      const v = snapshot.get(podKey(namespace, name));
      try {
        return v ? (JSON.parse(v) as PodRecord) : undefined;
      } catch {
        problems.push(`${podKey(namespace, name)}: not JSON`);
        return undefined;
      }
    })();
    const labels: Record<string, string> = { ...(meta?.labels ?? {}) };
    if (labels[segmentLabel] === undefined) labels[segmentLabel] = a.segment;
    const ports = (meta?.ports ?? []).map((x) => ({ ...(x.name ? { name: x.name } : {}), port: x.port, protocol: x.protocol as L4Protocol }));
    pods.push({ key: `${namespace}/${name}`, namespace, name, labels, ip: a.ip, ipNum, host: a.host, ports });
    let ifname: string | undefined = attrs.host_ifname;
    if (ifname !== undefined && !IFNAME.test(ifname)) {
      problems.push(`address ${a.name}: host_ifname '${ifname}' is not an interface name`);
      ifname = undefined;
    }
    endpoints.push({ name: a.name, ip: a.ip, host: a.host, namespace, pod: name, ...(ifname ? { ifname } : {}) });
  }

  const blocks = p.blocks.filter((b) => {
    if (tryParseCidr(b.cidr, false)) return true;
    problems.push(`block ${b.cidr} of host ${b.host}: not a CIDR`);
    return false;
  });
  const policies = p.policies.map((x) => normalized(x.key, x.value, opts, problems)).filter((x): x is Policy => x !== undefined);
  const hosts = p.hosts.map((h) => (tryParseIp(h.ip) !== undefined ? { name: h.name, ip: h.ip } : { name: h.name }));
  const layout = layoutView(snapshot, p.hosts.filter((h) => tryParseIp(h.ip) !== undefined), problems);
  const cluster: Cluster = {
    namespaces: [...namespaces.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    pods, externals: [], policies,
    blocks: blocks.map((b) => ({ cidr: b.cidr, host: b.host, tenant: b.tenant, segment: b.segment })),
    hosts, segmentLabel, ...(layout.networks.length ? { layoutNetworks: layout.networks } : {}),
  };
  return { cluster, endpoints, problems, layout };
}

export function desiredState(snapshot: Snapshot, hostName: string, opts: DesiredOptions = {}): DesiredState {
  const { cluster, endpoints, problems, layout } = buildCluster(snapshot, opts);
  const hostIps = new Map(cluster.hosts.map((h) => [h.name, h.ip]));
  const registered = hostIps.has(hostName);
  if (!registered) problems.push(`host ${hostName} is not registered in the store`);

  const local = endpoints.filter((e) => e.host === hostName);
  const withoutInterface = local.filter((e) => !e.ifname).map((e) => e.name);
  const localRoutes = local.filter((e) => e.ifname).map((e) => ({ dst: `${e.ip}/32`, dev: e.ifname! }));

  const remote = new Map<string, RemoteRoute>();
  // Layout networks: one route per remote host, its host CIDR, covers all of its blocks there.
  for (const r of layout.hostCidrs) if (r.host !== hostName) remote.set(r.dst, r);
  for (const b of cluster.blocks) {
    if (!b.host || b.host === hostName) continue;
    const c = tryParseCidr(b.cidr, false)!;
    if (layout.networks.some((n) => cidrContains(n.cidr, c))) continue;
    const dst = formatCidr(c);
    const hostIp = hostIps.get(b.host);
    if (!hostIp) {
      problems.push(`block ${dst}: host ${b.host} has no address in the store`);
      continue;
    }
    if (!remote.has(dst)) remote.set(dst, { dst, host: b.host, hostIp });
  }

  let firewall: CompiledHost | undefined;
  try {
    firewall = compileHost(cluster, hostName, opts.compile);
  } catch (e) {
    problems.push(`policy compiler: ${(e as Error).message}`);
  }

  const byDst = <T extends { dst: string }>(a: T, b: T) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0);
  return {
    host: hostName,
    registered,
    routes: { local: localRoutes.sort(byDst), remote: [...remote.values()].sort(byDst) },
    interfaces: [...new Set(localRoutes.map((r) => r.dev))].sort(),
    firewall,
    endpoints: { total: endpoints.length, local: local.length, withoutInterface },
    problems,
  };
}
