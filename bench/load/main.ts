// Sustained load (not a test): real romanad processes, on SQLite and on a real etcd, with auth the way
// a cluster runs it: 8 allocators, each a host's cni token allocating and releasing on its own host
// with a window of addresses, and one admin creating, replacing and deleting policies, for 60 s.
// Reports rates, p50/p99/max latency and errors (expected: none; any error fails the run), then
// checks that romanad's state is what the clients believe. Baselines in the same run: the raw store
// (etcd get + CAS txn at the same concurrency; a better-sqlite3 one-row transaction loop) and an HTTP
// round trip through romanad without the store (GET /healthz).
//   BENCH_LOAD_SECONDS=10 node --import tsx bench/load/main.ts     (default 60 s per backend)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/cli/client.js';
import { startEtcd } from '../../test/helpers/etcd.js';
import { type Romanad, startRomanad } from '../../test/helpers/romanad.js';
import { fmt } from '../lib/stats.js';
import { httpFloor, rawEtcdCas, rawSqlite } from './baselines.js';
import { consistency } from './check.js';
import { Allocator, PolicyWriter, drive } from './clients.js';
import { HEADER, type OpStats, Recorder, cpuSeconds, row } from './record.js';

const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const BASE_SECONDS = Number(process.env.BENCH_LOAD_BASELINE_SECONDS ?? Math.min(15, SECONDS));
const HOSTS = Number(process.env.BENCH_LOAD_CLIENTS ?? 8);
const WINDOW = 32;
// Every client connects from 127.0.0.1, so romanad's per-address limit (default 1000/s) would cap the
// sum of 9 simulated hosts, each of which has its own address in a cluster: the run would measure the
// limiter. A limit this high keeps the limiter's per-request work in the measured path but never trips
// (a 429 would count as an error). BENCH_LOAD_RATE_LIMIT=1000 shows the default limit doing just that.
const RATE_LIMIT = Number(process.env.BENCH_LOAD_RATE_LIMIT ?? 100_000);
const OPS = ['allocate', 'release', 'policy apply', 'policy delete'];

const tmp = mkdtempSync(join(tmpdir(), 'bench-load-'));
const token = () => randomBytes(18).toString('base64url');
const adminToken = token();
const hostTokens = Array.from({ length: HOSTS }, (_, i) => ({ host: `host-${i}`, token: token() }));
const authFile = join(tmp, 'auth.json');
writeFileSync(authFile, JSON.stringify({
  tokens: [{ token: adminToken, role: 'admin', name: 'bench-admin' }, ...hostTokens.map((t) => ({ token: t.token, role: 'cni', host: t.host, name: `cni-${t.host}` }))],
}), { mode: 0o600 });

const table: string[] = [...HEADER];
const print = (l: string) => { table.push(l); console.log(l); };
let failures = 0;

async function load(backend: string, romanad: Romanad, audit: string, storePid?: number): Promise<void> {
  const admin = new ApiClient({ baseUrl: romanad.url, token: adminToken, timeoutMs: 10_000 });
  await admin.post('/topology', {
    networks: [{ name: 'n', cidr: '10.0.0.0/8', block_mask: 29 }],
    topologies: [{ networks: ['n'], map: Array.from({ length: 4 }, () => ({ groups: [] })) }],
  });
  for (const [i, t] of hostTokens.entries()) await admin.post('/hosts', { name: t.host, ip: `192.168.0.${i + 1}` });
  const setupChanges = 1 + HOSTS;

  // Unthrottled it would only hit the limit (429s): the floor is meaningful with the limit out of reach.
  if (RATE_LIMIT === 0 || RATE_LIMIT >= 10_000) print(row(backend, `GET /healthz, ${HOSTS + 1} clients (HTTP floor)`, await httpFloor(admin, BASE_SECONDS, HOSTS + 1)));

  const rec = new Recorder();
  const allocators = hostTokens.map((t) => new Allocator(new ApiClient({ baseUrl: romanad.url, token: t.token, timeoutMs: 10_000 }), t.host, WINDOW, rec));
  const writer = new PolicyWriter(admin, rec);
  const cpu0 = { romanad: cpuSeconds(romanad.proc.pid!), store: storePid ? cpuSeconds(storePid) : NaN, self: process.cpuUsage() };
  // The rate of each 10 s shows whether romanad (or the store's growing history) slows down over time.
  let last = { t: 0, n: 0 };
  const seconds = await drive([...allocators, writer], SECONDS, (t) => {
    const n = OPS.reduce((sum, o) => sum + rec.count(o), 0);
    console.log(`  ${backend} ${t.toFixed(0)} s: ${OPS.map((o) => `${rec.count(o)} ${o}`).join(', ')}, ${rec.errorCount()} errors; ` +
      `${fmt((n - last.n) / (t - last.t), 0)} ops/s in the last 10 s, load ${loadavg()[0].toFixed(2)}`);
    last = { t, n };
  });
  const self = process.cpuUsage(cpu0.self);
  const pct = (s: number) => `${fmt((s / seconds) * 100, 0)}%`;
  console.log(`  ${backend}: CPU over ${fmt(seconds, 1)} s (of one core; 2 cores): romanad ${pct(cpuSeconds(romanad.proc.pid!) - cpu0.romanad)}` +
    `${storePid ? `, etcd ${pct(cpuSeconds(storePid) - cpu0.store)}` : ''}, clients ${pct((self.user + self.system) / 1e6)}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  for (const op of OPS) print(row(backend, op, rec.stats(op, seconds), rec.errorCount(op)));
  print(row(backend, '**total**', rec.total(OPS, seconds), rec.errorCount()));
  rec.printErrors(`  ${backend}`);
  failures += rec.errorCount();

  const problems = await consistency(admin, allocators, writer);
  // Every accepted change leaves one audit line with result ok; a refusal leaves one too.
  const lines = readFileSync(audit, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { result: string });
  const ok = lines.filter((l) => l.result === 'ok').length;
  const changes = setupChanges + OPS.reduce((n, o) => n + rec.count(o), 0);
  if (ok !== changes) problems.push(`audit log: ${ok} changes with result ok, the clients made ${changes}`);
  if (lines.length !== ok) problems.push(`audit log: ${lines.length - ok} refused or failed requests`);
  const heldNow = allocators.reduce((n, a) => n + a.held.length, 0);
  console.log(`  ${backend} consistency: ${heldNow} addresses held, ${writer.existing.size} policies, ${lines.length} audit lines: ` +
    (problems.length ? `${problems.length} PROBLEMS` : 'all stored as the clients believe, ipam check clean'));
  for (const p of problems.slice(0, 40)) console.log(`    ${p}`);
  failures += problems.length;
}

async function withRomanad(opts: Parameters<typeof startRomanad>[0], fn: (r: Romanad, audit: string) => Promise<void>): Promise<void> {
  const audit = join(tmp, `audit-${Date.now()}.log`);
  const r = await startRomanad({ ...opts, token: adminToken, extraArgs: ['--auth-file', authFile, '--rate-limit', String(RATE_LIMIT), '--audit-log', audit] });
  try {
    await fn(r, audit);
  } catch (e) {
    console.log(`romanad's log:\n${r.logs().slice(-4000)}`);
    throw e;
  } finally {
    await r.stop();
  }
}

console.log(`Sustained load: ${HOSTS} allocators (cni token per host, window ${WINDOW}) + 1 policy writer (admin), ${SECONDS} s per backend, ` +
  `one request in flight per client, a new connection per request (the project's ApiClient); --rate-limit ${RATE_LIMIT} (all clients share 127.0.0.1). ` +
  `node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
try {
  print(row('SQLite', 'raw better-sqlite3 read + upsert txn, 1 writer (baseline)', rawSqlite(BASE_SECONDS, HOSTS + 1)));
  await withRomanad({}, (r, audit) => load('SQLite', r, audit));

  const etcd = await startEtcd();
  try {
    const raw: OpStats = await rawEtcdCas(etcd.endpoint, BASE_SECONDS, HOSTS + 1);
    print(row('etcd', `raw etcd get + CAS txn, ${HOSTS + 1} workers (baseline)`, raw));
    await withRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: '/load' }, (r, audit) => load('etcd', r, audit, etcd.pid));
  } finally {
    await etcd.stop();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`\n${table.join('\n')}`);
if (failures > 0) {
  console.log(`\nFAILED: ${failures} errors or consistency problems (expected none)`);
  process.exitCode = 1;
}
