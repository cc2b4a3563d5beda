// The lab's process and namespace adapter: the only lab code that spawns `ip`, `iptables` or
// processes inside network namespaces.
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';

export function run(cmd: string, args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
}

export function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** Runs `ip -batch -` in a namespace (or the current one): one process for many changes. */
export const ipBatch = (ns: string | undefined, lines: string[]) =>
  lines.length ? must('ip', [...(ns ? ['-n', ns] : []), '-batch', '-'], lines.join('\n') + '\n') : '';

export const nsExec = (ns: string, cmd: string, args: string[], input?: string) => must('ip', ['netns', 'exec', ns, cmd, ...args], input);

export function listNetns(): string[] {
  const r = run('ip', ['-j', 'netns', 'list']);
  if (r.status !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

export function sysctl(ns: string, key: string, value: string): void {
  nsExec(ns, 'sh', ['-c', `echo ${value} > /proc/sys/${key.replace(/\./g, '/')}`]);
}

/** Starts a long-running process inside a namespace, detached, logging to a file; returns its PID. */
export function spawnIn(ns: string | undefined, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): number {
  const fd = openSync(logFile, 'a');
  const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
  const child = spawn(ns ? 'ip' : cmd, argv, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  return child.pid;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // An exited process stays a zombie until its parent reaps it, and the lab's daemons outlive the
  // `romana lab up` that started them, so their parent is init, which may reap seconds later: waiting
  // for that made every stop take its whole grace period.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Stops a process the lab started: SIGTERM, then SIGKILL after a grace period. */
export async function stopPid(pid: number, graceMs = 3000): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const end = Date.now() + graceMs;
  while (alive(pid) && Date.now() < end) await sleep(50);
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
