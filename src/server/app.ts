// The romanad HTTP API: Fastify with a JSON schema on every route, and the OpenAPI document at
// /openapi.json. Each resource is its own plugin.
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Control } from '../control/control.js';
import { installErrorHandling } from './errors.js';
import { addressRoutes } from './routes/addresses.js';
import { hostRoutes } from './routes/hosts.js';
import { metadataRoutes } from './routes/metadata.js';
import { policyRoutes } from './routes/policies.js';
import { storeRoutes } from './routes/store.js';
import { topologyRoutes } from './routes/topology.js';

export interface AppOptions {
  control: Control;
  logger?: Logger | boolean;
  /** Largest request body accepted, in bytes. */
  bodyLimit?: number;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(typeof opts.logger === 'object' ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: opts.logger ?? false }),
    bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024,
    // On shutdown every connection goes, watch streams and idle keep-alives included.
    forceCloseConnections: true,
    // Strict validation: no type coercion, no silent removal of unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    // Requests are not logged one by one (the audit log records changes); errors still are.
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrorHandling(app);
  await app.register(swagger, {
    openapi: { info: { title: 'romanad', description: 'Romana control service', version: '0.1.0' } },
  });
  // Query strings are the one place where text must become booleans and numbers.
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown>;
    if (q && typeof q.force === 'string') q.force = q.force === 'true' || q.force === '1' ? true : q.force === 'false' || q.force === '0' ? false : q.force;
  });
  await app.register(topologyRoutes(opts.control));
  await app.register(hostRoutes(opts.control));
  await app.register(addressRoutes(opts.control));
  await app.register(policyRoutes(opts.control));
  await app.register(metadataRoutes(opts.control));
  await app.register(storeRoutes(opts.control));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  return app;
}
