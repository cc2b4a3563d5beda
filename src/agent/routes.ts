// The route manager. The agent's routes live in a routing table of its own, tagged with a protocol
// number of its own, and one `ip rule` sends lookups there before the main table. It reads only its
// (table, proto) routes, diffs them against the desired ones and applies the difference with one
// `ip -batch` of replace/del: the table is never flushed, so a route that stays never blips.
import { type KernelRoute, ipBatch, listRoutes, listRules, routeGet } from './kernel/ip.js';
import { interfaceExists } from './kernel/sysctl.js';
import type { DesiredRoutes } from './desired.js';

export interface RouteOptions {
  /** Routing table of the agent's routes (default 82). */
  table: number;
  /** Protocol number every agent route carries (`proto 82`): what marks a route as ours. */
  proto: number;
  /** Priority of the `ip rule` that looks up the table; must come before main (32766). */
  rulePriority: number;
}

export const DEFAULT_ROUTE_OPTIONS: RouteOptions = { table: 82, proto: 82, rulePriority: 82 };

/** A route the agent wants: a local endpoint (`dev`, scope link) or a remote block (`via` on `dev`). */
export interface WantedRoute { dst: string; dev: string; via?: string }
export interface RoutePlan { replace: WantedRoute[]; del: KernelRoute[] }

const same = (w: WantedRoute, k: KernelRoute) =>
  k.metric === undefined && k.dev === w.dev && k.gateway === w.via && (w.via !== undefined || k.scope === 'link');

/**
 * What to change so that the kernel's (table, proto) routes become `wanted`. Routes whose dst is in
 * `keep` are left as they are whatever they look like (their next hop could not be resolved now).
 */
export function planRoutes(wanted: WantedRoute[], current: KernelRoute[], keep: ReadonlySet<string> = new Set()): RoutePlan {
  const byDst = new Map<string, KernelRoute[]>();
  for (const k of current) byDst.set(k.dst, [...(byDst.get(k.dst) ?? []), k]);
  const want = new Map(wanted.map((w) => [w.dst, w]));
  const replace: WantedRoute[] = [];
  const del: KernelRoute[] = [];
  for (const w of want.values()) {
    const cur = byDst.get(w.dst) ?? [];
    if (!cur.some((k) => same(w, k))) replace.push(w);
    // Our own leftovers for the same dst with another metric would shadow or duplicate it.
    for (const k of cur) if (k.metric !== undefined) del.push(k);
  }
  for (const [dst, ks] of byDst) if (!want.has(dst) && !keep.has(dst)) del.push(...ks);
  return { replace, del };
}

export function renderRoutePlan(plan: RoutePlan, o: RouteOptions): string[] {
  const tail = `table ${o.table} proto ${o.proto}`;
  return [
    ...plan.del.map((k) => `route del ${k.dst} ${tail}${k.metric !== undefined ? ` metric ${k.metric}` : ''}`),
    ...plan.replace.map((w) => (w.via ? `route replace ${w.dst} via ${w.via} dev ${w.dev} ${tail}` : `route replace ${w.dst} dev ${w.dev} scope link ${tail}`)),
  ];
}

export interface RouteSyncResult {
  /** Routes of ours in the kernel that match the desired state after the sync. */
  routes: number;
  replaced: number;
  deleted: number;
  ruleAdded: boolean;
  /** Local endpoints whose interface does not exist (yet): no route until it appears. */
  missingInterfaces: string[];
  /** Remote blocks whose host the kernel cannot route to now; their existing routes are kept. */
  unresolved: string[];
  errors: string[];
}

export class RouteManager {
  constructor(readonly opts: RouteOptions = DEFAULT_ROUTE_OPTIONS) {}

  /** Makes sure exactly one rule `pref P lookup T` exists; adds ours (`protocol P`) when none does. */
  async ensureRule(): Promise<{ added: boolean; errors: string[] }> {
    const { table, rulePriority, proto } = this.opts;
    const mine = (await listRules()).filter((r) => r.priority === rulePriority && r.table === String(table) && r.src === 'all' && Object.keys(r).every((k) => ['priority', 'src', 'table', 'protocol', 'flags'].includes(k)));
    const lines: string[] = [];
    if (mine.length === 0) lines.push(`rule add pref ${rulePriority} lookup ${table} protocol ${proto}`);
    // Duplicates of our own rule (same protocol) are ours to remove; a rule someone else added we leave.
    const ours = mine.filter((r) => r.protocol === String(proto));
    for (let i = 1; i < ours.length && mine.length > 1; i++) lines.push(`rule del pref ${rulePriority} lookup ${table} protocol ${proto}`);
    return { added: mine.length === 0, errors: await ipBatch(lines) };
  }

  async sync(desired: DesiredRoutes): Promise<RouteSyncResult> {
    const rule = await this.ensureRule();
    const missingInterfaces: string[] = [];
    const wanted: WantedRoute[] = [];
    for (const l of desired.local) {
      if (interfaceExists(l.dev)) wanted.push({ dst: l.dst, dev: l.dev });
      else missingInterfaces.push(l.dev);
    }
    // The next hop towards each remote host, as the kernel itself would pick it (a gateway when the host
    // is not on a connected subnet).
    const hops = await routeGet([...new Set(desired.remote.map((r) => r.hostIp))]);
    const keep = new Set<string>();
    const unresolved: string[] = [];
    for (const r of desired.remote) {
      const h = hops.get(r.hostIp);
      if (!h || !h.dev || (h.type !== undefined && h.type !== 'unicast') || h.dev === 'lo') {
        unresolved.push(`${r.dst} (host ${r.host} at ${r.hostIp})`);
        keep.add(r.dst);
        continue;
      }
      wanted.push({ dst: r.dst, dev: h.dev, via: h.gateway ?? r.hostIp });
    }
    const current = await listRoutes(this.opts.table, this.opts.proto);
    const plan = planRoutes(wanted, current, keep);
    const errors = [...rule.errors, ...(await ipBatch(renderRoutePlan(plan, this.opts)))];
    return {
      routes: wanted.length, replaced: plan.replace.length, deleted: plan.del.length, ruleAdded: rule.added,
      missingInterfaces, unresolved, errors,
    };
  }
}
