// romanad as an operator starts it: every mistake in a flag or file is one line naming it and a
// non-zero exit (no stack trace, no directory created), and a data directory serves one romanad only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, requireBuilt, startRomanad } from '../helpers/romanad.js';

let dir: string;
before(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'romanad-start-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function romanad(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN('romanad'), '--log-level', 'warn', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

function oneLine(r: { err: string }, re: RegExp) {
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.err}`);
  assert.match(lines[0], re);
  assert.doesNotMatch(r.err, /\n\s+at |FSTDEP/);
}

describe('romanad refuses bad flags and files in one line', () => {
  it('a bad port, a missing or wrong topology file, an audit log whose directory is missing or a file', () => {
    const data = join(dir, 'd1');
    const cases: [string[], number, RegExp][] = [
      [['--port', '99999'], 2, /--port <n>.*'99999' is invalid\. must be an integer from 0 to 65535/],
      [['--port', 'x'], 2, /--port/],
      [['--data-dir', data, '--port', '0', '--topology', join(dir, 'missing.yaml')], 2, /^romanad: --topology: .*missing\.yaml cannot be read \(ENOENT\)$/],
      [['--data-dir', data, '--port', '0', '--audit-log', '/etc/hostname/audit.log'], 2, /^romanad: --audit-log \/etc\/hostname\/audit\.log: \/etc\/hostname is not a directory$/],
      [['--data-dir', data, '--port', '0', '--audit-log', join(dir, 'nope', 'deeper', 'audit.log')], 2, /^romanad: --audit-log .*audit\.log: its directory .*nope\/deeper does not exist \(ENOENT\)$/],
      [['--bogus'], 2, /unknown option '--bogus'/],
    ];
    writeFileSync(join(dir, 'bits.yaml'), 'networks: [{name: n, cidr: 10.0.0.1/16}]\ntopologies: []\n');
    cases.push([['--data-dir', data, '--port', '0', '--topology', join(dir, 'bits.yaml')], 2, /^romanad: --topology .*bits\.yaml: networks\[0\]\.cidr: '10\.0\.0\.1\/16' has host bits set/]);
    writeFileSync(join(dir, 'typo.yaml'), 'networks: [{name: n, cidr: 10.0.0.0/16}]\ntopologies: [{networks: [n], map: [{name: a, assigment: {}}]}]\n');
    cases.push([['--data-dir', data, '--port', '0', '--topology', join(dir, 'typo.yaml')], 2, /^romanad: --topology .*typo\.yaml: topologies\[0\]\.map\[0\]\.assigment: is not a known field/]);
    for (const [args, code, re] of cases) {
      const r = romanad(...args);
      assert.equal(r.code, code, `romanad ${args.join(' ')}: ${r.err}`);
      oneLine(r, re);
    }
    assert.equal(existsSync(join(dir, 'nope')), false, 'no directory was created for the audit log');
  });

  it('a port in use names it; --topology is said to be ignored when the store has one; no deprecation warning', async () => {
    const data = join(dir, 'd2');
    writeFileSync(join(dir, 't.yaml'), 'networks: [{name: n, cidr: 10.0.0.0/16}]\ntopologies: [{networks: [n], map: [{groups: []}]}]\n');
    const d = await startRomanad({ dataDir: data, topologyFile: join(dir, 't.yaml') });
    try {
      assert.match(d.logs(), /loaded topology/);
      assert.doesNotMatch(d.logs(), /FSTDEP|Warning/);
      const port = new URL(d.url).port;
      const r = romanad('--data-dir', join(dir, 'd3'), '--port', port);
      assert.equal(r.code, 1);
      oneLine(r, new RegExp(`^romanad: --listen 127\\.0\\.0\\.1 --port ${port}: 127\\.0\\.0\\.1:${port} is already in use$`));
    } finally {
      await d.stop();
    }
    const again = await startRomanad({ dataDir: data, topologyFile: join(dir, 't.yaml') });
    try {
      assert.match(again.logs(), /--topology ignored: the store already has a topology/);
    } finally {
      await again.stop();
    }
  });
});

describe('one romanad per data directory', () => {
  it('a second romanad on the same --data-dir refuses to start, naming the first; a killed one leaves no stale lock', async () => {
    const data = join(dir, 'd4');
    const first = await startRomanad({ dataDir: data });
    try {
      const pid = first.proc.pid!;
      assert.equal(readFileSync(join(data, 'romanad.pid'), 'utf8').trim(), String(pid));
      const r = romanad('--data-dir', data, '--port', '0');
      assert.equal(r.code, 1);
      oneLine(r, new RegExp(`^romanad: --data-dir ${data} is in use by another romanad \\(pid ${pid}\\); stop it, or give this romanad another --data-dir$`));
      assert.equal((await first.api.get<{ ok: boolean }>('/healthz')).ok, true, 'the first one is untouched');
    } finally {
      await first.kill();
    }
    const next = await startRomanad({ dataDir: data });
    assert.equal(readFileSync(join(data, 'romanad.pid'), 'utf8').trim(), String(next.proc.pid));
    await next.stop();
    assert.equal(existsSync(join(data, 'romanad.pid')), false, 'a clean stop removes the PID file');
  });
});
