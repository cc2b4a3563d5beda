// Scratch network namespaces, processes and polling for the agent's kernel tests. Everything a test
// creates is recorded here and removed by cleanup(): only our own namespaces (prefix rag-<pid>-) and
// our own child processes, by PID.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Async: never blocks the event loop (the agents' and forwarders' pipes live in other processes, but our timers do not). */
export function shAsync(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', (e) => ok({ code: 127, stdout, stderr: e.message }));
    p.on('close', (code) => ok({ code: code ?? 128, stdout, stderr }));
    p.stdin.on('error', () => undefined); // the tool may exit without reading its input
    p.stdin.end(input ?? '');
  });
}

export const inNs = (ns: string, cmd: string, args: string[], input?: string) => sh('ip', ['netns', 'exec', ns, cmd, ...args], input);

/** Runs one of the agent's managers in namespace `ns` (sync-child.ts reads `input`, prints its results). */
export async function syncChild<T>(ns: string, input: object): Promise<T[]> {
  const r = await shAsync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', `${ROOT}/test/agent/sync-child.ts`], JSON.stringify(input));
  if (r.code !== 0) throw new Error(`sync-child exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

/** Fails loudly (never skips) without root or a tool. */
export function requireKernelTools(tools = ['ip', 'iptables', 'iptables-save', 'iptables-restore', 'ipset', 'ping', 'curl']): void {
  assert.equal(process.getuid?.(), 0, 'these tests must run as root: they create network namespaces');
  for (const t of tools) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${t} is not installed (apt-get install -y iproute2 iptables ipset iputils-ping curl)`);
  }
}

export function requireBuilt(): void {
  for (const f of ['dist/romanad.mjs', 'dist/romana-agent.mjs']) {
    assert.ok(existsSync(join(ROOT, f)), `${f} is missing: run \`node scripts/build.mjs\` first (make test does)`);
  }
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc { name: string; child: ChildProcess; logs(): string; exited: Promise<void> }

/** Scratch namespaces and processes of one test file. */
export class Scratch {
  readonly prefix = `rag-${process.pid}-`;
  readonly dir = mkdtempSync(join(tmpdir(), 'rag-'));
  private readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];

  netns(suffix: string): string {
    const name = this.prefix + suffix;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Starts a process (optionally inside a namespace); `ready` is a line it prints when it is up. */
  async spawn(name: string, cmd: string[], opts: { netns?: string; ready?: string | RegExp; timeoutMs?: number } = {}): Promise<Proc> {
    const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...cmd] : cmd;
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-200_000)));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-200_000)));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const p: Proc = { name, child, logs: () => out, exited };
    this.procs.push(p);
    if (opts.ready) {
      const re = typeof opts.ready === 'string' ? new RegExp(opts.ready.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : opts.ready;
      let gone = false;
      void exited.then(() => (gone = true));
      await waitFor(`${name} to start`, () => {
        if (gone) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${out}`);
        return re.test(out);
      }, opts.timeoutMs ?? 15_000, 20);
    }
    return p;
  }

  async kill(p: Proc, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(sig);
    await p.exited;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.kill(p)));
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Recipe A of the dataplane notes, without the routes the agent is there to make: a fabric namespace
 * with a bridge (192.168.200.254/24) and hosts 192.168.200.<n> on it. No default route on the hosts.
 */
export function fabric(s: Scratch, hosts: number): { fab: string; hosts: { ns: string; ip: string }[] } {
  const fab = s.netns('fab');
  sh('ip', ['-n', fab, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', fab, 'link', 'set', 'br0', 'up']);
  sh('ip', ['-n', fab, 'addr', 'add', '192.168.200.254/24', 'dev', 'br0']);
  const out: { ns: string; ip: string }[] = [];
  for (let h = 1; h <= hosts; h++) {
    const ns = s.netns(`h${h}`);
    sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${h}`, 'netns', fab]);
    sh('ip', ['-n', fab, 'link', 'set', `h${h}`, 'master', 'br0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `192.168.200.${h}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    out.push({ ns, ip: `192.168.200.${h}` });
  }
  return { fab, hosts: out };
}

/**
 * A pod as romana-cni makes it, minus what the agent does: a veth whose host end (`hostIf`) is only
 * brought up (no route, no proxy ARP), and in the pod the /32 with a default route via 169.254.1.1.
 */
export function pod(s: Scratch, hostNs: string, suffix: string, ip: string, hostIf: string): string {
  const ns = s.netns(suffix);
  sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', hostIf, 'netns', hostNs]);
  sh('ip', ['-n', ns, '-batch', '-'], [
    `addr add ${ip}/32 dev eth0`, 'link set eth0 up', 'route add 169.254.1.1 dev eth0 scope link', 'route add default via 169.254.1.1',
  ].join('\n') + '\n');
  sh('ip', ['-n', hostNs, 'link', 'set', hostIf, 'up']);
  return ns;
}

/** Our chains (ROMANA*) in `iptables-save -t filter` text, by name. */
export function romanaChains(save: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of save.split('\n')) {
    const decl = /^:(ROMANA\S*) /.exec(line);
    if (decl && !m.has(decl[1])) m.set(decl[1], []);
    const rule = /^(?:\[\d+:\d+\] )?-A (ROMANA\S*) (.*)$/.exec(line);
    if (rule) m.get(rule[1])?.push(rule[2]);
  }
  return m;
}

/** Our sets (ROMANA*) in `ipset save` text: name → sorted entries. */
export function romanaSets(save: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of save.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'create' && f[1].startsWith('ROMANA')) m.set(f[1], []);
    if (f[0] === 'add' && f[1].startsWith('ROMANA')) m.get(f[1])!.push(f[2].replace(/\/32$/, ''));
  }
  for (const v of m.values()) v.sort();
  return m;
}
