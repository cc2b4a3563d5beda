// POST /address with segment_from_pod (the CNI plugin's one round trip for a Kubernetes pod): the
// pod's label in romanad's pod metadata decides the segment, `segment` is the fallback for an unknown
// pod or one without the label, a cni token reads only pods of its own host, and a bad reference is
// `invalid` naming the field and makes nothing. On the real Fastify app, in-process, store in memory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { Authenticator } from '../../src/server/auth.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

const T = { admin: 'admin-token-0123456789', cni1: 'cni1-token-0123456789ab' };
const TOPOLOGY = {
  networks: [{ name: 'n', cidr: '10.0.0.0/24', block_mask: 29 }],
  topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [{ name: 'h1', ip: '192.168.0.1' }] }, { name: 'r2', groups: [{ name: 'h2', ip: '192.168.0.2' }] }] }],
};

let app: FastifyInstance;
let store: Store;
async function req(token: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: r.statusCode, body: r.json() as { segment?: string; error?: string; message?: string; addresses?: unknown[] } };
}
const ref = (name: string, label = 'romana.io/segment') => ({ namespace: 'shop', name, label });

before(async () => {
  store = await openStore({});
  app = await buildApp({
    control: new Control(store), rateLimit: false, uiDir: false,
    auth: new Authenticator({ tokens: [{ token: T.admin, role: 'admin' }, { token: T.cni1, role: 'cni', host: 'h1' }] } as never),
  });
  assert.equal((await req(T.admin, 'POST', '/topology', TOPOLOGY)).status, 200);
  for (const [name, host, labels] of [['web-1', 'h1', { 'romana.io/segment': 'frontend', tier: 'web' }], ['plain', 'h1', { app: 'x' }], ['far', 'h2', { 'romana.io/segment': 'db' }]] as const) {
    assert.equal((await req(T.admin, 'PUT', `/pods/shop/${name}`, { labels, host })).status, 201);
  }
});
after(async () => {
  await app.close();
  await store.close();
});

describe('POST /address segment_from_pod', () => {
  it("the pod's label decides; `segment` is the fallback for a pod without it or one romanad does not know", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['label', { segment_from_pod: ref('web-1') }, 'frontend'],
      ['another label name', { segment_from_pod: ref('web-1', 'tier'), segment: 'fallback' }, 'web'],
      ['the label wins over segment', { segment_from_pod: ref('web-1'), segment: 'fallback' }, 'frontend'],
      ['no such label', { segment_from_pod: ref('plain'), segment: 'fallback' }, 'fallback'],
      ['unknown pod', { segment_from_pod: ref('ghost'), segment: 'fallback' }, 'fallback'],
      ['unknown pod, no fallback', { segment_from_pod: ref('ghost') }, 'default'],
    ];
    for (const [i, [what, extra, segment]] of cases.entries()) {
      const r = await req(T.cni1, 'POST', '/address', { name: `a${i}`, host: 'h1', tenant: 'shop', ...extra }, { 'idempotency-key': `a${i}` });
      assert.equal(r.status, 201, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.segment, segment, what);
      const again = await req(T.cni1, 'POST', '/address', { name: `a${i}`, host: 'h1', tenant: 'shop', ...extra }, { 'idempotency-key': `a${i}` });
      assert.equal(again.status, 200, `${what}: a retry answers the same record`);
    }
  });

  it("a cni token reads only its own host's pods; a bad reference is invalid naming the field; neither makes anything", async () => {
    const before = (await req(T.admin, 'GET', '/addresses')).body.addresses!.length;
    const far = await req(T.cni1, 'POST', '/address', { name: 'f', host: 'h1', tenant: 'shop', segment_from_pod: ref('far') });
    assert.equal(far.status, 403, JSON.stringify(far.body));
    assert.match(far.body.message!, /reading pod 'shop\/far'/);
    for (const [bad, field] of [[{ namespace: 'shop', name: 'web-1' }, 'label'], [{ ...ref('web-1'), extra: 1 }, 'extra'], [{ ...ref('web-1'), label: '' }, 'label']] as const) {
      const r = await req(T.cni1, 'POST', '/address', { name: 'b', host: 'h1', tenant: 'shop', segment_from_pod: bad });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid');
      assert.match(r.body.message!, new RegExp(`segment_from_pod.*${field}|${field}.*segment_from_pod`));
    }
    assert.equal((await req(T.admin, 'GET', '/addresses')).body.addresses!.length, before);
  });
});
