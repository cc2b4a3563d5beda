// Renders a layout for `GET /topology`: the stored document with every group's computed CIDRs and the
// hosts placed in each leaf. Padding slots are not part of the tree, so they never show. Pure.
import { formatCidr } from '../net/ipv4.js';
import type { Group, Layout } from './layout.js';
import type { HostInfo, Placements } from './placement.js';

export type RenderedEntry = Record<string, unknown>;

export function renderTopology(layout: Layout, hosts: HostInfo[], placements: Placements): { networks: unknown[]; topologies: unknown[] } {
  const inLeaf = new Map<string, HostInfo[]>();
  for (const h of hosts) {
    for (const key of placements[h.name] ?? []) inLeaf.set(key, [...(inLeaf.get(key) ?? []), h]);
  }
  const hostEntry = (h: HostInfo): RenderedEntry => ({ name: h.name, ip: h.ip, ...(h.id !== undefined ? { id: h.id } : {}), labels: h.labels });

  function group(g: Group, single: boolean): RenderedEntry {
    const out: RenderedEntry = { ...g.extra };
    if (g.name !== undefined) out.name = g.name;
    if (Object.keys(g.assignment).length > 0) out.assignment = g.assignment;
    out.cidrs = Object.fromEntries(Object.entries(g.cidrs).map(([n, c]) => [n, formatCidr(c)]));
    if (single) out.cidr = formatCidr(Object.values(g.cidrs)[0]);
    out.groups = g.leaf ? (inLeaf.get(g.key) ?? []).map(hostEntry) : g.children.map((c) => group(c, single));
    return out;
  }

  return {
    networks: layout.document.networks,
    topologies: layout.topologies.map((t) => {
      const single = t.networks.length === 1;
      const map = t.root.leaf ? (inLeaf.get(t.root.key) ?? []).map(hostEntry) : t.root.children.map((c) => group(c, single));
      return { networks: t.networks, map };
    }),
  };
}
