// What the console tests (and bench/ui) put into romanad: a topology of zones and racks, hosts, a
// blackout, and a public NetworkPolicy case as live endpoints (addresses with pod attributes, pod and
// namespace metadata, policies), so the live matrix can be compared with `romana policy simulate`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '../../src/cli/client.js';
import { ROOT } from '../helpers/romanad.js';

export const NETPOL_DIR = join(ROOT, '..', 'shared', 'conformance', 'netpol');

export interface NetpolCase {
  id: string;
  title: string;
  cluster: {
    namespaces: { name: string; labels: Record<string, string> }[];
    pods: { namespace: string; name: string; labels: Record<string, string>; ip: string; ports: { name?: string; port: number; protocol: string }[] }[];
    externals: { name: string; ip: string }[];
    policies: Record<string, unknown>[];
  };
}

export const netpolCase = (id: string): NetpolCase => JSON.parse(readFileSync(join(NETPOL_DIR, `${id}.json`), 'utf8')) as NetpolCase;

export function topology(zones: number, racksPerZone: number) {
  return {
    networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 29 }],
    topologies: [{
      networks: ['pods'],
      map: Array.from({ length: zones }, (_, z) => ({
        name: `zone-${String.fromCharCode(97 + z)}`,
        groups: Array.from({ length: racksPerZone }, (_, r) => ({ name: `rack-${z * racksPerZone + r + 1}`, assignment: { rack: `r${z * racksPerZone + r + 1}` }, groups: [] })),
      })),
    }],
  };
}

/** Runs `f` over `items`, `n` at a time. */
export async function inParallel<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await f(items[next++]);
  }));
}

export interface Seeded { hosts: string[]; addresses: { name: string; ip: string; host: string; block: string; pod: string }[]; blackout: string }

/** 2 zones x 2 racks... (6 hosts), one blackout, and the case's pods as live endpoints on those hosts. */
export async function seedCase(api: ApiClient, c: NetpolCase): Promise<Seeded> {
  await api.post('/topology', topology(2, 2));
  const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
  for (const [i, h] of hosts.entries()) await api.post('/hosts', { name: h, ip: `192.168.10.${i + 1}`, labels: { rack: `r${(i % 4) + 1}` } });
  const blackout = '10.112.240.0/24';
  await api.post('/blackouts', { cidr: blackout });
  for (const n of c.cluster.namespaces) await api.put(`/namespaces/${n.name}`, { labels: n.labels });
  const addresses: Seeded['addresses'] = [];
  for (const [i, p] of c.cluster.pods.entries()) {
    await api.put(`/pods/${p.namespace}/${p.name}`, { labels: p.labels, ports: p.ports });
    const a = await api.post<{ name: string; ip: string; host: string; block: string }>('/address', {
      name: `${p.namespace}-${p.name}`, host: hosts[i % hosts.length], tenant: p.namespace, segment: p.name === 'a' ? 'front' : 'back',
      attributes: { namespace: p.namespace, pod: p.name },
    });
    addresses.push({ ...a, pod: `${p.namespace}/${p.name}` });
  }
  for (const pol of c.cluster.policies) await api.post('/policies', pol);
  return { hosts, addresses, blackout };
}

/** `hosts` hosts over 4 zones x 4 racks, each with `blocksPerHost` blocks (one address per owner). */
export async function seedLarge(api: ApiClient, hosts: number, blocksPerHost: number): Promise<void> {
  await api.post('/topology', topology(4, 4));
  const names = Array.from({ length: hosts }, (_, i) => `host-${String(i + 1).padStart(3, '0')}`);
  await inParallel(names, 8, (h) => api.post('/hosts', { name: h, ip: `192.168.${Math.floor(names.indexOf(h) / 250)}.${(names.indexOf(h) % 250) + 1}`, labels: { rack: `r${(names.indexOf(h) % 16) + 1}` } }));
  const allocs = names.flatMap((h) => Array.from({ length: blocksPerHost }, (_, k) => ({ name: `${h}-pod-${k}`, host: h, tenant: `tenant-${k % 8}`, segment: `seg-${Math.floor(k / 8)}` })));
  await inParallel(allocs, 16, (a) => api.post('/address', a));
}

/** Busier hosts for the map: tenants web and db, segments front and back, 1-4 addresses each (not pods of the case). */
export async function seedBusy(api: ApiClient, hosts: string[]): Promise<number> {
  const allocs = hosts.flatMap((h, i) => ['web', 'db'].flatMap((tenant, t) => ['front', 'back'].flatMap((segment, g) =>
    Array.from({ length: 1 + ((i + t * 2 + g * 3) % 4) }, (_, k) => ({ name: `${h}-${tenant}-${segment}-${k}`, host: h, tenant, segment })))));
  await inParallel(allocs, 8, (a) => api.post('/address', a));
  return allocs.length;
}
