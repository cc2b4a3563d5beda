// The agents' view of romanad's state: /store/list and the /store/watch stream, through RemoteStore.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Control } from '../../src/control/control.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/store/open.js';
import { RemoteStore } from '../../src/store/remote.js';
import type { Store, WatchEvent } from '../../src/store/store.js';

let app: FastifyInstance;
let store: Store;
let control: Control;
let url: string;
before(async () => {
  store = await openStore({});
  control = new Control(store);
  app = await buildApp({ control });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  await control.topology.replace({ networks: [{ name: 'n', cidr: '10.0.0.0/24' }], topologies: [{ networks: ['n'], map: [{ groups: [{ name: 'h', ip: '1.1.1.1' }] }] }] });
});
after(async () => {
  await app.close();
  await store.close();
});

describe('store view for agents', () => {
  it('lists keys under a prefix and refuses prefixes outside /romana/', async () => {
    const r = new RemoteStore({ baseUrl: url });
    const l = await r.list('/romana/hosts/');
    assert.deepEqual(l.items.map((i) => i.key), ['/romana/hosts/h']);
    assert.equal(l.revision, await store.revision());
    await assert.rejects(r.list('/etc/'), /prefix/);
  });
  it('streams changes from a revision on, one batch per transaction, and stops on close', async () => {
    const r = new RemoteStore({ baseUrl: url });
    const from = (await r.list('/romana/')).revision + 1;
    const got: WatchEvent[][] = [];
    const w = await r.watch('/romana/addresses/', from, { onEvents: (ev) => got.push(ev) });
    await control.ipam.allocate({ name: 'a', host: 'h', tenant: 't' });
    await control.ipam.allocate({ name: 'b', host: 'h', tenant: 't' });
    await control.ipam.release('a');
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(got.map((b) => b.map((e) => `${e.type} ${e.key}`)), [['put /romana/addresses/a'], ['put /romana/addresses/b'], ['delete /romana/addresses/a']]);
    assert.ok(got[1][0].revision > got[0][0].revision);
    await w.close();
    await control.ipam.allocate({ name: 'c', host: 'h', tenant: 't' });
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(got.length, 3, 'no events after close');
  });
});
