// GET /metrics on a real app (in-process, real store): requests by route and status, store latency,
// allocations by outcome, errors by kind, and open watch streams, in Prometheus' text format.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

let app: FastifyInstance;
let store: Store;
let url: string;
before(async () => {
  store = await openStore({});
  app = await buildApp({ control: new Control(store), rateLimit: false });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app.close();
  await store.close();
});

/** One sample's value: `name{labels}` exactly as the text format writes it (labels in any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

const call = (method: string, path: string, body?: unknown) =>
  fetch(url + path, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });

it('counts requests, store calls, allocations by outcome, errors by kind and watch clients', async () => {
  await call('POST', '/topology', { networks: [{ name: 'n', cidr: '10.0.0.0/24' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await call('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
  assert.equal((await call('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).status, 201);
  assert.equal((await call('POST', '/address', { name: 'a', host: 'h1', tenant: 't' })).status, 409);
  assert.equal((await call('GET', '/hosts/nope')).status, 404);
  assert.equal((await call('DELETE', '/address?name=a')).status, 200);
  const watching = new AbortController();
  const w = await fetch(`${url}/store/watch?from=1`, { signal: watching.signal });
  assert.equal(w.status, 200);

  const m = await call('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await m.text();
  assert.equal(sample(text, 'romanad_http_requests_total', { route: '/address', method: 'POST', status: '201' }), 1);
  assert.equal(sample(text, 'romanad_http_requests_total', { route: '/address', method: 'POST', status: '409' }), 1);
  assert.equal(sample(text, 'romanad_http_requests_total', { route: '/hosts/:name', method: 'GET', status: '404' }), 1);
  assert.equal(sample(text, 'romanad_address_allocations_total', { outcome: 'allocated' }), 1);
  assert.equal(sample(text, 'romanad_address_allocations_total', { outcome: 'exists' }), 1);
  assert.equal(sample(text, 'romanad_address_releases_total', { outcome: 'released' }), 1);
  assert.equal(sample(text, 'romanad_errors_total', { kind: 'not_found' }), 1);
  assert.equal(sample(text, 'romanad_errors_total', { kind: 'exists' }), 1);
  assert.ok((sample(text, 'romanad_store_operation_duration_seconds_count', { op: 'txn', backend: 'sqlite' }) ?? 0) >= 3, 'store transactions are timed');
  assert.ok((sample(text, 'romanad_http_request_duration_seconds_count', { route: '/address', method: 'POST' }) ?? 0) === 2);
  assert.equal(sample(text, 'romanad_watch_clients'), 1);
  assert.ok(sample(text, 'romanad_process_cpu_user_seconds_total') !== undefined, 'process metrics too');

  watching.abort();
  await w.body?.cancel().catch(() => undefined);
  for (let i = 0; i < 50 && sample(await (await call('GET', '/metrics')).text(), 'romanad_watch_clients') !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(sample(await (await call('GET', '/metrics')).text(), 'romanad_watch_clients'), 0, 'a closed watch is no longer counted');
});
