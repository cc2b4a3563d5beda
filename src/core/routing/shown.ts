// `GET /topology` shows the document with the hosts placed in each leaf. Clients that route along the
// topology (`romana bgp config`, the VPC route publisher) read it back into a layout and the placed
// hosts. Pure.
import { invalid } from '../errors.js';
import { type Layout, parseTopology } from '../topology/layout.js';
import type { PlacedHosts } from './bgp.js';

type Entry = { ip?: unknown; name?: unknown; groups?: Entry[] } & Record<string, unknown>;

export function readShownTopology(shown: unknown): { layout: Layout; hosts: PlacedHosts } {
  const doc = shown as { networks?: unknown; topologies?: { networks?: unknown; map?: Entry[] }[] };
  if (!doc || !Array.isArray(doc.topologies)) throw invalid('topology: not a topology document');
  const hosts = new Map<string, { name: string; ip: string; leaves: string[] }>();
  const strip = (entries: Entry[], key: string): Entry[] => {
    const out: Entry[] = [];
    entries.forEach((e, i) => {
      if (e.ip !== undefined) {
        const name = String(e.name);
        const h = hosts.get(name) ?? { name, ip: String(e.ip), leaves: [] };
        h.leaves.push(key);
        hosts.set(name, h);
        return;
      }
      const child = key.endsWith(':') ? `${key}${i}` : `${key}.${i}`;
      out.push({ ...e, groups: strip(e.groups ?? [], child) });
    });
    return out;
  };
  const stripped = { ...doc, topologies: doc.topologies.map((t, ti) => ({ ...t, map: strip(t.map ?? [], `${ti}:`) })) };
  return { layout: parseTopology(stripped), hosts: [...hosts.values()] };
}
