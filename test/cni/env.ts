// The scene for CNI tests and the CNI benchmark. The test process re-executes itself inside a fresh
// network namespace that plays "the host": romanad listens on that namespace's loopback, the plugins
// run there (as a runtime on a node would run them) and create their host-side veths, routes and
// iptables rules there, never in the machine's own namespace. When the process ends the namespace
// goes with it. Pods are named namespaces rcni-<pid>-<n>; an "outside" namespace (rcni-<pid>-x) is
// wired to the host by a veth, 192.168.200.1 (host) <-> 192.168.200.2 (outside), and is the host's
// default route: proxy ARP only answers for 169.254.1.1 when the host has a route covering it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const HOST_IP = '192.168.200.1';
export const OUTSIDE_IP = '192.168.200.2';
export const REFERENCE = '/usr/lib/cni';
const MARK = 'RCNI_PRIVATE_NETNS';

/** Fails loudly (never skips) when the machine cannot run these tests. */
export function requireRootAndTools(tools = ['ip', 'nsenter', 'unshare', 'iptables', 'tc', 'ping', 'curl']): void {
  if (process.getuid?.() !== 0) throw new Error('the CNI tests create network namespaces: run them as root');
  for (const t of tools) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) throw new Error(`'${t}' is not installed (see scripts/install-deps.sh)`);
  }
  for (const p of ['portmap', 'bandwidth', 'tuning', 'ptp', 'host-local']) {
    if (!existsSync(join(REFERENCE, p))) throw new Error(`${REFERENCE}/${p} is missing: apt-get install containernetworking-plugins`);
  }
  if (!existsSync(join(ROOT, 'dist', 'romana-cni.mjs'))) throw new Error('dist/romana-cni.mjs is missing: run `node scripts/build.mjs` (make test does)');
}

/**
 * Re-runs the current process (same node flags, same arguments, same stdio: node:test's protocol
 * passes straight through) inside `unshare --net`. Returns only in that inner process.
 */
export function enterPrivateHostNetns(): void {
  if (process.env[MARK] === '1') return;
  requireRootAndTools();
  const r = spawnSync('unshare', ['--net', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, [MARK]: '1' },
  });
  process.exit(r.status ?? 1);
}

export const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
export const ip = (...args: string[]) => sh('ip', args);
export const ipBatch = (lines: string[], netns?: string) => sh('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], lines.join('\n') + '\n');

export class Scene {
  readonly prefix = `rcni-${process.pid}`;
  readonly outside = `${this.prefix}-x`;
  private n = 0;
  private readonly made = new Set<string>();
  readonly tmp = mkdtempSync(join(tmpdir(), 'rcni-'));
  /** A CNI bin dir: the installed plugin `romana` plus symlinks to the reference plugins. */
  readonly binDir = join(this.tmp, 'bin');

  constructor() {
    if (process.env[MARK] !== '1') throw new Error('Scene: call enterPrivateHostNetns() first');
    ipBatch(['link set lo up']);
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    this.netns(this.outside);
    ip('link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.outside);
    ipBatch([`addr add ${HOST_IP}/24 dev uplink`, 'link set uplink up', `route add default via ${OUTSIDE_IP}`]);
    ipBatch(['link set lo up', `addr add ${OUTSIDE_IP}/24 dev eth0`, 'link set eth0 up', `route add 10.0.0.0/8 via ${HOST_IP}`], this.outside);
    sh(process.execPath, [join(ROOT, 'dist', 'romana-cni.mjs'), 'install', this.binDir]);
    for (const p of ['portmap', 'bandwidth', 'tuning', 'ptp', 'host-local', 'loopback']) symlinkSync(join(REFERENCE, p), join(this.binDir, p));
  }

  /** Creates a named namespace (lo up) and remembers it for cleanup. */
  netns(name = `${this.prefix}-${++this.n}`): string {
    ip('netns', 'add', name);
    this.made.add(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }

  dropNetns(name: string): void {
    if (existsSync(`/run/netns/${name}`)) ip('netns', 'del', name);
    this.made.delete(name);
  }

  /** Names of the host namespace's links. */
  hostLinks(): string[] {
    return (JSON.parse(ip('-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
  }

  cleanup(): void {
    for (const ns of [...this.made]) {
      try {
        this.dropNetns(ns);
      } catch {
        /* already gone */
      }
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
