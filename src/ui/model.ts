// The map's model, from what the API answers: the topology tree (GET /topology) with each host's blocks
// (GET /blocks), group and network use, blackouts and free space, owner colours, and search. Pure: the
// view renders it, the tests check it.
import { type Cidr, cidrContains, cidrContainsIp, sizeOf, tryParseCidr, tryParseIp } from '../core/net/ipv4.js';

export interface Network { name: string; cidr: string; block_mask?: number; tenants?: string[] }
export interface Block { cidr: string; network: string; host: string; tenant: string; segment: string; allocated_ip_count: number }
export interface Blackout { network: string; cidr: string }
export interface Host { name: string; ip: string; labels?: Record<string, string>; agent_port?: number }
export interface Address { name: string; ip: string; host: string; tenant: string; segment: string; network: string; block: string; attributes?: Record<string, string> }
export interface TopologyDoc { networks: Network[]; topologies: { networks: string[]; map: Entry[] }[] }
type Entry = { name?: string; ip?: string; labels?: Record<string, string>; assignment?: Record<string, string>; cidrs?: Record<string, string>; cidr?: string; groups?: Entry[] };

export interface Use { size: number; inBlocks: number; allocated: number; blackedOut: number; free: number }
export interface BlockInfo extends Block { size: number; color: string; owner: string }
export interface HostNode { kind: 'host'; name: string; ip: string; labels: Record<string, string>; blocks: BlockInfo[]; allocated: number; size: number; path: string[] }
export interface GroupNode { kind: 'group'; id: string; label: string; cidrs: Record<string, string>; assignment: Record<string, string>; children: MapNode[]; use: Record<string, Use>; path: string[] }
export type MapNode = HostNode | GroupNode;
export interface NetworkView extends Network { blackouts: string[]; use: Use }
export interface Owner { tenant: string; segment: string; color: string; blocks: number }
export interface MapModel {
  networks: NetworkView[];
  topologies: { networks: string[]; roots: MapNode[] }[];
  unplaced: HostNode[];
  owners: Owner[];
  hosts: number;
  blocks: number;
}

const ownerKey = (b: { tenant: string; segment: string }) => `${b.tenant}:${b.segment}`;

/** One hue per tenant, spread by the golden angle; segments of a tenant step through lightness. */
export function ownerColors(blocks: Block[]): Owner[] {
  const tenants = [...new Set(blocks.map((b) => b.tenant))].sort();
  const owners = new Map<string, Owner>();
  for (const b of blocks) {
    const k = ownerKey(b);
    const o = owners.get(k);
    if (o) o.blocks++;
    else owners.set(k, { tenant: b.tenant, segment: b.segment, color: '', blocks: 1 });
  }
  const list = [...owners.values()].sort((a, b) => (a.tenant === b.tenant ? (a.segment < b.segment ? -1 : 1) : a.tenant < b.tenant ? -1 : 1));
  for (const t of tenants) {
    const hue = Math.round((tenants.indexOf(t) * 137.508) % 360);
    const segs = list.filter((o) => o.tenant === t);
    segs.forEach((o, i) => (o.color = `hsl(${hue} 70% ${segs.length === 1 ? 48 : 36 + Math.round((i * 30) / (segs.length - 1))}%)`));
  }
  return list;
}

const cidrOf = (s: string) => tryParseCidr(s, false);

function useOf(area: Cidr, network: string, blocks: { c: Cidr; b: Block }[], blackouts: { c: Cidr; network: string }[]): Use {
  const size = sizeOf(area.prefix);
  let inBlocks = 0;
  let allocated = 0;
  for (const x of blocks) {
    if (x.b.network === network && cidrContains(area, x.c)) {
      inBlocks += sizeOf(x.c.prefix);
      allocated += x.b.allocated_ip_count;
    }
  }
  let blackedOut = 0;
  for (const x of blackouts) {
    if (x.network !== network) continue;
    if (cidrContains(area, x.c)) blackedOut += sizeOf(x.c.prefix);
    else if (cidrContains(x.c, area)) blackedOut = size;
  }
  return { size, inBlocks, allocated, blackedOut, free: Math.max(0, size - inBlocks - blackedOut) };
}

export function buildModel(doc: TopologyDoc, blocks: Block[], blackouts: Blackout[], hosts: Host[]): MapModel {
  const owners = ownerColors(blocks);
  const color = new Map(owners.map((o) => [ownerKey(o), o.color]));
  const parsed = blocks.map((b) => ({ b, c: cidrOf(b.cidr) })).filter((x): x is { b: Block; c: Cidr } => x.c !== undefined);
  const dark = blackouts.map((x) => ({ network: x.network, c: cidrOf(x.cidr) })).filter((x): x is { network: string; c: Cidr } => x.c !== undefined);
  const byHost = new Map<string, BlockInfo[]>();
  for (const { b, c } of parsed) {
    const list = byHost.get(b.host) ?? [];
    list.push({ ...b, size: sizeOf(c.prefix), color: color.get(ownerKey(b)) ?? 'gray', owner: ownerKey(b) });
    byHost.set(b.host, list);
  }
  for (const l of byHost.values()) l.sort((a, b) => (a.network === b.network ? tryParseCidr(a.cidr, false)!.base - tryParseCidr(b.cidr, false)!.base : a.network < b.network ? -1 : 1));

  const hostNode = (h: { name: string; ip: string; labels?: Record<string, string> }, nets: Set<string> | undefined, path: string[]): HostNode => {
    const bl = (byHost.get(h.name) ?? []).filter((b) => !nets || nets.has(b.network));
    return { kind: 'host', name: h.name, ip: h.ip, labels: h.labels ?? {}, blocks: bl, allocated: bl.reduce((s, b) => s + b.allocated_ip_count, 0), size: bl.reduce((s, b) => s + b.size, 0), path };
  };
  const placed = new Set<string>();
  let n = 0;
  const node = (e: Entry, nets: Set<string>, path: string[]): MapNode => {
    if (e.ip !== undefined && e.name !== undefined && !e.groups) {
      placed.add(e.name);
      return hostNode({ name: e.name, ip: e.ip, labels: e.labels }, nets, path);
    }
    const cidrs = e.cidrs ?? {};
    const label = e.name ?? (Object.values(cidrs).join(', ') || 'group');
    const use: Record<string, Use> = {};
    for (const [net, c] of Object.entries(cidrs)) {
      const area = cidrOf(c);
      if (area) use[net] = useOf(area, net, parsed, dark);
    }
    const here = [...path, label];
    return { kind: 'group', id: `g${n++}`, label, cidrs, assignment: e.assignment ?? {}, children: (e.groups ?? []).map((x) => node(x, nets, here)), use, path };
  };
  const topologies = doc.topologies.map((t) => {
    const nets = new Set(t.networks);
    return { networks: t.networks, roots: t.map.map((e) => node(e, nets, [])) };
  });
  const networks = doc.networks.map((nw) => {
    const area = cidrOf(nw.cidr);
    const empty: Use = { size: 0, inBlocks: 0, allocated: 0, blackedOut: 0, free: 0 };
    return { ...nw, blackouts: blackouts.filter((x) => x.network === nw.name).map((x) => x.cidr), use: area ? useOf(area, nw.name, parsed, dark) : empty };
  });
  const unplaced = hosts.filter((h) => !placed.has(h.name)).map((h) => hostNode(h, undefined, []));
  return { networks, topologies, unplaced, owners, hosts: hosts.length, blocks: blocks.length };
}

/** Every host node of the model, in map order. */
export function allHosts(m: MapModel): HostNode[] {
  const out: HostNode[] = [];
  const walk = (x: MapNode) => (x.kind === 'host' ? out.push(x) : x.children.forEach(walk));
  m.topologies.forEach((t) => t.roots.forEach(walk));
  out.push(...m.unplaced);
  return out;
}

export interface Hit {
  kind: 'address' | 'free-ip' | 'host' | 'group';
  title: string;
  detail: string;
  host?: string;
  block?: string;
  group?: string;
}

const where = (h: HostNode | undefined) => (h && h.path.length ? h.path.join(' / ') : undefined);

/**
 * Finds an address (by IP, name, pod or namespace/pod), a host (by name or IP) or a group, and says
 * which block, host and group it is in. An IP nobody holds still gets its block or group.
 */
export function search(m: MapModel, addresses: Address[], query: string, limit = 20): Hit[] {
  const q = query.trim();
  if (!q) return [];
  const hosts = allHosts(m);
  const hostOf = (name: string) => hosts.find((h) => h.name === name);
  const hits: Hit[] = [];
  const addrHit = (a: Address): Hit => {
    const h = hostOf(a.host);
    const pod = a.attributes?.pod ? `${a.attributes.namespace ?? a.tenant}/${a.attributes.pod}` : undefined;
    return {
      kind: 'address', title: `${a.ip} (${a.name})`, host: a.host, block: a.block, group: where(h),
      detail: [pod && `pod ${pod}`, `block ${a.block}`, `host ${a.host}`, where(h) && `group ${where(h)}`, `owner ${a.tenant}:${a.segment}`].filter(Boolean).join(' · '),
    };
  };
  const ip = tryParseIp(q);
  if (ip !== undefined) {
    const a = addresses.find((x) => x.ip === q);
    if (a) hits.push(addrHit(a));
    const hh = hosts.find((h) => h.ip === q);
    if (hh) hits.push({ kind: 'host', title: `host ${hh.name}`, detail: `host address ${hh.ip}${where(hh) ? ` · group ${where(hh)}` : ''}`, host: hh.name, group: where(hh) });
    if (!a && !hh) {
      for (const h of hosts) {
        const b = h.blocks.find((x) => cidrContainsIp(cidrOf(x.cidr)!, ip));
        if (b) hits.push({ kind: 'free-ip', title: `${q} (not allocated)`, detail: `in block ${b.cidr} · host ${h.name}${where(h) ? ` · group ${where(h)}` : ''} · owner ${b.owner}`, host: h.name, block: b.cidr, group: where(h) });
      }
      if (!hits.length) {
        const groups: GroupNode[] = [];
        const walk = (x: MapNode) => {
          if (x.kind !== 'group') return;
          if (Object.values(x.cidrs).some((c) => cidrOf(c) && cidrContainsIp(cidrOf(c)!, ip))) groups.push(x);
          x.children.forEach(walk);
        };
        m.topologies.forEach((t) => t.roots.forEach(walk));
        const g = groups[groups.length - 1];
        const nw = m.networks.find((x) => cidrOf(x.cidr) && cidrContainsIp(cidrOf(x.cidr)!, ip));
        const dark = nw?.blackouts.find((c) => cidrContainsIp(cidrOf(c)!, ip));
        if (g || nw) {
          const name = g ? [...g.path, g.label].join(' / ') : undefined;
          hits.push({ kind: 'group', title: `${q} (in no block)`, group: name, detail: [nw && `network ${nw.name}`, name && `group ${name}`, dark ? `blacked out (${dark})` : 'free space'].filter(Boolean).join(' · ') });
        }
      }
    }
    return hits;
  }
  const lq = q.toLowerCase();
  for (const h of hosts) {
    if (h.name.toLowerCase().includes(lq)) hits.push({ kind: 'host', title: `host ${h.name}`, detail: `${h.ip} · ${h.blocks.length} blocks · ${h.allocated}/${h.size} used${where(h) ? ` · group ${where(h)}` : ''}`, host: h.name, group: where(h) });
  }
  for (const a of addresses) {
    const pod = a.attributes?.pod ? `${a.attributes.namespace ?? a.tenant}/${a.attributes.pod}` : '';
    if (a.name.toLowerCase().includes(lq) || (pod && pod.toLowerCase().includes(lq))) hits.push(addrHit(a));
    if (hits.length >= limit) break;
  }
  return hits.slice(0, limit);
}

export const percent = (part: number, whole: number) => (whole ? Math.round((part / whole) * 100) : 0);
