// The host agents at a glance: for each host, whether its agent reports (judged by the interval the
// agent itself declares), whether it has applied the newest change, its drift repairs and last error,
// plus the `ipam check` findings. GET /agents answers it once; GET /agents/events pushes it on change.
import { type Finding } from '../core/ipam/check.js';
import type { KeyValue } from '../store/store.js';
import { type CheckReport, DEFAULT_STALE_SECONDS, type IpamCheck } from './check.js';
import { HOST_STATUS, HOSTS, ROOT } from './keys.js';
import type { HostRecord, HostStatusRecord } from './records.js';
import type { ControlState } from './state.js';

export type Reporting = 'fresh' | 'stale' | 'none';

export interface AgentView {
  host: string;
  ip: string;
  report: Reporting;
  /** A report older than this means the agent is not reporting: twice its interval plus 5 s. */
  window_seconds: number;
  received_at?: string;
  age_seconds?: number;
  last_applied_revision?: number;
  applied_change_revision?: number;
  /** The agent has applied the newest change romanad knows of (absent: it does not say). */
  current?: boolean;
  drift_repairs?: number;
  last_error?: string | null;
  last_error_at?: string;
  interfaces?: number;
}

export interface AgentsView {
  /** The store's revision, and its newest change that is not an agent's report. */
  revision: number;
  change_revision: number;
  at: string;
  agents: AgentView[];
  check: { checked_at: string; summary: CheckReport['summary']; findings: Finding[] };
}

/** How long a report stays fresh: two intervals (one report may be lost) and some slack. */
export const freshnessWindow = (s: Pick<HostStatusRecord, 'report_interval_seconds'> | undefined): number =>
  s?.report_interval_seconds ? 2 * s.report_interval_seconds + 5 : DEFAULT_STALE_SECONDS;

/** Pure: one row per host, from the records and a clock. */
export function agentViews(hosts: HostRecord[], statuses: HostStatusRecord[], changeRevision: number, nowMs: number): AgentView[] {
  const byHost = new Map(statuses.map((s) => [s.host, s]));
  return hosts.map((h) => {
    const s = byHost.get(h.name);
    const window = freshnessWindow(s);
    if (!s) return { host: h.name, ip: h.ip, report: 'none', window_seconds: window };
    const v: AgentView = aged({
      host: h.name, ip: h.ip, report: 'fresh', window_seconds: window,
      received_at: s.received_at, last_applied_revision: s.last_applied_revision, interfaces: s.interfaces.length,
    }, nowMs);
    if (s.applied_change_revision !== undefined) {
      v.applied_change_revision = s.applied_change_revision;
      v.current = s.applied_change_revision >= changeRevision;
    }
    if (s.drift_repairs !== undefined) v.drift_repairs = s.drift_repairs;
    if (s.last_error !== undefined) v.last_error = s.last_error;
    if (s.last_error_at !== undefined) v.last_error_at = s.last_error_at;
    return v;
  });
}

/** The row with its report's age and freshness as of `nowMs` (time passes; nothing else changes). */
export function aged(v: AgentView, nowMs: number): AgentView {
  if (v.received_at === undefined) return v;
  const age = Math.max(0, (nowMs - Date.parse(v.received_at)) / 1000);
  return { ...v, age_seconds: Math.round(age * 10) / 10, report: age > v.window_seconds ? 'stale' : 'fresh' };
}

/** The newest change in a listing, agents' reports aside. A deleted key leaves no trace in a listing. */
export const changeRevisionOf = (items: KeyValue[]): number =>
  items.reduce((m, kv) => (kv.key.startsWith(HOST_STATUS) ? m : Math.max(m, kv.modRevision)), 0);

export const isReportKey = (key: string): boolean => key.startsWith(HOST_STATUS);

export class Agents {
  constructor(private readonly s: ControlState, private readonly check: IpamCheck) {}

  /** The newest change now (lists the state once). */
  async changeRevision(): Promise<{ revision: number; change: number }> {
    const all = await this.s.store.list(ROOT);
    return { revision: all.revision, change: changeRevisionOf(all.items) };
  }

  /** The view, given the newest change (a watcher keeps it up to date between listings). */
  async view(changeRevision?: number): Promise<AgentsView> {
    const [hosts, statuses, check, rev] = await Promise.all([
      this.s.store.list(HOSTS), this.s.store.list(HOST_STATUS), this.check.check({}),
      changeRevision === undefined ? this.changeRevision() : undefined,
    ]);
    const change = rev?.change ?? changeRevision!;
    const parse = <T>(kv: KeyValue) => JSON.parse(kv.value) as T;
    return {
      revision: Math.max(hosts.revision, statuses.revision, rev?.revision ?? 0), change_revision: change, at: new Date().toISOString(),
      agents: agentViews(hosts.items.map(parse<HostRecord>), statuses.items.map(parse<HostStatusRecord>), change, Date.now()),
      check: { checked_at: check.checked_at, summary: check.summary, findings: check.findings },
    };
  }
}
