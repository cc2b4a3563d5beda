// Layout networks as the agent sees them, from the topology key of its copy of the store. Pure.
// In a network with Romana's host/tenant/segment layout every endpoint of a host lies in the host's
// CIDR, so one route per remote host covers them all (instead of one per block).
import { type LayoutNetwork, checkLayout, hostCidr, maxId } from '../core/ipam/address-layout.js';
import { formatCidr, tryParseCidr } from '../core/net/ipv4.js';
import type { NetworkLayout } from '../core/topology/schema.js';
import { TOPOLOGY } from '../control/keys.js';
import type { HostRecord } from '../control/records.js';
import type { TopologyRecord } from '../control/state.js';

interface StoredDocument {
  networks?: { name: string; cidr: string; layout?: NetworkLayout }[];
  topologies?: { networks: string[] }[];
}

export interface LayoutView {
  networks: LayoutNetwork[];
  /** One route target per host (with an ID) per layout network it is placed in. */
  hostCidrs: { dst: string; host: string; hostIp: string }[];
}

export function layoutView(snapshot: ReadonlyMap<string, string>, hosts: HostRecord[], problems: string[]): LayoutView {
  const text = snapshot.get(TOPOLOGY);
  if (!text) return { networks: [], hostCidrs: [] };
  let rec: TopologyRecord;
  try {
    rec = JSON.parse(text) as TopologyRecord;
  } catch {
    problems.push(`${TOPOLOGY}: not JSON`);
    return { networks: [], hostCidrs: [] };
  }
  const doc = (rec.document ?? {}) as StoredDocument;
  const networks: LayoutNetwork[] = [];
  for (const n of doc.networks ?? []) {
    if (!n.layout) continue;
    const cidr = tryParseCidr(n.cidr, true);
    try {
      if (!cidr) throw new Error(`'${n.cidr}' is not a CIDR`);
      networks.push({ name: n.name, cidr, layout: checkLayout(n.layout, cidr.prefix, 'layout') });
    } catch (e) {
      problems.push(`network ${n.name}: ${(e as Error).message}`);
    }
  }
  const hostCidrs: LayoutView['hostCidrs'] = [];
  if (networks.length === 0) return { networks, hostCidrs };
  for (const h of hosts) {
    if (h.id === undefined) continue;
    for (const leaf of rec.placements?.[h.name] ?? []) {
      for (const name of doc.topologies?.[Number(leaf.split(':')[0])]?.networks ?? []) {
        const net = networks.find((x) => x.name === name);
        if (!net) continue;
        if (!Number.isInteger(h.id) || h.id < 1 || h.id > maxId(net.layout, 'host')) {
          problems.push(`host ${h.name}: id ${h.id} does not fit network ${net.name}`);
          continue;
        }
        hostCidrs.push({ dst: formatCidr(hostCidr(net, h.id)), host: h.name, hostIp: h.ip });
      }
    }
  }
  return { networks, hostCidrs };
}
