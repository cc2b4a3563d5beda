import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { openStore } from '../../src/store/open.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { storeConformance, type TestStore } from './conformance.js';

// One real etcd for the whole suite; each test gets its own key namespace on it.
let server: EtcdServer;
before(async () => {
  server = await startEtcd();
});
after(() => server?.stop());

storeConformance(
  'etcd',
  async () => (await openStore({ etcdEndpoints: [server.endpoint], namespace: `/test-${randomUUID()}` })) as TestStore,
  { sharedRevision: true },
);

describe('EtcdStore', () => {
  it('keeps namespaces apart', async () => {
    // Namespaces must not be prefixes of one another ('/ns-a' would see '/ns-ab'), like etcd's own.
    const a = new EtcdStore({ endpoints: [server.endpoint], namespace: '/ns-a' });
    const b = new EtcdStore({ endpoints: [server.endpoint], namespace: '/ns-b' });
    try {
      await a.put('/k', 'a');
      await b.put('/k', 'b');
      assert.equal((await a.get('/k'))?.value, 'a');
      assert.deepEqual((await a.list('')).items.map((kv) => [kv.key, kv.value]), [['/k', 'a']]);
      assert.deepEqual((await b.list('')).items.map((kv) => [kv.key, kv.value]), [['/k', 'b']]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('maps more ops than --max-txn-ops allows to too_large', async () => {
    const s = new EtcdStore({ endpoints: [server.endpoint], namespace: `/big-${randomUUID()}` });
    try {
      const ops = Array.from({ length: 10_001 }, (_, i) => ({ type: 'put' as const, key: `/k${i}`, value: '' }));
      await assert.rejects(s.txn([], ops), kind('too_large'));
      // The limit and the flag that raises it.
      await assert.rejects(s.txn([], ops), /--max-txn-ops, default 128 operations/);
    } finally {
      await s.close();
    }
  });
});

describe('EtcdStore when etcd is down', () => {
  it('fails calls and watches with kind unavailable within the deadline', async () => {
    const own = await startEtcd(); // stopped below, so not the suite's shared server
    const s = new EtcdStore({ endpoints: [own.endpoint], namespace: '/down', requestTimeoutMs: 1000 });
    try {
      await s.put('/k', 'v');
      let onError: (err: Error) => void = () => {};
      const watchError = new Promise<Error>((resolve) => (onError = resolve));
      await s.watch('/', 1, { onEvents: () => {}, onError }); // established before the outage
      await own.stop();

      assert.equal((await watchError as RomanaError).kind, 'unavailable');
      for (const call of [() => s.get('/k'), () => s.put('/k', 'w'), () => s.list('/'), () => s.watch('/', 1, { onEvents: () => {} })]) {
        const t0 = Date.now();
        await assert.rejects(call(), kind('unavailable'));
        assert.ok(Date.now() - t0 < 3000, `failed in ${Date.now() - t0} ms`);
      }
    } finally {
      await s.close();
      await own.stop();
    }
  });

  it('fails calls to a hung etcd (SIGSTOP) with kind unavailable after the deadline', async () => {
    const own = await startEtcd();
    const s = new EtcdStore({ endpoints: [own.endpoint], namespace: '/hung', requestTimeoutMs: 500 });
    try {
      await s.put('/k', 'v'); // connected before the hang
      process.kill(own.pid, 'SIGSTOP');
      await allThreadsStopped(own.pid); // a busy thread may take a moment to stop
      const t0 = Date.now();
      await assert.rejects(s.get('/k'), kind('unavailable'));
      const took = Date.now() - t0;
      assert.ok(took >= 400 && took < 2000, `failed in ${took} ms`);
    } finally {
      process.kill(own.pid, 'SIGCONT');
      await s.close();
      await own.stop();
    }
  });
});

async function allThreadsStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 2000;
  const state = (tid: string) => readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  while (!readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === 'T')) {
    if (Date.now() > deadline) throw new Error(`etcd ${pid} did not stop after SIGSTOP`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function kind(k: string) {
  return (err: unknown) => {
    assert.ok(err instanceof RomanaError, `not a RomanaError: ${String(err)}`);
    assert.equal(err.kind, k, err.message);
    return true;
  };
}
