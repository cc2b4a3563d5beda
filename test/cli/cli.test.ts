// The `romana` CLI as a user runs it: real processes against a real romanad.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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
    assert.equal(r.code, 1);
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
    assert.equal(YAML.parse(ok('policy', 'show', 'shop/deny')).metadata.namespace, 'shop');
    ok('policy', 'delete', 'shop/deny');
    assert.doesNotMatch(ok('policy', 'list'), /shop\/deny/);
  });
});

describe('romana CLI manners', () => {
  it('exit codes: 0 success, 1 the server refused or failed, 2 usage errors, the same for every command', () => {
    writeFileSync(join(dir, 'bad.yaml'), 'networks: [unclosed\n');
    const usage: string[][] = [
      ['host', 'list', '--bogus'], ['host', 'lst'], ['host', 'add', 'h9'], ['address', 'release'], ['topology', 'apply'],
      ['topology', 'apply', '-f', join(dir, 'missing.yaml')], ['topology', 'apply', '-f', join(dir, 'bad.yaml')],
      ['policy', 'apply', '-f', join(dir, 'missing.yaml')], ['policy', 'apply', '-f', join(dir, 'bad.yaml')],
      ['-o', 'fancy', 'host', 'list'], ['--token-file', join(dir, 'missing.token'), 'host', 'list'], ['host', 'label', 'h1', 'novalue'],
      ['ipam', 'check', '--grace', 'soon'], ['policy', 'compile', '-f', join(dir, 'bad.yaml'), '--host', 'h1'],
    ];
    for (const args of usage) {
      const r = romana(...args);
      assert.equal(r.code, 2, `romana ${args.join(' ')} -> ${r.code}: ${r.err}`);
      assert.ok(r.err.trim().length > 0, `romana ${args.join(' ')} says why`);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    }
    for (const args of [['host', 'show', 'nope'], ['address', 'release', 'nope'], ['host', 'add', 'h9', '--ip', '1.2.3']]) {
      const r = romana(...args);
      assert.equal(r.code, 1, `romana ${args.join(' ')} -> ${r.code}: ${r.err}`);
      assert.match(r.err, /^romana: (not_found|invalid): /);
    }
    assert.equal(romana('--help').code, 0);
  });

  it('-o name, -o wide, --no-headers and -o json|yaml on every kind of command', () => {
    assert.equal(ok('-o', 'name', 'host', 'list'), 'host/h1\n');
    assert.match(ok('-o', 'wide', 'address', 'list'), /^NAME\s+IP\s+HOST\s+TENANT\s+SEGMENT\s+BLOCK\s+NETWORK\s+CREATED\s+ATTRIBUTES\n/);
    assert.match(ok('-o', 'wide', 'block', 'list'), /ALLOCATED\s+FREE\n10\.8\.0\.0\/29\s+n\s+h1\s+t\s+default\s+1\s+7\n/);
    assert.doesNotMatch(ok('--no-headers', 'network', 'list'), /NAME/);
    assert.equal(ok('network', 'list', '--no-headers', '-o', 'wide').trim().split(/\s+/).join(' '), 'n 10.8.0.0/16 29 * 65536 8192');
    const b = JSON.parse(ok('-o', 'json', 'blackout', 'add', '10.8.200.0/30'));
    assert.deepEqual(b, { network: 'n', cidr: '10.8.200.0/30' });
    assert.equal(ok('-o', 'name', 'blackout', 'remove', '10.8.200.0/30'), 'blackout/10.8.200.0/30\n');
    ok('host', 'add', 'h7', '--ip', '192.168.5.7');
    assert.deepEqual(YAML.parse(ok('-o', 'yaml', 'host', 'remove', 'h7')), { name: 'h7', ip: '192.168.5.7', labels: {}, agent_port: 9604 });
    assert.equal(ok('-o', 'name', 'topology', 'show'), 'topology\n');
  });

  it('address list filters by tenant, segment and network, combined', () => {
    ok('address', 'allocate', '--name', 'f1', '--host', 'h1', '--tenant', 'blue', '--segment', 'a');
    ok('address', 'allocate', '--name', 'f2', '--host', 'h1', '--tenant', 'blue', '--segment', 'b');
    ok('address', 'allocate', '--name', 'f3', '--host', 'h1', '--tenant', 'red', '--segment', 'a');
    assert.equal(ok('-o', 'name', 'address', 'list', '--tenant', 'blue'), 'address/f1\naddress/f2\n');
    assert.equal(ok('-o', 'name', 'address', 'list', '--segment', 'a', '--tenant', 'blue'), 'address/f1\n');
    assert.equal(ok('-o', 'name', 'address', 'list', '--network', 'nope'), '');
    assert.match(ok('-o', 'name', 'address', 'list', '--network', 'n', '--host', 'h1'), /address\/f3/);
  });

  it('host label merges labels as kubectl does: key=value sets, key- removes, a changed value needs --overwrite', () => {
    ok('host', 'label', 'h1', 'zone=a', 'tier=web');
    assert.deepEqual(JSON.parse(ok('-o', 'json', 'host', 'show', 'h1')).labels, { rack: 'r1', zone: 'a', tier: 'web' });
    const r = romana('host', 'label', 'h1', 'zone=b');
    assert.equal(r.code, 2);
    assert.match(r.err, /already has zone=a; give --overwrite/);
    ok('host', 'label', 'h1', 'zone=b', 'tier-', '--overwrite');
    assert.deepEqual(JSON.parse(ok('-o', 'json', 'host', 'show', 'h1')).labels, { rack: 'r1', zone: 'b' });
    ok('host', 'label', 'h1', 'zone-');
    assert.deepEqual(JSON.parse(ok('-o', 'json', 'host', 'show', 'h1')).labels, { rack: 'r1' });
  });

  it('says in one line when the server is not romanad', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.url === '/hosts') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"hs": []}');
      if (req.url === '/blocks') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
      res.writeHead(404, { 'content-type': 'text/html' }).end(`<html><body>${'<p>Not Found</p>\n'.repeat(50)}</body></html>`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const run = (...args: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN('romana'), '--api', url, ...args]);
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => resolve({ code, err }));
    });
    try {
      for (const [args, re] of [
        [['host', 'list'], /the answer is not romanad's \(answer\.\w+: Expected required property\)/],
        [['block', 'list'], /HTTP 200 answered text\/html that is not JSON: is this romanad\?/],
        [['network', 'list'], /not_found: GET http:\/\/127\.0\.0\.1:\d+\/networks: HTTP 404 \(text\/html\), not an answer from romanad/],
      ] as [string[], RegExp][]) {
        const r = await run(...args);
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, re);
        assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
      }
    } finally {
      server.close();
    }
  });
});

describe('romana topology', () => {
  it('shows the groups as a table; -o yaml applied again after hosts changed undoes nothing, and says so', () => {
    assert.match(ok('topology', 'show'), /NETWORK\s+CIDR\s+BLOCK MASK\s+TENANTS\nn\s+10\.8\.0\.0\/16\s+29\s+\*\n\nGROUP\s+CIDRS\s+ASSIGNMENT\s+HOSTS\na\s+n 10\.8\.0\.0\/17\s+\d+\nb\s+n 10\.8\.128\.0\/17\s+\d+\n/);
    ok('host', 'add', 'old', '--ip', '192.168.5.50', '--label', 'x=1');
    writeFileSync(join(dir, 'shown.yaml'), ok('-o', 'yaml', 'topology', 'show'));
    ok('host', 'remove', 'old');
    ok('host', 'label', 'h1', 'x=2');
    const dry = ok('topology', 'apply', '-f', join(dir, 'shown.yaml'), '--dry-run');
    assert.match(dry, /^host old: skipped \(listed in the document but does not exist: not added/m);
    assert.match(dry, /\(dry run: nothing was changed\)\n$/);
    assert.equal(ok('topology', 'diff', '-f', join(dir, 'shown.yaml')), dry.replace(/\n[^\n]*\(dry run: nothing was changed\)\n$/, '\n'));
    assert.match(ok('topology', 'apply', '-f', join(dir, 'shown.yaml')), /topology applied: \d change\(s\)\n$/);
    assert.doesNotMatch(ok('-o', 'name', 'host', 'list'), /host\/old/);
    assert.equal(JSON.parse(ok('-o', 'json', 'host', 'show', 'h1')).labels.x, '2');
    ok('host', 'label', 'h1', 'x-');
  });
  it('refuses unknown fields naming them, and changes nothing', () => {
    writeFileSync(join(dir, 'typo.yaml'), 'networks: [{name: n, cidr: 10.8.0.0/16, blockmask: 24}]\ntopologies:\n  - networks: [n]\n    map: [{name: a, assigment: {rack: r1}, groups: []}, {name: b, groups: []}]\n');
    const r = romana('topology', 'apply', '-f', join(dir, 'typo.yaml'));
    // The user's file, checked before anything is sent: a usage error (exit 2), naming the file and field.
    assert.equal(r.code, 2);
    assert.equal(r.err, `romana: invalid: ${join(dir, 'typo.yaml')}: networks[0].blockmask: is not a known field (did you mean 'block_mask'?)\n`);
    assert.match(ok('topology', 'diff', '-f', join(dir, 't.yaml')), /^no change\n$/);
  });
});

describe('romana address release', () => {
  it('--name and --ip say which; one of them, or an argument, is required', () => {
    const a = JSON.parse(ok('-o', 'json', 'address', 'allocate', '--name', 'r1', '--host', 'h1', '--tenant', 'rel'));
    const b = JSON.parse(ok('-o', 'json', 'address', 'allocate', '--name', 'r2', '--host', 'h1', '--tenant', 'rel'));
    assert.equal(romana('address', 'release', 'r1', '--ip', a.ip).code, 2);
    assert.equal(romana('address', 'release').code, 2);
    const named = romana('address', 'allocate', '--name', '10.8.9.9', '--host', 'h1', '--tenant', 'rel');
    assert.equal(named.code, 1);
    assert.match(named.err, /reads as an IP address/);
    assert.equal(ok('address', 'release', '--ip', b.ip), `released r2 (${b.ip})\n`);
    assert.equal(ok('-o', 'name', 'address', 'release', '--name', 'r1'), 'address/r1\n');
  });
});
