// The romanad HTTP API: Fastify with a JSON schema on every route, and the OpenAPI document at
// /openapi.json. Each resource is its own plugin.
import rateLimit from '@fastify/rate-limit';
import { Type } from '@sinclair/typebox';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RomanaError } from '../core/errors.js';
import type { Control } from '../control/control.js';
import { installAudit } from './audit.js';
import { type Authenticator, installAuth } from './auth.js';
import { installConventions } from './conventions.js';
import { frameworkErrors, installErrorHandling } from './errors.js';
import { installMetrics } from './metrics.js';
import { addressRoutes } from './routes/addresses.js';
import { hostRoutes } from './routes/hosts.js';
import { ipamRoutes } from './routes/ipam.js';
import { metadataRoutes } from './routes/metadata.js';
import { policyRoutes } from './routes/policies.js';
import { statusRoutes } from './routes/status.js';
import { storeRoutes } from './routes/store.js';
import { topologyRoutes } from './routes/topology.js';
import { agentRoutes } from './routes/agents.js';
import { simulateRoutes } from './routes/simulate.js';
import { defaultUiDir, uiRoutes } from './routes/ui.js';
import { whoamiRoutes } from './routes/whoami.js';

export interface AppOptions {
  control: Control;
  logger?: Logger | boolean;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Bearer tokens and roles; without it every caller is an anonymous admin (romanad then listens on loopback only). */
  auth?: Authenticator;
  /** Requests per client address per window (default 1000 per second); false turns the limit off. */
  rateLimit?: { max: number; windowMs: number } | false;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: string; key: string };
  /** Where the audit lines go (default: the app's logger, marked audit: true). */
  audit?: Logger;
  /** The console's built files (default: dist/ui); false serves no console. */
  uiDir?: string | false;
}

/**
 * Fixed-window request counts per client. The plugin's own LocalStore hands every caller the same
 * mutable counter, so a concurrent burst reads the burst's final count and all of it is refused
 * (first request included); this store answers each request with its own count.
 */
class WindowCounts {
  private readonly counts = new Map<string, { n: number; start: number }>();
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number }) => void, windowMs: number): void {
    const now = Date.now();
    let c = this.counts.get(key);
    if (!c || c.start + windowMs <= now) {
      if (this.counts.size > 10_000) for (const [k, v] of this.counts) if (v.start + windowMs <= now) this.counts.delete(k);
      c = { n: 0, start: now };
      this.counts.set(key, c);
    }
    c.n += 1;
    cb(null, { current: c.n, ttl: c.start + windowMs - now });
  }
  child(): this {
    return this;
  }
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_RATE_LIMIT = { max: 1000, windowMs: 1000 };

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(typeof opts.logger === 'object' ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: opts.logger ?? false }),
    ...(opts.https ? { https: opts.https } : {}),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Names up to 253 characters (and policy ids up to 400) must be readable back through the URL.
    routerOptions: { maxParamLength: 1024 },
    // URLs the router cannot take (bad percent-encoding) still get the API's {error, message}.
    frameworkErrors,
    // On shutdown every connection goes, watch streams and idle keep-alives included.
    forceCloseConnections: true,
    // Strict validation: no type coercion, no silent removal of unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    // Requests are not logged one by one (the audit log records changes); errors still are.
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrorHandling(app);
  installConventions(app);
  const limit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
  if (limit) {
    // Counted per client address before authentication, so a flood of bad tokens is limited too.
    // The unix socket is root's only (the lab relays every host through it): not limited.
    // An app-level hook added before auth's: the plugin's own (global: true) hooks are per route, and
    // per-route hooks run after app-level ones, so 401s and 404s were never counted.
    await app.register(rateLimit, {
      global: false, hook: 'onRequest', max: limit.max, timeWindow: limit.windowMs,
      keyGenerator: (req) => req.ip, allowList: (req) => req.ip === undefined, store: WindowCounts,
      errorResponseBuilder: (_req, ctx) => new RomanaError('rate_limited', `more than ${ctx.max} requests in ${ctx.after} from this address (romanad --rate-limit); retry after that`),
    });
    app.addHook('onRequest', app.rateLimit());
  }
  installAuth(app, opts.auth);
  installAudit(app, opts.audit ?? (app.log as unknown as Logger).child({ audit: true }));
  // After the audit hooks: error answers are counted by the kind they read from the body.
  const metrics = installMetrics(app, opts.control.store);
  await app.register(swagger, {
    openapi: { info: { title: 'romanad', description: 'Romana control service', version: '0.1.0' } },
  });
  // Query strings are the one place where text must become booleans and numbers.
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown>;
    for (const k of ['force', 'dry_run']) {
      if (q && typeof q[k] === 'string') q[k] = q[k] === 'true' || q[k] === '1' ? true : q[k] === 'false' || q[k] === '0' ? false : q[k];
    }
  });
  await app.register(topologyRoutes(opts.control));
  await app.register(hostRoutes(opts.control));
  await app.register(addressRoutes(opts.control));
  await app.register(policyRoutes(opts.control));
  await app.register(metadataRoutes(opts.control));
  await app.register(storeRoutes(opts.control));
  await app.register(ipamRoutes(opts.control));
  await app.register(simulateRoutes(opts.control));
  await app.register(agentRoutes(opts.control));
  await app.register(whoamiRoutes);
  if (opts.uiDir !== false) await app.register(uiRoutes(opts.uiDir ?? defaultUiDir()));
  await app.register(statusRoutes(opts.control));
  app.get('/openapi.json', { schema: { hide: true }, config: { access: 'public', storeless: true } }, async () => app.swagger());
  app.get('/metrics', {
    schema: {
      tags: ['service'], summary: 'Prometheus metrics: requests by route and status, store latency, allocations, errors, watch clients',
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } },
    },
    config: { access: 'read', storeless: true },
  }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  // Liveness: the process answers. Readiness: it can also reach its store (503 unavailable if not).
  app.get('/healthz', {
    schema: { tags: ['service'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ ok: Type.Boolean() }) } },
    config: { access: 'public', storeless: true },
  }, async () => ({ ok: true }));
  app.get('/readyz', {
    schema: { tags: ['service'], summary: 'Readiness: the store answers too (503 unavailable if not)', response: { 200: Type.Object({ ready: Type.Boolean(), revision: Type.Integer() }) } },
    config: { access: 'public' },
  }, async () => ({ ready: true, revision: await opts.control.store.revision() }));
  return app;
}
