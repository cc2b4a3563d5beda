// VPC route tables: one route per vpc group and network, to a healthy member instance of the group
// (members forward within their group through the routes their agents install). Pure: the publisher
// reads the topology, the members' health and the route table, and applies the plan.
//
// Routes whose destination lies in a pod network are Romana's; every other route of the table belongs
// to someone else, is never touched, and counts against the table's limit.
import { RomanaError } from '../errors.js';
import { type Cidr, cidrContains, formatCidr, tryParseCidr } from '../net/ipv4.js';
import type { Layout } from '../topology/layout.js';
import type { PlacedHosts } from './bgp.js';
import type { Routing } from './topology.js';

export interface VpcRoute {
  /** The group's label. */
  group: string;
  destination: string;
  table: string;
  /** Member hosts, by name. */
  members: { name: string; ip: string }[];
}

/** The routes the topology asks for, per route table (`defaultTable` for groups that name none). */
export function vpcRoutes(layout: Layout, routing: Routing, hosts: PlacedHosts, defaultTable?: string): VpcRoute[] {
  const out: VpcRoute[] = [];
  for (const g of routing.groups) {
    if (g.type !== 'vpc') continue;
    const table = g.routeTable ?? defaultTable;
    if (!table) throw new RomanaError('invalid', `${g.field}: names no route_table, and the publisher has no --route-table`);
    const leaves = new Set([...routing.ofLeaf].filter(([, r]) => r?.key === g.key).map(([k]) => k));
    const members = hosts.filter((h) => h.leaves.some((l) => leaves.has(l))).map((h) => ({ name: h.name, ip: h.ip })).sort((a, b) => a.name.localeCompare(b.name));
    for (const c of Object.values(g.cidrs)) out.push({ group: g.label, destination: formatCidr(c), table, members });
  }
  return out;
}

/** A route of the table as DescribeRouteTables shows it. */
export interface TableRoute { destination: string; instanceId?: string; state?: string }

export interface PlanInput {
  table: string;
  wanted: VpcRoute[];
  current: TableRoute[];
  /** The pod networks: routes inside them are Romana's. */
  podNetworks: Cidr[];
  healthy(host: string): boolean;
  /** A member's instance, when known. */
  instanceOf(host: string): string | undefined;
  /** The host an instance is, when it is a member of some group. */
  hostOf(instanceId: string): string | undefined;
  limit: number;
}

export interface RouteChange { destination: string; instanceId: string; host: string; group: string; from?: string }
export interface VpcPlan {
  create: RouteChange[];
  replace: RouteChange[];
  delete: string[];
  /** Groups left without a (new) target, and why. */
  stuck: { group: string; destination: string; why: string }[];
}

const ours = (dest: string, nets: Cidr[]) => {
  const c = tryParseCidr(dest, false);
  return c !== undefined && nets.some((n) => cidrContains(n, c));
};

/**
 * The changes that make the table route each group to a healthy member: the current target while it
 * stays healthy (no needless moves), else the first healthy member by name; with none healthy the
 * route stays as it is. Refuses (`conflict`, nothing to write) when the table cannot hold the routes.
 */
export function planVpc(i: PlanInput): VpcPlan {
  const foreign = i.current.filter((r) => !ours(r.destination, i.podNetworks));
  // The whole topology must fit, groups without hosts yet included: they need their route once a host joins.
  const needed = i.wanted.length;
  if (foreign.length + needed > i.limit) {
    throw new RomanaError('conflict', `route table ${i.table} cannot hold the topology: ${needed} group routes + ${foreign.length} routes of others = ${foreign.length + needed}, over its limit of ${i.limit}; nothing was written`);
  }
  const plan: VpcPlan = { create: [], replace: [], delete: [], stuck: [] };
  const byDest = new Map(i.current.filter((r) => ours(r.destination, i.podNetworks)).map((r) => [r.destination, r]));
  const wanted = new Set<string>();
  for (const w of i.wanted) {
    wanted.add(w.destination);
    const cur = byDest.get(w.destination);
    const curHost = cur?.instanceId ? i.hostOf(cur.instanceId) : undefined;
    const keep = curHost !== undefined && cur!.state !== 'blackhole' && w.members.some((m) => m.name === curHost) && i.healthy(curHost);
    if (keep) continue;
    const next = w.members.find((m) => i.healthy(m.name) && i.instanceOf(m.name) !== undefined);
    if (!next) {
      plan.stuck.push({ group: w.group, destination: w.destination, why: w.members.length === 0 ? 'the group has no hosts' : 'no member is healthy (or has a known instance): the route stays as it is' });
      continue;
    }
    const change = { destination: w.destination, instanceId: i.instanceOf(next.name)!, host: next.name, group: w.group };
    if (cur) plan.replace.push({ ...change, ...(curHost ? { from: curHost } : {}) });
    else plan.create.push(change);
  }
  for (const d of byDest.keys()) if (!wanted.has(d)) plan.delete.push(d);
  return plan;
}
