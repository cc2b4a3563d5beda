// Sends the releases a CNI DEL left pending on this host (romanad was unreachable then), through
// romanad's conditional release, or, in etcd mode, through the same IPAM code romanad runs. The journal
// and its claim protocol are the plugin's (cni/pending.ts): an entry is sent by one process only.
import { type Endpoint, call } from '../client/transport.js';
import { RomanaError } from '../core/errors.js';
import { Ipam } from '../control/ipam.js';
import { ControlState } from '../control/state.js';
import { Journal, type ReleaseApi, journalDir, sendPending } from '../cni/pending.js';
import type { Store } from '../store/store.js';

const missing = (e: unknown): undefined => {
  if (e instanceof RomanaError && e.kind === 'not_found') return undefined;
  throw e;
};

export const releaseViaRomanad = (ep: Endpoint): ReleaseApi => ({
  get: (name) => call<{ name: string; ip: string; host: string; created_at?: string }>(ep, { method: 'GET', path: `/address/${encodeURIComponent(name)}`, timeoutMs: 10_000 }).catch(missing),
  releaseIfUnchanged: (a) => call(ep, { method: 'POST', path: '/ipam/release', body: JSON.stringify(a), timeoutMs: 10_000 }),
});

export function releaseViaStore(store: Store): ReleaseApi {
  const ipam = new Ipam(new ControlState(store));
  return {
    get: (name) => ipam.getAddress(name, 'name').catch(missing),
    releaseIfUnchanged: (a) => ipam.release(a.name, { expect: { ip: a.ip, created_at: a.created_at }, by: 'name' }),
  };
}

export interface PendingSenderOptions {
  stateDir: string;
  host: string;
  api: ReleaseApi;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  intervalMs?: number;
}

export class PendingSender {
  readonly journal: Journal;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private failures = 0;

  constructor(private readonly o: PendingSenderOptions) {
    this.journal = new Journal(journalDir(o.stateDir));
  }

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.o.intervalMs ?? 2000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** What the status report carries: this host's releases still waiting. */
  pending(): { name: string; ip?: string; since: string }[] {
    try {
      return this.journal.pending(this.o.host).map((p) => ({ name: p.name, ...(p.ip ? { ip: p.ip } : {}), since: p.since }));
    } catch {
      return [];
    }
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.send().finally(() => {
      this.running = undefined;
    });
  }

  private async send(): Promise<void> {
    const log = {
      info: (m: string, f?: object) => this.o.log.info(f ?? {}, m),
      warn: (m: string, f?: object) => this.o.log.warn(f ?? {}, m),
    };
    try {
      if (this.journal.list().length === 0) return;
      const r = await sendPending(this.journal, this.o.host, this.o.api, log);
      if (r.stopped) {
        if (this.failures++ % 10 === 0) this.o.log.warn({ err: r.stopped.message, pending: r.kept.length }, 'pending releases: romanad unreachable; kept');
      } else {
        this.failures = 0;
      }
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'pending releases: cannot read the journal');
    }
  }
}
