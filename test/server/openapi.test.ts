// Every route's actual answers against the OpenAPI document (in-process, real Fastify, real embedded
// store): the success answer of a valid request, and the errors each route can give (400 unknown query
// parameter, 401 no token, 403 a role that may not, 404 a missing object, 413 a body over the limit,
// 415 a wrong media type, 429 over the rate, 503 the store down). Each answer's status must be
// documented for that operation and its body must match the documented schema; each documented
// 401/403/413/415/429/503 must actually happen. Every registered route must be in the document.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { RomanaError } from '../../src/core/errors.js';
import { Control } from '../../src/control/control.js';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { Authenticator } from '../../src/server/auth.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

const T = {
  admin: 'admin-token-0123456789', agent1: 'agent1-token-0123456789', cni1: 'cni1-token-0123456789ab', cni2: 'cni2-token-0123456789ab',
  readonly: 'readonly-token-0123456789',
};
const AUTH = new Authenticator({
  tokens: [
    { token: T.admin, role: 'admin' }, { token: T.agent1, role: 'agent', host: 'h1' },
    { token: T.cni1, role: 'cni', host: 'h1' }, { token: T.cni2, role: 'cni', host: 'h2' }, { token: T.readonly, role: 'readonly' },
  ],
});
const ROLES = Object.values(T);

/** A store that can be taken down (every call then fails as an unreachable etcd does), and replaced. */
function switchable(first: Store): Store & { down: boolean; inner: Store } {
  const s = { down: false, inner: first, backend: first.backend } as Store & { down: boolean; inner: Store };
  for (const m of ['get', 'list', 'put', 'delete', 'read', 'txn', 'revision', 'watch'] as const) {
    (s as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      if (s.down) return Promise.reject(new RomanaError('unavailable', 'store down (test)'));
      return (s.inner[m] as (...x: unknown[]) => unknown).apply(s.inner, a);
    };
  }
  s.close = () => s.inner.close();
  return s;
}

interface App { app: FastifyInstance; store: Store & { down: boolean; inner: Store }; reset(): Promise<void>; close(): Promise<void> }

/** An app on a seeded store; `reset` seeds a fresh store under the same app (building an app is the slow part). */
async function seeded(opts: Partial<AppOptions> = {}): Promise<App> {
  const store = switchable(await openStore({}));
  const app = await buildApp({ rateLimit: false, auth: AUTH, ...opts, control: new Control(store) });
  let n = 0;
  const call = async (method: string, url: string, payload?: unknown) => {
    const r = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${T.admin}` }, ...(payload === undefined ? {} : { payload: payload as object }), remoteAddress: `10.0.${++n >> 8}.${n & 255}` });
    assert.ok(r.statusCode < 300, `seeding ${method} ${url}: ${r.statusCode} ${r.body}`);
  };
  const seed = async () => {
    await call('POST', '/topology', { networks: [{ name: 'n', cidr: '10.112.0.0/16' }], topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [] }, { name: 'r2', groups: [] }] }] });
    await call('POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    await call('POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
    await call('POST', '/address', { name: 'pod-a', host: 'h1', tenant: 'web' });
    await call('POST', '/address', { name: 'pod-b', host: 'h2', tenant: 'web' });
    await call('POST', '/blackouts', { cidr: '10.112.255.0/24' });
    await call('POST', '/policies', { id: 'web-in', direction: 'ingress', applied_to: [{ tenant: 'web' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] });
    await call('PUT', '/namespaces/web', { labels: { env: 'prod' } });
    await call('PUT', '/pods/web/a', { labels: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }], host: 'h1' }); // a cni token of h2 may not read it
    await call('PUT', '/hosts/h1/status', { interfaces: ['eth0'], last_applied_revision: 1 });
  };
  await seed();
  return {
    app, store,
    reset: async () => {
      const old = store.inner;
      store.inner = await openStore({});
      await old.close();
      await seed();
    },
    close: async () => { await app.close(); await store.close(); },
  };
}

interface Sample {
  url: string; body?: unknown; missing?: string; stream?: boolean;
  /** For a stream: the tokens it lets in (their answer never ends), default admin and agent. */
  letIn?: string[];
  /** The valid request's body, when it depends on the seeded state. */
  valid?: (a: App) => Promise<unknown>;
}
/** A valid request for every operation, and (for routes naming an object) a URL naming a missing one. */
const SAMPLES: Record<string, Sample> = {
  'GET /topology': { url: '/topology' },
  'POST /topology': { url: '/topology', body: { networks: [{ name: 'n', cidr: '10.112.0.0/16' }], topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [] }, { name: 'r2', groups: [] }] }] } },
  'GET /networks': { url: '/networks' },
  'GET /hosts': { url: '/hosts' },
  'POST /hosts': { url: '/hosts', body: { name: 'h3', ip: '192.168.0.3' } },
  'GET /hosts/{name}': { url: '/hosts/h1', missing: '/hosts/nope' },
  'PUT /hosts/{name}': { url: '/hosts/h1', body: { labels: { a: 'b' } }, missing: '/hosts/nope' },
  'PATCH /hosts/{name}': { url: '/hosts/h1', body: { labels: { a: 'b', gone: null } }, missing: '/hosts/nope' },
  'DELETE /hosts/{name}': { url: '/hosts/h1?force=true', missing: '/hosts/nope' },
  'POST /address': { url: '/address', body: { name: 'pod-c', host: 'h1', tenant: 'web' } },
  'DELETE /address': { url: '/address?addressName=pod-a', missing: '/address?addressName=nope' },
  'GET /address/{name}': { url: '/address/pod-a', missing: '/address/nope' },
  'GET /addresses': { url: '/addresses?host=h1' },
  'GET /blocks': { url: '/blocks' },
  'GET /blackouts': { url: '/blackouts' },
  'POST /blackouts': { url: '/blackouts', body: { cidr: '10.112.254.0/24' } },
  'DELETE /blackouts': { url: '/blackouts?cidr=10.112.255.0/24', missing: '/blackouts?cidr=10.112.253.0/24' },
  'GET /policies': { url: '/policies' },
  'POST /policies': { url: '/policies', body: { id: 'p2', direction: 'ingress', applied_to: [{ tenant: 'web' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [81] }] }] } },
  'GET /policies/{id}': { url: '/policies/web-in', missing: '/policies/nope' },
  'DELETE /policies/{id}': { url: '/policies/web-in', missing: '/policies/nope' },
  'GET /namespaces': { url: '/namespaces' },
  'PUT /namespaces/{name}': { url: '/namespaces/shop', body: { labels: { env: 'dev' } } },
  'DELETE /namespaces/{name}': { url: '/namespaces/web', missing: '/namespaces/nope' },
  'GET /pods': { url: '/pods' },
  'GET /pods/{namespace}/{name}': { url: '/pods/web/a', missing: '/pods/web/nope' },
  'PUT /pods/{namespace}/{name}': { url: '/pods/web/b', body: { labels: { app: 'x' } } },
  'DELETE /pods/{namespace}/{name}': { url: '/pods/web/a', missing: '/pods/web/nope' },
  'GET /store/list': { url: '/store/list?prefix=/romana/hosts/' },
  'GET /store/watch': { url: '/store/watch?prefix=/romana/&from=1', stream: true },
  'PUT /hosts/{name}/status': { url: '/hosts/h1/status', body: { interfaces: ['eth0'], last_applied_revision: 2 }, missing: '/hosts/nope/status' },
  'GET /hosts/{name}/status': { url: '/hosts/h1/status', missing: '/hosts/h2/status' },
  'GET /ipam/check': { url: '/ipam/check' },
  'POST /ipam/repair': { url: '/ipam/repair', body: {} },
  'POST /ipam/release': {
    url: '/ipam/release', body: { name: 'pod-a', ip: '10.112.0.0', created_at: '' },
    valid: async (a) => {
      const rec = (await a.app.inject({ method: 'GET', url: '/address/pod-a', headers: { authorization: `Bearer ${T.admin}` } })).json();
      return { name: rec.name, ip: rec.ip, created_at: rec.created_at };
    },
  },
  'POST /policies/simulate': { url: '/policies/simulate', body: { probes: [{ from: 'web/pod-a', to: 'web/pod-b', port: 80, protocol: 'TCP' }], explain: true } },
  'GET /agents': { url: '/agents' },
  'GET /agents/events': { url: '/agents/events', stream: true, letIn: [T.admin, T.agent1, T.readonly] },
  'GET /whoami': { url: '/whoami' },
  'GET /healthz': { url: '/healthz' },
  'GET /metrics': { url: '/metrics' },
  'GET /version': { url: '/version' },
  'GET /status': { url: '/status' },
  'GET /readyz': { url: '/readyz' },
};

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> };
let doc: Doc;
const ajv = new Ajv({ strict: false, allErrors: false });

function check(op: string, documented: Doc['paths'][string][string], what: string, r: { statusCode: number; body: string; headers: Record<string, unknown> }): number {
  const status = r.statusCode;
  const d = documented.responses[String(status)];
  assert.ok(d, `${op}: ${what} answered ${status} (${r.body.slice(0, 200)}), which the document does not list (it lists ${Object.keys(documented.responses).join(', ')})`);
  const schema = d.content?.['application/json']?.schema;
  if (schema && String(r.headers['content-type'] ?? '').startsWith('application/json')) {
    const validate = ajv.compile({ components: (doc as { components?: object }).components, allOf: [schema] }); // refs point into the document
    assert.ok(validate(JSON.parse(r.body)), `${op}: ${what}: the ${status} body does not match the document: ${ajv.errorsText(validate.errors)}: ${r.body.slice(0, 300)}`);
  }
  return status;
}

before(async () => {
  const s = await seeded();
  doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  await s.close();
});

describe('the OpenAPI document', () => {
  it('lists every registered route (but itself), /healthz and /readyz among them', async () => {
    const s = await seeded();
    try {
      const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
      for (const r of s.app.routeTable) {
        // The console's files (/ui/) are a web page, not API.
        if (r.method === 'HEAD' || r.url === '/openapi.json' || (r.hidden && (r.url === '/ui' || r.url.startsWith('/ui/')))) continue;
        const key = `${r.method} ${r.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
        assert.ok(documented.has(key), `${key} is not in the OpenAPI document`);
      }
      for (const k of ['GET /healthz', 'GET /readyz', 'GET /metrics']) assert.ok(documented.has(k), k);
    } finally {
      await s.close();
    }
  });
  it('answers no list as a bare array: items go under a named key (with a revision where one exists)', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        for (const [st, r] of Object.entries(op.responses)) {
          const schema = r.content?.['application/json']?.schema as { type?: string } | undefined;
          assert.notEqual(schema?.type, 'array', `${m.toUpperCase()} ${p} answers ${st} with a bare array`);
        }
      }
    }
  });
  it('has a sample request here for every operation (add one when adding a route)', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) assert.ok(SAMPLES[`${m.toUpperCase()} ${p}`], `no sample for ${m.toUpperCase()} ${p} in test/server/openapi.test.ts`);
    }
  });
});

describe('every operation answers only what the document lists', () => {
  let s: App;
  let big: App;
  let limited: App;
  before(async () => {
    s = await seeded();
    big = await seeded({ bodyLimit: 2048 });
    limited = await seeded({ rateLimit: { max: 1, windowMs: 60_000 } });
  });
  after(async () => {
    await s.close();
    await big.close();
    await limited.close();
  });

  for (const [op, sample] of Object.entries(SAMPLES)) {
    it(op, async () => {
      const [method, path] = op.split(' ');
      const documented = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(documented, `${op} is not in the document`);
      const listed = new Set(Object.keys(documented.responses).map(Number));
      const seen = new Set<number>();
      await s.reset();
      let ip = 1;
      const send = async (a: App, what: string, o: Partial<InjectOptions> & { token?: string; url: string }) => {
        const { token, ...rest } = o;
        const r = await a.app.inject({
          method: method as 'GET', remoteAddress: `10.1.0.${ip++ % 250}`, ...rest,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(rest.headers ?? {}) },
          ...(sample.body !== undefined && rest.payload === undefined ? { payload: sample.body as object } : {}),
        });
        seen.add(check(op, documented, what, r));
        return r;
      };
      try {
        const sep = sample.url.includes('?') ? '&' : '?';
        const bad = await send(s, 'an unknown query parameter', { url: `${sample.url}${sep}zz_unknown=1`, token: T.admin });
        assert.equal(bad.statusCode, 400);
        assert.match(bad.json().message, /zz_unknown/);
        await send(s, 'no token', { url: sample.url });
        for (const token of ROLES) {
          if (sample.stream && (sample.letIn ?? [T.admin, T.agent1]).includes(token)) continue; // a watch that is let in streams forever
          await send(s, `token ${token.split('-')[0]}`, { url: sample.url, token });
        }
        if (sample.missing) assert.equal((await send(s, 'a missing object', { url: sample.missing, token: T.admin })).statusCode, 404);
        if (method !== 'GET') {
          await send(s, 'a wrong media type', { url: sample.url, token: T.admin, payload: '<x/>', headers: { 'content-type': 'application/xml' } });
          await send(big, 'a body over the limit', { url: sample.url, token: T.admin, payload: JSON.stringify({ pad: 'x'.repeat(4096) }), headers: { 'content-type': 'application/json' } });
        }
        const from = { remoteAddress: '10.2.0.1' };
        await send(limited, 'a first request', { url: sample.url, ...from });
        assert.equal((await send(limited, 'a request over the rate', { url: sample.url, ...from })).statusCode, 429);
        s.store.down = true;
        await send(s, 'the store down', { url: sample.url, token: T.admin });
        s.store.down = false;
        if (!sample.stream) {
          await s.reset();
          const r = await send(s, 'a valid request', { url: sample.url, token: T.admin, ...(sample.valid ? { payload: (await sample.valid(s)) as object } : {}) });
          assert.ok(r.statusCode >= 200 && r.statusCode < 300, `${op}: the sample answered ${r.statusCode} ${r.body}`);
        }
        for (const st of [401, 403, 413, 415, 429, 503]) {
          if (listed.has(st)) assert.ok(seen.has(st), `${op}: the document lists ${st}, which never happened here (statuses seen: ${[...seen].sort().join(', ')})`);
        }
      } finally {
        s.store.down = false;
      }
    });
  }
});
