// An in-process romanad (real Fastify, real in-memory SQLite) seeded with a topology, hosts, addresses,
// a blackout, namespace and pod metadata and policies, and a byte-for-byte snapshot of its store.
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

export interface Seeded {
  app: FastifyInstance;
  store: Store;
  /** Every key, value and revision under /romana/, and the store revision, as one string. */
  snapshot(): Promise<string>;
  close(): Promise<void>;
}

export const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 29 }, { name: 'infra', cidr: '10.250.0.0/24', block_mask: 30, tenants: ['ops'] }],
  topologies: [
    { networks: ['pods'], map: [{ name: 'rack-1', assignment: { rack: 'r1' }, groups: [] }, { name: 'rack-2', assignment: { rack: 'r2' }, groups: [] }] },
    { networks: ['infra'], map: [{ name: 'all', groups: [] }] },
  ],
};

export const ROMANA_POLICY = {
  id: 'web-in', direction: 'ingress', description: 'web from the front tenant',
  applied_to: [{ tenant: 'web', segment: 'front' }],
  ingress: [{ peers: [{ tenant: 'web' }, { cidr: '10.0.0.0/8' }], rules: [{ protocol: 'tcp', ports: [80, 443], port_ranges: [[8000, 8080]] }, { protocol: 'icmp', icmp_type: 8 }] }],
};

export const NETWORK_POLICY = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
  metadata: { name: 'db', namespace: 'data', labels: { team: 'x' } },
  spec: {
    podSelector: { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } }, namespaceSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ protocol: 'TCP', port: 5432 }, { port: 'metrics' }, { port: 9000, endPort: 9100 }] }],
    egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] }],
  },
};

export async function seededApp(opts: Partial<AppOptions> = {}): Promise<Seeded> {
  const store = await openStore({});
  const app = await buildApp({ ...opts, control: new Control(store) });
  const call = async (method: string, url: string, payload?: unknown) => {
    const r = await app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }), headers: opts.auth ? { authorization: `Bearer ${SEED_TOKEN}` } : {} });
    assert.ok(r.statusCode < 300, `seeding ${method} ${url}: ${r.statusCode} ${r.body}`);
  };
  await call('POST', '/topology', TOPOLOGY);
  await call('POST', '/hosts', { name: 'h1', ip: '192.168.0.1', labels: { rack: 'r1' } });
  await call('POST', '/hosts', { name: 'h2', ip: '192.168.0.2', labels: { rack: 'r2' } });
  await call('POST', '/address', { name: 'pod-a', host: 'h1', tenant: 'web', segment: 'front' });
  await call('POST', '/address', { name: 'pod-b', host: 'h2', tenant: 'ops' });
  await call('POST', '/blackouts', { cidr: '10.112.255.0/24' });
  await call('POST', '/policies', ROMANA_POLICY);
  await call('POST', '/policies', NETWORK_POLICY);
  await call('PUT', '/namespaces/web', { labels: { env: 'prod' } });
  await call('PUT', '/pods/web/a', { labels: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
  return {
    app, store,
    snapshot: async () => {
      const r = await store.list('/romana/');
      return JSON.stringify({ revision: r.revision, items: r.items });
    },
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

/** The bearer token the seeding uses when the app is built with auth (see http.test.ts). */
export const SEED_TOKEN = 'seed-admin-token';
