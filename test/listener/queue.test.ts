// The listener's work queue and backoff: waits grow exponentially from the base, are capped, and are
// jittered (within [half, all] of the step, so that many clients retrying together spread out); a key
// waits once however often it is added, runs on one worker at a time, runs again when changed while
// running, is retried after a failure, and nothing runs while the gate (leading) is closed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue, backoff } from '../../src/listener/queue.js';
import { sleep } from './helpers.js';

describe('listener backoff and work queue', () => {
  it('backoff: exponential from the base, capped, jittered', () => {
    for (let attempt = 0; attempt < 80; attempt++) {
      const step = Math.min(30_000, 200 * 2 ** attempt);
      const waits = Array.from({ length: 200 }, () => backoff(attempt, 200, 30_000));
      for (const w of waits) assert.ok(w >= step / 2 && w <= step, `attempt ${attempt}: ${w} outside [${step / 2}, ${step}]`);
      assert.ok(new Set(waits).size > 150, `attempt ${attempt}: jittered`);
      // The jitter covers the range, not one corner of it.
      assert.ok(Math.min(...waits) < step * 0.6 && Math.max(...waits) > step * 0.9, `attempt ${attempt}: spread over [${step / 2}, ${step}]`);
    }
    assert.ok(backoff(1e9, 200, 30_000) <= 30_000, 'a huge attempt count is still capped (no Infinity)');
  });

  it('coalesces a key, never runs it twice at once, and runs it again when changed meanwhile', async () => {
    const runs: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let open = false;
    const q = new WorkQueue(async (k) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.push(k);
      await sleep(30);
      inFlight--;
      return 'done';
    }, { concurrency: 4, baseDelayMs: 10, maxDelayMs: 100, gate: () => open });
    for (const k of ['a', 'b', 'b', 'a', 'b']) q.add(k); // waiting: each once
    open = true;
    q.pump();
    await sleep(5);
    q.add('a'); // while a runs: once more afterwards, not concurrently
    q.add('a');
    await sleep(150);
    assert.deepEqual(runs.sort(), ['a', 'a', 'b']);
    assert.equal(maxInFlight, 2);
    assert.equal(q.depth, 0);
  });

  it('retries a failing key with growing waits, and runs nothing while the gate is closed', async () => {
    const at: number[] = [];
    let open = false;
    const q = new WorkQueue(async () => {
      at.push(Date.now());
      return at.length < 4 ? 'retry' : 'done';
    }, { concurrency: 1, baseDelayMs: 40, maxDelayMs: 1000, gate: () => open });
    q.add('k');
    await sleep(100);
    assert.equal(at.length, 0, 'the gate is closed: nothing runs');
    assert.equal(q.depth, 1, 'but the key waits');
    open = true;
    q.pump();
    await eventuallyLength(at, 4, 2000);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    gaps.forEach((g, i) => assert.ok(g >= 40 * 2 ** i / 2 - 5 && g <= 40 * 2 ** i + 50, `retry ${i} after ${g} ms`));
    assert.equal(q.depth, 0);
    q.stop();
  });
});

async function eventuallyLength(a: unknown[], n: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (a.length < n) {
    if (Date.now() > end) throw new Error(`only ${a.length} of ${n} runs in ${ms} ms`);
    await sleep(10);
  }
}
