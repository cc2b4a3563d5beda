// Routing along the topology: which groups publish their routes how, who their members and routers
// are, and whether a document's `routing` settings make sense. Pure.
//
// A `routing` setting applies to the group it is written on, as one unit: that group's CIDRs are the
// aggregates, and every host in the leaves below it is a member. Groups without a setting above them
// use host routes (every host routes to every block: L2 neighbours). BGP settings may nest one level:
// a bgp group whose child groups all route by BGP has those groups' routers as its members (a spine
// above top-of-rack routers); any other nesting contradicts itself.
import { invalid } from '../errors.js';
import { type Cidr, formatCidr, parseIp } from '../net/ipv4.js';
import type { Group, Layout } from '../topology/layout.js';
import { check } from '../schema/check.js';
import { ROUTING_TYPES, type BgpPeer, RoutingSpec } from './schema.js';

export const VPC_DEFAULT_ROUTE_LIMIT = 50;

export interface Router {
  name?: string;
  ip: string;
  asn: number;
  password?: string;
  /** Its address towards the routers of the enclosing group. */
  uplinkIp: string;
}

interface RoutedBase {
  /** The group's key in the layout. */
  key: string;
  /** The group's name, or its key when it has none (for messages and rendered comments). */
  label: string;
  cidrs: Record<string, Cidr>;
  group: Group;
  /** Where the setting is written, e.g. topologies[0].map[1].routing. */
  field: string;
}

/** Hosts of this group announce over BGP to the group's routers. */
export interface BgpHostGroup extends RoutedBase {
  type: 'bgp';
  members: 'hosts';
  asn: number;
  announce: 'blocks' | 'aggregate';
  routers: Router[];
  /** The enclosing bgp group whose routers peer with this group's routers (the spine), if any. */
  parent?: BgpRouterGroup;
}

/** Routers of the child groups peer with this group's routers, which export the aggregate upwards. */
export interface BgpRouterGroup extends RoutedBase {
  type: 'bgp';
  members: 'routers';
  routers: Router[];
  children: (BgpHostGroup | BgpRouterGroup)[];
  parent?: BgpRouterGroup;
}

export interface VpcGroup extends RoutedBase {
  type: 'vpc';
  /** undefined: the publisher's default table. */
  routeTable?: string;
  routeLimit: number;
}

export interface HostRoutesGroup extends RoutedBase { type: 'host-routes' }

export type RoutedGroup = BgpHostGroup | BgpRouterGroup | VpcGroup | HostRoutesGroup;

export interface Routing {
  /** Every group with a `routing` setting, in map order. */
  groups: RoutedGroup[];
  byKey: Map<string, RoutedGroup>;
  /** Leaf key -> the routed group its hosts are members of (none: host routes). */
  ofLeaf: Map<string, RoutedGroup | undefined>;
}

/** "0:1.2" -> "topologies[0].map[1].groups[2]" */
export function groupField(key: string): string {
  const [t, path] = key.split(':');
  const parts = path === '' ? [] : path.split('.');
  return `topologies[${t}]` + parts.map((p, i) => (i === 0 ? `.map[${p}]` : `.groups[${p}]`)).join('');
}

const labelOf = (g: Group) => g.name ?? g.key;

function routers(peers: BgpPeer[], f: string): Router[] {
  const seen = new Set<string>();
  return peers.map((p, i) => {
    parseIp(p.ip, `${f}.peers[${i}].ip`);
    if (p.uplink_ip !== undefined) parseIp(p.uplink_ip, `${f}.peers[${i}].uplink_ip`);
    if (seen.has(p.ip)) throw invalid(`${f}.peers[${i}].ip: ${p.ip} is listed twice`);
    seen.add(p.ip);
    return { ...(p.name ? { name: p.name } : {}), ip: p.ip, asn: p.asn, ...(p.password ? { password: p.password } : {}), uplinkIp: p.uplink_ip ?? p.ip };
  });
}

/** Reads and checks every group's `routing` setting. Throws `invalid` naming the field. */
export function routingOf(layout: Layout): Routing {
  const out: Routing = { groups: [], byKey: new Map(), ofLeaf: new Map() };
  const specs = new Map<string, RoutingSpec>();
  for (const g of layout.groupsByKey.values()) {
    const raw = g.extra.routing;
    if (raw === undefined) continue;
    const f = `${groupField(g.key)}.routing`;
    if (typeof raw === 'string') {
      // Romana 1's free-form label ("routing": "test"): no setting. One naming a routed kind would
      // silently do nothing, so it is refused with the shape to write instead.
      if (raw === 'bgp' || raw === 'vpc') throw invalid(`${f}: a string is a Romana 1 label; ${raw} routing is an object: {"type": "${raw}", ...}`);
      continue;
    }
    const t = (raw as { type?: unknown } | null)?.type;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`${f}: must be an object with a type (${ROUTING_TYPES.join(', ')})`);
    if (!ROUTING_TYPES.includes(t as never)) throw invalid(`${f}.type: must be one of ${ROUTING_TYPES.join(', ')}`);
    specs.set(g.key, check(RoutingSpec, raw, f));
  }

  // Build in tree order, so parents exist before their children.
  const visit = (g: Group, enclosing: RoutedGroup | undefined): void => {
    const spec = specs.get(g.key);
    let here = enclosing;
    if (spec) {
      const f = `${groupField(g.key)}.routing`;
      const base = { key: g.key, label: labelOf(g), cidrs: g.cidrs, group: g, field: f };
      if (enclosing && !(spec.type === 'bgp' && enclosing.type === 'bgp')) {
        throw invalid(`${f}: ${spec.type} routing inside group '${enclosing.label}', whose routing is ${enclosing.type}: only bgp may nest in bgp (routers under routers)`);
      }
      const only = (type: string, fields: (keyof RoutingSpec)[]) => {
        for (const k of Object.keys(spec) as (keyof RoutingSpec)[]) {
          if (k !== 'type' && !fields.includes(k)) throw invalid(`${f}.${k}: does not apply to ${type} routing`);
        }
      };
      let r: RoutedGroup;
      if (spec.type === 'host-routes') {
        only('host-routes', []);
        r = { ...base, type: 'host-routes' };
      } else if (spec.type === 'vpc') {
        only('vpc', ['route_table', 'route_limit']);
        r = { ...base, type: 'vpc', routeTable: spec.route_table, routeLimit: spec.route_limit ?? VPC_DEFAULT_ROUTE_LIMIT };
      } else {
        only('bgp', ['announce', 'asn', 'peers']);
        if (!spec.peers) throw invalid(`${f}.peers: bgp routing needs the group's routers (at least one peer)`);
        const rs = routers(spec.peers, f);
        const routerMembers = hasRoutedDescendant(g, specs);
        if (routerMembers) {
          if (spec.asn !== undefined) throw invalid(`${f}.asn: the members of '${base.label}' are the routers of its groups, which have their own ASNs`);
          if (spec.announce !== undefined) throw invalid(`${f}.announce: the routers of '${base.label}' export each child group's aggregate; announce applies to hosts`);
          r = { ...base, type: 'bgp', members: 'routers', routers: rs, children: [] };
        } else {
          if (spec.asn === undefined) throw invalid(`${f}.asn: bgp routing of hosts needs the hosts' AS number`);
          spec.peers.forEach((p, i) => {
            if (p.asn === spec.asn) throw invalid(`${f}.peers[${i}].asn: ${p.asn} is the hosts' own AS; only eBGP sessions are supported`);
          });
          r = { ...base, type: 'bgp', members: 'hosts', asn: spec.asn, announce: spec.announce ?? 'blocks', routers: rs };
        }
        if (enclosing?.type === 'bgp') {
          const parent = enclosing as BgpRouterGroup;
          (r as BgpHostGroup | BgpRouterGroup).parent = parent;
          parent.children.push(r as BgpHostGroup | BgpRouterGroup);
          for (const [i, own] of rs.entries()) {
            for (const up of parent.routers) {
              if (up.asn === own.asn) throw invalid(`${f}.peers[${i}].asn: ${own.asn} is also the AS of router ${up.name ?? up.ip} of '${parent.label}'; only eBGP sessions are supported`);
            }
          }
        }
      }
      out.groups.push(r);
      out.byKey.set(g.key, r);
      here = r;
    } else if (enclosing?.type === 'bgp' && enclosing.members === 'routers' && g.parent?.key === enclosing.key) {
      throw invalid(`${groupField(g.key)}.routing: group '${labelOf(g)}' sits in '${enclosing.label}', whose members are routers: it needs bgp routing with its own peers`);
    }
    if (g.leaf) out.ofLeaf.set(g.key, here);
    for (const c of g.children) visit(c, here);
  };
  for (const t of layout.topologies) {
    if (t.root.leaf) out.ofLeaf.set(t.root.key, undefined);
    for (const c of t.root.children) visit(c, undefined);
  }

  checkRouterNames(out);
  checkVpcLimits(out, layout);
  return out;
}

function hasRoutedDescendant(g: Group, specs: Map<string, RoutingSpec>): boolean {
  return g.children.some((c) => specs.has(c.key) || hasRoutedDescendant(c, specs));
}

/** A router named in several groups is one router: one AS. */
function checkRouterNames(r: Routing): void {
  const asnOf = new Map<string, { asn: number; label: string }>();
  for (const g of r.groups) {
    if (g.type !== 'bgp') continue;
    g.routers.forEach((rt, i) => {
      for (const id of [rt.name && `name ${rt.name}`, `ip ${rt.ip}`]) {
        if (!id) continue;
        const seen = asnOf.get(id);
        if (seen && seen.asn !== rt.asn) {
          throw invalid(`${g.field}.peers[${i}].asn: router ${rt.name ?? rt.ip} has AS ${seen.asn} in group '${seen.label}'`);
        }
        asnOf.set(id, { asn: rt.asn, label: g.label });
      }
    });
  }
}

/** One route per vpc group and network; each route table has a limit, which must hold them all. */
function checkVpcLimits(r: Routing, layout: Layout): void {
  const tables = new Map<string, { routes: number; limit: number; first: VpcGroup }>();
  const networksOf = new Map(layout.topologies.map((t) => [t.index, t.networks.length]));
  for (const g of r.groups) {
    if (g.type !== 'vpc') continue;
    const table = g.routeTable ?? '(default)';
    const t = tables.get(table) ?? { routes: 0, limit: g.routeLimit, first: g };
    if (t.limit !== g.routeLimit) {
      throw invalid(`${g.field}.route_limit: ${g.routeLimit}, but group '${t.first.label}' gives route table ${table} a limit of ${t.limit}`);
    }
    t.routes += networksOf.get(Number(g.key.split(':')[0])) ?? 1;
    tables.set(table, t);
  }
  for (const [table, t] of tables) {
    if (t.routes > t.limit) {
      throw invalid(`${t.first.field}: the vpc groups need ${t.routes} routes in route table ${table}, over its limit of ${t.limit} (route_limit)`);
    }
  }
}

/** The routed group of a host's leaf in each topology it is placed in. */
export function groupsOfHost(r: Routing, leaves: string[]): RoutedGroup[] {
  return leaves.map((k) => r.ofLeaf.get(k)).filter((g): g is RoutedGroup => g !== undefined);
}

/**
 * Whether a host routes to another host's block itself: yes when the block's group publishes by host
 * routes (or has no setting), or when both hosts are members of the same routed group (L2 neighbours);
 * otherwise the fabric (BGP routers, a VPC route table) carries it.
 */
export function routesItself(r: Routing, ownLeaf: string | undefined, blockLeaf: string | undefined): boolean {
  const theirs = blockLeaf === undefined ? undefined : r.ofLeaf.get(blockLeaf);
  if (!theirs || theirs.type === 'host-routes') return true;
  const mine = ownLeaf === undefined ? undefined : r.ofLeaf.get(ownLeaf);
  return mine?.key === theirs.key;
}

export const cidrText = (g: RoutedGroup): string[] => Object.values(g.cidrs).map(formatCidr);
