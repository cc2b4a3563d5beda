// One dataplane sync: host settings, then the firewall (sets before the rules that use them), then the
// routes. Each manager reads the kernel, diffs and applies only the difference, so a sync is both the
// reaction to a store change and the periodic drift repair.
import type { DesiredState } from './desired.js';
import { FirewallManager, type FirewallSyncResult, type SyncOptions } from './firewall.js';
import { HostManager } from './host.js';
import { RouteManager, type RouteOptions, type RouteSyncResult } from './routes.js';

export interface DataplaneOptions extends RouteOptions {
  /** The pods' gateway address to put on lo; undefined: none. */
  gateway?: string;
}

export interface SyncResult {
  /** Something in the kernel was changed. */
  changed: boolean;
  routes?: RouteSyncResult;
  firewall?: FirewallSyncResult;
  host: string[];
  errors: string[];
  /** Why nothing was even looked at. */
  skipped?: string;
}

export class Dataplane {
  private readonly host: HostManager;
  private readonly firewall = new FirewallManager();
  readonly routes: RouteManager;

  constructor(readonly opts: DataplaneOptions) {
    this.host = new HostManager(opts.gateway);
    this.routes = new RouteManager(opts);
  }

  /** `reread: false` lets the firewall diff against its last successful sync instead of reading the kernel. */
  async sync(d: DesiredState, opts: SyncOptions = {}): Promise<SyncResult> {
    // A store without this host (a wrong --etcd-prefix, a romanad that lost its data, a host not added
    // yet) must not read as "this host has nothing": leave the dataplane exactly as it is.
    if (!d.registered) return { changed: false, host: [], errors: [], skipped: `host ${d.host} is not registered in the store: the dataplane is left as it is` };
    const errors: string[] = [];
    const h = await this.host.sync(d.interfaces);
    errors.push(...h.errors);
    let firewall: FirewallSyncResult | undefined;
    if (d.firewall) {
      try {
        firewall = await this.firewall.sync(d.firewall.tables, opts);
        errors.push(...firewall.errors);
      } catch (e) {
        errors.push(`firewall: ${(e as Error).message}`);
      }
    }
    let routes: RouteSyncResult | undefined;
    try {
      routes = await this.routes.sync(d.routes);
      errors.push(...routes.errors.map((e) => `routes: ${e}`));
    } catch (e) {
      errors.push(`routes: ${(e as Error).message}`);
    }
    const changed = h.changed.length > 0 || Boolean(firewall?.changed) || Boolean(routes && (routes.replaced || routes.deleted || routes.ruleAdded));
    return { changed, routes, firewall, host: h.changed, errors };
  }
}
