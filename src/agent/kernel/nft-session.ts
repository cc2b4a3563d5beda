// One long-lived `nft -i` that commits the nftables backend's scripts, so that an update pays neither a
// process start nor, above all, the kernel's RCU grace period: nf_tables frees deleted rules after one,
// and a process that closes its netlink socket right after such a commit waits for it (6–11 ms per
// `nft -f` that replaces a rule on the project machine, against none here; docs/benchmarks.md).
//
// Each script is one transaction, as with `nft -f`: it is written to a file of its own and committed by
// the one line `include "<file>"` (nft -i makes each input line one batch; reading the script itself through nft -i's line editor costs ~1 µs a byte). After it comes a marker
// line that nft cannot parse, `romana_end_<n>`: its syntax error, which costs nft no kernel read, closes
// the batch's output on stderr, so whatever nft said before it belongs to batch n and nothing of it can
// be taken for the next batch's. A batch failed if nft said "Error:" about it.
//
// nft may die (killed, out of memory) at any time. A process found dead before a batch is replaced and
// the batch sent to the new one; one that dies during a batch fails that batch (the kernel committed all
// of it or nothing; the caller reads the kernel before trusting its picture again). Its history file goes
// nowhere (HOME is a path that does not exist), and the process is replaced after MAX_BATCHES batches,
// since the line editor keeps every line in memory.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError, which } from './exec.js';

const MAX_BATCHES = 10_000;
const TIMEOUT_MS = 60_000;

interface Pending { n: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

export class NftSession {
  private proc?: ChildProcessWithoutNullStreams;
  private batches = 0;
  private seq = 0;
  private err = '';
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();

  /** The pid of the current nft process (undefined before the first batch or after it died). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts nft ahead of the first script, so that its start overlaps the caller's own work. */
  prepare(): void {
    if (!this.proc || !alive(this.proc)) this.start();
  }

  /** Commits a script of nft commands as one transaction; throws KernelError with nft's words if it failed. */
  apply(script: string): Promise<void> {
    const run = this.queue.then(() => this.batch(script));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the nft process. */
  close(): void {
    this.proc?.kill('SIGKILL');
    this.proc = undefined;
  }

  private batch(script: string): Promise<void> {
    if (!this.proc || !alive(this.proc) || this.batches >= MAX_BATCHES) this.start();
    const p = this.proc!;
    // A file of its own per script, created exclusively (never through someone's link) and removed
    // after the batch: nothing is left behind, and nothing depends on a directory that a tmp cleaner
    // might remove.
    const file = join(tmpdir(), `romana-nft-${process.pid}-${randomUUID()}.nft`);
    writeFileSync(file, script, { mode: 0o600, flag: 'wx' });
    const done = () => rmSync(file, { force: true });
    const n = ++this.seq;
    this.batches++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new KernelError('nft -i', { code: 124, stdout: '', stderr: `${this.err}\nno answer from nft in ${TIMEOUT_MS / 1000} s` }));
        p.kill('SIGKILL');
      }, TIMEOUT_MS);
      this.pending = { n, resolve, reject, timer };
      p.stdin.write(`include "${file}"\nromana_end_${n}\n`);
    }).finally(done);
  }

  private start(): void {
    this.proc?.kill('SIGKILL');
    const p = spawn(which('nft'), ['-i'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent/romana', TERM: 'dumb' },
    });
    this.proc = p;
    this.batches = 0;
    this.err = '';
    // The agent's event loop must not wait on nft; a batch in flight holds it by its timer.
    p.unref();
    for (const s of [p.stdin, p.stdout, p.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    p.stdin.on('error', () => undefined); // EPIPE: the exit handler reports it
    p.stdout.on('data', () => undefined); // nft prints nothing here for our commands; never let it block
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => {
      if (p !== this.proc) return;
      this.err += d;
      this.settle();
    });
    p.on('error', (e) => p === this.proc && this.fail(new KernelError('nft -i', { code: 127, stdout: '', stderr: `cannot run nft: ${e.message}` })));
    p.on('exit', (code, signal) => {
      if (p !== this.proc) return;
      this.proc = undefined;
      this.fail(new KernelError('nft -i', { code: code ?? 128, stdout: '', stderr: `${this.err}\nnft exited (${signal ?? `code ${code}`}) during the batch; the kernel committed all of it or none` }));
    });
  }

  /** Ends the pending batch once nft's answer to its marker is complete. */
  private settle(): void {
    const b = this.pending;
    if (!b) return;
    const m = new RegExp(`^romana_end_${b.n}\\n[ \\t]*\\^+\\n`, 'm').exec(this.err);
    if (!m) return;
    // The marker's own error starts at the last "Error:" line before it.
    const head = this.err.slice(0, m.index);
    const said = head.slice(0, Math.max(0, head.lastIndexOf('\n', head.lastIndexOf('Error:')))).trim();
    this.err = this.err.slice(m.index + m[0].length);
    this.pending = undefined;
    clearTimeout(b.timer);
    if (/Error:/.test(said)) b.reject(new KernelError('nft -f (nft -i include)', { code: 1, stdout: '', stderr: said }));
    else b.resolve();
  }

  private fail(e: Error): void {
    const b = this.pending;
    this.pending = undefined;
    if (!b) return;
    clearTimeout(b.timer);
    b.reject(e);
  }
}

/** False once the process has exited, even before Node has reaped it and told us. */
function alive(p: ChildProcessWithoutNullStreams): boolean {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return false;
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${p.pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
