// The desired dataplane of one host, computed from the agent's copy of the store's keys. Pure: no I/O,
// no clock. The managers compare it with the kernel and apply the difference.
//
// `DesiredTracker` keeps it up to date key by key: the cluster model (model.ts) rebuilds only the kinds
// of record that changed, the incremental compiler (core/policy/incremental.ts) only the chains and
// sets those changes touch, and the routes are made again only when endpoints, blocks or hosts
// changed. `desiredState` computes it from scratch with the one-off compiler; for any sequence of
// changes the two agree (test/agent/incremental.test.ts).
import { cidrContains, formatCidr, tryParseCidr } from '../core/net/ipv4.js';
import type { Cluster } from '../core/policy/cluster.js';
import { type CompiledHost, type CompileOptions, compileHost } from '../core/policy/compile.js';
import { IncrementalCompiler } from '../core/policy/incremental.js';
import type { LayoutView } from './layout.js';
import { ClusterModel, type ClusterView, type Endpoint, type PolicyCache } from './model.js';

export type { Endpoint, PolicyCache } from './model.js';

/** The agent's copy of the store: key → value, for every key under /romana/. */
export type Snapshot = ReadonlyMap<string, string>;

export interface DesiredOptions {
  segmentLabel?: string;
  compile?: CompileOptions;
  policyCache?: PolicyCache;
}

export interface LocalRoute { dst: string; dev: string }
export interface RemoteRoute { dst: string; host: string; hostIp: string }
export interface DesiredRoutes { local: LocalRoute[]; remote: RemoteRoute[] }

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

/** The cluster as the policy compiler sees it, and every endpoint, from the store's keys. */
export function buildCluster(snapshot: Snapshot, opts: DesiredOptions = {}): { cluster: Cluster; endpoints: Endpoint[]; problems: string[]; layout: LayoutView } {
  const v = new ClusterModel(opts).reset(snapshot).view();
  return { cluster: v.cluster, endpoints: v.endpoints, problems: v.problems, layout: v.layout };
}

/** The desired state from scratch (the reference the tracker is checked against). */
export function desiredState(snapshot: Snapshot, hostName: string, opts: DesiredOptions = {}): DesiredState {
  return new DesiredTracker(hostName, { ...opts, incremental: false }).reset(snapshot).state();
}

const byDst = <T extends { dst: string }>(a: T, b: T) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0);

/** One host's desired state, kept up to date as keys change. */
export class DesiredTracker {
  readonly model: ClusterModel;
  private readonly compiler?: IncrementalCompiler;
  private last?: { view: ClusterView; state: DesiredState; local: DesiredState['routes']['local']; remote: { routes: RemoteRoute[]; problems: string[] } };

  constructor(readonly host: string, private readonly opts: DesiredOptions & { incremental?: boolean } = {}) {
    this.model = new ClusterModel(opts);
    if (opts.incremental !== false) this.compiler = new IncrementalCompiler(host, opts.compile);
  }

  reset(snapshot: Iterable<[string, string]>): this {
    this.model.reset(snapshot);
    return this;
  }

  set(key: string, value: string): void { this.model.set(key, value); }
  delete(key: string): void { this.model.delete(key); }

  state(): DesiredState {
    if (this.last && this.model.clean) return this.last.state;
    const host = this.host;
    const v = this.model.view();
    const last = this.last;
    const problems = [...v.problems];
    const registered = v.cluster.hosts.some((h) => h.name === host);
    if (!registered) problems.push(`host ${host} is not registered in the store`);

    const endpointsSame = last?.view.endpoints === v.endpoints;
    const local = v.endpoints.filter((e) => e.host === host);
    const withoutInterface = local.filter((e) => !e.ifname).map((e) => e.name);
    const localRoutes = endpointsSame ? last!.local : local.filter((e) => e.ifname).map((e) => ({ dst: `${e.ip}/32`, dev: e.ifname! })).sort(byDst);
    const remote = last && last.view.cluster.blocks === v.cluster.blocks && last.view.cluster.hosts === v.cluster.hosts && last.view.layout === v.layout
      ? last.remote : remoteRoutes(v, host);
    problems.push(...remote.problems);

    let firewall: CompiledHost | undefined;
    try {
      firewall = last?.view.cluster === v.cluster && last.state.firewall ? last.state.firewall
        : this.compiler ? this.compiler.compile(v.cluster) : compileHost(v.cluster, host, this.opts.compile);
    } catch (e) {
      problems.push(`policy compiler: ${(e as Error).message}`);
    }
    const routes = last && last.local === localRoutes && last.remote === remote ? last.state.routes : { local: localRoutes, remote: remote.routes };
    const state: DesiredState = {
      host, registered, routes,
      interfaces: last && last.local === localRoutes ? last.state.interfaces : [...new Set(localRoutes.map((r) => r.dev))].sort(),
      firewall,
      endpoints: { total: v.endpoints.length, local: local.length, withoutInterface },
      problems,
    };
    this.last = { view: v, state, local: localRoutes, remote };
    return state;
  }
}

/** Each other host's blocks via that host (layout networks: one route per host covers its blocks there). */
function remoteRoutes(v: ClusterView, host: string): { routes: RemoteRoute[]; problems: string[] } {
  const problems: string[] = [];
  const hostIps = new Map(v.cluster.hosts.map((h) => [h.name, h.ip]));
  const remote = new Map<string, RemoteRoute>();
  for (const r of v.layout.hostCidrs) if (r.host !== host) remote.set(r.dst, r);
  for (const b of v.cluster.blocks) {
    if (!b.host || b.host === host) continue;
    const c = tryParseCidr(b.cidr, false)!;
    if (v.layout.networks.some((n) => cidrContains(n.cidr, c))) continue;
    const dst = formatCidr(c);
    const hostIp = hostIps.get(b.host);
    if (!hostIp) {
      problems.push(`block ${dst}: host ${b.host} has no address in the store`);
      continue;
    }
    if (!remote.has(dst)) remote.set(dst, { dst, host: b.host, hostIp });
  }
  return { routes: [...remote.values()].sort(byDst), problems };
}
