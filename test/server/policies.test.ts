// /policies in-process: JSON and YAML bodies, ids with '/', replace by id, invalid input names the field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

let app: FastifyInstance;
let store: Store;
before(async () => {
  store = await openStore({});
  app = await buildApp({ control: new Control(store) });
});
after(async () => {
  await app.close();
  await store.close();
});
const send = async (method: string, url: string, payload?: string | object, type?: string) => {
  const r = await app.inject({ method: method as 'GET', url, payload, ...(type ? { headers: { 'content-type': type } } : {}) });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined };
};
const np = (name: string, extra: object = {}) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'x' },
  spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ...extra },
});
const dump = async () => JSON.stringify((await store.list('')).items.map((i) => [i.key, i.value]));

describe('/policies', () => {
  it('stores a NetworkPolicy under namespace/name and a Romana policy under its id', async () => {
    const a = await send('POST', '/policies', np('deny'));
    assert.deepEqual([a.status, a.body.id, a.body.kind, a.body.result], [201, 'x/deny', 'NetworkPolicy', 'created']);
    const yaml = 'id: web-in\ndirection: ingress\napplied_to: [{tenant: shop, segment: web}]\ningress:\n  - peers: [{peer: any}]\n    rules: [{protocol: tcp, ports: [80]}]\n';
    const b = await send('POST', '/policies', yaml, 'application/yaml');
    assert.deepEqual([b.status, b.body.id, b.body.kind], [201, 'web-in', 'RomanaPolicy']);
    const list = (await send('GET', '/policies')).body;
    assert.deepEqual(list.policies.map((p: { id: string }) => p.id).sort(), ['web-in', 'x/deny']);
    assert.equal((await send('GET', '/policies/x%2Fdeny')).body.object.metadata.name, 'deny');
  });
  it('replaces a policy with the same id, and deletes it', async () => {
    await send('POST', '/policies', np('deny'));
    const rev = await store.revision();
    const same = await send('POST', '/policies', np('deny'));
    assert.deepEqual([same.status, same.body.result, await store.revision()], [200, 'unchanged', rev], 'the same policy again writes nothing');
    const changed = await send('POST', '/policies', np('deny', { ingress: [{}] }));
    assert.deepEqual([changed.status, changed.body.result], [200, 'configured']);
    assert.deepEqual((await send('GET', '/policies/x%2Fdeny')).body.object.spec.ingress, [{}]);
    assert.equal((await send('DELETE', '/policies/x%2Fdeny')).status, 200);
    assert.equal((await send('GET', '/policies/x%2Fdeny')).body.error, 'not_found');
    assert.equal((await send('DELETE', '/policies/x%2Fdeny')).body.error, 'not_found');
  });
  for (const [what, body, type, re] of [
    ['a bad port', np('p', { ingress: [{ ports: [{ port: 70000 }] }] }), undefined, /spec\.ingress\[0\]\.ports\[0\]\.port/],
    ['a bad operator', np('p', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }), undefined, /spec\.podSelector\.matchExpressions\[0\]\.operator/],
    ['broken YAML', 'id: [unclosed', 'application/yaml', /YAML/],
    ['two documents in one request', 'id: a\n---\nid: b\n', 'application/yaml', /one policy/],
    ['a Romana policy without direction', { id: 'q', applied_to: [{ tenant: 't' }] }, undefined, /direction/],
  ] as const) {
    it(`refuses ${what} with invalid naming the field, storing nothing`, async () => {
      const before = await dump();
      const r = await send('POST', '/policies', body as object, type);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid');
      assert.match(r.body.message, re);
      assert.equal(await dump(), before);
    });
  }
});
