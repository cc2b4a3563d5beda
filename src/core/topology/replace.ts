// Replacing the topology, decided purely: where every host goes, which network and group every existing
// block and blackout belongs to now, and what changes, said in words for `topology apply --dry-run`.
//
// Who owns what: the document owns networks and groups; the API owns hosts and their labels. A
// replacement never removes a host and never changes a label. Host entries in a document (entries with
// an `ip`, as `GET /topology` shows placed hosts) say where a host sits. In the first topology they also
// add their hosts (a cluster can start from one file); afterwards a listed host that does not exist is
// skipped and reported (it was removed, or must be added with `romana host add`), and a listed host's
// labels are the API's, not the document's (a difference is reported). So applying an old
// `topology show` again brings back no removed host and reverts no label.
//
// Existing blocks are re-placed by containment: a block belongs to whichever new network holds its
// CIDR (so a renamed network, or networks merged into a wider one, keep every address), and its host
// goes to the leaf group of that network's topology that holds the block. Only a block that truly
// cannot be placed refuses the replacement, and it is named.
import { RomanaError, conflict } from '../errors.js';
import { type Cidr, cidrContains, formatCidr, parseIp } from '../net/ipv4.js';
import { insideNetwork, networkHolding } from './host-ip.js';
import { type Group, type Layout, eligible, groupPath } from './layout.js';
import { type HostInfo, type Placements, noGroupMessage } from './placement.js';

export interface StoredBlock { network: string; cidr: Cidr; host: string; tenant: string; segment: string; addresses: number }

export interface ReplaceInput {
  layout: Layout;
  /** The topology being replaced, if any. */
  current?: { layout: Layout; placements: Placements };
  /** Stored hosts, in the order they were added. */
  hosts: HostInfo[];
  blocks: StoredBlock[];
  blackouts: { network: string; cidr: Cidr }[];
}

export interface TopologyChange {
  object: 'network' | 'group' | 'host' | 'blocks' | 'blackout';
  name: string;
  change: 'added' | 'removed' | 'changed' | 'renamed' | 'moved' | 'kept' | 'skipped';
  detail: string;
}

export interface ReplacePlan {
  placements: Placements;
  /** Hosts the document lists that do not exist yet: they are added. */
  added: HostInfo[];
  /** For each input block (same order): its network and leaf group in the new topology. */
  blocks: { network: string; leaf: string }[];
  /** Blackouts by their network in the new topology. */
  blackouts: Map<string, Cidr[]>;
  changes: TopologyChange[];
}

const blockName = (b: StoredBlock) =>
  `block ${formatCidr(b.cidr)} (host '${b.host}', tenant '${b.tenant}', segment '${b.segment}', network '${b.network}', ${b.addresses} address${b.addresses === 1 ? '' : 'es'})`;
const topologyOf = (key: string) => Number(key.split(':')[0]);
const labelText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || 'none';

export function planReplacement(i: ReplaceInput): ReplacePlan {
  const { layout } = i;
  const groupName = (key: string) => {
    const g = layout.groupsByKey.get(key)!;
    return groupPath(g) || `topology ${topologyOf(key)}`;
  };
  const changes: TopologyChange[] = [];

  // Hosts: the stored ones, then those the document lists that do not exist yet.
  const byName = new Map(i.hosts.map((h) => [h.name, h]));
  const byIp = new Map(i.hosts.map((h) => [h.ip, h.name]));
  const added: HostInfo[] = [];
  const hostNotes: TopologyChange[] = [];
  for (const { host } of layout.listedHosts.values()) {
    const have = byName.get(host.name);
    const owner = byIp.get(host.ip);
    if (have && have.ip !== host.ip) throw new RomanaError('exists', `host '${host.name}' already exists with IP ${have.ip}, not ${host.ip} as the document lists it`);
    if (owner !== undefined && owner !== host.name) throw new RomanaError('exists', `IP ${host.ip} of listed host '${host.name}' belongs to host '${owner}'`);
    if (!have && !i.current) added.push({ name: host.name, ip: host.ip, labels: host.labels });
    else if (!have) {
      hostNotes.push({ object: 'host', name: host.name, change: 'skipped', detail: `listed in the document but does not exist: not added (romana host add adds a host; a removed host stays removed)` });
    } else if (labelText(have.labels) !== labelText(host.labels)) {
      hostNotes.push({ object: 'host', name: host.name, change: 'kept', detail: `labels stay ${labelText(have.labels)} as set through the API (the document lists ${labelText(host.labels)}; change them with romana host label)` });
    }
  }
  const all = [...i.hosts, ...added];
  for (const h of i.hosts) {
    const n = networkHolding(layout.networks, parseIp(h.ip));
    if (n) throw conflict(`host '${h.name}': ${insideNetwork(h.ip, n)}`);
  }

  // Networks and topologies of the new document.
  const topoOfNet = new Map<string, number>();
  for (const t of layout.topologies) for (const n of t.networks) topoOfNet.set(n, t.index);

  // Every block goes to the new network holding it.
  const blockNet = i.blocks.map((b) => {
    const net = layout.networks.find((n) => cidrContains(n.cidr, b.cidr));
    if (!net) throw conflict(`${blockName(b)} would lie in no network of the new topology`);
    if (net.blockMask !== b.cidr.prefix) throw conflict(`${blockName(b)}: network '${net.name}' would carve /${net.blockMask} blocks; keep its block_mask ${b.cidr.prefix}`);
    if (net.tenants && !net.tenants.includes(b.tenant)) throw conflict(`${blockName(b)}: network '${net.name}' would be reserved for tenants ${net.tenants.join(', ')}`);
    if (!topoOfNet.has(net.name)) throw conflict(`${blockName(b)}: network '${net.name}' would be in no topology`);
    return net.name;
  });

  // Placement. Pass 1: what the document lists and what blocks pin.
  const placements: Placements = {};
  const counts = new Map<string, number>();
  const place = (h: string, key: string) => {
    placements[h] = [...(placements[h] ?? []).filter((k) => topologyOf(k) !== topologyOf(key)), key];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  const blocksOf = new Map<string, number[]>();
  i.blocks.forEach((b, n) => blocksOf.set(b.host, [...(blocksOf.get(b.host) ?? []), n]));
  const leafOfBlock: string[] = [];
  for (const h of all) {
    const listed = layout.listedHosts.get(h.name);
    if (listed) {
      const leaf = layout.groupsByKey.get(listed.leaf)!;
      if (!eligible(leaf, h.labels)) {
        throw conflict(`host '${h.name}' is listed in group ${groupName(listed.leaf)}, whose assignment its labels (${labelText(h.labels)}, set through the API) do not match`);
      }
      place(h.name, listed.leaf);
    }
    const mine = blocksOf.get(h.name) ?? [];
    for (const t of layout.topologies) {
      const here = mine.filter((n) => topoOfNet.get(blockNet[n]) === t.index);
      if (here.length === 0) continue;
      const b0 = i.blocks[here[0]];
      const leaf = layout.leaves.find((l) => topologyOf(l.key) === t.index && cidrContains(l.cidrs[blockNet[here[0]]], b0.cidr));
      if (!leaf) throw conflict(`${blockName(b0)} would lie in no leaf group of the new topology (it would fall between groups or in a group that has subgroups)`);
      const stray = here.find((n) => !cidrContains(leaf.cidrs[blockNet[n]], i.blocks[n].cidr));
      if (stray !== undefined) {
        throw conflict(`host '${h.name}' would have blocks in two groups: ${blockName(i.blocks[stray])} is outside group ${groupName(leaf.key)}, which holds ${blockName(b0)}`);
      }
      const pinned = placements[h.name]?.find((k) => topologyOf(k) === t.index);
      if (pinned !== undefined && pinned !== leaf.key) {
        throw conflict(`host '${h.name}' is listed in group ${groupName(pinned)}, but ${blockName(b0)} lies in group ${groupName(leaf.key)}`);
      }
      if (!eligible(leaf, h.labels)) {
        throw conflict(`host '${h.name}' must stay in group ${groupName(leaf.key)}, which holds ${blockName(b0)}, but its labels (${labelText(h.labels)}) do not match that group's assignment`);
      }
      if (pinned === undefined) place(h.name, leaf.key);
      for (const n of here) leafOfBlock[n] = leaf.key;
    }
  }
  // Pass 2: every other topology of every host not listed (a listed host sits only where it is listed):
  // the group of the same name path if it is still there and takes the host, else the eligible leaf
  // with the fewest hosts.
  for (const h of all) {
    for (const t of layout.topologies) {
      if (layout.listedHosts.has(h.name) || placements[h.name]?.some((k) => topologyOf(k) === t.index)) continue;
      const before = i.current?.placements[h.name]?.find((k) => topologyOf(k) === t.index);
      const beforePath = before !== undefined ? pathIn(i.current!.layout, before) : undefined;
      const leaves = layout.leaves.filter((l) => topologyOf(l.key) === t.index && eligible(l, h.labels));
      const same = beforePath !== undefined ? leaves.find((l) => groupPath(l) === beforePath) : undefined;
      const leaf = same ?? leaves.reduce<Group | undefined>((best, l) => (!best || (counts.get(l.key) ?? 0) < (counts.get(best.key) ?? 0) ? l : best), undefined);
      if (leaf) place(h.name, leaf.key);
    }
    if (!placements[h.name]?.length) throw conflict(`host '${h.name}' would fit in no group of the new topology: ${noGroupMessage(layout, h).replace(/^no group accepts host '[^']*' /, '')}`);
    placements[h.name].sort((a, b) => topologyOf(a) - topologyOf(b));
  }

  // Blackouts go with the network that holds them.
  const blackouts = new Map<string, Cidr[]>();
  for (const bo of i.blackouts) {
    const net = layout.networks.find((n) => cidrContains(n.cidr, bo.cidr) && n.cidr.prefix < bo.cidr.prefix);
    if (!net) throw conflict(`blackout ${formatCidr(bo.cidr)} (network '${bo.network}') would lie in no network of the new topology; remove it first (romana blackout remove)`);
    blackouts.set(net.name, [...(blackouts.get(net.name) ?? []), bo.cidr]);
    if (net.name !== bo.network) changes.push({ object: 'blackout', name: formatCidr(bo.cidr), change: 'moved', detail: `from network ${bo.network} to network ${net.name}` });
  }

  changes.unshift(...networkChanges(i, layout), ...groupChanges(i, layout), ...blockChanges(i, blockNet));
  for (const h of added) changes.push({ object: 'host', name: h.name, change: 'added', detail: `listed in the document: ${h.ip} in ${placements[h.name].map(groupName).join(', ')}` });
  for (const h of i.hosts) {
    const was = (i.current?.placements[h.name] ?? []).map((k) => pathIn(i.current!.layout, k) || `topology ${topologyOf(k)}`).sort().join(', ');
    const now = placements[h.name].map(groupName).sort().join(', ');
    if (was !== now) changes.push({ object: 'host', name: h.name, change: 'moved', detail: `from ${was || 'no group'} to ${now}` });
  }
  changes.push(...hostNotes);
  return { placements, added, blocks: i.blocks.map((_, n) => ({ network: blockNet[n], leaf: leafOfBlock[n] })), blackouts, changes };
}

const pathIn = (l: Layout, key: string): string | undefined => {
  const g = l.groupsByKey.get(key);
  return g ? groupPath(g) : undefined;
};

function networkChanges(i: ReplaceInput, layout: Layout): TopologyChange[] {
  const out: TopologyChange[] = [];
  const before = new Map((i.current?.layout.networks ?? []).map((n) => [n.name, n]));
  const after = new Map(layout.networks.map((n) => [n.name, n]));
  const describe = (n: Layout['networks'][number]) => `${formatCidr(n.cidr)}, /${n.blockMask} blocks${n.tenants ? `, tenants ${n.tenants.join(',')}` : ''}`;
  const renamedTo = new Set<string>();
  for (const [name, n] of before) {
    if (after.has(name)) continue;
    const same = layout.networks.find((m) => !before.has(m.name) && formatCidr(m.cidr) === formatCidr(n.cidr));
    if (same) {
      renamedTo.add(same.name);
      out.push({ object: 'network', name, change: 'renamed', detail: `to ${same.name} (${describe(same)})` });
    } else out.push({ object: 'network', name, change: 'removed', detail: describe(n) });
  }
  for (const [name, n] of after) {
    const old = before.get(name);
    if (!old) {
      if (!renamedTo.has(name)) out.push({ object: 'network', name, change: 'added', detail: describe(n) });
    } else if (describe(old) !== describe(n)) out.push({ object: 'network', name, change: 'changed', detail: `${describe(old)} -> ${describe(n)}` });
  }
  return out;
}

function groupChanges(i: ReplaceInput, layout: Layout): TopologyChange[] {
  const out: TopologyChange[] = [];
  // A group is the same when its path and its CIDRs are (a renamed network does not change it).
  const groups = (l: Layout) => {
    const m = new Map<string, { text: string; cidrs: string }>();
    for (const g of l.groupsByKey.values()) {
      if (!g.parent) continue;
      m.set(`${topologyOf(g.key)}:${groupPath(g)}`, {
        text: Object.entries(g.cidrs).map(([n, c]) => `${n} ${formatCidr(c)}`).join(', '),
        cidrs: Object.values(g.cidrs).map(formatCidr).sort().join(','),
      });
    }
    return m;
  };
  const before = i.current ? groups(i.current.layout) : new Map<string, { text: string; cidrs: string }>();
  const after = groups(layout);
  const label = (k: string) => k.slice(k.indexOf(':') + 1) + (layout.topologies.length > 1 ? ` (topology ${k.split(':')[0]})` : '');
  for (const [k, c] of before) if (!after.has(k)) out.push({ object: 'group', name: label(k), change: 'removed', detail: c.text });
  for (const [k, c] of after) {
    const old = before.get(k);
    if (old === undefined) out.push({ object: 'group', name: label(k), change: 'added', detail: c.text });
    else if (old.cidrs !== c.cidrs) out.push({ object: 'group', name: label(k), change: 'changed', detail: `${old.text} -> ${c.text}` });
  }
  return out;
}

function blockChanges(i: ReplaceInput, blockNet: string[]): TopologyChange[] {
  const moved = new Map<string, { blocks: number; addresses: number }>();
  i.blocks.forEach((b, n) => {
    if (blockNet[n] === b.network) return;
    const k = `${b.network} -> ${blockNet[n]}`;
    const m = moved.get(k) ?? { blocks: 0, addresses: 0 };
    moved.set(k, { blocks: m.blocks + 1, addresses: m.addresses + b.addresses });
  });
  return [...moved].map(([k, m]) => ({
    object: 'blocks' as const, name: k, change: 'moved' as const,
    detail: `${m.blocks} block(s) and ${m.addresses} address(es) move to network ${k.split(' -> ')[1]}, keeping their IPs, hosts and owners`,
  }));
}
