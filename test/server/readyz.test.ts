// /healthz says the process answers; /readyz also says it can reach its store, so a load balancer or
// a readiness probe stops sending work to a romanad whose etcd is gone (real etcd, real romanad).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type EtcdServer, startEtcd } from '../helpers/etcd.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';

let etcd: EtcdServer;
let d: Romanad;
before(async () => {
  etcd = await startEtcd();
  d = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: `/readyz-${process.pid}` });
});
after(async () => {
  await d?.stop();
  await etcd?.stop();
});

const get = async (path: string) => {
  const r = await fetch(d.url + path, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

it('readyz follows the store; healthz does not', async () => {
  assert.equal((await get('/readyz')).status, 200);
  await etcd.kill();
  const t0 = Date.now();
  const down = await get('/readyz');
  assert.equal(down.status, 503);
  assert.equal(down.body.error, 'unavailable');
  assert.ok(Date.now() - t0 < 6000, 'answers within the store deadline');
  assert.equal((await get('/healthz')).status, 200);
  await etcd.restart();
  let up = 0;
  for (let i = 0; i < 100 && up !== 200; i++) {
    up = (await get('/readyz')).status;
    if (up !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(up, 200, 'ready again once etcd is back');
});
