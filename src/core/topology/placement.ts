// Host placement: which leaf group a host sits in, in every topology. Pure.
import { RomanaError, conflict } from '../errors.js';
import { chooseHostId, decodeAddress, maxId } from '../ipam/address-layout.js';
import { type Cidr, cidrEquals, formatCidr } from '../net/ipv4.js';
import { asLayoutNetwork, eligible, hostLayoutNetworks, type Group, type Layout, type Network } from './layout.js';
import type { Labels } from './schema.js';

export interface HostInfo {
  name: string;
  ip: string;
  labels: Labels;
  /** Its host ID in layout networks. */
  id?: number;
}

/** Host name -> the keys of the leaves it sits in (at most one per topology). */
export type Placements = Record<string, string[]>;

function hostCounts(placements: Placements): Map<string, number> {
  const counts = new Map<string, number>();
  for (const leaves of Object.values(placements)) for (const l of leaves) counts.set(l, (counts.get(l) ?? 0) + 1);
  return counts;
}

/** The eligible leaf with the fewest hosts in one topology (ties: first in map order), if any. */
function leastLoadedLeaf(layout: Layout, topology: number, labels: Labels, counts: Map<string, number>): Group | undefined {
  let best: Group | undefined;
  for (const leaf of layout.leaves) {
    if (!leaf.key.startsWith(`${topology}:`) || !eligible(leaf, labels)) continue;
    if (!best || (counts.get(leaf.key) ?? 0) < (counts.get(best.key) ?? 0)) best = leaf;
  }
  return best;
}

/**
 * Places a host added through the API: independently in every topology, in the eligible leaf with the
 * fewest hosts. A host listed in the document goes exactly where it is listed.
 */
export function placeHost(layout: Layout, placements: Placements, host: HostInfo): string[] {
  const listed = layout.listedHosts.get(host.name);
  if (listed) return [listed.leaf];
  const counts = hostCounts(placements);
  const out: string[] = [];
  for (const t of layout.topologies) {
    const leaf = leastLoadedLeaf(layout, t.index, host.labels, counts);
    if (leaf) out.push(leaf.key);
  }
  if (out.length === 0) throw new RomanaError('no_suitable_group', noGroupMessage(layout, host));
  return out;
}

/** The labels a host needs for a leaf: every assignment from the leaf up to its topology's root. */
export function requiredLabels(leaf: Group): Labels {
  const out: Labels = {};
  for (let g: Group | undefined = leaf; g; g = g.parent) for (const [k, v] of Object.entries(g.assignment)) out[k] ??= v;
  return out;
}

/** "no group accepts host 'h' (labels: none); a host needs one of: zone=az-1 (groups az-1-1…az-1-16), ..." */
export function noGroupMessage(layout: Layout, host: HostInfo): string {
  const bySet = new Map<string, string[]>();
  for (const leaf of layout.leaves) {
    const req = Object.entries(requiredLabels(leaf)).map(([k, v]) => `${k}=${v}`).sort().join(',');
    bySet.set(req, [...(bySet.get(req) ?? []), leaf.name ?? leaf.key]);
  }
  const have = Object.entries(host.labels).map(([k, v]) => `${k}=${v}`).join(',') || 'none';
  if (layout.leaves.length === 0) return `no group accepts host '${host.name}': the topology has no group`;
  const sets = [...bySet].map(([req, names]) => `${req || '(no labels)'} (group${names.length > 1 ? 's' : ''} ${names.length > 2 ? `${names[0]}…${names[names.length - 1]}` : names.join(', ')})`);
  const shown = sets.length > 8 ? [...sets.slice(0, 8), `and ${sets.length - 8} more`] : sets;
  return `no group accepts host '${host.name}' (labels: ${have}); a host needs the labels of one of: ${shown.join('; ')}`;
}

/** Whether a label change keeps the host eligible for every leaf it sits in. */
export function stillEligible(layout: Layout, leaves: string[], labels: Labels): boolean {
  return leaves.every((k) => {
    const g = layout.groupsByKey.get(k);
    return g !== undefined && eligible(g, labels);
  });
}

export interface ExistingBlock {
  network: string;
  cidr: Cidr;
  host: string;
}

/**
 * Places every host again for a new topology, keeping each existing block where it is: a host that owns
 * blocks stays in the leaf that contains them (if that leaf accepts it). Throws `conflict` when a block
 * could not stay at the same IP/host, or a host would have nowhere to go.
 * `hosts` are in the order they were added; listed hosts go where the document lists them.
 */
// ---- Host IDs (layout networks) ------------------------------------------------------------------

/**
 * A layout network's addresses are made of IDs, so while it has blocks its CIDR and widths stay as
 * they are, and no network becomes or stops being a layout network.
 */
export function checkLayoutsKept(before: Network[], after: Network[], blocks: ExistingBlock[]): void {
  const withBlocks = new Set(blocks.map((b) => b.network));
  for (const name of withBlocks) {
    const a = before.find((n) => n.name === name);
    const b = after.find((n) => n.name === name);
    if (!a?.layout && !b?.layout) continue;
    const same = a && b && a.layout && b.layout && cidrEquals(a.cidr, b.cidr) &&
      (Object.keys(a.layout) as (keyof typeof a.layout)[]).every((k) => a.layout![k] === b.layout![k]);
    if (!same) throw conflict(`network '${name}' has blocks: its layout and CIDR cannot change while it has addresses`);
  }
}

export interface HostIdInfo { name: string; id?: number }

/**
 * Host IDs for a new topology. A host keeps its ID, or takes the one the document lists it with (not
 * while it has blocks in a layout network: its addresses carry the old one). Then hosts in a layout
 * network without an ID get the lowest free one, in order of placement: listed hosts in document order,
 * then the others in order of addition (`hosts`' order).
 */
export function assignHostIds(layout: Layout, placements: Placements, hosts: HostIdInfo[], blocks: ExistingBlock[]): Record<string, number> {
  const listedOrder = [...layout.listedHosts.keys()];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const order = [...listedOrder.filter((n) => byName.has(n)), ...hosts.map((h) => h.name).filter((n) => !layout.listedHosts.has(n))];
  const layoutNets = new Set(layout.networks.filter((n) => n.layout).map((n) => n.name));
  const ids: Record<string, number> = {};
  const used = new Map<number, string>();
  for (const name of order) {
    const cur = byName.get(name)!.id;
    const listed = layout.listedHosts.get(name)?.host.id;
    if (listed !== undefined && cur !== undefined && listed !== cur && blocks.some((b) => b.host === name && layoutNets.has(b.network))) {
      throw conflict(`host '${name}' is listed with id ${listed}, but its addresses carry its id ${cur}`);
    }
    const id = listed ?? cur;
    if (id === undefined) continue;
    const other = used.get(id);
    if (other !== undefined) throw conflict(`host '${name}' would have id ${id}, which is host '${other}'s`);
    for (const n of hostLayoutNetworks(layout, placements[name] ?? [])) {
      if (id > maxId(n.layout, 'host')) throw conflict(`host '${name}' has id ${id}, outside the host IDs 1-${maxId(n.layout, 'host')} of network '${n.name}'`);
    }
    used.set(id, name);
    ids[name] = id;
  }
  for (const name of order) {
    if (ids[name] !== undefined) continue;
    const id = chooseHostId(hostLayoutNetworks(layout, placements[name] ?? []), used, undefined);
    if (id === undefined) continue;
    used.set(id, name);
    ids[name] = id;
  }
  // Blocks of layout networks must lie in their host's CIDR.
  for (const b of blocks) {
    const n = layout.networks.find((x) => x.name === b.network);
    const ln = n && asLayoutNetwork(n);
    if (ln && decodeAddress(ln, b.cidr.base).host !== ids[b.host]) {
      throw conflict(`block ${formatCidr(b.cidr)} of host '${b.host}' is not in the host's CIDR of network '${b.network}'`);
    }
  }
  return ids;
}
