// `romana policy apply|delete -f` over many objects and files, against a real romanad whose rate limit
// is low enough to be hit; `policy show -o yaml` applied again; `simulate --live`; `compile --host`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

let d: Romanad;
let dir: string;
const romana = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN('romana'), '--api', d.url, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const ok = (...args: string[]) => {
  const r = romana(...args);
  assert.equal(r.code, 0, `romana ${args.join(' ')}: ${r.err}`);
  return r;
};
const romanaPolicy = (id: string, port: number) => ({ id, direction: 'ingress', applied_to: [{ tenant: 'shop' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [port] }] }] });
const N = 300;

before(async () => {
  d = await startRomanad({ extraArgs: ['--rate-limit', '60'] });
  dir = mkdtempSync(join(tmpdir(), 'romana-bulk-'));
});
after(async () => {
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('policy apply -f and delete -f', () => {
  it(`applies ${N} policies through the rate limit (waiting out the 429s), reporting each and its progress`, () => {
    writeFileSync(join(dir, 'many.json'), JSON.stringify({ kind: 'List', items: Array.from({ length: N }, (_, i) => romanaPolicy(`p${i}`, 1000 + i)) }));
    const t0 = Date.now();
    const r = ok('policy', 'apply', '-f', join(dir, 'many.json'));
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, N);
    assert.ok(lines.every((l) => /^policy\/p\d+ created$/.test(l)), lines.slice(0, 3).join('\n'));
    assert.match(r.err, new RegExp(`applied ${N}/${N} \\(waited out \\d+ busy answer\\(s\\) from romanad\\)`), r.err);
    assert.ok(Date.now() - t0 > 3000, 'the rate limit was really in the way');
    assert.equal(JSON.parse(ok('-o', 'json', 'policy', 'list').out).policies.length, N);
  });

  it('repeated -f and -f DIR apply every file; each object is created, configured or unchanged', () => {
    const sub = join(dir, 'set');
    mkdirSync(sub);
    writeFileSync(join(sub, 'a.yaml'), `id: a1\ndirection: ingress\napplied_to: [{tenant: t}]\ningress: []\n---\nid: a2\ndirection: ingress\napplied_to: [{tenant: t}]\ningress: []\n`);
    writeFileSync(join(sub, 'b.json'), JSON.stringify(romanaPolicy('b1', 80)));
    writeFileSync(join(sub, 'notes.txt'), 'not a policy file: skipped');
    writeFileSync(join(dir, 'c.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n');
    assert.equal(ok('policy', 'apply', '-f', sub, '-f', join(dir, 'c.yaml')).out, 'policy/a1 created\npolicy/a2 created\npolicy/b1 created\npolicy/shop/deny created\n');
    writeFileSync(join(sub, 'b.json'), JSON.stringify(romanaPolicy('b1', 81)));
    assert.equal(ok('policy', 'apply', '-f', sub).out, 'policy/a1 unchanged\npolicy/a2 unchanged\npolicy/b1 configured\n');
  });

  it('an id given twice, or a bad file among good ones, is refused before anything is applied', () => {
    const before = JSON.parse(ok('-o', 'json', 'policy', 'list').out).revision;
    writeFileSync(join(dir, 'd1.yaml'), JSON.stringify(romanaPolicy('dup', 1)));
    writeFileSync(join(dir, 'd2.yaml'), `${JSON.stringify(romanaPolicy('fresh', 2))}\n---\n${JSON.stringify(romanaPolicy('dup', 3))}\n`);
    const r = romana('policy', 'apply', '-f', join(dir, 'd1.yaml'), '-f', join(dir, 'd2.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.err, /policy 'dup' is given twice \(.*d1\.yaml: policies\[0\] and .*d2\.yaml: policies\[1\]\); nothing was applied/);
    writeFileSync(join(dir, 'bad.yaml'), 'id: bad\ndirection: sideways\n');
    assert.equal(romana('policy', 'apply', '-f', join(dir, 'd1.yaml'), '-f', join(dir, 'bad.yaml')).code, 2);
    assert.equal(romana('policy', 'apply', '-f', join(dir, 'nowhere')).code, 2);
    assert.equal(JSON.parse(ok('-o', 'json', 'policy', 'list').out).revision, before, 'nothing was written');
  });

  it('delete -f removes what the files name; a missing one is an error unless --ignore-not-found', () => {
    assert.equal(ok('policy', 'delete', '-f', join(dir, 'set')).out, 'policy/a1 deleted\npolicy/a2 deleted\npolicy/b1 deleted\n');
    const again = romana('policy', 'delete', '-f', join(dir, 'set'));
    assert.equal(again.code, 1);
    assert.match(again.err, /romana: policy\/a1: not_found: policy 'a1' does not exist/);
    assert.match(again.err, /3 of 3 policies not deleted/);
    assert.equal(ok('policy', 'delete', '-f', join(dir, 'set'), '--ignore-not-found').out, 'policy/a1 not found\npolicy/a2 not found\npolicy/b1 not found\n');
    assert.equal(ok('-o', 'name', 'policy', 'delete', 'shop/deny').out, 'policy/shop/deny\n');
  });

  it('policy show -o yaml can be applied again as it is', () => {
    writeFileSync(join(dir, 'shown.yaml'), ok('-o', 'yaml', 'policy', 'show', 'p7').out);
    assert.equal(ok('policy', 'apply', '-f', join(dir, 'shown.yaml')).out, 'policy/p7 unchanged\n');
  });
});

describe('policy simulate --live and compile --host', () => {
  it('simulates against romanad\'s current state (POST /policies/simulate, as the agents see it)', async () => {
    ok('policy', 'delete', ...Array.from({ length: N }, (_, i) => `p${i}`));
    // The delete waited out the rate limit (60 a second from this address) and may have used up the
    // current second; this test's own client does not retry a 429, so it waits for the next window.
    await new Promise((r) => setTimeout(r, 1100));
    await d.api.post('/topology', { networks: [{ name: 'n', cidr: '10.9.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
    await d.api.post('/hosts', { name: 'h1', ip: '192.168.9.1' });
    await d.api.put('/namespaces/shop', { labels: {} });
    for (const [pod, role] of [['web', 'web'], ['db', 'db']]) {
      await d.api.put(`/pods/shop/${pod}`, { labels: { role }, ports: [{ port: 80, protocol: 'TCP' }] });
      await d.api.post('/address', { name: `c-${pod}`, host: 'h1', tenant: 'shop', attributes: { namespace: 'shop', pod } });
    }
    await d.api.put('/pods/shop/pending', { labels: {} });
    const open = JSON.parse(ok('-o', 'json', 'policy', 'simulate', '--live').out).results as { from: string; to: string; allowed: boolean }[];
    assert.ok(open.length > 0 && open.every((x) => x.allowed));
    await d.api.post('/policies', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db', namespace: 'shop' }, spec: { podSelector: { matchLabels: { role: 'db' } }, ingress: [] } });
    const r = ok('-o', 'json', 'policy', 'simulate', '--live', '--probe', 'shop/web,shop/db,80/TCP', '--probe', 'shop/db,shop/web,80/TCP');
    assert.deepEqual(JSON.parse(r.out).results.map((x: { allowed: boolean }) => x.allowed), [false, true]);
    // A pod without an address is no endpoint (as for the agents): probing it is refused, naming it.
    const pending = romana('policy', 'simulate', '--live', '--probe', 'shop/pending,shop/db,80/TCP');
    assert.equal(pending.code, 1);
    assert.match(pending.err, /probes\[0\]\.from: no pod or external named 'shop\/pending'/);
    assert.equal(romana('policy', 'simulate').code, 2);
    assert.equal(romana('policy', 'simulate', '--live', '-f', 'x').code, 2);
  });

  it('compile --host with a host the cluster file does not have is an error', () => {
    writeFileSync(join(dir, 'cluster.yaml'), 'namespaces: [{name: x}]\npods: [{namespace: x, name: a, ip: 10.0.0.1, host: h1, ports: [{port: 80}]}]\npolicies: []\n');
    assert.match(ok('policy', 'compile', '-f', join(dir, 'cluster.yaml'), '--host', 'h1').out, /iptables-restore/);
    const r = romana('policy', 'compile', '-f', join(dir, 'cluster.yaml'), '--host', 'h9');
    assert.equal(r.code, 2);
    assert.match(r.err, /--host: 'h9' is not a host of .*cluster\.yaml \(its hosts: h1\)/);
  });
});
