// `romana policy simulate|explain|compile` as a process (the built bin/romana).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'examples', 'cluster.yaml');
const romana = (args: string[], input?: string) => spawnSync(process.execPath, [join(ROOT, 'bin', 'romana'), ...args], { encoding: 'utf8', input, timeout: 30_000 });

let dir = '';
before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'romana.mjs')), 'dist/romana.mjs is missing: run `node scripts/build.mjs` (make test does)');
  dir = mkdtempSync(join(tmpdir(), 'policy-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('romana policy simulate', () => {
  it('-o json works as a global option and after the subcommand', () => {
    const a = romana(['-o', 'json', 'policy', 'simulate', '-f', EXAMPLE]);
    const b = romana(['policy', 'simulate', '-f', EXAMPLE, '-o', 'json']);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
    const r = JSON.parse(a.stdout) as { results: { from: string; to: string; port: number; protocol: string; allowed: boolean }[] };
    assert.deepEqual(Object.keys(r.results[0]), ['from', 'to', 'port', 'protocol', 'allowed']);
    assert.ok(r.results.some((x) => !x.allowed), 'denied probes are answers');
  });

  it('prints one matrix per port/protocol by default (. allowed, X denied)', () => {
    const r = romana(['policy', 'simulate', '-f', EXAMPLE, '--probe', 'globex/web-1,acme/web-1,80/TCP', '--probe', 'acme/web-2,acme/web-1,80/TCP', '--probe', 'acme/web-1,acme/db-1,5432/tcp']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, [
      '80/TCP        acme/web-1',
      'globex/web-1  X',
      'acme/web-2    .',
      '',
      '5432/TCP    acme/db-1',
      'acme/web-1  .',
      '',
      '3 probes: 2 allowed (.), 1 denied (X)',
      '',
    ].join('\n'));
  });

  it('reads the cluster from stdin with -f -, and probes externals as destinations', () => {
    const r = romana(['-o', 'json', 'policy', 'simulate', '-f', '-', '--probe', 'globex/db-1,ext/dns,53/UDP', '--probe', 'acme/db-1,ext/dns,53/UDP'], readFileSync(EXAMPLE, 'utf8'));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).results.map((x: { allowed: boolean }) => x.allowed), [false, true]);
  });

  it('invalid input exits 2 with the field path; an unknown endpoint too', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(EXAMPLE, 'utf8').replace('rules: [{protocol: tcp, ports: [5432]}]', 'rules: [{protocol: tcp, ports: [99999]}]'));
    const r = romana(['policy', 'simulate', '-f', bad]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^romana: invalid: policies\[2\]\.ingress\[0\]\.rules\[0\]\.ports\[0\]: must be an integer from 1 to 65535, got 99999\n$/);
    const u = romana(['policy', 'simulate', '-f', EXAMPLE, '--probe', 'acme/nope,acme/web-1,80/TCP']);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /no pod or external named 'acme\/nope'/);
    const m = romana(['policy', 'simulate', '-f', join(dir, 'missing.yaml')]);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /cannot read .*missing.yaml.*ENOENT/);
    const p = romana(['policy', 'simulate', '-f', EXAMPLE, '--probe', 'acme/web-1']);
    assert.equal(p.status, 2);
  });
});

describe('romana policy explain', () => {
  it('gives the verdict and the reason in each direction', () => {
    const r = romana(['policy', 'explain', '-f', EXAMPLE, '--from', 'acme/web-1', '--to', 'acme/db-1', '--port', '5432/TCP']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, [
      'acme/web-1 -> acme/db-1 5432/TCP: ALLOWED',
      '  egress of acme/web-1: allowed',
      '    no policy selects acme/web-1 for egress: not isolated, all egress allowed',
      '  ingress of acme/db-1: allowed',
      '    isolated for ingress by acme-db; from acme/web-1 on 5432/TCP allowed by acme-db ingress[0] (peer ingress[0].peers[0], port ingress[0].rules[0])',
      '',
    ].join('\n'));
  });

  it('-o json has both directions', () => {
    const r = romana(['policy', 'explain', '-f', EXAMPLE, '--from', 'globex/db-1', '--to', 'ext/dns', '--port', '53/UDP', '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(r.stdout);
    assert.equal(e.allowed, false);
    assert.deepEqual(e.egress.policies, ['globex-db-no-egress']);
    assert.equal(e.ingress.allowed, true);
  });
});

describe('romana policy compile', () => {
  it('prints the ipset and iptables-restore text for one host', () => {
    const r = romana(['policy', 'compile', '-f', EXAMPLE, '--host', 'host1']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `# ipset restore\n${readFileSync(join(ROOT, 'test/policy/golden/example.host1.ipset'), 'utf8')}\n# iptables-restore --noflush\n${readFileSync(join(ROOT, 'test/policy/golden/example.host1.iptables'), 'utf8')}`);
  });

  it('--dataplane nftables prints the nft script; an unknown backend is a usage error', () => {
    const r = romana(['policy', 'compile', '-f', EXAMPLE, '--host', 'host1', '--dataplane', 'nftables']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `# nft -f\n${readFileSync(join(ROOT, 'test/policy/golden/example.host1.nft'), 'utf8')}`);
    const bad = romana(['policy', 'compile', '-f', EXAMPLE, '--host', 'host1', '--dataplane', 'pf']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--dataplane.*'pf' is invalid/);
  });
});
