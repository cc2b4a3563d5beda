// romana-cni under a real container runtime: Debian's podman (4.3.1) with its CNI network backend,
// runc, and a conflist naming romana with portmap chained after it. No registry here: the image is
// imported from a rootfs holding busybox-static. podman runs with this test's own configuration only
// (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, its storage, run and tmp directories in a temp dir), inside
// the private "host" network namespace of the CNI tests, so veths, routes and portmap's iptables rules
// never touch the machine's own namespace. Everything it creates is removed at the end, and checked.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { HOST_IP, ROOT, Scene, enterPrivateHostNetns, ip, sh } from './env.js';

enterPrivateHostNetns();

const NET = 'romanapod';
const IMAGE = 'localhost/romana-test-busybox:1';
const BUSYBOX = '/bin/busybox';
const LIBCNI_CACHE = '/var/lib/cni'; // podman 4.3.1 gives libcni no other cache dir

interface Addr { name: string; ip: string; host: string; tenant: string; segment: string; attributes?: Record<string, string> }

let scene: Scene;
let romanad: Romanad;
let port = 0;
let pm: { dir: string; env: NodeJS.ProcessEnv };
const stateDir = () => join(scene.tmp, 'state');
const journalFiles = () => (existsSync(join(stateDir(), 'cni', 'pending-releases')) ? readdirSync(join(stateDir(), 'cni', 'pending-releases')) : []);
const netnsBefore = new Set(existsSync('/run/netns') ? readdirSync('/run/netns') : []);
const cacheExisted = existsSync(LIBCNI_CACHE);
const cacheResultsExisted = existsSync(join(LIBCNI_CACHE, 'results'));

function requirePodman(): void {
  for (const t of ['podman', 'runc', 'conmon']) {
    if (spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/libexec/podman/${t}`]).status !== 0) throw new Error(`'${t}' is not installed (scripts/install-deps.sh installs podman, runc)`);
  }
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static (scripts/install-deps.sh does)`);
}

/** podman with this test's configuration; throws with its stderr unless `fails` is allowed. */
function podman(args: string[], o: { fails?: boolean } = {}): SpawnSyncReturns<string> {
  const r = spawnSync('podman', args, { env: pm.env, encoding: 'utf8', timeout: 60_000 });
  if (!o.fails && r.status !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r;
}

/** podman's own configuration for this test: CNI backend, cgroupfs, file events, modest ulimits, all paths in `dir`. */
function podmanConfig(dir: string): NodeJS.ProcessEnv {
  for (const d of ['net.d', 'root', 'runroot', 'tmp', 'rootfs/bin', 'rootfs/www', 'rootfs/proc', 'rootfs/sys', 'rootfs/dev', 'rootfs/tmp', 'rootfs/etc']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'containers.conf'), [
    '[containers]', 'default_ulimits = ["nofile=1024:1024", "nproc=512:512"]', 'log_driver = "k8s-file"',
    '[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', `events_logfile_path = "${dir}/events.log"`, 'runtime = "runc"', `tmp_dir = "${dir}/tmp"`,
    '[network]', 'network_backend = "cni"', `network_config_dir = "${dir}/net.d"`, `cni_plugin_dirs = ["${scene.binDir}"]`, '',
  ].join('\n'));
  writeFileSync(join(dir, 'storage.conf'), ['[storage]', 'driver = "vfs"', `runroot = "${dir}/runroot"`, `graphroot = "${dir}/root"`, ''].join('\n'));
  writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  writeFileSync(join(dir, 'net.d', `${NET}.conflist`), JSON.stringify({
    cniVersion: '1.0.0', name: NET,
    plugins: [
      { type: 'romana', romana_api: `http://127.0.0.1:${port}`, host: 'h1', tenant: 'podman', segment: 'web', state_dir: stateDir(), log_file: join(dir, 'romana-cni.log'), log_level: 'info' },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2));
  return { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf') };
}

/** A rootfs of busybox-static and a page for its httpd, imported as a local image. */
function importImage(dir: string): void {
  const rootfs = join(dir, 'rootfs');
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const c of ['sh', 'sleep', 'httpd', 'wget', 'ping', 'ip', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', c));
  writeFileSync(join(rootfs, 'www', 'index.html'), 'hello from romana\n');
  sh('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  podman(['import', '--quiet', '--change', 'CMD ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]', join(dir, 'rootfs.tar'), IMAGE]);
}

const addresses = async () => (await romanad.api.get<{ addresses: Addr[] }>('/addresses')).addresses;
const byContainer = async (id: string) => (await addresses()).find((a) => a.attributes?.container_id === id);
const containerIp = (name: string): string => {
  const [c] = JSON.parse(podman(['inspect', name]).stdout) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[];
  return c.NetworkSettings.Networks[NET].IPAddress;
};
const containerId = (name: string) => podman(['inspect', '--format', '{{.Id}}', name]).stdout.trim();
const run = (name: string, extra: string[] = [], cmd: string[] = []) => podman(['run', '-d', '--name', name, '--network', NET, ...extra, IMAGE, ...cmd]);
const rm = (name: string) => podman(['rm', '-f', '-t', '0', name]);
const curl = (url: string, netns?: string) => sh(netns ? 'ip' : 'curl', [...(netns ? ['netns', 'exec', netns, 'curl'] : []), '-sf', '-m', '5', url]);
async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  requirePodman();
  scene = new Scene();
  romanad = await startRomanad({ dataDir: join(scene.tmp, 'romanad') });
  port = Number(new URL(romanad.url).port);
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.90.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });
  const dir = join(scene.tmp, 'podman');
  pm = { dir, env: {} };
  pm.env = podmanConfig(dir);
  importImage(dir);
});

after(async () => {
  const problems: string[] = [];
  if (pm?.env.CONTAINERS_CONF) {
    podman(['rm', '-a', '-f', '-t', '0'], { fails: true });
    podman(['rmi', '-a', '-f'], { fails: true });
    const left = podman(['ps', '-a', '-q'], { fails: true }).stdout.trim();
    if (left) problems.push(`containers left: ${left}`);
    // conmon daemonizes; any still running for this test's storage would be ours alone.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pm.dir)) {
          problems.push(`process ${pid} left: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200)}`);
          process.kill(Number(pid), 'SIGKILL');
        }
      } catch { /* gone */ }
    }
  }
  for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
    if (ns.startsWith('netns-') && !netnsBefore.has(ns)) problems.push(`netns ${ns} left by podman`);
  }
  // libcni's result cache: podman removes each entry on DEL; the directories are removed if this test made them.
  if (!cacheResultsExisted) rmSync(join(LIBCNI_CACHE, 'results'), { recursive: true, force: true });
  else for (const f of readdirSync(join(LIBCNI_CACHE, 'results')).filter((f) => f.startsWith(`${NET}-`))) {
    problems.push(`libcni cache entry ${f} left`);
    rmSync(join(LIBCNI_CACHE, 'results', f), { force: true });
  }
  if (!cacheExisted && existsSync(LIBCNI_CACHE) && readdirSync(LIBCNI_CACHE).length === 0) rmSync(LIBCNI_CACHE, { recursive: true, force: true });
  await romanad?.stop();
  scene?.cleanup();
  assert.deepEqual(problems, [], 'everything the test created is gone');
});

describe('romana-cni under podman (CNI backend)', () => {
  it('two containers get addresses from romanad (tenant and segment from the network configuration) and reach each other and the host', async () => {
    run('pa');
    run('pb');
    const [a, b] = [containerIp('pa'), containerIp('pb')];
    for (const [name, addr] of [['pa', a], ['pb', b]]) {
      const rec = await byContainer(containerId(name));
      assert.ok(rec, `romanad has ${name}'s address`);
      assert.deepEqual([rec.ip, rec.host, rec.tenant, rec.segment, rec.attributes?.pod], [addr, 'h1', 'podman', 'web', name]);
    }
    assert.match(podman(['exec', 'pa', 'wget', '-q', '-O', '-', `http://${b}/`]).stdout, /hello from romana/, 'pa reaches pb');
    podman(['exec', 'pb', 'ping', '-c', '1', '-W', '2', a]);
    podman(['exec', 'pa', 'ping', '-c', '1', '-W', '2', HOST_IP]);
    assert.match(curl(`http://${a}/`), /hello from romana/, 'the host reaches pa');
  });

  it('--ip gives the requested address; one outside the network is refused with the reason', async () => {
    run('pip', ['--ip', '10.90.3.77']);
    assert.equal(containerIp('pip'), '10.90.3.77');
    assert.equal((await byContainer(containerId('pip')))?.ip, '10.90.3.77');
    const taken = podman(['run', '-d', '--name', 'pip2', '--network', NET, '--ip', '10.90.3.77', IMAGE], { fails: true });
    assert.notEqual(taken.status, 0);
    assert.match(taken.stderr, /10\.90\.3\.77 is already allocated/);
    const outside = podman(['run', '-d', '--name', 'pip3', '--network', NET, '--ip', '10.91.0.5', IMAGE], { fails: true });
    assert.notEqual(outside.status, 0);
    assert.match(outside.stderr, /ip: 10\.91\.0\.5 is not in any network/);
    for (const n of ['pip2', 'pip3']) podman(['rm', '-f', n], { fails: true });
    assert.equal((await addresses()).filter((x) => x.attributes?.pod === 'pip2' || x.attributes?.pod === 'pip3').length, 0, 'the refused runs hold no address');
    rm('pip');
  });

  it('portmap chained after romana: a published port answers from outside the host', () => {
    run('pport', ['-p', '18080:80']);
    assert.match(curl(`http://${HOST_IP}:18080/`, scene.outside), /hello from romana/);
    assert.match(sh('iptables-save', ['-t', 'nat']), /CNI-HOSTPORT-DNAT/);
    rm('pport');
    assert.doesNotMatch(sh('iptables-save', ['-t', 'nat']), /CNI-DN-/, 'portmap removed its per-container rules on rm');
  });

  it('podman rm while romanad is down leaks nothing: the next ADD sends the release; the agent sends another', async () => {
    run('pdown1', [], ['sleep', '1000']);
    run('pdown2', [], ['sleep', '1000']);
    const [id1, id2] = [containerId('pdown1'), containerId('pdown2')];
    const [ip1, ip2] = [containerIp('pdown1'), containerIp('pdown2')];
    const veths = [(await byContainer(id1))!.attributes!.host_ifname, (await byContainer(id2))!.attributes!.host_ifname];

    await romanad.stop();
    rm('pdown1'); // DEL cannot reach romanad: it tears down, records the release, and succeeds
    assert.ok(!scene.hostLinks().includes(veths[0]), 'the host veth is gone although romanad was down');
    assert.equal(journalFiles().filter((f) => f.endsWith('.pending')).length, 1, 'one release is pending on the host');
    romanad = await startRomanad({ dataDir: join(scene.tmp, 'romanad'), extraArgs: ['--port', String(port)] });
    assert.equal((await byContainer(id1))?.ip, ip1, 'romanad still holds the address');

    run('pnext'); // the next ADD that reaches romanad sends it first
    assert.equal(await byContainer(id1), undefined, 'released by the next ADD');
    assert.deepEqual(journalFiles(), []);

    await romanad.stop();
    rm('pdown2');
    assert.ok(!scene.hostLinks().includes(veths[1]));
    assert.equal(journalFiles().length, 1);
    romanad = await startRomanad({ dataDir: join(scene.tmp, 'romanad'), extraArgs: ['--port', String(port)] });
    assert.equal((await byContainer(id2))?.ip, ip2);
    const agent = spawnAgent();
    try {
      await until('the agent to send the pending release', async () => (await byContainer(id2)) === undefined && journalFiles().length === 0);
      type Check = { hosts: { host: string; report: string; pending_releases?: unknown[] }[]; findings: { kind: string; subject: string }[] };
      let check: Check | undefined;
      await until("the agent's report without pending releases", async () => {
        check = await romanad.api.get<Check>('/ipam/check?grace_seconds=0');
        const h1 = check.hosts.find((h) => h.host === 'h1');
        return h1?.report === 'fresh' && h1.pending_releases === undefined;
      });
      assert.deepEqual(check!.findings.filter((f) => f.kind === 'leaked'), [], 'nothing leaked');
    } finally {
      await agent.stop();
    }
    rm('pnext');
  });

  it('everything goes with the containers: no address, no veth, no journal entry, no portmap rule', async () => {
    podman(['rm', '-a', '-f', '-t', '0']);
    assert.deepEqual((await addresses()).filter((a) => a.attributes?.plugin === 'romana-cni'), []);
    assert.deepEqual(scene.hostLinks().filter((l) => l.startsWith('rmn')), []);
    assert.deepEqual(journalFiles(), []);
    assert.doesNotMatch(sh('iptables-save', ['-t', 'nat']), /CNI-DN-/);
    assert.deepEqual(JSON.parse(ip('-j', 'route', 'show')).filter((r: { dst: string }) => r.dst.startsWith('10.90.')), [], 'no pod route');
  });
});

/** A real romana-agent for host h1 in this private host namespace, sending from the test's journal. */
function spawnAgent(): { stop: () => Promise<void> } {
  const p = spawn(process.execPath, [join(ROOT, 'bin', 'romana-agent'), '--host', 'h1', '--api', romanad.url, '--cni-state-dir', stateDir(), '--listen', '127.0.0.1', '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}
