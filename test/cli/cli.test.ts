// The `romana` CLI as a user runs it: real processes against a real romanad.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

let d: Romanad;
let dir: string;
const romana = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN('romana'), '--api', d.url, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const ok = (...args: string[]) => {
  const r = romana(...args);
  assert.equal(r.code, 0, `romana ${args.join(' ')}: ${r.err}`);
  return r.out;
};

before(async () => {
  d = await startRomanad();
  dir = mkdtempSync(join(tmpdir(), 'romana-cli-'));
});
after(async () => {
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('romana CLI', () => {
  it('applies a YAML topology and shows it as JSON', () => {
    writeFileSync(join(dir, 't.yaml'), 'networks: [{name: n, cidr: 10.8.0.0/16}]\ntopologies:\n  - networks: [n]\n    map: [{name: a, groups: []}, {name: b, groups: []}]\n');
    ok('topology', 'apply', '-f', join(dir, 't.yaml'));
    const t = JSON.parse(ok('-o', 'json', 'topology', 'show'));
    assert.deepEqual(t.topologies[0].map.map((g: { cidr: string }) => g.cidr), ['10.8.0.0/17', '10.8.128.0/17']);
    assert.match(ok('network', 'list'), /n\s+10\.8\.0\.0\/16\s+29\s+\*/);
  });
  it('adds, lists, shows and removes hosts', () => {
    assert.match(ok('host', 'add', 'h1', '--ip', '192.168.5.1', '--label', 'rack=r1'), /h1\s+192\.168\.5\.1\s+9604\s+rack=r1/);
    ok('host', 'add', 'h2', '--ip', '192.168.5.2');
    const hosts = YAML.parse(ok('-o', 'yaml', 'host', 'list'));
    assert.deepEqual(hosts.hosts.map((h: { name: string }) => h.name), ['h1', 'h2']);
    assert.equal(JSON.parse(ok('-o', 'json', 'host', 'show', 'h2')).ip, '192.168.5.2');
  });
  it('allocates, lists and releases addresses; lists blocks per host', () => {
    const a = JSON.parse(ok('-o', 'json', 'address', 'allocate', '--name', 'p1', '--host', 'h1', '--tenant', 'shop', '--segment', 'web'));
    assert.equal(a.ip, '10.8.0.0');
    ok('address', 'allocate', '--name', 'p2', '--host', 'h2', '--tenant', 'shop');
    assert.match(ok('block', 'list', '--host', 'h1'), /10\.8\.0\.0\/29\s+n\s+h1\s+shop\s+web\s+1/);
    assert.doesNotMatch(ok('block', 'list', '--host', 'h1'), /h2/);
    assert.match(ok('address', 'list'), /p2\s+10\.8\.128\.0\s+h2\s+shop\s+default/);
    assert.match(ok('address', 'release', '10.8.0.0'), /released p1/);
  });
  it('prints the error and exits non-zero on mistakes', () => {
    const r = romana('address', 'allocate', '--name', 'p2', '--host', 'h2', '--tenant', 'shop');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /exists: address 'p2' already exists/);
    const h = romana('host', 'remove', 'h2');
    assert.notEqual(h.code, 0);
    assert.match(h.err, /conflict/);
    ok('host', 'remove', 'h2', '--force');
    assert.doesNotMatch(ok('host', 'list'), /h2/);
    const bad = romana('host', 'add', 'h3', '--ip', '1.2.3');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /ip/);
    const down = spawnSync(process.execPath, [BIN('romana'), '--api', 'http://127.0.0.1:1', 'host', 'list'], { encoding: 'utf8' });
    assert.notEqual(down.status, 0);
    assert.match(down.stderr, /cannot reach romanad/);
  });
  it('manages blackouts', () => {
    ok('blackout', 'add', '10.8.0.0/30');
    assert.match(ok('blackout', 'list'), /n\s+10\.8\.0\.0\/30/);
    assert.equal(JSON.parse(ok('-o', 'json', 'address', 'allocate', '--name', 'p3', '--host', 'h1', '--tenant', 't')).ip, '10.8.0.4');
    ok('blackout', 'remove', '10.8.0.0/30');
    assert.doesNotMatch(ok('blackout', 'list'), /10\.8\.0\.0/);
  });
  it('applies, lists, shows and deletes policies', () => {
    writeFileSync(join(dir, 'p.yaml'), [
      'apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata: {name: deny, namespace: shop}', 'spec: {podSelector: {}}', '---',
      'id: web-in', 'direction: ingress', 'applied_to: [{tenant: shop, segment: web}]', 'ingress: [{peers: [{peer: any}], rules: [{protocol: tcp, ports: [80]}]}]', '',
    ].join('\n'));
    ok('policy', 'apply', '-f', join(dir, 'p.yaml'));
    const list = ok('policy', 'list');
    assert.match(list, /shop\/deny/);
    assert.match(list, /web-in/);
    assert.equal(YAML.parse(ok('policy', 'show', 'shop/deny')).object.metadata.namespace, 'shop');
    ok('policy', 'delete', 'shop/deny');
    assert.doesNotMatch(ok('policy', 'list'), /shop\/deny/);
  });
});
