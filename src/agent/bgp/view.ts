// The host's view of route publishing, from the agent's copy of the store (the same snapshot as the
// rest of its desired state). Pure. It says which remote blocks the host routes to itself (host-routes
// groups, and L2 neighbours in its own routed group; the fabric carries the rest) and what the host
// announces over BGP.
import { TOPOLOGY, hostBlocksPrefix, hostKey } from '../../control/keys.js';
import type { HostRecord } from '../../control/records.js';
import type { TopologyRecord } from '../../control/state.js';
import { type HostBgp, type OwnBlock, hostBgp } from '../../core/routing/bgp.js';
import { type Routing, routesItself, routingOf } from '../../core/routing/topology.js';
import { cidrContains, tryParseCidr } from '../../core/net/ipv4.js';
import { type Layout, parseTopology } from '../../core/topology/layout.js';
import type { Snapshot } from '../desired.js';

export interface FabricView {
  /** The store holds a topology (without one, nothing is known and BGP is left as it is). */
  known: boolean;
  /** Whether this host routes to `dst` (a block of `host`) itself. */
  routesItself(dst: string, host: string): boolean;
  /** This host's BGP; undefined when none of its groups routes by BGP. */
  bgp?: HostBgp;
  problems: string[];
}

interface Parsed { value: string; layout: Layout; routing: Routing; placements: TopologyRecord['placements'] }
let cache: Parsed | undefined;

/** The topology record, parsed once per stored value. */
function topologyOf(value: string): Parsed {
  if (cache?.value === value) return cache;
  const rec = JSON.parse(value) as TopologyRecord;
  const layout = parseTopology(rec.document);
  cache = { value, layout, routing: routingOf(layout), placements: rec.placements ?? {} };
  return cache;
}

const everything: FabricView = { known: false, routesItself: () => true, problems: [] };

export function fabricView(snapshot: Snapshot, host: string): FabricView {
  const value = snapshot.get(TOPOLOGY);
  if (value === undefined) return everything;
  let t: Parsed;
  try {
    t = topologyOf(value);
  } catch (e) {
    return { ...everything, problems: [`${TOPOLOGY}: ${(e as Error).message}`] };
  }
  const problems: string[] = [];
  const leafIn = (h: string, dst: string) => (t.placements[h] ?? []).find((k) => {
    const c = tryParseCidr(dst, false);
    const g = t.layout.groupsByKey.get(k);
    return c !== undefined && g !== undefined && Object.values(g.cidrs).some((gc) => cidrContains(gc, c));
  });
  const mine = t.placements[host] ?? [];
  const sameTopology = (leaf: string) => mine.find((k) => k.split(':')[0] === leaf.split(':')[0]);
  const view: FabricView = {
    known: true,
    problems,
    routesItself: (dst, other) => {
      const theirs = leafIn(other, dst);
      return routesItself(t.routing, theirs && sameTopology(theirs), theirs);
    },
  };
  const rec = snapshot.get(hostKey(host));
  if (rec === undefined) return view; // removed (the topology is there): withdraw everything
  let me: HostRecord;
  try {
    me = JSON.parse(rec) as HostRecord;
  } catch {
    return { ...view, known: false, problems: [`${hostKey(host)}: not JSON`] };
  }
  const blocks: OwnBlock[] = [];
  const prefix = hostBlocksPrefix(host);
  for (const [k, v] of snapshot) {
    if (!k.startsWith(prefix)) continue;
    try {
      const b = JSON.parse(v) as OwnBlock;
      if (tryParseCidr(b.cidr) !== undefined) blocks.push({ cidr: b.cidr, network: b.network, tenant: b.tenant, segment: b.segment });
      else problems.push(`${k}: not a CIDR`);
    } catch {
      problems.push(`${k}: not JSON`);
    }
  }
  try {
    const bgp = hostBgp(t.layout, t.routing, { name: host, ip: me.ip }, mine, blocks.sort((a, b) => (a.cidr < b.cidr ? -1 : 1)));
    return { ...view, bgp: bgp.sessions.length ? bgp : undefined };
  } catch (e) {
    return { ...view, known: false, problems: [...problems, `bgp: ${(e as Error).message}`] };
  }
}
