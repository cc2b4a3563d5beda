// A keyed work queue, as controllers keep one: a key waits once however often it is added, runs on
// one worker at a time, runs again if it was added while running, and is retried with capped,
// jittered exponential backoff when its worker asks. Nothing runs while the gate is closed (a listener
// that does not lead writes nothing); keys wait meanwhile, so no change is lost.

export type Outcome = 'done' | 'retry' | { after: number };

export interface QueueOptions {
  concurrency: number;
  baseDelayMs: number;
  maxDelayMs: number;
  gate: () => boolean;
  /** Called when a key's work is done, with the time since it was first added (sync lag). */
  onDone?: (key: string, lagMs: number) => void;
}

export const backoff = (attempt: number, baseMs: number, capMs: number) =>
  Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)) * (0.5 + Math.random() / 2);

export class WorkQueue {
  private readonly ready = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly attempts = new Map<string, number>();
  /** When each waiting key was first added (for the sync-lag figures). */
  private readonly since = new Map<string, number>();
  private stopped = false;

  constructor(private readonly work: (key: string) => Promise<Outcome>, private readonly o: QueueOptions) {}

  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (!this.since.has(key)) this.since.set(key, Date.now());
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (delayMs <= 0) {
      const t = this.delayed.get(key);
      if (t) clearTimeout(t);
      this.delayed.delete(key);
      this.ready.add(key);
      this.pump();
      return;
    }
    if (this.ready.has(key) || this.delayed.has(key)) return; // already due sooner or as soon
    this.delayed.set(key, setTimeout(() => {
      this.delayed.delete(key);
      this.ready.add(key);
      this.pump();
    }, delayMs));
  }

  /** Runs waiting keys while the gate is open and workers are free. */
  pump(): void {
    while (!this.stopped && this.running.size < this.o.concurrency && this.ready.size > 0 && this.o.gate()) {
      const key = this.ready.values().next().value as string;
      this.ready.delete(key);
      this.running.add(key);
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    let out: Outcome;
    try {
      out = await this.work(key);
    } catch {
      out = 'retry';
    }
    this.running.delete(key);
    if (out === 'done') {
      this.attempts.delete(key);
      const t0 = this.since.get(key);
      this.since.delete(key);
      if (t0 !== undefined) this.o.onDone?.(key, Date.now() - t0);
      if (this.again.delete(key)) this.add(key);
    } else {
      const n = this.attempts.get(key) ?? 0;
      this.attempts.set(key, n + 1);
      this.again.delete(key);
      this.add(key, out === 'retry' ? backoff(n, this.o.baseDelayMs, this.o.maxDelayMs) : Math.max(1, out.after));
    }
    this.pump();
  }

  /** Keys waiting or running. */
  get depth(): number {
    return new Set([...this.ready, ...this.delayed.keys(), ...this.running]).size;
  }

  /** Keys that could run now (not waiting out a delay). */
  get due(): number {
    return this.ready.size + this.running.size;
  }

  /** Age of the oldest change not yet applied, in ms (0 when there is none). */
  oldestMs(): number {
    let min = Infinity;
    for (const t of this.since.values()) min = Math.min(min, t);
    return min === Infinity ? 0 : Date.now() - min;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    this.ready.clear();
  }

  get idle(): boolean {
    return this.running.size === 0;
  }
}
