// Parses a topology document into a layout: networks, and for each topology a tree of groups with the
// CIDR every group gets in every network of its topology. Pure.
//
// Carving: n sibling groups are padded to the next power of two and split their parent's CIDR evenly;
// padding slots exist only in the arithmetic, never in the tree, so they can never receive hosts.
import { RomanaError, invalid } from '../errors.js';
import { type AddressLayout, type LayoutNetwork, checkLayout, maxId, prefixThrough } from '../ipam/address-layout.js';
import { routingOf } from '../routing/topology.js';
import { check } from '../schema/check.js';
import { insideNetwork, networkHolding, parseHostIp } from './host-ip.js';
import { checkDepth } from '../schema/depth.js';
import {
  type Cidr, cidrsOverlap, formatCidr, log2Ceil, parseCidr, parseIp, splitCidr,
} from '../net/ipv4.js';
import {
  TENANT_RE, TopologyDocument, VpcDocument, type Labels, type MapEntry,
  type TopologyDocument as Doc,
} from './schema.js';

export interface Network {
  name: string;
  cidr: Cidr;
  blockMask: number;
  /** Tenants this network is reserved for; undefined = any tenant (a wildcard network). */
  tenants?: string[];
  /**
   * Romana's host/tenant/segment layout: addresses are made of IDs, groups do not carve the network
   * (every group of its topology has the whole CIDR), and blockMask is the segment CIDR's prefix.
   */
  layout?: AddressLayout;
}

/** The network as a layout network, when it is one. */
export const asLayoutNetwork = (n: Network): LayoutNetwork | undefined => (n.layout ? { name: n.name, cidr: n.cidr, layout: n.layout } : undefined);

/** A host written into the document's map. */
export interface ListedHost {
  name: string;
  ip: string;
  labels: Labels;
  /** The host ID the document gives it (layout networks). */
  id?: number;
}

export interface Group {
  /** `<topology index>:<dotted path of map indices>`; the root of a topology has path "". */
  key: string;
  name?: string;
  assignment: Labels;
  /** One CIDR per network of the group's topology. */
  cidrs: Record<string, Cidr>;
  children: Group[];
  hosts: ListedHost[];
  /** Leaves hold hosts; a group with subgroups never does. */
  leaf: boolean;
  parent?: Group;
  /** Extra fields of the document's entry (e.g. `routing`), kept for `GET /topology`. */
  extra: Record<string, unknown>;
}

export interface Topology {
  index: number;
  networks: string[];
  root: Group;
}

export interface Layout {
  /** The normalised document (VPC shorthand expanded, output-only fields dropped). */
  document: Doc;
  networks: Network[];
  topologies: Topology[];
  /** Leaves in map order, topology by topology. */
  leaves: Group[];
  groupsByKey: Map<string, Group>;
  /** Hosts listed in the document, by name, with the key of the leaf that lists them. */
  listedHosts: Map<string, { host: ListedHost; leaf: string }>;
}

export const VPC_ROUTE_LIMIT = 50;
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const DEFAULT_BLOCK_MASK = 29;
/** Room for ~60 levels of groups; the schema check recurses per level, and thousands exhaust the stack. */
export const MAX_DEPTH = 128;

/**
 * Expands the AWS VPC shorthand into a normal document: one group per zone (named after the zone,
 * `az-1`... unless `zones` names them), assigned to hosts labelled `topology.kubernetes.io/zone=<zone>`,
 * each split into `prefix-groups` leaf groups (`<zone>-1`...) that share the zone's half, quarter...
 * of `network`. Mistakes are named by the shorthand's own fields.
 */
export function expandVpc(v: VpcDocument): Doc {
  const azs = v['num-azs'];
  if (v.zones && v.zones.length !== azs) {
    throw invalid(`zones: has ${v.zones.length} entries but num-azs is ${azs}`);
  }
  if (v.zones) {
    const dup = v.zones.find((z, i) => v.zones!.indexOf(z) !== i);
    if (dup !== undefined) throw invalid(`zones: '${dup}' is listed twice`);
  }
  const max = Math.floor(VPC_ROUTE_LIMIT / azs);
  let n: number;
  if (v['prefix-groups'] === 'max') {
    n = 2 ** Math.floor(Math.log2(max));
  } else {
    n = v['prefix-groups'];
    if (n * azs > VPC_ROUTE_LIMIT) {
      throw invalid(`prefix-groups: ${n} x ${azs} zones = ${n * azs} routes, over the VPC route-table limit of ${VPC_ROUTE_LIMIT}`);
    }
  }
  const cidr = parseCidr(v.network, 'network');
  const leafPrefix = cidr.prefix + log2Ceil(azs) + log2Ceil(n);
  if (leafPrefix > 32) throw invalid(`prefix-groups: ${azs} zones x ${n} prefix groups do not fit in ${v.network}`);
  const mask = v.block_mask === undefined || v.block_mask === 0 ? Math.max(DEFAULT_BLOCK_MASK, cidr.prefix) : v.block_mask;
  if (mask < cidr.prefix || mask > 32) throw invalid(`block_mask: ${mask} must be between the network's prefix length (${cidr.prefix}) and 32`);
  if (mask < leafPrefix) {
    throw invalid(`block_mask: /${mask} blocks do not fit in the /${leafPrefix} of each prefix group (${azs} zones x ${n} prefix groups of ${v.network}); use a block_mask of at least ${leafPrefix} or fewer prefix-groups`);
  }
  const zones = v.zones ?? Array.from({ length: azs }, (_, i) => `az-${i + 1}`);
  const net: Doc['networks'][number] = { name: 'vpc', cidr: v.network };
  if (v.block_mask !== undefined) net.block_mask = v.block_mask;
  return {
    networks: [net],
    topologies: [{
      networks: ['vpc'],
      map: zones.map((z) => ({
        name: z,
        assignment: { [ZONE_LABEL]: z },
        groups: Array.from({ length: n }, (_, i) => ({ name: `${z}-${i + 1}`, groups: [], routing: { type: 'vpc' as const } })),
      })),
    }],
  };
}

function checkLabels(l: Labels | undefined, field: string): Labels {
  for (const [k, v] of Object.entries(l ?? {})) {
    if (!k || k.length > 317) throw invalid(`${field}: label key '${k}' must be 1-317 characters`);
    if (v.length > 63) throw invalid(`${field}.${k}: label value longer than 63 characters`);
  }
  return { ...(l ?? {}) };
}

function parseNetworks(doc: Doc): Network[] {
  const seen = new Map<string, Network>();
  return doc.networks.map((n, i) => {
    const f = `networks[${i}]`;
    if (seen.has(n.name)) throw invalid(`${f}.name: duplicate network name '${n.name}'`);
    const cidr = parseCidr(n.cidr, `${f}.cidr`);
    let layout: AddressLayout | undefined;
    if (n.layout !== undefined) {
      if (n.block_mask !== undefined) throw invalid(`${f}.block_mask: a network with a layout takes no block_mask (its blocks are segment CIDRs)`);
      layout = checkLayout(n.layout, cidr.prefix, `${f}.layout`);
    }
    const mask = layout ? prefixThrough({ name: n.name, cidr, layout }, 'segment')
      : n.block_mask === undefined || n.block_mask === 0 ? Math.max(DEFAULT_BLOCK_MASK, cidr.prefix) : n.block_mask;
    if (mask < cidr.prefix || mask > 32) {
      throw invalid(`${f}.block_mask: ${mask} must be between the network prefix length (${cidr.prefix}) and 32`);
    }
    for (const [j, t] of (n.tenants ?? []).entries()) {
      if (!new RegExp(TENANT_RE).test(t)) throw invalid(`${f}.tenants[${j}]: '${t}' must match ${TENANT_RE}`);
    }
    for (const other of seen.values()) {
      if (cidrsOverlap(other.cidr, cidr)) {
        throw invalid(`${f}.cidr: ${n.cidr} overlaps network '${other.name}' (${formatCidr(other.cidr)})`);
      }
    }
    const net: Network = { name: n.name, cidr, blockMask: mask, tenants: n.tenants ? [...n.tenants] : undefined, ...(layout ? { layout } : {}) };
    seen.set(n.name, net);
    return net;
  });
}

const isHostEntry = (e: MapEntry): boolean => e.ip !== undefined;

const OUTPUT_ONLY = new Set(['cidr', 'cidrs']);
/** Fields layout handles itself; the others of a group (e.g. `routing`) are kept for `GET /topology`. */
const KNOWN = new Set(['name', 'ip', 'labels', 'assignment', 'groups', 'cidr', 'cidrs']);
const HOST_FIELDS = new Set(['name', 'ip', 'id', 'labels']);

/**
 * Parses and validates a topology document (or the VPC shorthand). Throws `invalid` naming the
 * field; for the shorthand, the shorthand's field (`network`, `prefix-groups`, `block_mask`).
 */
export function parseTopology(input: unknown): Layout {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid('document: a topology must be a JSON object');
  checkDepth(input, MAX_DEPTH);
  if (!('type' in input)) return parseDocument(check(TopologyDocument, input));
  let vpc: VpcDocument;
  try {
    vpc = check(VpcDocument, input);
  } catch (e) {
    if (e instanceof RomanaError && e.message.startsWith('prefix-groups: ')) throw invalid("prefix-groups: must be 'max' or a whole number of at least 1");
    throw e;
  }
  const expanded = expandVpc(vpc);
  try {
    return parseDocument(expanded);
  } catch (e) {
    if (!(e instanceof RomanaError) || e.kind !== 'invalid') throw e;
    throw invalid(vpcField(e.message));
  }
}

/** An error about the expanded document, told in the shorthand's own fields. */
function vpcField(m: string): string {
  const rules: [RegExp, string][] = [
    [/^networks\[0\]\.cidr/, 'network'], [/^networks\[0\]\.block_mask/, 'block_mask'], [/^networks: block_mask/, 'block_mask:'],
    [/^topologies\[0\]\.map(\[\d+\])?\.(groups(\[\d+\])?\.)?name: group name ('[^']*') .*/, "zones: group name $4 would be used twice (zone names and their prefix groups' names, <zone>-1..., must all differ)"],
    [/^topologies\[0\]\.map\[\d+\]\.groups/, 'prefix-groups'], [/^topologies\[0\]\.map/, 'num-azs'],
  ];
  for (const [re, to] of rules) if (re.test(m)) return m.replace(re, to);
  return m;
}

function parseDocument(doc: Doc): Layout {
  const networks = parseNetworks(doc);
  const byName = new Map(networks.map((n) => [n.name, n]));
  const used = new Map<string, number>();
  const layout: Layout = {
    document: { networks: doc.networks.map((n) => ({ ...n })), topologies: [] },
    networks, topologies: [], leaves: [], groupsByKey: new Map(), listedHosts: new Map(),
  };
  const hostIps = new Map<string, string>();
  const hostIds = new Map<number, string>();

  /** Group name -> where it is, per topology: a name means one group. */
  let groupNames = new Map<string, string>();
  doc.topologies.forEach((t, ti) => {
    const f = `topologies[${ti}]`;
    groupNames = new Map();
    if (t.networks.length === 0) throw invalid(`${f}.networks: a topology needs at least one network`);
    t.networks.forEach((name, ni) => {
      if (!byName.has(name)) throw invalid(`${f}.networks[${ni}]: unknown network '${name}'`);
      const prev = used.get(name);
      if (prev !== undefined) throw invalid(`${f}.networks[${ni}]: network '${name}' is already in topologies[${prev}]`);
      used.set(name, ti);
    });
    const nets = t.networks.map((n) => byName.get(n)!);
    const rootCidrs = Object.fromEntries(nets.map((n) => [n.name, n.cidr]));
    const root = buildGroup({ groups: t.map }, `${ti}:`, rootCidrs, undefined, `${f}.map`, true);
    layout.topologies.push({ index: ti, networks: [...t.networks], root });
    layout.document.topologies.push({ networks: [...t.networks], map: t.map.map(stripEntry) });
  });

  function buildGroup(e: MapEntry, key: string, cidrs: Record<string, Cidr>, parent: Group | undefined, f: string, isRoot = false): Group {
    if (!isRoot) {
      for (const k of ['labels', 'ip'] as const) {
        if (e[k] !== undefined) throw invalid(`${f}.${k}: a group has no ${k}${k === 'labels' ? ' (a group\'s hosts need the labels of its assignment)' : ' (a host entry needs a name and an ip, and no groups)'}`);
      }
      if (e.name !== undefined) {
        const other = groupNames.get(e.name);
        if (other !== undefined) throw invalid(`${f}.name: group name '${e.name}' is already used by ${other}`);
        groupNames.set(e.name, f);
      }
    }
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!KNOWN.has(k)) extra[k] = v;
    const g: Group = {
      key, name: isRoot ? undefined : e.name, assignment: checkLabels(e.assignment, `${f}.assignment`),
      cidrs, children: [], hosts: [], leaf: true, parent, extra,
    };
    layout.groupsByKey.set(key, g);
    const entries = e.groups ?? [];
    const hostEntries = entries.filter(isHostEntry);
    if (hostEntries.length > 0 && hostEntries.length < entries.length) {
      throw invalid(`${f}${isRoot ? '' : '.groups'}: a group holds either hosts or groups, not both`);
    }
    const sub = isRoot ? f : `${f}.groups`;
    if (hostEntries.length > 0) {
      entries.forEach((h, i) => g.hosts.push(parseListedHost(h, `${sub}[${i}]`, g)));
    } else if (entries.length > 0) {
      g.leaf = false;
      const bits = log2Ceil(entries.length);
      const parts: Record<string, Cidr[]> = {};
      for (const [net, c] of Object.entries(cidrs)) {
        // A layout network's addresses come from host IDs, not from groups: every group has all of it.
        if (byName.get(net)!.layout) {
          parts[net] = entries.map(() => c);
          continue;
        }
        if (c.prefix + bits > 32) throw invalid(`${sub}: ${entries.length} groups do not fit in ${formatCidr(c)}`);
        parts[net] = splitCidr(c, bits);
      }
      entries.forEach((child, i) => {
        const childCidrs = Object.fromEntries(Object.keys(cidrs).map((net) => [net, parts[net][i]]));
        const childKey = key.endsWith(':') ? `${key}${i}` : `${key}.${i}`;
        g.children.push(buildGroup(child, childKey, childCidrs, g, `${sub}[${i}]`));
      });
    }
    if (g.leaf) {
      for (const [net, c] of Object.entries(cidrs)) {
        const mask = byName.get(net)!.blockMask;
        if (c.prefix > mask) {
          throw invalid(`networks: block_mask ${mask} of '${net}' is wider than the group at ${f} (${formatCidr(c)})`);
        }
      }
      layout.leaves.push(g);
    }
    return g;
  }

  function parseListedHost(e: MapEntry, f: string, leaf: Group): ListedHost {
    if (!e.name) throw invalid(`${f}.name: a host needs a name`);
    const stray = Object.keys(e).find((k) => !HOST_FIELDS.has(k) && !(k === 'groups' && e.groups?.length === 0));
    if (stray) throw invalid(`${f}.${stray}: a host entry has only name, ip, id and labels`);
    const inside = networkHolding(networks, parseHostIp(e.ip!, `${f}.ip`));
    if (inside) throw invalid(`${f}.ip: ${insideNetwork(e.ip!, inside)}`);
    if (e.groups !== undefined && e.groups.length > 0) throw invalid(`${f}: a host cannot hold groups`);
    if (layout.listedHosts.has(e.name)) throw invalid(`${f}.name: host '${e.name}' is listed twice`);
    const other = hostIps.get(e.ip!);
    if (other) throw invalid(`${f}.ip: ${e.ip} is already the IP of host '${other}'`);
    hostIps.set(e.ip!, e.name);
    const host: ListedHost = { name: e.name, ip: e.ip!, labels: checkLabels(e.labels, `${f}.labels`) };
    if (e.id !== undefined) {
      const other = hostIds.get(e.id);
      if (other) throw invalid(`${f}.id: ${e.id} is already the ID of host '${other}'`);
      const ti = Number(leaf.key.split(':')[0]);
      for (const name of doc.topologies[ti].networks) {
        const net = byName.get(name)!;
        if (net.layout && e.id > maxId(net.layout, 'host')) {
          throw invalid(`${f}.id: ${e.id} is outside the host IDs 1-${maxId(net.layout, 'host')} of network '${name}'`);
        }
      }
      hostIds.set(e.id, e.name);
      host.id = e.id;
    }
    if (!eligible(leaf, host.labels)) throw invalid(`${f}: host '${e.name}' does not satisfy its group's assignment`);
    layout.listedHosts.set(e.name, { host, leaf: leaf.key });
    return host;
  }

  routingOf(layout); // checks every group's `routing` setting
  return layout;
}

/** Drops output-only fields (cidr, cidrs) from a map entry. */
function stripEntry(e: MapEntry): MapEntry {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!OUTPUT_ONLY.has(k)) out[k] = v;
  if (e.groups) out.groups = e.groups.map(stripEntry);
  return out as MapEntry;
}

/**
 * The document without its host entries: what romanad keeps. Hosts belong to the API (see
 * core/topology/replace.ts); where they sit is kept in the placements.
 */
export function withoutHosts(doc: Doc): Doc {
  const strip = (e: MapEntry): MapEntry => (e.groups ? { ...e, groups: e.groups.filter((g) => !isHostEntry(g)).map(strip) } : e);
  return { networks: doc.networks, topologies: doc.topologies.map((t) => ({ networks: t.networks, map: t.map.filter((g) => !isHostEntry(g)).map(strip) })) };
}

/** A group's name path from its topology's root, e.g. "zone-a/rack-2" (an unnamed group is #<index>). */
export function groupPath(g: Group): string {
  const parts: string[] = [];
  for (let x: Group | undefined = g; x?.parent; x = x.parent) parts.push(x.name ?? `#${x.key.split(/[:.]/).pop()}`);
  return parts.reverse().join('/');
}

/** A host may sit in a leaf when its labels hold every assignment key=value at every level. */
export function eligible(leaf: Group, labels: Labels): boolean {
  for (let g: Group | undefined = leaf; g; g = g.parent) {
    for (const [k, v] of Object.entries(g.assignment)) if (labels[k] !== v) return false;
  }
  return true;
}


/** The layout networks of the topologies a host sits in, given the keys of its leaves. */
export function hostLayoutNetworks(layout: Layout, leaves: readonly string[]): LayoutNetwork[] {
  const out: LayoutNetwork[] = [];
  for (const key of leaves) {
    const t = layout.topologies[Number(key.split(':')[0])];
    for (const name of t?.networks ?? []) {
      const n = asLayoutNetwork(layout.networks.find((x) => x.name === name)!);
      if (n) out.push(n);
    }
  }
  return out;
}
