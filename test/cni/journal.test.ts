// The pending-release journal on a real filesystem, sent through the real IPAM code on an embedded
// store: crash points (a writer SIGKILLed at each), duplicates, order, and never twice even with two
// senders at once. No namespaces, no romanad process: the CNI DEL around it is in test/cni/pending.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { PendingSender, releaseViaStore } from '../../src/agent/pending.js';
import { StatusReporter } from '../../src/agent/report.js';
import { buildApp } from '../../src/server/app.js';
import { Journal, type PendingRelease, type ReleaseApi, journalDir, keyOf, sendPending } from '../../src/cni/pending.js';
import { Control } from '../../src/control/control.js';
import { RomanaError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

const ROOT = resolve(import.meta.dirname, '../..');
let store: Store;
let control: Control;
let tmp: string;
let j: Journal;
/** The real IPAM release, counting each conditional release that reaches it. */
let released: string[];
let api: ReleaseApi;

before(async () => {
  store = await openStore({});
  control = new Control(store);
  await control.topology.replace({ networks: [{ name: 'n', cidr: '10.80.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await control.topology.addHost({ name: 'h1', ip: '192.168.7.1' });
  await control.topology.addHost({ name: 'h2', ip: '192.168.7.2' });
});
after(async () => {
  await store?.close();
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rjournal-'));
  j = new Journal(journalDir(tmp));
  released = [];
  const real = releaseViaStore(store);
  api = { get: real.get, releaseIfUnchanged: async (a) => { released.push(a.name); return real.releaseIfUnchanged(a); } };
});
const cleanup = () => rmSync(tmp, { recursive: true, force: true });

const alloc = (name: string, host = 'h1') => control.ipam.allocate({ name, host, tenant: 't' }).then((a) => a.record);
const exists = async (name: string) => control.ipam.getAddress(name).then(() => true, (e: RomanaError) => (e.kind === 'not_found' ? false : Promise.reject(e)));
const rel = (name: string, ip?: string, host = 'h1'): PendingRelease => ({ name, host, network: 'n', container_id: name, ifname: 'eth0', ...(ip ? { ip } : {}), since: new Date().toISOString() });
const files = () => readdirSync(j.dir).sort();

/** A separate process that writes a release the way DEL does and is SIGKILLed at `at`. */
async function crashWriter(release: PendingRelease, at: 'after-begin' | 'after-defer' | 'hold'): Promise<{ pid: number; kill: () => void }> {
  const code = `
    const { Journal } = await import(${JSON.stringify(join(ROOT, 'src/cni/pending.ts'))});
    const j = new Journal(${JSON.stringify(j.dir)});
    const e = j.begin(${JSON.stringify(release)});
    if (${JSON.stringify(at)} === 'after-defer') j.defer(e);
    process.stdout.write('ready\\n');
    if (${JSON.stringify(at)} === 'hold') setInterval(() => {}, 1000); else process.kill(process.pid, 'SIGKILL');`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  await new Promise<void>((ok, fail) => {
    p.stdout.on('data', (d: Buffer) => (String(d).includes('ready') ? ok() : undefined));
    p.once('exit', (code, sig) => (at === 'hold' ? fail(new Error(`writer exited ${code ?? sig}: ${err}`)) : ok()));
  });
  if (at !== 'hold') await new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(undefined) : p.once('exit', r)));
  return { pid: p.pid!, kill: () => p.kill('SIGKILL') };
}

describe('pending-release journal', () => {
  it('crash right after the record (nothing torn down yet): the claim of the dead writer is taken over and sent', async () => {
    const a = await alloc('crash-1');
    await crashWriter(rel('crash-1', a.ip), 'after-begin');
    assert.match(files().join(), new RegExp(`^${keyOf('crash-1')}\\.sending\\.\\d+\\.\\d+$`), 'the record survived the writer as its claim');
    const r = await sendPending(j, 'h1', api);
    assert.deepEqual([r.released, released], [['crash-1'], ['crash-1']]);
    assert.equal(await exists('crash-1'), false);
    assert.deepEqual(files(), []);
    cleanup();
  });

  it('crash after the record was deferred (DEL returned): sent by the next sender', async () => {
    const a = await alloc('crash-2');
    await crashWriter(rel('crash-2', a.ip), 'after-defer');
    assert.deepEqual(files(), [`${keyOf('crash-2')}.pending`]);
    await sendPending(j, 'h1', api);
    assert.equal(await exists('crash-2'), false);
    assert.deepEqual(files(), []);
    cleanup();
  });

  it('a torn write (crash before the rename) is no entry: nothing is sent, and nothing was torn down for it', async () => {
    await alloc('torn');
    mkdirSync(j.dir, { recursive: true }); // the journal makes it on its first record; this stray file comes first
    writeFileSync(join(j.dir, `.${keyOf('torn')}.999.tmp`), '{"name":"torn","ho');
    const r = await sendPending(j, 'h1', api);
    assert.deepEqual([r.released, released], [[], []]);
    assert.equal(await exists('torn'), true);
    await control.ipam.release('torn');
    cleanup();
  });

  it('a live claim is left to its owner; once the owner dies it is taken over', async () => {
    const a = await alloc('held');
    const w = await crashWriter(rel('held', a.ip), 'hold');
    assert.deepEqual((await sendPending(j, 'h1', api)).released, [], 'the live writer owns it');
    assert.equal(await exists('held'), true);
    w.kill();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual((await sendPending(j, 'h1', api)).released, ['held']);
    cleanup();
  });

  it('oldest first, other hosts\' entries left alone', async () => {
    const names = ['o-1', 'o-2', 'o-3'];
    for (const n of names) await alloc(n);
    const other = await alloc('o-h2', 'h2');
    for (const n of [...names].reverse()) {
      const e = j.begin({ ...rel(n), since: `2026-01-0${names.indexOf(n) + 1}T00:00:00Z` });
      j.defer(e);
    }
    j.defer(j.begin(rel('o-h2', other.ip, 'h2')));
    await sendPending(j, 'h1', api);
    assert.deepEqual(released, names);
    assert.deepEqual(files(), [`${keyOf('o-h2')}.pending`], "h2's entry stays for h2's agent");
    assert.equal(await exists('o-h2'), true);
    await control.ipam.release('o-h2');
    cleanup();
  });

  it('duplicates (the same DEL recorded twice) are released once and all removed', async () => {
    const a = await alloc('dup');
    j.defer(j.begin(rel('dup', a.ip)));
    await crashWriter(rel('dup', a.ip), 'after-begin');
    assert.equal(files().length, 2);
    await sendPending(j, 'h1', api);
    assert.deepEqual(released, ['dup']);
    assert.deepEqual(files(), []);
    cleanup();
  });

  it('never twice: two senders at once release each address exactly once', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `twice-${i}`);
    for (const n of names) j.defer(j.begin(rel(n, (await alloc(n)).ip)));
    const [x, y] = await Promise.all([sendPending(j, 'h1', api), sendPending(j, 'h1', api)]);
    assert.deepEqual([...released].sort(), [...names].sort(), 'each reached IPAM once');
    assert.equal(x.released.length + y.released.length, names.length);
    assert.deepEqual(files(), []);
    cleanup();
  });

  it('re-made with another address since the DEL: not released', async () => {
    const a = await alloc('remade');
    j.defer(j.begin(rel('remade', a.ip)));
    await control.ipam.release('remade');
    await alloc('filler'); // takes the freed IP
    const b = await alloc('remade');
    assert.notEqual(b.ip, a.ip);
    const r = await sendPending(j, 'h1', api);
    assert.deepEqual([r.moot, released], [['remade'], []]);
    assert.equal(await exists('remade'), true);
    cleanup();
  });

  it('romanad unreachable: everything stays pending, in order, for the next try', async () => {
    for (const n of ['u-1', 'u-2']) j.defer(j.begin(rel(n, (await alloc(n)).ip)));
    const down: ReleaseApi = { get: async () => { throw new RomanaError('unavailable', 'cannot reach romanad'); }, releaseIfUnchanged: async () => undefined };
    const r = await sendPending(j, 'h1', down);
    assert.equal(r.stopped?.kind, 'unavailable');
    assert.deepEqual(r.kept, ['u-1', 'u-2']);
    assert.equal(files().filter((f) => f.endsWith('.pending')).length, 2);
    await sendPending(j, 'h1', api);
    assert.deepEqual(released, ['u-1', 'u-2']);
    cleanup();
  });

  it("the agent reports what is pending and `ipam check` shows it per host, until it is sent", async () => {
    const a = await alloc('shown');
    j.defer(j.begin(rel('shown', a.ip)));
    const app = await buildApp({ control });
    const down: ReleaseApi = { get: async () => { throw new RomanaError('unavailable', 'cannot reach romanad'); }, releaseIfUnchanged: async () => undefined };
    const log = { info: () => undefined, warn: () => undefined };
    const sender = new PendingSender({ stateDir: tmp, host: 'h1', api: down, log });
    const send = async (body: object) => {
      const r = await app.inject({ method: 'PUT', url: '/hosts/h1/status', payload: body });
      assert.equal(r.statusCode, 200, r.body);
    };
    const report = async () => {
      const rep = new StatusReporter({ send, status: () => ({ last_applied_revision: 1, syncs_with_changes: 1 }), pending: () => sender.pending(), interfaces: () => ['lo'], log });
      rep.start();
      await rep.stop();
    };
    type Check = { hosts: { host: string; pending_releases?: { name: string; ip?: string; since: string }[] }[] };
    const check = async () => JSON.parse((await app.inject({ method: 'GET', url: '/ipam/check' })).body) as Check;
    await report();
    const h1 = (await check()).hosts.find((h) => h.host === 'h1');
    assert.deepEqual(h1?.pending_releases?.map((p) => [p.name, p.ip]), [['shown', a.ip]]);
    assert.equal((await check()).hosts.find((h) => h.host === 'h2')?.pending_releases, undefined);
    await sendPending(j, 'h1', api);
    await report();
    assert.equal((await check()).hosts.find((h) => h.host === 'h1')?.pending_releases, undefined, 'gone once sent');
    await app.close();
    cleanup();
  });
});
