// romanad as a process: where it agrees to listen without an auth file, HTTPS with tokens for every
// client (the CLI, the agent's store reader, the CNI plugin), the audit log file, and TLS to etcd.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/client.js';
import { RemoteStore } from '../../src/store/remote.js';
import { CA_PEM, CLI_KEY, CLI_PEM, SRV_KEY, SRV_PEM } from '../cni/tls-fixtures.js';
import { BIN, ROOT, type Romanad, requireBuilt, startRomanad } from '../helpers/romanad.js';

const dir = mkdtempSync(join(tmpdir(), 'romana-trust-'));
const f = (name: string, text: string, mode = 0o600) => {
  writeFileSync(join(dir, name), text, { mode });
  return join(dir, name);
};
const TOKENS = { admin: 'admin-0123456789abcdef', agent: 'agent-0123456789abcdef', readonly: 'readonly-0123456789abcdef', cni: 'cni-h1-0123456789abcdef' };
const files = {
  ca: f('ca.pem', CA_PEM), cert: f('srv.pem', SRV_PEM), key: f('srv.key', SRV_KEY), cliCert: f('cli.pem', CLI_PEM), cliKey: f('cli.key', CLI_KEY),
  auth: f('auth.yaml', `tokens:\n  - {token: ${TOKENS.admin}, role: admin, name: ops}\n  - {token: ${TOKENS.agent}, role: agent, host: h1}\n` +
    `  - {token: ${TOKENS.readonly}, role: readonly}\n  - {token: ${TOKENS.cni}, role: cni, host: h1}\n`),
  adminToken: f('admin.token', `${TOKENS.admin}\n`), cniToken: f('cni.token', TOKENS.cni), audit: join(dir, 'audit.log'),
};
after(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const romana = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [BIN('romana'), ...args], { env: { ROMANA_TOKEN: '', ROMANA_TOKEN_FILE: '', ROMANA_CA: '', ...env } });

describe('where romanad listens without an auth file', () => {
  before(requireBuilt);

  it('refuses a non-loopback address without --auth-file, naming the fix', () => {
    const r = run(process.execPath, [BIN('romanad'), '--listen', '0.0.0.0', '--port', '0', '--data-dir', join(dir, 'refused')]);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /--listen 0\.0\.0\.0 is not a loopback address: give --auth-file \(or --insecure-no-auth/);
  });

  it('says on loopback that it serves without authentication', async () => {
    const d = await startRomanad();
    try {
      assert.match(d.logs(), /no --auth-file: serving without authentication, on loopback only/);
    } finally {
      await d.stop();
    }
  });

  it('with --insecure-no-auth listens anywhere and warns at every start (in a scratch network namespace)', async () => {
    assert.equal(process.getuid?.(), 0, 'this test needs root: it runs romanad in its own network namespace');
    const ns = `rtrust-${process.pid}`;
    assert.equal(run('ip', ['netns', 'add', ns]).code, 0);
    try {
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      for (let i = 0; i < 2; i++) {
        const p: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN('romanad'), '--listen', '0.0.0.0', '--port', '0', '--insecure-no-auth', '--data-dir', join(dir, 'insecure')]);
        let out = '';
        p.stdout!.on('data', (d) => (out += d));
        p.stderr!.on('data', (d) => (out += d));
        await new Promise<void>((ok, fail) => {
          const t = setTimeout(() => fail(new Error(`romanad did not start:\n${out}`)), 15000);
          p.stdout!.on('data', () => out.includes('romanad ready') && (clearTimeout(t), ok()));
        });
        const port = /"url":"http:\/\/[^:]+:(\d+)"/.exec(out)![1];
        const listening = run('ip', ['netns', 'exec', ns, 'ss', '-Hltn']).out;
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
        assert.match(out, /"level":40.*INSECURE: --insecure-no-auth/);
        assert.match(listening, new RegExp(`0\\.0\\.0\\.0:${port}\\b`));
      }
    } finally {
      run('ip', ['netns', 'del', ns]);
    }
  });

  it('refuses a bad auth file, naming the field', () => {
    const bad = f('bad-auth.json', JSON.stringify({ tokens: [{ token: 'short', role: 'admin' }] }));
    const r = run(process.execPath, [BIN('romanad'), '--auth-file', bad, '--port', '0', '--data-dir', join(dir, 'bad')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /tokens\[0\]\.token/);
  });
});

describe('HTTPS and tokens for every client', () => {
  let d: Romanad;
  before(async () => {
    d = await startRomanad({
      extraArgs: ['--tls-cert', files.cert, '--tls-key', files.key, '--auth-file', files.auth, '--audit-log', files.audit],
      token: TOKENS.admin, ca: CA_PEM,
    });
    assert.match(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await d.api.post('/topology', {
      networks: [{ name: 'n', cidr: '10.7.0.0/24', block_mask: 29 }],
      topologies: [{ networks: ['n'], map: [{ name: 'r1', groups: [{ name: 'h1', ip: '192.0.2.1' }] }] }],
    });
  });
  after(() => d?.stop());

  it('the CLI needs --ca (or ROMANA_CA) and a token', () => {
    const ok = romana(['--api', d.url, '--ca', files.ca, '--token-file', files.adminToken, '-o', 'json', 'host', 'list']);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(JSON.parse(ok.out).hosts[0].name, 'h1');
    assert.equal(romana(['--api', d.url, '-o', 'json', 'host', 'list'], { ROMANA_CA: files.ca, ROMANA_TOKEN_FILE: files.adminToken }).code, 0);
    const noCa = romana(['--api', d.url, '--token-file', files.adminToken, 'host', 'list']);
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.err, /unavailable: .*certificate.*is --ca the CA that signed romanad's certificate\?/);
    const noToken = romana(['--api', d.url, '--ca', files.ca, 'host', 'list']);
    assert.notEqual(noToken.code, 0);
    assert.match(noToken.err, /unauthorized: this request needs a bearer token/);
    const plain = romana(['--api', d.url.replace('https', 'http'), '--token-file', files.adminToken, 'host', 'list']);
    assert.notEqual(plain.code, 0);
  });

  it('the agent\'s store reader lists and watches with an agent token; readonly may not watch', async () => {
    const agent = new RemoteStore({ baseUrl: d.url, token: TOKENS.agent, ca: CA_PEM });
    const listed = await agent.list('/romana/');
    assert.ok(listed.items.some((kv) => kv.key.includes('h1')));
    const got: unknown[] = [];
    const w = await agent.watch('/romana/', listed.revision + 1, { onEvents: (e) => got.push(...e) });
    await d.api.put('/namespaces/watched', { labels: {} });
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await w.close();
    assert.ok(got.length > 0, 'the watch saw the change');
    const ro = new RemoteStore({ baseUrl: d.url, token: TOKENS.readonly, ca: CA_PEM });
    await assert.rejects(ro.watch('/romana/', 1, { onEvents: () => undefined }), (e: Error & { kind?: string }) => e.kind === 'forbidden');
    const noCa = new RemoteStore({ baseUrl: d.url, token: TOKENS.agent });
    await assert.rejects(noCa.list('/romana/'), /certificate/);
  });

  it('the CNI plugin reaches it with romana_ca_file and its host-bound token', () => {
    const conf = (extra: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'romana', romana_api: d.url, host: 'h1', romana_token_file: files.cniToken, ...extra });
    const env = { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' };
    const ok = run(process.execPath, [join(ROOT, 'dist', 'romana-cni.mjs')], { input: conf({ romana_ca_file: files.ca }), env });
    assert.equal(ok.code, 0, ok.out + ok.err);
    const bad = run(process.execPath, [join(ROOT, 'dist', 'romana-cni.mjs')], { input: conf({}), env });
    assert.notEqual(bad.code, 0);
    assert.match(JSON.parse(bad.out).details ?? JSON.parse(bad.out).msg, /certificate/);
    const missing = run(process.execPath, [join(ROOT, 'dist', 'romana-cni.mjs')], { input: conf({ romana_ca_file: join(dir, 'nope.pem') }), env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /romana_ca_file .*nope\.pem cannot be read/);
  });

  it('writes every change to the audit log file, with who made it', async () => {
    await d.api.put('/namespaces/audit-me', { labels: { a: 'b' } });
    const denied = new ApiClient({ baseUrl: d.url, token: TOKENS.readonly, ca: CA_PEM });
    await assert.rejects(denied.put('/namespaces/not-me', { labels: {} }), (e: Error & { kind?: string }) => e.kind === 'forbidden');
    let lines: Record<string, unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      lines = readFileSync(files.audit, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      if (lines.some((l) => l.url === '/namespaces/not-me')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ok = lines.find((l) => l.url === '/namespaces/audit-me');
    assert.deepEqual([ok?.who, ok?.role, ok?.method, ok?.status, ok?.result], ['ops', 'admin', 'PUT', 201, 'ok']);
    const no = lines.find((l) => l.url === '/namespaces/not-me');
    assert.deepEqual([no?.role, no?.status, no?.result], ['readonly', 403, 'forbidden']);
    assert.ok(!readFileSync(files.audit, 'utf8').includes(TOKENS.readonly), 'tokens never reach the audit log');
  });
});

describe('TLS to etcd', () => {
  let etcd: ChildProcess | undefined;
  let endpoint = '';
  const etcdDir = join(dir, 'etcd');
  before(async () => {
    const port = 30000 + 2 * Math.floor(Math.random() * 5000);
    endpoint = `https://127.0.0.1:${port}`;
    const peer = `http://127.0.0.1:${port + 1}`;
    etcd = spawn('etcd', [
      '--name', 't', '--data-dir', etcdDir, '--logger=zap', '--log-level=error', '--heartbeat-interval=10', '--election-timeout=50', '--max-txn-ops=10000',
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `t=${peer}`, '--cert-file', files.cert, '--key-file', files.key, '--trusted-ca-file', files.ca, '--client-cert-auth',
    ], { stdio: 'ignore' });
    etcd.on('error', (e) => assert.fail(`etcd could not start (is etcd-server installed?): ${e.message}`));
  });
  after(async () => {
    if (etcd && etcd.exitCode === null) {
      etcd.kill('SIGTERM');
      await new Promise((r) => etcd!.once('exit', r));
    }
  });

  it('romanad passes the CA and client certificate through; without the client certificate etcd answers nothing and the API says unavailable', async () => {
    const d = await startRomanad({ etcdEndpoints: endpoint, extraArgs: ['--etcd-ca', files.ca, '--etcd-cert', files.cliCert, '--etcd-key', files.cliKey] });
    const topo = { networks: [{ name: 'n', cidr: '10.8.0.0/24', block_mask: 29 }], topologies: [{ networks: ['n'], map: [{ name: 'r', groups: [{ name: 'h', ip: '192.0.2.9' }] }] }] };
    try {
      let last: unknown;
      for (let i = 0; i < 60; i++) {
        try {
          await d.api.post('/topology', topo);
          last = undefined;
          break;
        } catch (e) {
          last = e; // etcd still starting
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      assert.equal(last, undefined, `romanad could not use etcd over TLS: ${(last as Error)?.message}\n${d.logs()}`);
      const a = await d.api.post<{ ip: string }>('/address', { name: 'pod', host: 'h', tenant: 't' });
      assert.match(a.ip, /^10\.8\.0\./);
    } finally {
      await d.stop();
    }
    const noCert = await startRomanad({ etcdEndpoints: endpoint, extraArgs: ['--etcd-ca', files.ca] });
    try {
      const t0 = Date.now();
      await assert.rejects(noCert.api.get('/hosts'), (e: Error & { kind?: string }) => e.kind === 'unavailable');
      assert.ok(Date.now() - t0 < 10000, 'answers within the store deadline');
    } finally {
      await noCert.stop();
    }
    const r = run(process.execPath, [BIN('romanad'), '--etcd-endpoints', endpoint, '--etcd-cert', files.cliCert, '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--etcd-cert and --etcd-key: give both or neither/);
  });
});
