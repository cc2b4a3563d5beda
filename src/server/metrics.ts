// romanad's Prometheus metrics (prom-client, a private registry per app), served at GET /metrics:
// requests by route, method and status and their latency, store call latency by operation, address
// allocations and releases by outcome, errors by kind, and open watch streams.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';

declare module 'fastify' {
  interface FastifyInstance { metrics: RomanadMetrics }
}

const STORE_OPS = ['get', 'list', 'put', 'delete', 'txn', 'revision', 'read'] as const;
const instrumented = Symbol('romana.metrics');

export class RomanadMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly requests = new Counter({ name: 'romanad_http_requests_total', help: 'HTTP requests, by route pattern, method and status', labelNames: ['route', 'method', 'status'] as const, registers: this.r });
  readonly requestDuration = new Histogram({
    name: 'romanad_http_request_duration_seconds', help: 'Time to answer an HTTP request', labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: this.r,
  });
  readonly storeDuration = new Histogram({
    name: 'romanad_store_operation_duration_seconds', help: 'Time of one store call, by operation and backend', labelNames: ['op', 'backend'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 3], registers: this.r,
  });
  readonly storeErrors = new Counter({ name: 'romanad_store_errors_total', help: 'Store calls that failed, by operation', labelNames: ['op'] as const, registers: this.r });
  readonly allocations = new Counter({ name: 'romanad_address_allocations_total', help: 'POST /address answers: allocated, or the error kind', labelNames: ['outcome'] as const, registers: this.r });
  readonly releases = new Counter({ name: 'romanad_address_releases_total', help: 'Address releases (DELETE /address, POST /ipam/release): released, or the error kind', labelNames: ['outcome'] as const, registers: this.r });
  readonly errors = new Counter({ name: 'romanad_errors_total', help: 'Error answers, by kind', labelNames: ['kind'] as const, registers: this.r });
  readonly watchClients = new Gauge({ name: 'romanad_watch_clients', help: 'Open /store/watch streams', registers: this.r });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'romanad_' });
  }

  /** Times every call of `store` (in place, so every holder of it is measured; once per store). */
  instrumentStore(store: Store): void {
    const s = store as Store & { [instrumented]?: boolean };
    if (s[instrumented]) return;
    s[instrumented] = true;
    for (const op of STORE_OPS) {
      const f = (s as unknown as Record<string, unknown>)[op];
      if (typeof f !== 'function') continue;
      (s as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
        const end = this.storeDuration.startTimer({ op, backend: s.backend });
        try {
          return await (f as (...a: unknown[]) => Promise<unknown>).apply(s, args);
        } catch (e) {
          this.storeErrors.inc({ op });
          throw e;
        } finally {
          end();
        }
      };
    }
  }
}

/** Counts every answer (after it is sent), and serves the registry at /metrics. */
export function installMetrics(app: FastifyInstance, store: Store): RomanadMetrics {
  const m = new RomanadMetrics();
  m.instrumentStore(store);
  app.decorate('metrics', m);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? '(no route)';
    const status = reply.statusCode;
    m.requests.inc({ route, method: req.method, status: String(status) });
    m.requestDuration.observe({ route, method: req.method }, reply.elapsedTime / 1000);
    const kind = status >= 400 ? req.auditError ?? 'unknown' : undefined;
    if (kind) m.errors.inc({ kind });
    if (req.method === 'POST' && route === '/address') m.allocations.inc({ outcome: kind ?? 'allocated' });
    if ((req.method === 'DELETE' && route === '/address') || (req.method === 'POST' && route === '/ipam/release')) m.releases.inc({ outcome: kind ?? 'released' });
  });
  return m;
}
