// Tokens and roles on the real Fastify app (in-process, embedded store in memory): who may do what,
// 401 and 403 change nothing, cni tokens act for their own host only, every change and refusal is in
// the audit log, and the body and rate limits answer with their own kinds.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { Authenticator } from '../../src/server/auth.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

const T = {
  admin: 'admin-token-0123456789',
  agent: 'agent-token-0123456789',
  agent1: 'agent1-token-0123456789',
  cni1: 'cni1-token-0123456789ab',
  cni2: 'cni2-token-0123456789ab',
  readonly: 'readonly-token-0123456789',
};
const AUTH = {
  tokens: [
    { token: T.admin, role: 'admin', name: 'ops' },
    { token: T.agent, role: 'agent' },
    { token: T.agent1, role: 'agent', host: 'h1' },
    { token: T.cni1, role: 'cni', host: 'h1', name: 'cni-h1' },
    { token: T.cni2, role: 'cni', host: 'h2' },
    { token: T.readonly, role: 'readonly' },
  ],
};
const TOPOLOGY = {
  networks: [{ name: 'n', cidr: '10.0.0.0/24', block_mask: 29 }],
  topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [{ name: 'h1', ip: '192.168.0.1' }] }, { name: 'r2', groups: [{ name: 'h2', ip: '192.168.0.2' }] }] }],
};

let app: FastifyInstance;
let store: Store;
const auditLines: Record<string, unknown>[] = [];

async function req(token: string | undefined, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await app.inject({
    method: method as 'GET', url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined, headers: r.headers };
}

async function snapshot(): Promise<string> {
  const r = await store.list('');
  return JSON.stringify([r.revision, r.items.map((i) => [i.key, i.value])]);
}

before(async () => {
  store = await openStore({});
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) auditLines.push(JSON.parse(l)); cb(); } });
  app = await buildApp({ control: new Control(store), auth: new Authenticator(AUTH as never), audit: pino(sink), rateLimit: false });
  assert.equal((await req(T.admin, 'POST', '/topology', TOPOLOGY)).status, 200);
});
after(async () => {
  await app.close();
  await store.close();
});

describe('authentication', () => {
  it('answers 401 without a token, or with a wrong or malformed one, and changes nothing', async () => {
    const before = await snapshot();
    for (const auth of [undefined, 'Bearer wrong-token-0123456789', 'Basic YWRtaW46YWRtaW4=', 'Bearer', `bearer ${T.admin}x`, `Bearer ${T.admin} extra`]) {
      const r = await req(undefined, 'POST', '/address', { name: 'x', host: 'h1', tenant: 't' }, auth ? { authorization: auth } : {});
      assert.equal(r.status, 401, `authorization ${auth}`);
      assert.equal(r.body.error, 'unauthorized');
      assert.equal((await req(undefined, 'GET', '/addresses', undefined, auth ? { authorization: auth } : {})).status, 401);
    }
    assert.equal(await snapshot(), before);
  });

  it('accepts the scheme in any case, and keeps /healthz open', async () => {
    assert.equal((await req(undefined, 'GET', '/addresses', undefined, { authorization: `bearer ${T.readonly}` })).status, 200);
    assert.equal((await req(undefined, 'GET', '/healthz')).status, 200);
  });
});

describe('roles', () => {
  // [role token, method, url, body, expected status]
  const cases: [keyof typeof T, string, string, unknown, number][] = [
    ['readonly', 'GET', '/hosts', undefined, 200],
    ['readonly', 'GET', '/policies', undefined, 200],
    ['readonly', 'GET', '/store/list?prefix=/romana/', undefined, 200],
    ['readonly', 'GET', '/store/watch?prefix=/romana/&from=1', undefined, 403],
    ['readonly', 'POST', '/hosts', { name: 'h9', ip: '192.168.0.9' }, 403],
    ['readonly', 'POST', '/address', { name: 'r1', host: 'h1', tenant: 't' }, 403],
    ['readonly', 'DELETE', '/hosts/h1', undefined, 403],
    ['agent', 'GET', '/topology', undefined, 200],
    ['agent', 'POST', '/policies', { id: 'p', applied_to: [{ tenant: 't' }], ingress: [{ peers: [{ peer: 'any' }] }] }, 403],
    ['agent', 'POST', '/address', { name: 'a1', host: 'h1', tenant: 't' }, 403],
    ['agent', 'PUT', '/namespaces/x', { labels: {} }, 403],
    ['cni1', 'GET', '/hosts', undefined, 403],
    ['cni1', 'GET', '/policies', undefined, 403],
    ['cni1', 'GET', '/store/list?prefix=/romana/', undefined, 403],
    ['cni1', 'POST', '/topology', TOPOLOGY, 403],
    ['cni1', 'POST', '/blackouts', { cidr: '10.0.0.0/30' }, 403],
    ['cni1', 'GET', '/addresses?host=h1', undefined, 200],
    ['admin', 'PUT', '/namespaces/x', { labels: {} }, 201],
  ];
  for (const [role, method, url, body, want] of cases) {
    it(`${role}: ${method} ${url} → ${want}`, async () => {
      const before = await snapshot();
      const r = await req(T[role], method, url, body);
      assert.equal(r.status, want, JSON.stringify(r.body));
      if (want === 403) {
        assert.equal(r.body.error, 'forbidden');
        assert.match(r.body.message, /has role/);
        assert.equal(await snapshot(), before);
      }
    });
  }

  it('an agent may watch (its request gets past authorization to validation)', async () => {
    // A valid watch streams forever, so a bad revision shows that only validation stopped it.
    const r = await req(T.agent, 'GET', '/store/watch?prefix=/romana/&from=x');
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid');
  });
});

describe('cni tokens act for their own host only', () => {
  it('allocates and releases on its host', async () => {
    const a = await req(T.cni1, 'POST', '/address', { name: 'pod-a', host: 'h1', tenant: 't' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal((await req(T.cni1, 'GET', '/address/pod-a')).status, 200);
    assert.equal((await req(T.cni1, 'DELETE', '/address?addressName=pod-a')).status, 200);
  });

  it('is refused for another host, and nothing changes', async () => {
    const b = await req(T.admin, 'POST', '/address', { name: 'pod-b', host: 'h2', tenant: 't' });
    assert.equal(b.status, 201);
    const before = await snapshot();
    for (const [method, url, body] of [
      ['POST', '/address', { name: 'pod-c', host: 'h2', tenant: 't' }],
      ['DELETE', '/address?addressName=pod-b', undefined],
      ['DELETE', `/address?addressName=${b.body.ip}`, undefined],
      ['GET', '/address/pod-b', undefined],
      ['GET', '/addresses?host=h2', undefined],
      ['GET', '/addresses', undefined],
    ] as const) {
      const r = await req(T.cni1, method, url, body);
      assert.equal(r.status, 403, `${method} ${url}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, /host 'h1' only/);
    }
    assert.equal(await snapshot(), before);
    assert.equal((await req(T.cni2, 'DELETE', '/address?addressName=pod-b')).status, 200);
  });
});

describe('audit log', () => {
  it('records every change with who, what and the result, and every refusal', async () => {
    auditLines.length = 0;
    await req(T.admin, 'PUT', '/namespaces/audited', { labels: { a: 'b' } });
    await req(T.admin, 'POST', '/hosts', { name: 'bad host', ip: 'nope' });
    await req(T.cni1, 'POST', '/address', { name: 'pod-z', host: 'h2', tenant: 't' });
    await req(undefined, 'GET', '/hosts');
    await req(T.readonly, 'GET', '/hosts'); // a permitted read: not audited
    assert.equal(auditLines.length, 4, JSON.stringify(auditLines));
    const [ok, bad, refused, anon] = auditLines;
    assert.deepEqual([ok.who, ok.role, ok.method, ok.url, ok.status, ok.result], ['ops', 'admin', 'PUT', '/namespaces/audited', 201, 'ok']);
    assert.deepEqual([bad.who, bad.status, bad.result], ['ops', 400, 'invalid']);
    assert.deepEqual([refused.who, refused.role, refused.host, refused.status, refused.result], ['cni-h1', 'cni', 'h1', 403, 'forbidden']);
    assert.deepEqual(refused.target, { name: 'pod-z', host: 'h2', tenant: 't' });
    assert.deepEqual([anon.who, anon.status, anon.result], ['unauthenticated', 401, 'unauthorized']);
    for (const l of auditLines) assert.ok(!JSON.stringify(l).includes('token-0123'), 'no token in the audit log');
  });
});

describe('auth file', () => {
  it('rejects bad files with the field named', () => {
    const bad: [unknown, RegExp][] = [
      [{}, /tokens/],
      [{ tokens: [] }, /tokens/],
      [{ tokens: [{ token: 'short', role: 'admin' }] }, /tokens\[0\]\.token/],
      [{ tokens: [{ token: 'a'.repeat(20), role: 'root' }] }, /tokens\[0\]\.role/],
      [{ tokens: [{ token: 'a'.repeat(20), role: 'cni' }] }, /tokens\[0\]\.host: is required/],
      [{ tokens: [{ token: 'a'.repeat(20), role: 'admin' }, { token: 'a'.repeat(20), role: 'readonly' }] }, /tokens\[1\]\.token: appears twice/],
      [{ tokens: [{ token: 'a'.repeat(20), role: 'admin', extra: 1 }] }, /tokens\[0\]/],
    ];
    for (const [doc, re] of bad) assert.throws(() => Authenticator.parse(JSON.stringify(doc)), (e: Error) => re.test(e.message), JSON.stringify(doc));
    assert.throws(() => Authenticator.parse('tokens: [unclosed'), /not YAML or JSON/);
    assert.ok(Authenticator.parse(`tokens:\n  - token: ${'b'.repeat(16)}\n    role: readonly\n`));
  });
});

describe('limits', () => {
  it('answers 413 too_large for an oversized body, and changes nothing', async () => {
    const small = await buildApp({ control: new Control(store), bodyLimit: 4096, rateLimit: false });
    try {
      const before = await snapshot();
      const r = await small.inject({ method: 'POST', url: '/policies', payload: { id: 'big', description: 'x'.repeat(10000) } });
      assert.equal(r.statusCode, 413);
      assert.equal(JSON.parse(r.body).error, 'too_large');
      // The limit and the flag that sets it.
      assert.equal(JSON.parse(r.body).message, 'the request body is larger than 4096 bytes (romanad --body-limit)');
      assert.equal(await snapshot(), before);
    } finally {
      await small.close();
    }
  });

  it('answers 429 rate_limited over the rate, per client address, and serves again after the window', async () => {
    const limited = await buildApp({ control: new Control(store), rateLimit: { max: 5, windowMs: 400 } });
    try {
      const from = (ip: string) => limited.inject({ method: 'GET', url: '/hosts', remoteAddress: ip });
      const a = await Promise.all(Array.from({ length: 8 }, () => from('10.9.9.1')));
      assert.deepEqual(a.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 200, 429, 429, 429]);
      const over = a.find((r) => r.statusCode === 429)!;
      assert.equal(JSON.parse(over.body).error, 'rate_limited');
      assert.ok(over.headers['retry-after'], 'Retry-After is set');
      assert.equal((await from('10.9.9.2')).statusCode, 200, 'another client is not limited');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await from('10.9.9.1')).statusCode, 200);
    } finally {
      await limited.close();
    }
  });

  it('does not limit the unix socket (root only; the lab relays every host through it)', async () => {
    const limited = await buildApp({ control: new Control(store), rateLimit: { max: 2, windowMs: 60_000 } });
    await limited.ready(); // as listen() does in romanad before the socket is served
    const dir = mkdtempSync(join(tmpdir(), 'romana-sock-'));
    const sock = join(dir, 'api.sock');
    const server = createServer((rq, rs) => limited.routing(rq, rs));
    await new Promise<void>((ok) => server.listen(sock, ok));
    try {
      const get = () => new Promise<number>((ok, fail) => request({ socketPath: sock, path: '/hosts' }, (r) => (r.resume(), ok(r.statusCode ?? 0))).on('error', fail).end());
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push(await get());
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 200]);
      const tcp = await Promise.all(Array.from({ length: 3 }, () => limited.inject({ method: 'GET', url: '/hosts', remoteAddress: '10.9.9.3' })));
      assert.deepEqual(tcp.map((r) => r.statusCode).sort(), [200, 200, 429], 'TCP clients still are');
    } finally {
      server.close();
      await limited.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
