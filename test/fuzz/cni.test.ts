// Hostile CNI input: network configurations on stdin and CNI_* environments. The parsers either
// accept or throw a CniError carrying one of the spec's codes and a message; the bundled plugin answers
// garbage with exit 1 and exactly one spec error object on stdout, never a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { COMMANDS, parseArgs, parseConfig, parseEnv, versionOf } from '../../src/cni/config.js';
import { CniError, parseResult, toErrorResult } from '../../src/cni/spec.js';
import { RUNS, deepJson, hostile, mutated } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PLUGIN = join(ROOT, 'dist', 'romana-cni.mjs');
/** Codes a parser may answer bad input with: version, unsupported field, environment, decoding, config. */
const PARSE_CODES = [1, 2, 4, 6, 7];

const CONFIGS: Record<string, unknown>[] = [
  { cniVersion: '1.1.0', name: 'romana-net', type: 'romana', romana_api: 'http://127.0.0.1:1', host: 'h1', mtu: 1450, log_level: 'info', dns: { nameservers: ['10.0.0.10'] } },
  {
    cniVersion: '1.0.0', name: 'k8s', type: 'romana', romana_api: 'https://romanad:9600/', segment_label_name: 'seg',
    runtimeConfig: { labels: { app: 'web' } }, args: { cni: { labels: [{ key: 'seg', value: 'front' }] } },
    prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/x', mac: '0a:00:00:00:00:01' }], ips: [{ address: '10.0.0.5/32', interface: 0, gateway: '169.254.1.1' }], routes: [{ dst: '0.0.0.0/0' }] },
  },
  { cniVersion: '1.1.0', name: 'gc', type: 'romana', romana_api: 'http://127.0.0.1:1', 'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'eth0' }], ipMasq: false },
];

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/rcni-fuzz-none', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;IgnoreUnknown=1', CNI_PATH: '/opt/cni/bin' };
const envValue = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => s.replace(/\0/g, '')),
  fc.constantFrom('', 'ADD', 'DEL', 'add', 'VERSION', ' ADD', '-x', '.', '..', 'eth/0', 'a234567890123456', '=;=', 'K=V=W;;', ';;;', 'é', '🙂'),
);
const envs = fc.tuple(fc.constantFrom(...Object.keys(ENV)), fc.oneof(envValue, fc.constant(undefined)), fc.boolean()).map(([k, v, second]) => {
  const e: Record<string, string | undefined> = { ...ENV, [k]: v };
  if (second) e.CNI_ARGS = `${e.CNI_ARGS};${v ?? ''}`;
  return e;
});

function parseOrCniError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CniError)) throw new Error(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
    assert.ok(PARSE_CODES.includes(e.code), `code ${e.code}: ${e.message}`);
    assert.ok(e.message.length > 0);
    const r = toErrorResult(e, '1.1.0');
    assert.equal(r.code, e.code);
    assert.ok(!('details' in r) || !String(r.details).includes('    at '), 'a stack trace in details');
  }
}

describe('CNI parsers on hostile input', () => {
  it('property: any text on stdin, for every command', () => {
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), hostile.map((v) => JSON.stringify(v) ?? ''));
    fc.assert(fc.property(text, fc.constantFrom(...COMMANDS), (t, c) => {
      parseOrCniError(() => parseConfig(t, c));
      assert.ok(['0.4.0', '1.0.0', '1.1.0'].includes(versionOf(t)));
    }), { numRuns: RUNS });
  });

  it('property: valid configurations changed in 1-3 places', () => {
    fc.assert(fc.property(mutated(CONFIGS), fc.constantFrom(...COMMANDS), (v, c) => void parseOrCniError(() => parseConfig(JSON.stringify(v) ?? '', c))), { numRuns: RUNS * 2 });
  });

  it('property: CNI_* environments with odd, missing or repeated values', () => {
    fc.assert(fc.property(envs, (e) => {
      parseOrCniError(() => parseEnv(e));
      parseOrCniError(() => parseArgs(e.CNI_ARGS ?? ''));
    }), { numRuns: RUNS });
  });

  it('property: previous results of any shape', () => {
    fc.assert(fc.property(fc.oneof(hostile, mutated([(CONFIGS[1] as { prevResult: unknown }).prevResult])), (v) => void parseOrCniError(() => parseResult(v))), { numRuns: RUNS });
  });

  it('regression: a prevResult field that is an object is a decoding error (6), not a TypeError (999)', () => {
    // {"toString": []} is valid JSON, and String() of it throws "Cannot convert object to primitive value".
    const odd = { toString: [] };
    for (const prev of [{ interfaces: [{ name: odd }] }, { ips: [{ address: odd }] }, { routes: [{ dst: odd }] }]) {
      assert.throws(() => parseResult(prev), (e: unknown) => e instanceof CniError && e.code === 6 && /^prevResult\.\w+\[0\]\.\w+ must be a string$/.test(e.message));
    }
  });

  it('regression: an unknown field nested 100,000 deep is code 2, not a RangeError (999)', () => {
    const text = `{"cniVersion":"1.1.0","name":"n","type":"romana","romana_api":"http://x","extra":${deepJson(100000, '[', ']', '')}}`;
    assert.throws(() => parseConfig(text, 'ADD'), (e: unknown) => e instanceof CniError && e.code === 2 && /^unsupported field extra=\[\.\.\.\]$/.test(e.message));
    const mtu = `{"cniVersion":"1.1.0","name":"n","type":"romana","romana_api":"http://x","mtu":${deepJson(100000, '[', ']', '')}}`;
    assert.throws(() => parseConfig(mtu, 'ADD'), (e: unknown) => e instanceof CniError && e.code === 7 && /^mtu must be an integer/.test(e.message));
  });
});

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the bundled plugin in a private, empty network namespace, so no input can touch the host's. */
function runPlugin(env: Record<string, string | undefined>, stdin: string | Buffer): Promise<Run> {
  return new Promise((ok, fail) => {
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const p = spawn('unshare', ['--net', '--', process.execPath, PLUGIN], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...clean }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('error', fail);
    p.on('close', (code) => ok({ code, stdout, stderr }));
    p.stdin.on('error', () => undefined); // the plugin may exit before reading all of a large stdin
    p.stdin.end(stdin);
  });
}

function assertSpecError(r: Run, what: string): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one JSON document on stdout: ${r.stdout}`);
  const j = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j).filter((k) => k !== 'details'), ['cniVersion', 'code', 'msg'], what);
  assert.ok(typeof j.code === 'number' && j.code !== 999, `${what}: code ${String(j.code)}: ${String(j.msg)}`);
  assert.ok(typeof j.msg === 'string' && j.msg.length > 0, what);
  for (const out of [r.stdout, r.stderr]) assert.ok(!/\n\s+at |\| +at /.test(out), `${what}: a stack trace: ${out}`);
}

describe('the bundled plugin on garbage', () => {
  it('exits 1 with one spec error object on stdout, never a stack trace', async () => {
    if (process.getuid?.() !== 0) throw new Error('these runs use a private network namespace (unshare --net): run them as root');
    if (!existsSync(PLUGIN)) throw new Error('dist/romana-cni.mjs is missing: run `node scripts/build.mjs` (make test does)');
    const good = JSON.stringify(CONFIGS[0]);
    const cases: [string, Record<string, string | undefined>, string | Buffer][] = [
      ['binary stdin', ENV, Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0xc3, 0x28, 0x22])],
      ['empty stdin', ENV, ''],
      ['a JSON string', ENV, '"romana"'],
      ['a garbage command', { ...ENV, CNI_COMMAND: 'ÄDD\u202e' }, good],
      ['no environment at all', {}, good],
      ['CNI_ARGS without =', { ...ENV, CNI_ARGS: ';;=x;K8S' }, good],
      ['a 2 MB container ID', { ...ENV, CNI_CONTAINERID: 'a'.repeat(100000) + '/' }, good],
      ['an unknown field 100,000 deep', ENV, `{"cniVersion":"1.1.0","name":"n","type":"romana","romana_api":"http://127.0.0.1:1","x":${deepJson(100000, '[', ']', '')}}`],
      ['CHECK with an object-valued prevResult name', { ...ENV, CNI_COMMAND: 'CHECK' }, JSON.stringify({ ...CONFIGS[0], prevResult: { interfaces: [{ name: { toString: [] } }] } })],
      ['a missing network namespace', ENV, good],
    ];
    // A few random ones as well, from a fixed seed so a failure reproduces.
    const sampled = fc.sample(fc.tuple(envs, mutated(CONFIGS)), { seed: 6, numRuns: 4 });
    for (const [i, [e, c]] of sampled.entries()) {
      // The log file is the one setting that writes somewhere; keep it out of the garbage.
      const conf = c !== null && typeof c === 'object' && !Array.isArray(c) ? { ...c, log_file: undefined } : c;
      cases.push([`sample ${i}`, e, JSON.stringify(conf) ?? '']);
    }
    const runs = await Promise.all(cases.map(([, env, stdin]) => runPlugin(env, stdin)));
    for (const [i, r] of runs.entries()) {
      const [what, env] = cases[i];
      if (env.CNI_COMMAND === 'VERSION' && r.code === 0) continue; // VERSION ignores the configuration
      assertSpecError(r, what);
    }
  });
});
