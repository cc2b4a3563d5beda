// The public NetworkPolicy conformance cases (../shared/conformance/netpol, README section "netpol"),
// driven through the real CLI process: `romana policy simulate -f FILE -o json`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const CASES = resolve(ROOT, process.env.NETPOL_CASES ?? '../shared/conformance/netpol');
const BIN = join(ROOT, 'bin', 'romana');

interface Probe { from: string; to: string; port: number; protocol: string }
interface Expected extends Probe { allowed: boolean }
interface Case { id: string; title: string; cluster: Record<string, any>; expected: Expected[] }

const key = (p: Probe) => `${p.from} -> ${p.to} ${p.port}/${p.protocol}`;

function romana(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
  });
}

/** The default probe set, as the README defines it, computed independently of the implementation. */
function defaultProbeKeys(cluster: Case['cluster']): string[] {
  const pods = (cluster.pods ?? []) as { namespace: string; name: string; ports: { port: number; protocol: string }[] }[];
  const sources = [...pods.map((p) => `${p.namespace}/${p.name}`), ...((cluster.externals ?? []) as { name: string }[]).map((e) => `ext/${e.name}`)];
  return sources.flatMap((from) => pods.flatMap((to) => to.ports.map((pt) => key({ from, to: `${to.namespace}/${to.name}`, port: pt.port, protocol: pt.protocol.toUpperCase() })))).sort();
}

let dir = '';
before(() => {
  assert.ok(existsSync(CASES), `conformance cases not found at ${CASES}`);
  assert.ok(existsSync(join(ROOT, 'dist', 'romana.mjs')), 'dist/romana.mjs is missing: run `node scripts/build.mjs` (make test does)');
  dir = mkdtempSync(join(tmpdir(), 'netpol-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const files = existsSync(CASES) ? readdirSync(CASES).filter((f) => f.endsWith('.json')).sort() : [];

describe('netpol conformance (romana policy simulate)', () => {
  it('has cases', () => assert.ok(files.length >= 20, `only ${files.length} cases in ${CASES}`));

  for (const f of files) {
    const c = JSON.parse(readFileSync(join(CASES, f), 'utf8')) as Case;
    it(`${c.id}: ${c.title}`, async () => {
      const file = join(dir, `${c.id}.json`);
      writeFileSync(file, JSON.stringify(c.cluster));

      // 1. The default probe set: exactly every pod and external to every port each pod serves.
      const r1 = await romana(['policy', 'simulate', '-f', file, '-o', 'json']);
      assert.equal(r1.code, 0, `exit ${r1.code}: ${r1.stderr}`);
      const res1 = (JSON.parse(r1.stdout) as { results: Expected[] }).results;
      const got = res1.map(key).sort();
      assert.equal(new Set(got).size, got.length, 'no probe is answered twice');
      assert.deepEqual(got, defaultProbeKeys(c.cluster), 'answers exactly the default probe set');
      for (const r of res1) assert.equal(r.protocol, r.protocol.toUpperCase());
      const verdict = new Map(res1.map((r) => [key(r), r.allowed]));

      // 2. Expected probes to externals, asked one --probe each.
      const ext = c.expected.filter((e) => e.to.startsWith('ext/'));
      if (ext.length) {
        const r2 = await romana(['policy', 'simulate', '-f', file, '-o', 'json', ...ext.flatMap((e) => ['--probe', `${e.from},${e.to},${e.port}/${e.protocol}`])]);
        assert.equal(r2.code, 0, `exit ${r2.code}: ${r2.stderr}`);
        const res2 = (JSON.parse(r2.stdout) as { results: Expected[] }).results;
        assert.deepEqual(res2.map(key), ext.map(key), 'answers exactly the probes asked');
        for (const r of res2) verdict.set(key(r), r.allowed);
      }

      const wrong = c.expected.filter((e) => verdict.get(key(e)) !== e.allowed);
      assert.deepEqual(wrong.map((e) => `${key(e)}: expected ${e.allowed ? 'allowed' : 'denied'}, got ${verdict.get(key(e))}`), []);
    });
  }
});
