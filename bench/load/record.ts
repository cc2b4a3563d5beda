// Latencies per operation type and errors by kind for a time-bounded load run, and a time-bounded
// runner for the baselines. Errors keep their messages: a load benchmark that hides them is useless.
import { readFileSync } from 'node:fs';
import { RomanaError } from '../../src/core/errors.js';
import { fmt, percentile } from '../lib/stats.js';

export interface OpStats { op: string; count: number; perSecond: number; p50ms: number; p99ms: number; maxms: number }

export class Recorder {
  private readonly lat = new Map<string, number[]>();
  private readonly errs = new Map<string, { op: string; kind: string; message: string; count: number }>();

  /** Times `fn` as one `op`; an error is counted (with its kind and message) and yields undefined. */
  async time<T>(op: string, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    const t = performance.now();
    try {
      const value = await fn();
      this.push(op, performance.now() - t);
      return { ok: true, value };
    } catch (error) {
      this.fail(op, error);
      return { ok: false, error };
    }
  }

  push(op: string, ms: number): void {
    let xs = this.lat.get(op);
    if (!xs) this.lat.set(op, (xs = []));
    xs.push(ms);
  }

  fail(op: string, e: unknown): void {
    const kind = e instanceof RomanaError ? e.kind : (e as Error)?.name ?? 'unknown';
    const message = e instanceof Error ? e.message : String(e);
    const key = `${op}\0${kind}\0${message}`;
    const cur = this.errs.get(key) ?? { op, kind, message, count: 0 };
    cur.count += 1;
    this.errs.set(key, cur);
  }

  errors() { return [...this.errs.values()]; }
  errorCount(op?: string) { return this.errors().filter((e) => !op || e.op === op).reduce((n, e) => n + e.count, 0); }
  count(op: string) { return this.lat.get(op)?.length ?? 0; }

  stats(op: string, seconds: number): OpStats {
    const xs = [...(this.lat.get(op) ?? [])].sort((a, b) => a - b);
    return { op, count: xs.length, perSecond: xs.length / seconds, p50ms: percentile(xs, 50), p99ms: percentile(xs, 99), maxms: xs.at(-1) ?? NaN };
  }

  total(ops: string[], seconds: number): OpStats {
    const xs = ops.flatMap((o) => this.lat.get(o) ?? []).sort((a, b) => a - b);
    return { op: 'total', count: xs.length, perSecond: xs.length / seconds, p50ms: percentile(xs, 50), p99ms: percentile(xs, 99), maxms: xs.at(-1) ?? NaN };
  }

  /** Every distinct error, most frequent first (capped, with the rest counted). */
  printErrors(label: string, cap = 40): void {
    const all = this.errors().sort((a, b) => b.count - a.count);
    if (!all.length) return;
    console.log(`${label}: ${this.errorCount()} errors`);
    for (const e of all.slice(0, cap)) console.log(`  ${e.count} x ${e.op} [${e.kind}] ${e.message}`);
    if (all.length > cap) console.log(`  ... and ${all.length - cap} more distinct messages`);
  }
}

/** Runs `workers` loops of `op` until `seconds` have passed; a baseline's figures. Errors throw. */
export async function runFor(seconds: number, workers: number, op: (w: number, i: number) => Promise<unknown>): Promise<OpStats> {
  const rec = new Recorder();
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const s = performance.now();
      await op(w, i);
      rec.push('op', performance.now() - s);
    }
  }));
  return rec.stats('op', (performance.now() - t0) / 1000);
}

/** CPU seconds (user + system) a process has used, from /proc: to tell who saturated the 2 cores. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

export const row = (backend: string, what: string, s: OpStats, errors: number | string = '') =>
  `| ${backend} | ${what} | ${s.count.toLocaleString('en')} | ${Number.isFinite(s.perSecond) ? Math.round(s.perSecond).toLocaleString('en') : '-'} | ${fmt(s.p50ms, 2)} | ${fmt(s.p99ms, 2)} | ${fmt(s.maxms, 1)} | ${errors} |`;
export const HEADER = ['| backend | operation | count | per second | p50 ms | p99 ms | max ms | errors |', '|---|---|---|---|---|---|---|---|'];
