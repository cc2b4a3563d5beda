// The API the console stands on, in-process on the real Fastify app and an in-memory store: the static
// console (types, caching, CSP), GET /whoami, POST /policies/simulate (live and file, the same answers as
// the policy core), GET /agents and the /agents/events stream (pushed on a report, and when a report
// goes stale with nothing else happening), and who may call them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { hostStatusKey } from '../../src/control/keys.js';
import { Control } from '../../src/control/control.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { explain, simulate } from '../../src/core/policy/evaluate.js';
import { buildApp } from '../../src/server/app.js';
import { Authenticator } from '../../src/server/auth.js';
import { CSP } from '../../src/server/routes/ui.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { netpolCase, topology } from '../ui/seed.js';

const T = { admin: 'admin-token-0123456789', readonly: 'readonly-token-0123456789', agent: 'agent-h1-token-0123456789', cni: 'cni-token-0123456789ab' };
const AUTH = new Authenticator({
  tokens: [{ token: T.admin, role: 'admin', name: 'ops' }, { token: T.readonly, role: 'readonly' }, { token: T.agent, role: 'agent', host: 'h1' }, { token: T.cni, role: 'cni', host: 'h1' }],
});
const CASE = netpolCase('np06-namespace-by-label');

let app: FastifyInstance;
let store: Store;
let uiDir: string;
const audited: { url: string; status: number }[] = [];

async function req(token: string | undefined, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await app.inject({ method: method as 'GET', url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, ...(body !== undefined ? { payload: body as object } : {}) });
  let json: unknown;
  try {
    json = JSON.parse(r.body);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, body: json as Record<string, any>, raw: r.body, headers: r.headers };
}
const ok = async (method: string, url: string, body?: unknown, token = T.admin) => {
  const r = await req(token, method, url, body);
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${r.raw}`);
  return r.body;
};

before(async () => {
  uiDir = mkdtempSync(join(tmpdir(), 'romana-ui-dir-'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>t</title><script type="module" src="app-ABCDEFGH.js"></script>');
  writeFileSync(join(uiDir, 'app-ABCDEFGH.js'), 'console.log(1)');
  writeFileSync(join(uiDir, 'app-ABCDEFGH.css'), 'body{}');
  store = await openStore({});
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) audited.push(JSON.parse(l)); cb(); } });
  app = await buildApp({ control: new Control(store), auth: AUTH, rateLimit: false, uiDir, audit: pino(sink) });
  await ok('POST', '/topology', topology(1, 2));
  await ok('POST', '/hosts', { name: 'h1', ip: '192.168.0.1', labels: { rack: 'r1' } });
  await ok('POST', '/hosts', { name: 'h2', ip: '192.168.0.2', labels: { rack: 'r2' } });
  for (const n of CASE.cluster.namespaces) await ok('PUT', `/namespaces/${n.name}`, { labels: n.labels });
  for (const [i, p] of CASE.cluster.pods.entries()) {
    await ok('PUT', `/pods/${p.namespace}/${p.name}`, { labels: p.labels, ports: p.ports });
    await ok('POST', '/address', { name: `${p.namespace}-${p.name}`, host: i % 2 ? 'h2' : 'h1', tenant: p.namespace, attributes: { namespace: p.namespace, pod: p.name } });
  }
  for (const pol of CASE.cluster.policies) await ok('POST', '/policies', pol);
});
after(async () => {
  await app.close();
  await store.close();
  rmSync(uiDir, { recursive: true, force: true });
});

describe('the console files', () => {
  it('serves index.html revalidated and the hashed bundles cached for good, each with the CSP', async () => {
    const index = await req(undefined, 'GET', '/ui/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['content-security-policy'], CSP);
    assert.match(CSP, /default-src 'none'/);
    assert.doesNotMatch(CSP, /unsafe|https?:|\*/, 'nothing but this origin');
    const js = await req(undefined, 'GET', '/ui/app-ABCDEFGH.js');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    assert.equal((await req(undefined, 'GET', '/ui/app-ABCDEFGH.css')).headers['content-type'], 'text/css; charset=utf-8');
    const again = await req(undefined, 'GET', '/ui/', undefined, { 'if-none-match': String(index.headers.etag) });
    assert.equal(again.status, 304);
    const redirect = await req(undefined, 'GET', '/ui');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/ui/');
  });

  it('answers 404 with the API error for a file it does not have, and says so when the console is not built', async () => {
    // Files come from memory by name, never from a path on disk: dot segments reach nothing.
    for (const path of ['/ui/nope.js', '/ui/../etc/passwd', '/ui/%2e%2e/%2e%2e/etc/passwd', '/ui/sub/index.html', '/ui/.%2findex.html']) {
      const r = await req(undefined, 'GET', path);
      assert.ok(r.status === 404 || r.status === 401, `${path}: ${r.status}`);
      assert.ok(['not_found', 'unauthorized'].includes(r.body.error), path);
    }
    const empty = mkdtempSync(join(tmpdir(), 'romana-ui-empty-'));
    mkdirSync(join(empty, 'x'));
    const bare = await buildApp({ control: new Control(store), uiDir: empty, rateLimit: false });
    const r = await bare.inject({ method: 'GET', url: '/ui/' });
    assert.equal(r.statusCode, 404);
    assert.match(r.json().message, /not built: run `make build`/);
    await bare.close();
    rmSync(empty, { recursive: true, force: true });
  });

  it('is not in the OpenAPI document; the console API is', async () => {
    const paths = Object.keys((await ok('GET', '/openapi.json')).paths);
    assert.ok(!paths.some((p) => p.startsWith('/ui')));
    for (const p of ['/policies/simulate', '/agents', '/agents/events', '/whoami']) assert.ok(paths.includes(p), p);
  });
});

describe('GET /whoami', () => {
  it('names the token, its role, host and access levels', async () => {
    assert.deepEqual(await ok('GET', '/whoami'), { name: 'ops', role: 'admin', access: ['public', 'read', 'inventory', 'pod', 'watch', 'status', 'addresses', 'allocate', 'release', 'cluster', 'admin'] });
    assert.deepEqual((await ok('GET', '/whoami', undefined, T.readonly)).access, ['public', 'read', 'inventory', 'pod', 'addresses']);
    const cni = await ok('GET', '/whoami', undefined, T.cni);
    assert.equal(cni.host, 'h1');
    assert.deepEqual(cni.access, ['public', 'pod', 'addresses', 'allocate', 'release']);
  });
  it('answers 401 without a valid token', async () => {
    for (const t of [undefined, 'not-a-token-0123456789']) {
      const r = await req(t, 'GET', '/whoami');
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'unauthorized');
    }
  });
});

describe('POST /policies/simulate', () => {
  const file = parseCluster(CASE.cluster);
  const key = (r: { from: string; to: string; port: number; protocol: string; allowed: boolean }) => `${r.from} ${r.to} ${r.port}/${r.protocol} ${r.allowed}`;

  it('a cluster file: the same default probes and verdicts as the policy core (romana policy simulate)', async () => {
    for (const cluster of [CASE.cluster, JSON.stringify(CASE.cluster)]) {
      const r = await ok('POST', '/policies/simulate', { cluster }, T.readonly);
      assert.equal(r.source, 'file');
      assert.deepEqual(r.results.map(key), simulate(file).map(key));
      assert.equal(r.endpoints.pods.length, 9);
      assert.deepEqual(r.policies.map((p: { id: string }) => p.id), ['x/allow-client-a-via-ns-selector']);
    }
  });

  it('the live cluster: the store\'s pods, labels and policies give the case\'s verdicts', async () => {
    const r = await ok('POST', '/policies/simulate', {}, T.readonly);
    assert.equal(r.source, 'live');
    assert.ok(r.revision > 0);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.results.map(key), simulate(file).map(key));
  });

  it('explain: each result with the reasons of `romana policy explain`', async () => {
    const probe = { from: 'z/b', to: 'x/a', port: 81, protocol: 'UDP' as const };
    for (const body of [{ cluster: CASE.cluster }, {}]) {
      const r = await ok('POST', '/policies/simulate', { ...body, probes: [probe], explain: true });
      assert.deepEqual(r.results, [explain(file, probe)]);
      assert.equal(r.results[0].allowed, false);
    }
  });

  it('refuses bad input naming the field, and asks for probes when there would be too many', async () => {
    const bad: [unknown, RegExp][] = [
      [{ cluster: 3 }, /^cluster: must be a cluster file/],
      [{ cluster: { pods: [{ namespace: 'x' }] } }, /^cluster\.pods\[0\]/],
      [{ cluster: 'pods: [' }, /^cluster/],
      [{ probes: [{ from: 'x/nobody', to: 'x/a', port: 80, protocol: 'TCP' }] }, /^probes\[0\]\.from: no pod or external named 'x\/nobody'/],
      [{ probes: [{ from: 'x/a', to: 'x/a', port: 0, protocol: 'TCP' }] }, /^probes\[0\]: port 0 is out of range/],
      [{ probes: [{ from: 'x/a', to: 'x/a', port: 80, protocol: 'GRE' }] }, /probes/],
      [{ colour: 'red' }, /colour: is not a known field/],
    ];
    for (const [body, want] of bad) {
      const r = await req(T.admin, 'POST', '/policies/simulate', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error, 'invalid');
      assert.match(r.body.message, want);
    }
    const pods = Array.from({ length: 230 }, (_, i) => ({ namespace: 'x', name: `p${i}`, ip: `10.9.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] }));
    const r = await req(T.admin, 'POST', '/policies/simulate', { cluster: { namespaces: [{ name: 'x' }], pods } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /52900 default probes, more than 50000; ask for fewer with probes/);
  });

  it('is for readers: a cni token is refused, and without a token it is 401; only refusals are audited (it changes nothing)', async () => {
    assert.equal((await req(T.cni, 'POST', '/policies/simulate', {})).status, 403);
    assert.equal((await req(undefined, 'POST', '/policies/simulate', {})).status, 401);
    assert.deepEqual(audited.filter((a) => a.url === '/policies/simulate').map((a) => a.status), [403, 401]);
    assert.ok(audited.some((a) => a.url === '/policies' && a.status === 201), 'changes are audited');
  });
});

describe('the agents view', () => {
  it('judges each report by the interval its agent declares, and says whether it applied the newest change', async () => {
    const status = { interfaces: ['eth0'], last_applied_revision: 1, applied_change_revision: 1, drift_repairs: 2, last_error: 'sync: boom', report_interval_seconds: 5 };
    await ok('PUT', '/hosts/h1/status', status, T.agent);
    const v = await ok('GET', '/agents', undefined, T.readonly);
    const [h1, h2] = v.agents;
    assert.equal(h1.host, 'h1');
    assert.equal(h1.report, 'fresh');
    assert.equal(h1.window_seconds, 15);
    assert.equal(h1.current, false, 'revision 1 is older than the seeded policies');
    assert.deepEqual([h1.drift_repairs, h1.last_error, h1.interfaces], [2, 'sync: boom', 1]);
    assert.deepEqual([h2.host, h2.report, h2.window_seconds], ['h2', 'none', 120]);
    await ok('PUT', '/hosts/h1/status', { ...status, applied_change_revision: v.change_revision }, T.agent);
    assert.equal((await ok('GET', '/agents')).agents[0].current, true);
    // A report older than its window: stale.
    await store.put(hostStatusKey('h2'), JSON.stringify({ host: 'h2', received_at: new Date(Date.now() - 30_000).toISOString(), interfaces: [], last_applied_revision: 0, report_interval_seconds: 10 }));
    assert.equal((await ok('GET', '/agents')).agents[1].report, 'stale');
    assert.equal((await req(T.cni, 'GET', '/agents')).status, 403);
    assert.equal((await req(T.admin, 'GET', '/agents?x=1')).status, 400);
  });

  it('streams it: at once, on a new report, and when a report goes stale with nothing else happening', async () => {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const events: { report: string; received_at?: string }[][] = [];
    const res = await new Promise<IncomingMessage>((ok2) => httpGet(`${url}/agents/events`, { headers: { authorization: `Bearer ${T.readonly}` } }, ok2));
    try {
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (block.startsWith('event: agents')) events.push(JSON.parse(block.split('\ndata: ')[1]).agents);
        }
      });
      const until = async (what: string, f: () => boolean, ms: number) => {
        for (const end = Date.now() + ms; !f() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
        assert.ok(f(), what);
      };
      await until('the first event', () => events.length >= 1, 3000);
      const n = events.length;
      // h2 reports now, with a 1 s interval: fresh for 7 s.
      await store.put(hostStatusKey('h2'), JSON.stringify({ host: 'h2', received_at: new Date(Date.now() - 6000).toISOString(), interfaces: [], last_applied_revision: 0, report_interval_seconds: 1 }));
      await until('an event for the report', () => events.length > n && events[events.length - 1][1].report === 'fresh', 3000);
      await until('an event when it goes stale', () => events[events.length - 1][1].report === 'stale', 4000);
      const forbidden = await new Promise<IncomingMessage>((ok2) => httpGet(`${url}/agents/events`, { headers: { authorization: `Bearer ${T.cni}` } }, ok2));
      assert.equal(forbidden.statusCode, 403);
      forbidden.resume();
    } finally {
      res.destroy();
    }
  });
});
