// The agent's status report: which interfaces exist on this host, sent to romanad (PUT
// /hosts/:name/status) at start, whenever they or the applied dataplane change, and periodically. A
// pod's host-side veth exists exactly while the pod does, so `romana ipam check` can tell an address
// whose pod is gone (leaked) from a live one; a host that stops reporting has its addresses judged
// "unknown", never leaked.
import { readdirSync } from 'node:fs';
import { type Endpoint, call } from '../client/transport.js';
import { hostStatusKey } from '../control/keys.js';
import type { HostStatusRecord } from '../control/records.js';
import type { Store } from '../store/store.js';

export interface StatusBody {
  interfaces: string[];
  last_applied_revision: number;
  pending_releases?: { name: string; ip?: string; since: string }[];
  // What the console shows of an agent's health (optional: older agents do not send them).
  applied_change_revision?: number;
  drift_repairs?: number;
  last_error?: string | null;
  last_error_at?: string;
  /** The longest this agent waits between reports: romanad judges its freshness by it. */
  report_interval_seconds?: number;
}

/** The reconciler's status as far as the report uses it. */
export interface ReportedStatus {
  last_applied_revision: number;
  syncs_with_changes: number;
  applied_change_revision?: number;
  drift_repairs?: number;
  last_error?: string | null;
  last_error_at?: string;
}
export type StatusSink = (body: StatusBody) => Promise<void>;

/** What romanad accepts as an interface name (others cannot be a pod's veth anyway). */
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** The interfaces of the current network namespace (its own /proc/sys view; no process spawned). */
export function hostInterfaces(): string[] {
  return readdirSync('/proc/sys/net/ipv4/conf').filter((n) => n !== 'all' && n !== 'default' && IFNAME.test(n)).sort();
}

export const viaRomanad = (ep: Endpoint, host: string): StatusSink => async (body) => {
  await call(ep, { method: 'PUT', path: `/hosts/${encodeURIComponent(host)}/status`, body: JSON.stringify(body), timeoutMs: 10_000 });
};

/** With --etcd-endpoints there is no romanad to receive the report: it is written directly, stamped by this host's clock. */
export const viaStore = (store: Pick<Store, 'put'>, host: string): StatusSink => async (body) => {
  const { pending_releases, ...rest } = body;
  const rec: HostStatusRecord = {
    ...rest, host, received_at: new Date().toISOString(),
    ...(pending_releases?.length ? { pending_releases } : {}),
  };
  await store.put(hostStatusKey(host), JSON.stringify(rec));
};

export interface ReporterOptions {
  send: StatusSink;
  /** The reconciler's status: a new applied change, drift repair or error is worth a report. */
  status: () => ReportedStatus;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  interfaces?: () => string[];
  /** Releases a CNI DEL left pending on this host (shown by `romana ipam check`). */
  pending?: () => NonNullable<StatusBody['pending_releases']>;
  /**
   * A report at least this often, changes or not (romanad calls a report older than 120 s stale).
   * Every report is a store write that every agent sees, so not much more often than that.
   */
  intervalMs?: number;
  /** How often to look for changes. */
  pollMs?: number;
}

export class StatusReporter {
  private timer?: NodeJS.Timeout;
  private sending?: Promise<void>;
  private last = { at: 0, interfaces: '', changes: '', pending: '' };
  private failures = 0;
  private retryAt = 0;

  constructor(private readonly o: ReporterOptions) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.o.pollMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sending;
  }

  private tick(): void {
    if (this.sending) return;
    const now = Date.now();
    let interfaces: string[];
    try {
      interfaces = (this.o.interfaces ?? hostInterfaces)();
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'status report: cannot list interfaces');
      return;
    }
    const st = this.o.status();
    const pending = this.o.pending?.() ?? [];
    const pendingText = JSON.stringify(pending);
    const intervalMs = this.o.intervalMs ?? 30_000;
    // Not last_applied_revision: it moves with every other agent's report, and reporting that would
    // make every report cause N more.
    const changes = JSON.stringify([st.syncs_with_changes, st.applied_change_revision, st.drift_repairs, st.last_error]);
    const changed = interfaces.join(',') !== this.last.interfaces || changes !== this.last.changes || pendingText !== this.last.pending;
    if (!(changed || now - this.last.at >= intervalMs) || now < this.retryAt) return;
    const body: StatusBody = {
      interfaces, last_applied_revision: st.last_applied_revision, report_interval_seconds: Math.ceil(intervalMs / 1000),
      ...(this.o.pending ? { pending_releases: pending } : {}),
      ...(st.applied_change_revision !== undefined ? { applied_change_revision: st.applied_change_revision } : {}),
      ...(st.drift_repairs !== undefined ? { drift_repairs: st.drift_repairs } : {}),
      ...(st.last_error !== undefined ? { last_error: st.last_error } : {}),
      ...(st.last_error_at !== undefined ? { last_error_at: st.last_error_at } : {}),
    };
    this.sending = this.o.send(body).then(() => {
      if (this.failures) this.o.log.info({ after: this.failures }, 'status report: romanad takes reports again');
      this.last = { at: now, interfaces: interfaces.join(','), changes, pending: pendingText };
      this.failures = 0;
      this.retryAt = 0;
    }, (e: Error) => {
      // Backs off (capped by the interval); logs the first failure and then every tenth.
      if (this.failures++ % 10 === 0) this.o.log.warn({ err: e.message, failures: this.failures }, 'status report failed');
      this.retryAt = Date.now() + Math.min(this.o.intervalMs ?? 30_000, 500 * 2 ** this.failures);
    }).finally(() => {
      this.sending = undefined;
    });
  }
}
