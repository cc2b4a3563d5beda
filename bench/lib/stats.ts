// Small helpers shared by the benchmarks: percentiles and a bounded-concurrency runner.
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export interface RunStats {
  count: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

/** Runs `n` operations with at most `concurrency` in flight; times each one. */
export async function measure(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<RunStats> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const s = performance.now();
      await op(i);
      lat.push(performance.now() - s);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { count: n, seconds, perSecond: n / seconds, p50ms: percentile(lat, 50), p99ms: percentile(lat, 99) };
}

export const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
