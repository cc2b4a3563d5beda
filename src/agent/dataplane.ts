// One dataplane sync: host settings, then the firewall (sets before the rules that use them), then the
// routes. Each manager reads the kernel, diffs and applies only the difference, so a sync is both the
// reaction to a store change and the periodic drift repair.
import { DEFAULT_DATAPLANE, firewallBackend, type DataplaneKind, type FirewallBackend, type PolicyCounter, type RemovedOther } from './backends.js';
import type { DesiredState } from './desired.js';
import type { FirewallSyncResult, SyncOptions } from './firewall.js';
import { HostManager } from './host.js';
import { RouteManager, type RouteOptions, type RouteSyncResult } from './routes.js';

export interface DataplaneOptions extends RouteOptions {
  /** The pods' gateway address to put on lo; undefined: none. */
  gateway?: string;
  /** The firewall backend (default DEFAULT_DATAPLANE). */
  firewall?: DataplaneKind;
}

export interface SyncResult {
  /** Something in the kernel was changed. */
  changed: boolean;
  routes?: RouteSyncResult;
  firewall?: FirewallSyncResult & { chains: number; sets: number };
  /** What the other firewall backend had left (looked at once, after the first good firewall sync). */
  removedOther?: RemovedOther;
  host: string[];
  errors: string[];
  /** Why nothing was even looked at. */
  skipped?: string;
}

export class Dataplane {
  private readonly host: HostManager;
  private readonly firewall: FirewallBackend;
  private otherRemoved = false;
  private readonly applied: { interfaces?: string[]; routes?: { desired: DesiredState['routes']; result: RouteSyncResult } } = {};
  readonly routes: RouteManager;

  constructor(readonly opts: DataplaneOptions) {
    this.host = new HostManager(opts.gateway);
    this.firewall = firewallBackend(opts.firewall ?? DEFAULT_DATAPLANE);
    this.routes = new RouteManager(opts);
  }

  /** `reread: false` lets the firewall diff against its last successful sync instead of reading the kernel. */
  async sync(d: DesiredState, opts: SyncOptions = {}): Promise<SyncResult> {
    // A store without this host (a wrong --etcd-prefix, a romanad that lost its data, a host not added
    // yet) must not read as "this host has nothing": leave the dataplane exactly as it is.
    if (!d.registered) return { changed: false, host: [], errors: [], skipped: `host ${d.host} is not registered in the store: the dataplane is left as it is` };
    const errors: string[] = [];
    // After a store event (no re-read asked for), a part whose desired state is the very object the
    // last good sync applied is left alone: the drift check and every resync still read all of it.
    const quick = opts.reread === false;
    const h = quick && this.applied.interfaces === d.interfaces ? { changed: [], errors: [] } : await this.host.sync(d.interfaces);
    errors.push(...h.errors);
    let firewall: SyncResult['firewall'];
    let removedOther: RemovedOther | undefined;
    if (d.firewall) {
      try {
        firewall = await this.firewall.sync(d.firewall, opts);
        errors.push(...firewall.errors);
        // Switching backends: the other one's state goes only once this one enforces the policy.
        if (!this.otherRemoved && firewall.errors.length === 0) {
          removedOther = await this.firewall.removeOther();
          this.otherRemoved = true;
        }
      } catch (e) {
        errors.push(`firewall: ${(e as Error).message}`);
      }
    }
    let routes: RouteSyncResult | undefined;
    try {
      const kept = this.applied.routes;
      routes = quick && kept?.desired === d.routes ? { ...kept.result, replaced: 0, deleted: 0, ruleAdded: false } : await this.routes.sync(d.routes);
      errors.push(...routes.errors.map((e) => `routes: ${e}`));
      // Only a sync that left nothing waiting (an interface that is not there yet, so neither its route
      // nor its proxy ARP; a host that cannot be reached) is kept.
      const settled = routes.errors.length === 0 && routes.missingInterfaces.length === 0 && routes.unresolved.length === 0;
      this.applied.routes = settled ? { desired: d.routes, result: routes } : undefined;
      this.applied.interfaces = settled && h.errors.length === 0 ? d.interfaces : undefined;
    } catch (e) {
      this.applied.routes = this.applied.interfaces = undefined;
      errors.push(`routes: ${(e as Error).message}`);
    }
    const changed = h.changed.length > 0 || Boolean(firewall?.changed) || Boolean(removedOther?.removed.length) || Boolean(routes && (routes.replaced || routes.deleted || routes.ruleAdded));
    return { changed, routes, firewall, ...(removedOther && (removedOther.removed.length || removedOther.leftAlone.length) ? { removedOther } : {}), host: h.changed, errors };
  }

  /** Packets and bytes each policy allowed on this host (the backend's counters). */
  policyCounters(): Promise<PolicyCounter[]> {
    return this.firewall.policyCounters();
  }
}
