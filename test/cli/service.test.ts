// --version on every executable, `romana version` and `romana status` against a real romanad, and the
// bash and zsh completion scripts run by real bash and zsh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, type Romanad, startRomanad } from '../helpers/romanad.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let d: Romanad;
let dir: string;
const run = (bin: string, ...args: string[]) => spawnSync(process.execPath, [BIN(bin), ...args], { encoding: 'utf8' });
const romana = (...args: string[]) => run('romana', '--api', d.url, ...args);

before(async () => {
  d = await startRomanad();
  dir = mkdtempSync(join(tmpdir(), 'romana-service-'));
});
after(async () => {
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('versions', () => {
  it('--version on every executable in package.json\'s bin', () => {
    const bins = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
    assert.ok(bins.length >= 4);
    for (const b of bins) {
      if (!existsSync(BIN(b))) assert.fail(`bin/${b} is missing`);
      const r = run(b, '--version');
      assert.equal(r.status, 0, `${b}: ${r.stderr}`);
      assert.equal(r.stdout, `${b} ${VERSION}\n`);
    }
  });
  it('romana version: client and server; an unreachable server is said so, exit 1', () => {
    const r = romana('version');
    assert.equal(r.stdout, `client: romana ${VERSION}\nserver: romanad ${VERSION}\n`);
    assert.deepEqual(JSON.parse(romana('-o', 'json', 'version').stdout), { client: { version: VERSION }, server: { version: VERSION } });
    const down = run('romana', '--api', 'http://127.0.0.1:1', 'version');
    assert.equal(down.status, 1);
    assert.match(down.stdout, /^client: romana .*\nserver: unavailable: cannot reach romanad/);
  });
});

describe('romana status', () => {
  it('shows readiness, the store, and each host\'s agent report: age, applied revision, last error', async () => {
    await d.api.post('/topology', { networks: [{ name: 'n', cidr: '10.9.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
    await d.api.post('/hosts', { name: 'h1', ip: '192.168.9.1' });
    await d.api.post('/hosts', { name: 'h2', ip: '192.168.9.2' });
    await d.api.put('/hosts/h1/status', { interfaces: ['eth0'], last_applied_revision: 3, applied_change_revision: 1, report_interval_seconds: 30, last_error: 'sync: iptables-restore failed', last_error_at: '2026-01-01T00:00:00.000Z' });
    const r = romana('status');
    assert.equal(r.status, 0, r.stderr);
    const m = new RegExp(`^romanad ${VERSION}: ready; store sqlite at revision (\\d+) \\(newest change (\\d+)\\)\\n`).exec(r.stdout);
    assert.ok(m, r.stdout);
    const change = Number(m[2]);
    assert.ok(change > 1);
    assert.match(r.stdout, new RegExp(`\\nh1\\s+fresh\\s+\\d+s\\s+1/${change} BEHIND\\s+2026-01-01T00:00:00\\.000Z sync: iptables-restore failed\\n`));
    assert.match(r.stdout, /\nh2\s+none\n/);
    // An agent that applied the newest change is current.
    await d.api.put('/hosts/h2/status', { interfaces: [], last_applied_revision: change + 2, applied_change_revision: change, report_interval_seconds: 30, last_error: null });
    assert.match(romana('status').stdout, new RegExp(`\\nh2\\s+fresh\\s+\\d+s\\s+${change}/${change}\\s*\\n`));
    const j = JSON.parse(romana('-o', 'json', 'status').stdout);
    assert.deepEqual(j.hosts.map((h: { host: string; report: string }) => [h.host, h.report]), [['h1', 'fresh'], ['h2', 'fresh']]);
  });
});

describe('shell completion', () => {
  it('bash completes subcommands, flags and -o formats from the command tree', () => {
    writeFileSync(join(dir, 'c.bash'), romana('completion', 'bash').stdout);
    const complete = (words: string[]) => {
      const r = spawnSync('bash', ['-c', `source ${join(dir, 'c.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _romana; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(complete(['romana', 'ho']), 'host');
    assert.equal(complete(['romana', 'host', 'l']), 'list label');
    assert.equal(complete(['romana', '--api', 'http://x', 'topology', 'apply', '--d']), '--dry-run');
    assert.equal(complete(['romana', '-o', 'w']), 'wide');
    assert.match(complete(['romana', 'policy', '']), /\bsimulate\b.*\bapply\b.*\bdelete\b/);
    assert.equal(romana('completion', 'fish').status, 2);
    assert.equal(romana('-o', 'json', 'completion', 'bash').status, 2, 'a format it cannot show is refused');
  });
  it('zsh loads it (bashcompinit) and gets the same candidates', () => {
    const zsh = spawnSync('zsh', ['--version'], { encoding: 'utf8' });
    assert.equal(zsh.status, 0, 'zsh is needed for this test (scripts/install-deps.sh installs it)');
    writeFileSync(join(dir, 'c.zsh'), romana('completion', 'zsh').stdout);
    const r = spawnSync('zsh', ['-f', '-c', `source ${join(dir, 'c.zsh')}; print -r -- "\${_comps[romana]}"; setopt ksharrays; COMP_WORDS=(romana host l); COMP_CWORD=2; _romana; print -r -- "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [registered, candidates] = r.stdout.trim().split('\n');
    assert.equal(registered, '_bash_complete -F _romana');
    assert.ok(candidates.split(' ').includes('label') && candidates.split(' ').includes('list') && !candidates.includes('topology'), candidates);
  });
});

describe('make install', () => {
  it('puts every command on the PATH under PREFIX, npm-style, working from anywhere; uninstall removes it', async () => {
    const prefix = join(dir, 'prefix');
    const r = spawnSync(join(ROOT, 'scripts', 'install.sh'), [], { encoding: 'utf8', env: { ...process.env, PREFIX: prefix } });
    assert.equal(r.status, 0, r.stderr);
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    for (const b of ['romanad', 'romana', 'romana-agent', 'romana-cni']) {
      const v = spawnSync(b, ['--version'], { encoding: 'utf8', env, cwd: tmpdir() });
      assert.equal(v.stdout, `${b} ${VERSION}\n`, `${b}: ${v.stderr}`);
    }
    assert.ok(!existsSync(join(prefix, 'lib', 'node_modules', 'romana', 'node_modules', 'typescript')), 'development dependencies are left out');
    // The installed romanad really serves (its runtime dependencies are all there).
    const { spawn } = await import('node:child_process');
    const p = spawn('romanad', ['--data-dir', join(dir, 'installed-data'), '--port', '0'], { env, cwd: tmpdir() });
    const ready = await new Promise<boolean>((ok) => {
      let out = '';
      p.stdout.on('data', (c) => { out += c; if (out.includes('romanad ready')) ok(true); });
      p.on('exit', () => ok(false));
      setTimeout(() => ok(false), 15_000);
    });
    p.kill('SIGTERM');
    assert.ok(ready, 'the installed romanad started');
    assert.equal(spawnSync(join(ROOT, 'scripts', 'install.sh'), ['uninstall'], { env: { ...process.env, PREFIX: prefix } }).status, 0);
    assert.equal(existsSync(join(prefix, 'bin', 'romana')) || existsSync(join(prefix, 'lib', 'node_modules', 'romana')), false);
  });
});
