// The one place the agent starts processes. Every kernel adapter goes through `run`, which never
// throws for a non-zero exit (callers decide what an exit code means) and bounds each call in time.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface RunResult { code: number; stdout: string; stderr: string }

/** A kernel tool failed: which command, and what it said. */
export class KernelError extends Error {
  constructor(readonly command: string, readonly result: RunResult) {
    super(`${command}: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
}

const DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const resolved = new Map<string, string>();
/** Absolute path of a tool (agents may run with a thin PATH under `ip netns exec`). */
export function which(name: string): string {
  let p = resolved.get(name);
  if (!p) resolved.set(name, (p = DIRS.map((d) => `${d}/${name}`).find((x) => existsSync(x)) ?? name));
  return p;
}

export function run(cmd: string, args: string[], input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(which(cmd), args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `cannot run ${cmd}: ${e.message}` }));
    p.on('close', (code, signal) => resolve({
      code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n${cmd} killed by ${signal}` : ''),
    }));
    p.stdin.on('error', () => undefined); // the tool may exit before reading all of its input
    p.stdin.end(input ?? '');
  });
}

/** Runs and throws KernelError on a non-zero exit. */
export async function check(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new KernelError(`${cmd} ${args.join(' ')}`, r);
  return r.stdout;
}
