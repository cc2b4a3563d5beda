// Where `make test`'s time goes: runs each test file alone under the shared test lock (so a number is
// not another engineer's run) and prints a table of wall time per file, slowest first, with the load
// average when each file started. Usage: node scripts/test-times.mjs [--out FILE.json] [test files...]
// (default: every test/**/*.test.ts). The lock is held for at most ROMANA_TEST_HOLD seconds (default
// 180) at a time, then given up between two files so that others' runs interleave.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LOCK = process.env.ROMANA_TEST_LOCK ?? '/tmp/romana-test.lock';
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const outFile = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;

function find(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? find(p) : n.endsWith('.test.ts') ? [p] : [];
  });
}
const files = args.length ? args : find('test').sort();

const HOLD_MS = Number(process.env.ROMANA_TEST_HOLD ?? 180) * 1000;
let holder; // a flock process that holds the lock until its stdin closes
let heldSince = 0;

async function acquire() {
  if (holder) return;
  holder = spawn('flock', [LOCK, 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((ok, fail) => {
    holder.stdout.once('data', ok);
    holder.once('exit', (code) => fail(new Error(`flock ${LOCK} exited ${code}`)));
  });
  heldSince = Date.now();
}

async function release() {
  if (!holder) return;
  const h = holder;
  holder = undefined;
  await new Promise((ok) => { h.once('exit', ok); h.stdin.end(); });
}

/** One file, while the lock is held: its wall time, start-up included. */
async function runOne(file) {
  await acquire();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=tap', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('close', (code) => {
      const ms = Date.now() - t0;
      const count = (k) => Number(new RegExp(`^# ${k} (\\d+)`, 'm').exec(out)?.[1] ?? 0);
      resolve({ file, ms, code, load, tests: count('tests'), fail: count('fail'), log: out });
    });
  });
}

const rows = [];
for (const f of files) {
  const r = await runOne(f);
  if (Date.now() - heldSince > HOLD_MS) await release();
  rows.push(r);
  process.stderr.write(`${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.tests} tests${r.fail ? ` ${r.fail} FAILED` : ''}  load ${r.load}  ${f}\n`);
  if (r.code !== 0) process.stderr.write(r.log.split('\n').filter((l) => /^\s*not ok|^\s+(error|message):|disagree|kernel (allowed|denied)/.test(l)).slice(0, 20).join('\n') + '\n');
}
await release();
rows.sort((a, b) => b.ms - a.ms);
const total = rows.reduce((s, r) => s + r.ms, 0);
const table = ['| file | tests | wall s | load at start |', '|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.file}${r.code ? ' (FAILED)' : ''} | ${r.tests} | ${(r.ms / 1000).toFixed(1)} | ${r.load} |`),
  `| total, one file at a time | ${rows.reduce((s, r) => s + r.tests, 0)} | ${(total / 1000).toFixed(0)} | |`].join('\n');
console.log(table);
if (outFile) writeFileSync(outFile, JSON.stringify(rows.map(({ log, ...r }) => r), null, 2));
