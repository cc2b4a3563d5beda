// The one Store conformance suite. Every backend must pass it unchanged; backend-specific behaviour
// (persistence, outages, retention) is tested in that backend's own test file.

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RomanaError } from '../../src/core/errors.js';
import type { Store, Watch, WatchEvent } from '../../src/store/store.js';

/** Both backends also offer `compact` (not part of Store) so the suite can test compacted watches. */
export type TestStore = Store & { compact(revision: number): Promise<void> };

export interface ConformanceOptions {
  /**
   * The store's revision counter is shared with other stores (etcd namespaces on one cluster), so a new
   * store's revision is not 0. Relative revisions (+1 per write) are still checked exactly: node:test
   * runs the tests of one file one at a time.
   */
  sharedRevision?: boolean;
}

const WAIT_MS = 5000;

export function storeConformance(name: string, makeStore: () => Promise<TestStore>, opts: ConformanceOptions = {}): void {
  /** A fresh, empty store for one test, closed when the test ends. */
  async function fresh(t: TestContext): Promise<TestStore> {
    const s = await makeStore();
    t.after(() => s.close());
    return s;
  }

  describe(`Store conformance: ${name}`, () => {
    describe('keys and revisions', () => {
      it('starts empty (revision 0 unless the counter is shared)', async (t) => {
        const s = await fresh(t);
        const rev = await s.revision();
        if (!opts.sharedRevision) assert.equal(rev, 0);
        const l = await s.list('');
        assert.deepEqual(l.items, []);
        assert.equal(l.revision, rev);
        assert.equal(await s.get('/nothing'), undefined);
      });

      it('put, get, delete and their revisions', async (t) => {
        const s = await fresh(t);
        const r0 = await s.revision();
        const r1 = await s.put('/k', 'v1');
        assert.equal(r1, r0 + 1);
        assert.deepEqual(await s.get('/k'), { key: '/k', value: 'v1', createRevision: r1, modRevision: r1 });

        const r2 = await s.put('/k', 'v2');
        assert.equal(r2, r1 + 1);
        assert.deepEqual(await s.get('/k'), { key: '/k', value: 'v2', createRevision: r1, modRevision: r2 });

        assert.equal(await s.delete('/k'), true);
        assert.equal(await s.revision(), r2 + 1);
        assert.equal(await s.get('/k'), undefined);
        assert.equal(await s.delete('/k'), false);
        assert.equal(await s.revision(), r2 + 1, 'deleting a missing key writes nothing');

        const r4 = await s.put('/k', 'v3');
        assert.equal(r4, r2 + 2);
        assert.deepEqual(await s.get('/k'), { key: '/k', value: 'v3', createRevision: r4, modRevision: r4 }, 'recreated key gets a new createRevision');
      });

      it('round-trips empty, unicode and large values', async (t) => {
        const s = await fresh(t);
        const big = 'x'.repeat(200_000);
        await s.txn([], [
          { type: 'put', key: '/empty', value: '' },
          { type: 'put', key: '/uni', value: 'zé😀\u0000\n' },
          { type: 'put', key: '/big', value: big },
        ]);
        assert.equal((await s.get('/empty'))?.value, '');
        assert.equal((await s.get('/uni'))?.value, 'zé😀\u0000\n');
        assert.equal((await s.get('/big'))?.value, big);
      });

      it('rejects an empty key as invalid', async (t) => {
        const s = await fresh(t);
        await assert.rejects(s.put('', 'x'), isKind('invalid'));
        await assert.rejects(s.get(''), isKind('invalid'));
      });
    });

    describe('list', () => {
      it('lists by prefix, sorted by UTF-8 bytes, respecting prefix boundaries', async (t) => {
        const s = await fresh(t);
        // Inserted out of order. Byte order: z (7a) < é (c3 a9) < ～ (ef bd 9e) < 😀 (f0 9f 98 80);
        // JavaScript's default sort (UTF-16) would put 😀 before ～.
        const keys = ['/a/😀', '/ab', '/a/z', '/a/2', '/a', '/a/～', '/b/x', '/a/1', '/a/é', '/a/'];
        for (const k of keys) await s.put(k, `v${k}`);
        const under = async (p: string) => (await s.list(p)).items.map((kv) => kv.key);

        assert.deepEqual(await under('/a/'), ['/a/', '/a/1', '/a/2', '/a/z', '/a/é', '/a/～', '/a/😀']);
        assert.deepEqual(await under('/a'), ['/a', '/a/', '/a/1', '/a/2', '/a/z', '/a/é', '/a/～', '/a/😀', '/ab']);
        assert.deepEqual(await under('/ab'), ['/ab']);
        assert.deepEqual(await under('/c'), []);
        assert.deepEqual(await under(''), [...keys].sort(byUtf8));
        const l = await s.list('/b/');
        assert.deepEqual(l.items, [{ key: '/b/x', value: 'v/b/x', createRevision: l.items[0].createRevision, modRevision: l.items[0].modRevision }]);
        assert.equal(l.revision, await s.revision());
      });

      it('handles prefixes ending in the highest code point', async (t) => {
        const s = await fresh(t);
        const top = '\u{10FFFF}';
        for (const k of [`/y${top}`, `/y${top}${top}b`, '/z', '/y']) await s.put(k, '1');
        assert.deepEqual((await s.list(`/y${top}`)).items.map((kv) => kv.key), [`/y${top}`, `/y${top}${top}b`]);
      });
    });

    describe('txn', () => {
      it('modRevision 0 means "absent"', async (t) => {
        const s = await fresh(t);
        const r0 = await s.revision();
        const create = () => s.txn([{ key: '/claim', modRevision: 0 }], [{ type: 'put', key: '/claim', value: 'me' }]);
        assert.deepEqual(await create(), { succeeded: true, revision: r0 + 1 });
        assert.deepEqual(await create(), { succeeded: false, revision: r0 + 1 }, 'second create-if-absent fails');
        await s.delete('/claim');
        assert.equal((await create()).succeeded, true, 'absent again after delete');
      });

      it('compares exact modRevision', async (t) => {
        const s = await fresh(t);
        const r1 = await s.put('/c', 'a');
        const r2 = await s.put('/c', 'b');
        const stale = await s.txn([{ key: '/c', modRevision: r1 }], [{ type: 'put', key: '/c', value: 'stale' }]);
        assert.deepEqual(stale, { succeeded: false, revision: r2 });
        const ok = await s.txn([{ key: '/c', modRevision: r2 }], [{ type: 'put', key: '/c', value: 'c' }]);
        assert.deepEqual(ok, { succeeded: true, revision: r2 + 1 });
        assert.equal((await s.get('/c'))?.value, 'c');
        const missing = await s.txn([{ key: '/missing', modRevision: r2 }], [{ type: 'put', key: '/missing', value: 'x' }]);
        assert.equal(missing.succeeded, false, 'a nonzero modRevision requires the key to exist');
      });

      it('compares values; a value compare on a missing key fails, even against ""', async (t) => {
        const s = await fresh(t);
        await s.put('/v', 'old');
        assert.equal((await s.txn([{ key: '/v', value: 'other' }], [{ type: 'put', key: '/v', value: 'x' }])).succeeded, false);
        assert.equal((await s.txn([{ key: '/v', value: 'old' }], [{ type: 'put', key: '/v', value: 'new' }])).succeeded, true);
        assert.equal((await s.get('/v'))?.value, 'new');
        assert.equal((await s.txn([{ key: '/none', value: '' }], [])).succeeded, false);
        await s.put('/e', '');
        assert.equal((await s.txn([{ key: '/e', value: '' }], [])).succeeded, true);
      });

      it('a failed txn writes nothing and keeps the revision', async (t) => {
        const s = await fresh(t);
        const r1 = await s.put('/x', '1');
        const res = await s.txn(
          [{ key: '/x', modRevision: r1 }, { key: '/y', modRevision: 0 }, { key: '/x', value: 'wrong' }],
          [{ type: 'put', key: '/y', value: 'y' }, { type: 'delete', key: '/x' }],
        );
        assert.deepEqual(res, { succeeded: false, revision: r1 });
        assert.equal(await s.get('/y'), undefined);
        assert.equal((await s.get('/x'))?.value, '1');
        assert.equal(await s.revision(), r1);
      });

      it('applies all ops atomically under one new revision', async (t) => {
        const s = await fresh(t);
        await s.put('/m/gone', 'x');
        const keep = await s.put('/m/keep', 'k');
        const res = await s.txn(
          [{ key: '/m/keep', modRevision: keep }],
          [
            { type: 'put', key: '/m/a', value: 'a' },
            { type: 'put', key: '/m/keep', value: 'k2' },
            { type: 'delete', key: '/m/gone' },
            { type: 'delete', key: '/m/never-existed' },
          ],
        );
        assert.deepEqual(res, { succeeded: true, revision: keep + 1 });
        const l = await s.list('/m/');
        assert.deepEqual(l.items.map((kv) => [kv.key, kv.value, kv.modRevision]), [
          ['/m/a', 'a', keep + 1],
          ['/m/keep', 'k2', keep + 1],
        ]);
        assert.equal((await s.get('/m/keep'))?.createRevision, keep);
      });

      it('a txn that changes nothing keeps the revision', async (t) => {
        const s = await fresh(t);
        const r = await s.put('/n', '1');
        assert.deepEqual(await s.txn([{ key: '/n', value: '1' }], []), { succeeded: true, revision: r });
        assert.deepEqual(await s.txn([], [{ type: 'delete', key: '/absent' }]), { succeeded: true, revision: r });
      });

      it('rejects a txn touching one key twice, writing nothing', async (t) => {
        const s = await fresh(t);
        const r = await s.revision();
        await assert.rejects(
          s.txn([], [{ type: 'put', key: '/d', value: '1' }, { type: 'delete', key: '/d' }]),
          isKind('invalid'),
        );
        assert.equal(await s.revision(), r);
        assert.equal(await s.get('/d'), undefined);
      });

      it('parallel get+txn increments lose no update', async (t) => {
        const s = await fresh(t);
        const N = 40;
        await s.put('/counter', '0');
        const r0 = await s.revision();
        let attempts = 0;
        const increment = async () => {
          for (let i = 0; i < 10 * N; i++) {
            attempts++;
            const cur = (await s.get('/counter'))!;
            const res = await s.txn([{ key: '/counter', modRevision: cur.modRevision }], [
              { type: 'put', key: '/counter', value: String(Number(cur.value) + 1) },
            ]);
            if (res.succeeded) return;
          }
          throw new Error('increment: too many conflicts');
        };
        await Promise.all(Array.from({ length: N }, increment));
        assert.equal((await s.get('/counter'))?.value, String(N));
        assert.equal(await s.revision(), r0 + N, 'exactly one revision per successful increment');
        assert.ok(attempts > N, `the workers really raced (attempts ${attempts})`);
      });
    });

    describe('batched reads', () => {
      it('reads keys and prefixes at one revision, in order', async (t) => {
        const s = await fresh(t);
        await s.put('/r/a/1', 'a1');
        await s.put('/r/a/2', 'a2');
        await s.put('/r/ab', 'not under /r/a/');
        const rev = await s.put('/r/k', 'k');
        const r = await s.read([{ key: '/r/k' }, { prefix: '/r/a/' }, { key: '/r/missing' }, { prefix: '/r/none/' }]);
        assert.equal(r.revision, rev);
        assert.deepEqual(r.results.map((l) => l.map((kv) => [kv.key, kv.value, kv.modRevision])), [
          [['/r/k', 'k', rev]],
          [['/r/a/1', 'a1', rev - 3], ['/r/a/2', 'a2', rev - 2]],
          [],
          [],
        ]);
        assert.deepEqual((await s.read([{ key: '/r/k' }])).results, [[await s.get('/r/k')]], 'a single read too');
      });

      it('rejects a malformed read as invalid', async (t) => {
        const s = await fresh(t);
        await assert.rejects(s.read([{ key: '' }]), isKind('invalid'));
        await assert.rejects(s.read([{} as { key: string }]), isKind('invalid'));
      });

      it('a failed txn returns its failure reads; a successful one does not read', async (t) => {
        const s = await fresh(t);
        const r1 = await s.put('/f/x', '1');
        await s.put('/f/p/1', 'p1');
        const reads = [{ key: '/f/x' }, { prefix: '/f/p/' }, { key: '/f/none' }];
        const failed = await s.txn([{ key: '/f/x', modRevision: r1 - 1 }], [{ type: 'put', key: '/f/y', value: 'y' }], reads);
        assert.equal(failed.succeeded, false);
        assert.equal(failed.revision, r1 + 1);
        assert.deepEqual(failed.reads?.map((l) => l.map((kv) => [kv.key, kv.value])), [[['/f/x', '1']], [['/f/p/1', 'p1']], []]);
        assert.equal(await s.get('/f/y'), undefined, 'nothing written');
        const ok = await s.txn([{ key: '/f/x', modRevision: r1 }], [{ type: 'put', key: '/f/y', value: 'y' }], reads);
        assert.deepEqual(ok, { succeeded: true, revision: r1 + 2 });
      });
    });

    describe('watch', () => {
      it('replays history from a revision, then streams live events', async (t) => {
        const s = await fresh(t);
        await s.put('/w/1', 'a');
        const r2 = await s.put('/w/2', 'b');
        const r3 = await s.put('/w/1', 'c');
        const w = await collect(t, s, '/w/', r2);
        assert.deepEqual(await w.next(2), [
          [{ type: 'put', key: '/w/2', value: 'b', revision: r2 }],
          [{ type: 'put', key: '/w/1', value: 'c', revision: r3 }],
        ]);
        const r4 = await s.put('/w/3', 'd');
        assert.deepEqual(await w.next(1), [[{ type: 'put', key: '/w/3', value: 'd', revision: r4 }]]);
      });

      // Keep this before the compaction test: compacting a shared etcd drops history for every namespace.
      it('watching from revision 0 replays all history (etcd itself would read 0 as "from now")', async (t) => {
        const s = await fresh(t);
        const r = await s.put('/zero/k', 'v');
        const w = await collect(t, s, '/zero/', 0);
        assert.deepEqual(await w.next(1), [[{ type: 'put', key: '/zero/k', value: 'v', revision: r }]]);
      });

      it('watching from a future revision skips the revisions before it', async (t) => {
        const s = await fresh(t);
        const w = await collect(t, s, '/f/', (await s.revision()) + 2);
        await s.put('/f/skipped', '1');
        const r = await s.put('/f/seen', '2');
        assert.deepEqual(await w.next(1), [[{ type: 'put', key: '/f/seen', value: '2', revision: r }]]);
      });

      it('continues from a listing (revision + 1) without gaps or repeats', async (t) => {
        const s = await fresh(t);
        await s.put('/l/a', '1');
        const l = await s.list('/l/');
        const r = await s.put('/l/b', '2');
        const w = await collect(t, s, '/l/', l.revision + 1);
        assert.deepEqual(await w.next(1), [[{ type: 'put', key: '/l/b', value: '2', revision: r }]]);
      });

      it('delivers one txn as one batch, in op order, with one revision', async (t) => {
        const s = await fresh(t);
        await s.put('/t/old', 'x');
        const w = await collect(t, s, '/t/', (await s.revision()) + 1);
        const res = await s.txn([], [
          { type: 'put', key: '/t/b', value: '1' },
          { type: 'delete', key: '/t/old' },
          { type: 'put', key: '/t/a', value: '2' },
        ]);
        assert.deepEqual(await w.next(1), [
          [
            { type: 'put', key: '/t/b', value: '1', revision: res.revision },
            { type: 'delete', key: '/t/old', revision: res.revision },
            { type: 'put', key: '/t/a', value: '2', revision: res.revision },
          ],
        ]);
      });

      it('filters by prefix, also within one txn', async (t) => {
        const s = await fresh(t);
        const w = await collect(t, s, '/p/', (await s.revision()) + 1);
        await s.put('/px', 'no');
        await s.put('/q/1', 'no');
        const res = await s.txn([], [
          { type: 'put', key: '/q/2', value: 'no' },
          { type: 'put', key: '/p/1', value: 'yes' },
        ]);
        // Events arrive in revision order, so once this one is in, any leaked earlier one would be too.
        assert.deepEqual(await w.next(1), [[{ type: 'put', key: '/p/1', value: 'yes', revision: res.revision }]]);
        assert.equal(w.batches.length, 1);
      });

      it('reports deletes without a value', async (t) => {
        const s = await fresh(t);
        await s.put('/del/k', 'v');
        const w = await collect(t, s, '/del/', (await s.revision()) + 1);
        await s.delete('/del/missing'); // no event: nothing changed
        const r = await s.revision();
        assert.equal(await s.delete('/del/k'), true);
        const [[ev]] = await w.next(1);
        assert.deepEqual(ev, { type: 'delete', key: '/del/k', revision: r + 1 });
        assert.equal('value' in ev && ev.value !== undefined, false);
      });

      it('delivers nothing after close', async (t) => {
        const s = await fresh(t);
        const from = (await s.revision()) + 1;
        const closed = await collect(t, s, '/c/', from);
        const sentinel = await collect(t, s, '/c/', from);
        await s.put('/c/1', 'a');
        await closed.next(1);
        await closed.watch.close();
        await s.put('/c/2', 'b');
        await sentinel.next(2); // the second write has been delivered to a watcher that is still open...
        assert.equal(closed.batches.length, 1); // ...but not to the closed one
      });

      it('fails a watch from a compacted revision with onError', async (t) => {
        const s = await fresh(t);
        const r1 = await s.put('/h/1', 'a');
        await s.put('/h/1', 'b');
        const r3 = await s.put('/h/1', 'c');
        await s.compact(r3);
        const w = await collect(t, s, '/h/', r1);
        const err = await w.error();
        assert.match(err.message, /compacted/);
        assert.deepEqual(w.batches, []);
        const ok = await collect(t, s, '/h/', r3);
        assert.deepEqual(await ok.next(1), [[{ type: 'put', key: '/h/1', value: 'c', revision: r3 }]]);
      });

      it('ends the watch with onError when onEvents throws', async (t) => {
        const s = await fresh(t);
        const from = (await s.revision()) + 1; // not 1: another test may have compacted a shared etcd
        let calls = 0;
        const error = new Promise<Error>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no onError')), WAIT_MS);
          void s
            .watch('/boom/', from, {
              onEvents: () => {
                calls++;
                throw new Error('handler bug');
              },
              onError: (err) => {
                clearTimeout(timer);
                resolve(err);
              },
            })
            .then((w) => t.after(() => w.close()));
        });
        await s.put('/boom/1', 'x');
        assert.match((await error).message, /handler bug/);
        const sentinel = await collect(t, s, '/boom/', from);
        await s.put('/boom/2', 'y');
        await sentinel.next(2);
        assert.equal(calls, 1);
      });
    });
  });
}

/** A watch that records what it gets, with bounded waits for the next batches or the error. */
async function collect(t: TestContext, s: Store, prefix: string, from: number) {
  const batches: WatchEvent[][] = [];
  let error: Error | undefined;
  let wake = () => {};
  const watch: Watch = await s.watch(prefix, from, {
    onEvents: (events) => {
      batches.push(events);
      wake();
    },
    onError: (err) => {
      error = err;
      wake();
    },
  });
  t.after(() => watch.close());
  const until = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + WAIT_MS;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`watch '${prefix}': timed out waiting for ${what}; got ${JSON.stringify(batches)} ${error ?? ''}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100); // re-check the deadline even if nothing arrives
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  let seen = 0;
  return {
    watch,
    batches,
    /** The next `n` batches (waits for them); fails on a watch error. */
    async next(n: number): Promise<WatchEvent[][]> {
      await until(() => batches.length >= seen + n || error !== undefined, `${n} batch(es)`);
      if (batches.length < seen + n) throw error;
      seen += n;
      return batches.slice(seen - n, seen);
    },
    async error(): Promise<Error> {
      await until(() => error !== undefined, 'an error');
      return error!;
    },
  };
}

function isKind(kind: string) {
  return (err: unknown) => err instanceof RomanaError && err.kind === kind;
}

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
