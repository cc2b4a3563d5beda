// Prometheus metrics of one listener (prom-client, a private registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ListenerMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly events = new Counter({ name: 'romana_listener_events_total', help: 'Changes seen on the Kubernetes API, by kind and type', labelNames: ['kind', 'type'] as const, registers: this.r });
  readonly writes = new Counter({ name: 'romana_listener_writes_total', help: 'Writes to romanad, by kind and operation', labelNames: ['kind', 'op'] as const, registers: this.r });
  readonly errors = new Counter({ name: 'romana_listener_errors_total', help: 'Errors, by kind and reason (unavailable, refused, watch, ...)', labelNames: ['kind', 'reason'] as const, registers: this.r });
  readonly refused = new Counter({ name: 'romana_listener_refused_total', help: 'Objects romanad refused (reported as Events and, for RomanaPolicies, as a status condition)', labelNames: ['kind'] as const, registers: this.r });
  readonly lag = new Histogram({
    name: 'romana_listener_sync_lag_seconds', help: 'Time from a change seen on the API server to romanad holding it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: this.r,
  });
  readonly oldest = new Gauge({ name: 'romana_listener_oldest_pending_seconds', help: 'Age of the oldest change not yet in romanad', registers: this.r });
  readonly queue = new Gauge({ name: 'romana_listener_queue_depth', help: 'Objects waiting to be synced', registers: this.r });
  readonly leader = new Gauge({ name: 'romana_listener_leader', help: '1 while this listener leads (and writes)', registers: this.r });
  readonly synced = new Gauge({ name: 'romana_listener_synced', help: '1 once every kind has been listed and applied', registers: this.r });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'romana_listener_' });
  }
}
