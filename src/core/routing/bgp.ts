// Who peers with whom and what crosses each session, for a host (the agent's BIRD include) and for a
// router (`romana bgp config --router`). Pure: data in, sessions out; bird.ts turns them into text.
//
// Hosts announce their blocks (announce: blocks) and, while they hold at least one block in it, their
// group's aggregate. A group's routers keep what the setting says (blocks, or the aggregate) and
// export only the aggregate upwards, so the aggregate exists upstream exactly while the group has a
// block: the spine holds one route per rack, and it goes away with the rack's last block.
import { RomanaError, invalid } from '../errors.js';
import { type Cidr, cidrContains, formatCidr, parseCidr } from '../net/ipv4.js';
import type { Layout } from '../topology/layout.js';
import type { BgpHostGroup, BgpRouterGroup, Router, Routing } from './topology.js';

export interface Session {
  /** The BIRD protocol name: stable for a neighbor, so reconfiguring never renames (and resets) it. */
  protocol: string;
  description: string;
  localIp?: string;
  localAsn: number;
  neighbor: string;
  peerAsn: number;
  password?: string;
  /** Routes taken from the neighbor: reject wins over accept; patterns are BIRD prefix patterns. */
  importReject: string[];
  importAccept: string[];
  /** Routes sent: `static` = the speaker's own announcements; otherwise these patterns. */
  exportAccept: string[] | 'static';
  exportReject: string[];
}

export interface Announcement { prefix: string; why: string }

export interface HostBgp {
  host: string;
  sessions: Session[];
  announce: Announcement[];
  /** Groups whose routing this host follows by BGP (for comments and status). */
  groups: string[];
}

export interface RouterBgp {
  router: string;
  routerId: string;
  asn: number;
  sessions: Session[];
  /** Aggregates the router originates itself (a spine with routers above it). */
  originate: Announcement[];
  /** Routes kept out of the kernel: the aggregates of groups whose routers keep blocks. */
  kernelReject: string[];
  groups: string[];
}

export const protocolName = (neighbor: string) => `romana_${neighbor.replace(/\./g, '_')}`;
const orLonger = (c: string) => `${c}+`;

function podNetworks(layout: Layout, groupKey: string): string[] {
  const t = layout.topologies[Number(groupKey.split(':')[0])];
  return t.networks.map((n) => formatCidr(layout.networks.find((x) => x.name === n)!.cidr));
}

const cidrs = (g: { cidrs: Record<string, Cidr> }) => Object.values(g.cidrs).map(formatCidr);

export interface OwnBlock { cidr: string; network: string; tenant?: string; segment?: string }

/** A host's BGP: sessions with its groups' routers, and its announcements. */
export function hostBgp(layout: Layout, routing: Routing, host: { name: string; ip: string }, leaves: string[], blocks: OwnBlock[]): HostBgp {
  const out: HostBgp = { host: host.name, sessions: [], announce: [], groups: [] };
  const seen = new Map<string, Session>();
  for (const leaf of leaves) {
    const g = routing.ofLeaf.get(leaf);
    if (!g || g.type !== 'bgp' || g.members !== 'hosts') continue;
    out.groups.push(g.label);
    const own = cidrs(g);
    for (const r of g.routers) {
      const s: Session = {
        protocol: protocolName(r.ip), description: `${r.name ?? r.ip} (group ${g.label})`,
        localIp: host.ip, localAsn: g.asn, neighbor: r.ip, peerAsn: r.asn, ...(r.password ? { password: r.password } : {}),
        importReject: own.map(orLonger), importAccept: podNetworks(layout, g.key).map(orLonger),
        exportAccept: 'static', exportReject: [],
      };
      const prev = seen.get(r.ip);
      if (prev) {
        if (prev.peerAsn !== s.peerAsn || prev.localAsn !== s.localAsn || prev.password !== s.password) {
          throw new RomanaError('conflict', `host ${host.name}: router ${r.ip} is a peer in groups with different settings (${prev.description}, ${s.description})`);
        }
        prev.importReject.push(...s.importReject);
        prev.importAccept.push(...s.importAccept);
      } else {
        seen.set(r.ip, s);
        out.sessions.push(s);
      }
    }
    for (const [network, gc] of Object.entries(g.cidrs)) {
      const mine = blocks.filter((b) => b.network === network && cidrContains(gc, parseCidr(b.cidr)));
      if (mine.length === 0) continue;
      if (g.announce === 'blocks') {
        for (const b of mine) out.announce.push({ prefix: b.cidr, why: `block${b.tenant !== undefined ? ` of ${b.tenant}/${b.segment}` : ''}` });
      }
      out.announce.push({ prefix: formatCidr(gc), why: `aggregate of group ${g.label}` });
    }
  }
  out.announce = dedupe(out.announce);
  return out;
}

function dedupe(a: Announcement[]): Announcement[] {
  const m = new Map<string, Announcement>();
  for (const x of a) if (!m.has(x.prefix)) m.set(x.prefix, x);
  return [...m.values()];
}

const matches = (r: Router, id: string) => r.name === id || r.ip === id;

/** The hosts placed in a group's leaves, from `placements` (host name -> leaf keys). */
export type PlacedHosts = { name: string; ip: string; leaves: string[] }[];

/** A top-of-rack or spine router's BGP, from the topology and the hosts placed in it. */
export function routerBgp(layout: Layout, routing: Routing, router: string, hosts: PlacedHosts): RouterBgp {
  const served = routing.groups.filter((g): g is BgpHostGroup | BgpRouterGroup => g.type === 'bgp' && g.routers.some((r) => matches(r, router)));
  if (served.length === 0) {
    const known = [...new Set(routing.groups.flatMap((g) => (g.type === 'bgp' ? g.routers.map((r) => r.name ?? r.ip) : [])))];
    throw new RomanaError('not_found', `router '${router}' is not a peer of any bgp group${known.length ? ` (routers: ${known.join(', ')})` : ''}`);
  }
  const me = served[0].routers.find((r) => matches(r, router))!;
  const out: RouterBgp = { router, routerId: me.ip, asn: me.asn, sessions: [], originate: [], kernelReject: [], groups: served.map((g) => g.label) };
  const byNeighbor = new Map<string, Session>();
  const add = (s: Session) => {
    const prev = byNeighbor.get(s.neighbor);
    if (!prev) {
      byNeighbor.set(s.neighbor, s);
      out.sessions.push(s);
      return;
    }
    if (prev.peerAsn !== s.peerAsn || prev.password !== s.password || prev.localIp !== s.localIp) {
      throw invalid(`router '${router}': neighbor ${s.neighbor} appears in two groups with different settings (${prev.description}; ${s.description})`);
    }
    for (const k of ['importReject', 'importAccept', 'exportReject'] as const) prev[k].push(...s[k]);
    if (Array.isArray(prev.exportAccept) && Array.isArray(s.exportAccept)) prev.exportAccept.push(...s.exportAccept);
  };
  for (const g of served) {
    const self = g.routers.find((r) => matches(r, router))!;
    const own = cidrs(g);
    const pods = podNetworks(layout, g.key).map(orLonger);
    if (g.members === 'hosts') {
      const leaves = new Set([...routing.ofLeaf].filter(([, rg]) => rg?.key === g.key).map(([k]) => k));
      for (const h of hosts.filter((x) => x.leaves.some((l) => leaves.has(l))).sort((a, b) => a.name.localeCompare(b.name))) {
        add({
          protocol: protocolName(h.ip), description: `host ${h.name} (group ${g.label})`, localIp: self.ip, localAsn: self.asn,
          neighbor: h.ip, peerAsn: g.asn, ...(self.password ? { password: self.password } : {}),
          importReject: [], importAccept: own.map(orLonger), exportReject: own.map(orLonger), exportAccept: pods,
        });
      }
      if (g.announce === 'blocks') out.kernelReject.push(...own);
    } else {
      for (const c of g.children) {
        for (const cr of c.routers) {
          add({
            protocol: protocolName(cr.uplinkIp), description: `router ${cr.name ?? cr.ip} (group ${c.label})`, localIp: self.ip, localAsn: self.asn,
            neighbor: cr.uplinkIp, peerAsn: cr.asn, ...(self.password ? { password: self.password } : {}),
            importReject: [], importAccept: cidrs(c), exportReject: cidrs(c).map(orLonger), exportAccept: pods,
          });
        }
      }
    }
    if (g.parent) {
      // Upstream: only this group's aggregate goes up; everything else in the pod networks comes down.
      if (g.members === 'routers') out.originate.push(...own.map((p) => ({ prefix: p, why: `aggregate of group ${g.label}` })));
      for (const up of g.parent.routers) {
        add({
          protocol: protocolName(up.ip), description: `router ${up.name ?? up.ip} (group ${g.parent.label}, upstream)`, localIp: self.uplinkIp, localAsn: self.asn,
          neighbor: up.ip, peerAsn: up.asn, ...(up.password ? { password: up.password } : {}),
          importReject: own.map(orLonger), importAccept: pods, exportReject: [], exportAccept: own,
        });
      }
    }
  }
  for (const s of out.sessions) {
    if (s.peerAsn === out.asn) throw invalid(`router '${router}': neighbor ${s.neighbor} has the router's own AS ${out.asn}; only eBGP sessions are supported`);
  }
  return out;
}
