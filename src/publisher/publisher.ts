// The VPC route publisher: every interval it reads the topology (groups with vpc routing and their
// hosts) from romanad, health-checks the members, reads each route table and applies the plan of the
// core (src/core/routing/vpc.ts): one route per group, to a healthy member; a dead target's route
// moves to another member. A table that cannot hold the topology is refused and left untouched.
// Level-triggered: a missed interval, a restart or a route changed by hand all heal the same way.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiClient } from '../cli/client.js';
import { RomanaError } from '../core/errors.js';
import { readShownTopology } from '../core/routing/shown.js';
import { routingOf } from '../core/routing/topology.js';
import { type VpcPlan, type VpcRoute, planVpc, vpcRoutes } from '../core/routing/vpc.js';
import type { RouteTables } from './ec2.js';
import { Health, type Member } from './health.js';

export interface PublisherOptions {
  api: ApiClient;
  tables: RouteTables;
  /** Route table of groups whose routing names none. */
  routeTable?: string;
  /** Routes a table may hold (its quota; AWS's default is 50). */
  routeLimit: number;
  healthTimeoutMs: number;
  failuresToFail: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface TableStatus {
  routes: { destination: string; group: string; host?: string; instance?: string }[];
  /** Why nothing was written to this table. */
  refused?: string;
  stuck: VpcPlan['stuck'];
  errors: string[];
}

export interface PublisherStatus {
  syncs: number;
  last_sync_at?: string;
  last_error: string | null;
  members: Record<string, boolean>;
  tables: Record<string, TableStatus>;
  moves: number;
}

class PublisherMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly syncs = new Counter({ name: 'romana_publisher_syncs_total', help: 'Syncs of the route tables, by result', labelNames: ['result'] as const, registers: this.r });
  readonly changes = new Counter({ name: 'romana_publisher_route_changes_total', help: 'Routes created, replaced (moved) and deleted', labelNames: ['kind'] as const, registers: this.r });
  readonly routes = new Gauge({ name: 'romana_publisher_routes', help: 'Group routes in each route table', labelNames: ['table'] as const, registers: this.r });
  readonly refused = new Gauge({ name: 'romana_publisher_refused', help: '1 while a route table cannot hold the topology (nothing is written to it)', labelNames: ['table'] as const, registers: this.r });
  readonly healthy = new Gauge({ name: 'romana_publisher_members_healthy', help: 'Members that pass their health check', registers: this.r });
  readonly members = new Gauge({ name: 'romana_publisher_members', help: 'Members of vpc groups', registers: this.r });
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'romana_publisher_' });
  }
}

export class RoutePublisher {
  readonly metrics = new PublisherMetrics();
  private readonly health: Health;
  private readonly instances = new Map<string, string>();
  private readonly st: PublisherStatus = { syncs: 0, last_error: null, members: {}, tables: {}, moves: 0 };

  constructor(private readonly o: PublisherOptions) {
    this.health = new Health({ timeoutMs: o.healthTimeoutMs, failuresToFail: o.failuresToFail });
  }

  status(): PublisherStatus {
    return structuredClone(this.st);
  }

  /** One pass. Returns false when something was refused or failed (the status says what). */
  async sync(): Promise<boolean> {
    try {
      const ok = await this.syncOnce();
      this.metrics.syncs.inc({ result: ok ? 'ok' : 'error' });
      this.st.last_error = ok ? null : this.st.last_error;
      return ok;
    } catch (e) {
      this.metrics.syncs.inc({ result: 'error' });
      this.st.last_error = (e as Error).message;
      this.o.log.warn({ err: this.st.last_error }, 'route publishing failed');
      return false;
    } finally {
      this.st.syncs++;
      this.st.last_sync_at = new Date().toISOString();
    }
  }

  private async syncOnce(): Promise<boolean> {
    const [shown, hostList] = await Promise.all([this.o.api.get('/topology'), this.o.api.get<{ hosts: { name: string; ip: string; agent_port: number }[] }>('/hosts')]);
    const { layout, hosts } = readShownTopology(shown);
    const wanted = vpcRoutes(layout, routingOf(layout), hosts, this.o.routeTable);
    const port = new Map(hostList.hosts.map((h) => [h.name, h.agent_port]));
    const members = new Map<string, Member>();
    for (const w of wanted) for (const m of w.members) members.set(m.name, { ...m, port: port.get(m.name) ?? 9604 });
    await this.health.check([...members.values()]);
    const unknown = [...members.values()].filter((m) => !this.instances.has(m.ip)).map((m) => m.ip);
    for (const [ip, id] of await this.o.tables.instances(unknown)) this.instances.set(ip, id);
    this.st.members = this.health.snapshot();
    this.metrics.members.set(members.size);
    this.metrics.healthy.set(Object.values(this.st.members).filter(Boolean).length);

    const byTable = new Map<string, VpcRoute[]>();
    if (this.o.routeTable) byTable.set(this.o.routeTable, []); // stale routes go even when no group is left
    for (const w of wanted) byTable.set(w.table, [...(byTable.get(w.table) ?? []), w]);
    const hostByInstance = new Map([...members.values()].flatMap((m) => (this.instances.has(m.ip) ? [[this.instances.get(m.ip)!, m.name] as const] : [])));
    let ok = true;
    const tables: Record<string, TableStatus> = {};
    for (const [table, routes] of byTable) {
      const t = await this.publish(table, routes, layout.networks.map((n) => n.cidr), members, hostByInstance);
      tables[table] = t;
      ok &&= !t.refused && t.errors.length === 0;
    }
    this.st.tables = tables;
    return ok;
  }

  private async publish(table: string, wanted: VpcRoute[], podNetworks: Parameters<typeof planVpc>[0]['podNetworks'], members: Map<string, Member>, hostByInstance: Map<string, string>): Promise<TableStatus> {
    const current = await this.o.tables.routes(table);
    let plan: VpcPlan;
    try {
      plan = planVpc({
        table, wanted, current, podNetworks, limit: this.o.routeLimit,
        healthy: (h) => this.health.healthy(h),
        instanceOf: (h) => this.instances.get(members.get(h)?.ip ?? ''),
        hostOf: (i) => hostByInstance.get(i),
      });
    } catch (e) {
      if (!(e instanceof RomanaError)) throw e;
      this.metrics.refused.set({ table }, 1);
      this.o.log.warn({ table, err: e.message }, 'route table refused');
      return { routes: [], refused: e.message, stuck: [], errors: [] };
    }
    this.metrics.refused.set({ table }, 0);
    const errors: string[] = [];
    const attempt = async (kind: 'create' | 'replace' | 'delete', what: string, f: () => Promise<void>): Promise<boolean> => {
      try {
        await f();
        this.metrics.changes.inc({ kind });
        return true;
      } catch (e) {
        errors.push(`${kind} ${what}: ${(e as Error).name}: ${(e as Error).message}`);
        return false;
      }
    };
    for (const d of plan.delete) await attempt('delete', d, () => this.o.tables.delete(table, d));
    for (const c of plan.create) await attempt('create', c.destination, () => this.o.tables.create(table, c.destination, c.instanceId));
    for (const c of plan.replace) {
      if (!(await attempt('replace', c.destination, () => this.o.tables.replace(table, c.destination, c.instanceId)))) continue;
      this.st.moves++;
      this.o.log.warn({ table, group: c.group, destination: c.destination, from: c.from ?? null, to: c.host }, 'group route moved');
    }
    for (const c of plan.create) this.o.log.info({ table, group: c.group, destination: c.destination, to: c.host }, 'group route published');
    if (errors.length) this.o.log.warn({ table, errors }, 'route table changes failed');
    const after = await this.o.tables.routes(table);
    const groupOf = new Map(wanted.map((w) => [w.destination, w.group]));
    const routes = after.filter((r) => groupOf.has(r.destination)).map((r) => ({
      destination: r.destination, group: groupOf.get(r.destination)!, ...(r.instanceId ? { instance: r.instanceId, host: hostByInstance.get(r.instanceId) } : {}),
    }));
    this.metrics.routes.set({ table }, routes.length);
    return { routes, stuck: plan.stuck, errors };
  }
}
