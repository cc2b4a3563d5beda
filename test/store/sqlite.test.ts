import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/store/open.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { WatchEvent } from '../../src/store/store.js';
import { storeConformance } from './conformance.js';

storeConformance('sqlite (in memory)', async () => new SqliteStore());

describe('SqliteStore on disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'romana-sqlite-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('keeps data, revisions and history across close and reopen', async () => {
    const dir = join(root, 'reopen', 'nested'); // openStore creates missing directories
    const a = await openStore({ dataDir: dir });
    assert.equal(a.backend, 'sqlite');
    const r1 = await a.put('/hosts/h1', 'one');
    const r2 = (await a.txn([{ key: '/hosts/h2', modRevision: 0 }], [{ type: 'put', key: '/hosts/h2', value: 'two' }])).revision;
    await a.close();
    assert.ok(existsSync(join(dir, 'romana.db')));

    const b = await openStore({ dataDir: dir });
    try {
      assert.equal(await b.revision(), r2);
      assert.deepEqual(await b.get('/hosts/h1'), { key: '/hosts/h1', value: 'one', createRevision: r1, modRevision: r1 });
      assert.deepEqual((await b.list('/hosts/')).items.map((kv) => kv.value), ['one', 'two']);
      // The event log survived too: a watch from r1 replays both writes.
      const got: WatchEvent[][] = [];
      const done = new Promise<void>((resolve) => {
        void b.watch('/hosts/', r1, { onEvents: (ev) => (got.push(ev), got.length === 2 && resolve()) });
      });
      await done;
      assert.deepEqual(got.map((batch) => batch.map((e) => e.revision)), [[r1], [r2]]);
      assert.equal(await b.put('/hosts/h3', 'three'), r2 + 1, 'revisions continue where they left off');
    } finally {
      await b.close();
    }
  });

  it('keeps only the last retainRevisions revisions of watch history', async () => {
    const s = new SqliteStore({ dataDir: join(root, 'retain'), retainRevisions: 5 });
    try {
      for (let i = 1; i <= 12; i++) await s.put('/k', String(i)); // revisions 1..12; 8..12 retained
      const watchFrom = (from: number) =>
        new Promise<WatchEvent[][] | Error>((resolve) => {
          const got: WatchEvent[][] = [];
          void s.watch('/', from, {
            onEvents: (ev) => (got.push(ev), got.length === 12 - from + 1 && resolve(got)),
            onError: resolve,
          });
        });
      const old = await watchFrom(7);
      assert.ok(old instanceof Error && /compacted/.test(old.message), String(old));
      const kept = await watchFrom(8);
      assert.ok(Array.isArray(kept));
      assert.deepEqual(kept.map((b) => b[0].value), ['8', '9', '10', '11', '12']);
    } finally {
      await s.close();
    }
  });

  it('fails calls after close with kind unavailable', async () => {
    const s = new SqliteStore();
    await s.close();
    await assert.rejects(s.get('/x'), (err: Error & { kind?: string }) => err.kind === 'unavailable');
  });
});
