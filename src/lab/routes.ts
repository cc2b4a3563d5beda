// `romana lab routes`: what each router of the lab (hosts, top-of-rack routers, the spine, the VPC)
// has in its kernel for the pod networks, and who put it there.
import { type Cidr, cidrContains, formatCidr, parseCidr, tryParseCidr } from '../core/net/ipv4.js';
import { must } from './kernel.js';
import type { ApiClient } from '../cli/client.js';
import type { LabState } from './state.js';

export type RouterRole = 'host' | 'tor' | 'spine' | 'vpc';
export interface LabRoute { prefix: string; via: string; protocol: string }
export interface LabRouter { name: string; role: RouterRole; routes: LabRoute[] }

/** The kernel protocol numbers of the lab's writers (the agent's default, the VPC stand-in's). */
export const AGENT_PROTO = '82';
export const VPC_PROTO = '84';

function protocolOf(p: string | undefined): string {
  switch (p) {
    case 'bird': return 'bgp';
    case AGENT_PROTO: return 'kernel'; // the host agent's own routes
    case VPC_PROTO: return 'vpc';
    case 'static': case 'boot': case undefined: return 'static';
    default: return p;
  }
}

/** Every namespace that routes pod traffic, with its role. */
export function routersOf(s: LabState): { name: string; role: RouterRole; netns: string }[] {
  const out: { name: string; role: RouterRole; netns: string }[] = s.hosts.map((h) => ({ name: h.name, role: 'host' as const, netns: h.netns }));
  if (s.racks) {
    for (const b of s.racks.birds) if (b.role !== 'host') out.push({ name: b.name, role: b.role, netns: b.netns });
  } else if (s.vpc) {
    out.push({ name: 'vpc', role: 'vpc', netns: s.fabric });
  } else {
    out.push({ name: 'fabric', role: 'tor', netns: s.fabric }); // the one L2 segment's router
  }
  return out;
}

/** IPv4 routes of every table of a namespace whose prefix lies in one of `networks`. */
export function readRoutes(netns: string, networks: Cidr[]): LabRoute[] {
  const rows = JSON.parse(must('ip', ['-n', netns, '-4', '-j', 'route', 'show', 'table', 'all']) || '[]') as
    { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string; nexthops?: { gateway?: string; dev?: string }[] }[];
  const out: LabRoute[] = [];
  for (const r of rows) {
    if (r.type && r.type !== 'unicast' && r.type !== 'blackhole' && r.type !== 'unreachable') continue;
    const c = tryParseCidr(r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`, false);
    if (!c || !networks.some((n) => cidrContains(n, c))) continue;
    const via = r.gateway ?? r.nexthops?.map((h) => h.gateway ?? h.dev).join(',') ?? (r.type && r.type !== 'unicast' ? r.type : r.dev) ?? '';
    out.push({ prefix: formatCidr(c), via, protocol: protocolOf(r.protocol) });
  }
  return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : a.via < b.via ? -1 : 1));
}

/** The pod networks' CIDRs, from romanad. */
export async function labNetworks(api: ApiClient): Promise<string[]> {
  const r = await api.get<{ cidr: string }[] | { networks: { cidr: string }[] }>('/networks');
  return (Array.isArray(r) ? r : r.networks).map((n) => n.cidr);
}

export function labRoutes(s: LabState, networks: string[]): { routers: LabRouter[] } {
  const nets = networks.map((n) => parseCidr(n));
  return { routers: routersOf(s).map((r) => ({ name: r.name, role: r.role, routes: readRoutes(r.netns, nets) })) };
}
