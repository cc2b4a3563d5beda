// Renders a layout for `GET /topology`: the stored document with every group's computed CIDRs and, in
// each leaf's `groups`, the hosts placed there (as host entries, the Romana 2.0 shape). Padding slots are
// not part of the tree, so they never show. What it renders is a valid document: applied again, it
// changes nothing (see core/topology/replace.ts for what host entries mean then). Pure.
import { formatCidr } from '../net/ipv4.js';
import type { Group, Layout } from './layout.js';
import type { HostInfo, Placements } from './placement.js';
import type { TopologyDocument } from './schema.js';

export type RenderedEntry = Record<string, unknown>;

export function renderTopology(layout: Layout, hosts: HostInfo[], placements: Placements): TopologyDocument {
  const inLeaf = new Map<string, HostInfo[]>();
  for (const h of hosts) {
    for (const key of placements[h.name] ?? []) inLeaf.set(key, [...(inLeaf.get(key) ?? []), h]);
  }
  const placed = (key: string) => (inLeaf.get(key) ?? []).map((h) => ({ name: h.name, ip: h.ip, ...(h.id !== undefined ? { id: h.id } : {}), labels: h.labels }));

  function group(g: Group, single: boolean): RenderedEntry {
    const out: RenderedEntry = { ...g.extra };
    if (g.name !== undefined) out.name = g.name;
    if (Object.keys(g.assignment).length > 0) out.assignment = g.assignment;
    out.cidrs = Object.fromEntries(Object.entries(g.cidrs).map(([n, c]) => [n, formatCidr(c)]));
    if (single) out.cidr = formatCidr(Object.values(g.cidrs)[0]);
    out.groups = g.leaf ? placed(g.key) : g.children.map((c) => group(c, single));
    return out;
  }

  return {
    networks: layout.document.networks,
    topologies: layout.topologies.map((t) => {
      const single = t.networks.length === 1;
      return { networks: t.networks, map: t.root.leaf ? placed(t.root.key) : t.root.children.map((c) => group(c, single)) };
    }),
  } as TopologyDocument;
}
