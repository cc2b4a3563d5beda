// The reconciler: level-triggered. It keeps a copy of every key under /romana/ (a full listing at
// start and after every reconnect, then the watch's events), and after any change it brings the desired
// state of this host up to date (desired.ts: incrementally, by what changed) and lets the dataplane sync
// the difference. Changes that arrive while a sync runs are taken together by the next one, so a burst
// costs two syncs, not one per change. A timer re-syncs every drift interval, which re-reads the kernel
// and repairs whatever changed behind the agent's back.
//
// When the store cannot be reached the dataplane stays exactly as it was: nothing is applied before the
// first listing, and after a disconnect the last known state keeps being the desired one (the drift
// check still restores it). The agent relists with exponential backoff (capped) and resumes.
import { HOST_STATUS, ROOT } from '../control/keys.js';
import type { StoreReader, Watch, WatchEvent } from '../store/store.js';
import type { SyncResult } from './dataplane.js';
import type { SyncOptions } from './firewall.js';
import { type DesiredOptions, type DesiredState, DesiredTracker } from './desired.js';
import type { AgentMetrics } from './metrics.js';
import type { BgpManager } from './bgp/manager.js';
import { type FabricView, fabricView } from './bgp/view.js';

export interface Log {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
  debug(o: object, msg: string): void;
}

export interface ReconcilerOptions {
  store: StoreReader;
  host: string;
  dataplane: { sync(d: DesiredState, opts?: SyncOptions): Promise<SyncResult> };
  desired?: Omit<DesiredOptions, 'policyCache'>;
  metrics: AgentMetrics;
  log: Log;
  /** Announces this host's routes over BGP; applied after the dataplane, from the same snapshot. */
  bgp?: Pick<BgpManager, 'apply' | 'status'>;
  debounceMs?: number;
  driftIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface AgentStatus {
  host: string;
  registered: boolean;
  store_connected: boolean;
  /** Highest store revision seen. */
  store_revision: number;
  /** Revision whose desired state was last applied without error (0: none yet). */
  last_applied_revision: number;
  /**
   * The newest change (anything but agents' status reports) included in the last applied state: what
   * romanad compares with its own newest change to say whether this agent is current.
   */
  applied_change_revision: number;
  last_sync_at?: string;
  syncs: number;
  /** Syncs that had to change something in the kernel. */
  syncs_with_changes: number;
  drift_repairs: number;
  /** How long the last periodic drift check took (it reads the kernel's filter table and ipsets), in ms. */
  last_drift_check_ms?: number;
  routes: number;
  rules: number;
  chains: number;
  sets: number;
  set_entries: number;
  endpoints: number;
  local_endpoints: number;
  endpoints_without_interface: number;
  /** Local endpoints whose interface does not exist (yet). */
  missing_interfaces: string[];
  /** Remote blocks whose host cannot be routed to now (their routes are kept as they are). */
  unresolved_blocks: string[];
  /** Store records that were skipped, and why. */
  problems: string[];
  last_error: string | null;
  last_error_at?: string;
}

type Trigger = 'resync' | 'watch' | 'drift' | 'retry';

export class Reconciler {
  /** The copy of the store, and the desired state kept up to date from it. */
  private readonly desired: DesiredTracker;
  private loaded = false;
  private revision = 0;
  private changeRevision = 0;
  private watch?: Watch;
  private generation = 0;
  private attempt = 0;
  private stopped = false;
  private debounce?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private driftTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private pending = new Set<Trigger>();
  private retryAttempt = 0;
  private readonly st: AgentStatus;

  constructor(private readonly o: ReconcilerOptions) {
    this.desired = new DesiredTracker(o.host, o.desired);
    this.st = {
      host: o.host, registered: false, store_connected: false, store_revision: 0, last_applied_revision: 0, applied_change_revision: 0, syncs: 0, syncs_with_changes: 0, drift_repairs: 0,
      routes: 0, rules: 0, chains: 0, sets: 0, set_entries: 0, endpoints: 0, local_endpoints: 0, endpoints_without_interface: 0,
      missing_interfaces: [], unresolved_blocks: [], problems: [], last_error: null,
    };
  }

  status(): AgentStatus & { bgp?: unknown } {
    return { ...this.st, ...(this.o.bgp ? { bgp: this.o.bgp.status() } : {}) };
  }

  start(): void {
    void this.connect();
    this.driftTimer = setInterval(() => this.kick('drift'), this.o.driftIntervalMs ?? 10_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.debounce, this.reconnectTimer, this.retryTimer]) clearTimeout(t);
    clearInterval(this.driftTimer);
    this.generation++;
    await this.watch?.close().catch(() => undefined);
    await this.running;
  }

  private backoff(attempt: number): number {
    const base = this.o.backoffInitialMs ?? 100;
    const d = Math.min(this.o.backoffMaxMs ?? 5000, base * 2 ** attempt);
    return d / 2 + Math.random() * (d / 2); // jitter, so agents do not relist in lockstep
  }

  private error(stage: string, err: unknown): void {
    const msg = `${stage}: ${(err as Error)?.message ?? String(err)}`;
    this.st.last_error = msg;
    this.st.last_error_at = new Date().toISOString();
    this.o.metrics.errors.inc({ stage });
    this.o.log.warn({ stage, err: msg }, 'agent error');
  }

  /** Lists everything, replaces the snapshot, syncs and watches from the listing's revision + 1. */
  private async connect(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    try {
      const l = await this.o.store.list(ROOT);
      if (gen !== this.generation) return;
      this.desired.reset(l.items.map((kv) => [kv.key, kv.value]));
      this.revision = l.revision;
      this.changeRevision = l.revision;
      this.st.store_revision = l.revision;
      const first = !this.loaded;
      this.loaded = true;
      this.o.log.info({ revision: l.revision, keys: l.items.length, first }, first ? 'store listed' : 'store relisted after reconnect');
      this.st.store_connected = true;
      this.o.metrics.storeConnected.set(1);
      this.kick('resync');
      const w = await this.o.store.watch(ROOT, l.revision + 1, {
        onEvents: (ev) => gen === this.generation && this.onEvents(ev),
        onError: (err) => gen === this.generation && this.onWatchError(err),
      });
      if (gen !== this.generation) {
        await w.close();
        return;
      }
      this.watch = w;
      this.attempt = 0;
    } catch (e) {
      if (gen !== this.generation) return;
      this.error('store', e);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    this.st.store_connected = false;
    this.o.metrics.storeConnected.set(0);
    if (this.stopped) return;
    const delay = this.backoff(this.attempt++);
    this.o.log.info({ delayMs: Math.round(delay), attempt: this.attempt }, 'reconnecting to the store');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private onWatchError(err: Error): void {
    this.error('store', err);
    this.generation++; // events of the broken watch, should any still come, are ignored
    const w = this.watch;
    this.watch = undefined;
    void w?.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private onEvents(events: WatchEvent[]): void {
    const before = this.revision;
    for (const e of events) {
      if (e.type === 'put') this.desired.set(e.key, e.value ?? '');
      else this.desired.delete(e.key);
      if (e.revision > this.revision) this.revision = e.revision;
      if (!e.key.startsWith(HOST_STATUS) && e.revision > this.changeRevision) this.changeRevision = e.revision;
    }
    this.st.store_revision = this.revision;
    // Agents' status reports change nothing in any host's desired state: when this agent was caught
    // up, it still is. Without this every report would make every agent recompute its rules.
    // A sync under way or due applies the same desired state, and counts these reports as applied
    // when it ends (syncOnce).
    if (events.every((e) => e.key.startsWith(HOST_STATUS))) {
      const idle = !this.running && !this.debounce && this.pending.size === 0;
      if (!idle) return;
      if (this.st.last_applied_revision === before) {
        this.st.last_applied_revision = this.revision;
        this.o.metrics.revision.set(this.revision);
        return;
      }
    }
    this.kick('watch');
  }

  /**
   * Asks for a sync on the next turn of the event loop (the events of one transaction come together),
   * or after `debounceMs` when set; before the first listing there is nothing to sync to.
   */
  private kick(trigger: Trigger): void {
    if (!this.loaded || this.stopped) return;
    this.pending.add(trigger);
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.runSyncs();
    }, trigger === 'drift' || trigger === 'retry' ? 0 : (this.o.debounceMs ?? 0));
  }

  private runSyncs(): void {
    if (this.running || this.pending.size === 0) return; // a running loop picks up new triggers itself
    this.running = this.loop().finally(() => {
      this.running = undefined;
      this.runSyncs();
    });
  }

  private async loop(): Promise<void> {
    while (this.pending.size && !this.stopped) {
      const triggers = [...this.pending];
      this.pending.clear();
      await this.syncOnce(triggers);
    }
  }

  private async syncOnce(triggers: Trigger[]): Promise<void> {
    const trigger = triggers.includes('resync') ? 'resync' : triggers.includes('watch') ? 'watch' : triggers[0];
    const end = this.o.metrics.reconcileDuration.startTimer({ trigger });
    const t0 = performance.now();
    const revision = this.revision;
    const change = this.changeRevision;
    let result: SyncResult;
    let d: DesiredState;
    let fabric: FabricView;
    try {
      d = this.desired.state();
      // Blocks of groups that publish through the fabric (BGP, a VPC route table) are routed there.
      fabric = fabricView(this.desired.model.values, this.o.host);
      const remote = d.routes.remote.filter((r) => fabric.routesItself(r.dst, r.host));
      d = { ...d, routes: { ...d.routes, remote }, problems: [...d.problems, ...fabric.problems] };
      // Store events diff against the last sync; start-up, resyncs, retries and the drift check read the kernel.
      result = await this.o.dataplane.sync(d, { reread: triggers.some((t) => t !== 'watch') });
      await this.o.bgp?.apply(fabric); // never throws; BIRD's troubles show in its own status
    } catch (e) {
      end();
      this.o.metrics.reconciles.inc({ trigger, result: 'error' });
      this.error('sync', e);
      this.scheduleRetry();
      return;
    }
    end();
    const st = this.st;
    st.syncs++;
    if (result.changed) st.syncs_with_changes++;
    st.last_sync_at = new Date().toISOString();
    st.registered = d.registered;
    st.endpoints = d.endpoints.total;
    st.local_endpoints = d.endpoints.local;
    st.endpoints_without_interface = d.endpoints.withoutInterface.length;
    st.problems = result.skipped ? [result.skipped, ...d.problems] : d.problems;
    if (result.routes) {
      st.routes = result.routes.routes;
      st.missing_interfaces = result.routes.missingInterfaces;
      st.unresolved_blocks = result.routes.unresolved;
    }
    if (result.firewall && d.firewall) {
      st.rules = result.firewall.rules;
      st.set_entries = result.firewall.setEntries;
      st.chains = result.firewall.chains;
      st.sets = result.firewall.sets;
    }
    const m = this.o.metrics;
    m.routes.set(st.routes);
    m.rules.set(st.rules);
    m.chains.set(st.chains);
    m.setEntries.set(st.set_entries);
    m.sets.set(st.sets);
    m.endpoints.set(st.local_endpoints);
    if (trigger === 'drift') st.last_drift_check_ms = Math.round(performance.now() - t0);
    if (trigger === 'drift' && result.changed) {
      st.drift_repairs++;
      m.driftRepairs.inc();
      this.o.log.warn({ host: result.host, routes: result.routes && { replaced: result.routes.replaced, deleted: result.routes.deleted, ruleAdded: result.routes.ruleAdded }, firewall: result.firewall?.counts }, 'drift repaired: the kernel had changed behind the agent');
    }
    if (result.removedOther) this.o.log.info(result.removedOther, 'removed what the other firewall backend had left');
    for (const c of result.firewall?.renderedDifferently ?? []) this.o.log.warn({ chain: c }, 'the kernel prints this chain differently from the compiler; accepting its form');
    if (result.errors.length) {
      m.reconciles.inc({ trigger, result: 'error' });
      this.error('sync', new Error(result.errors.join('; ')));
      this.scheduleRetry();
      return;
    }
    m.reconciles.inc({ trigger, result: 'ok' });
    this.retryAttempt = 0;
    // Only status reports since this sync began: what it applied is the newest desired state.
    st.last_applied_revision = change === this.changeRevision ? this.revision : revision;
    st.applied_change_revision = change;
    m.revision.set(st.last_applied_revision);
    if (result.changed || trigger !== 'drift') {
      this.o.log.info({ trigger, revision, changed: result.changed, routes: st.routes, rules: st.rules, setEntries: st.set_entries, firewall: result.firewall?.counts }, 'synced');
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick('retry'), this.backoff(this.retryAttempt++) + 200);
  }
}
