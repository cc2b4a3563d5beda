// Turns every failure into the API's error body {"error": KIND, "message": text}. A client's mistake is
// never a 500: malformed JSON, schema violations, unknown routes and oversized bodies all get a kind.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RomanaError, httpStatusOf } from '../core/errors.js';

/** "body/networks/0/cidr must be string" -> "networks[0].cidr: must be string" */
function schemaMessage(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return err.message;
  const ctx = err.validationContext ?? 'body';
  let path = (v.instancePath ?? '').split('/').slice(1).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  const params = v.params as Record<string, unknown>;
  if (v.keyword === 'required') path = path ? `${path}.${params.missingProperty}` : String(params.missingProperty);
  if (v.keyword === 'additionalProperties') path = path ? `${path}.${params.additionalProperty}` : String(params.additionalProperty);
  const what = v.keyword === 'required' ? 'is required' : v.keyword === 'additionalProperties' ? 'is not a known field' : v.message;
  return `${ctx === 'body' ? '' : ctx + ' '}${path || ctx}: ${what}`;
}

/**
 * For Fastify's `frameworkErrors` option: a URL the router cannot take (bad percent-encoding, a path
 * parameter over `maxParamLength`) otherwise gets Fastify's own body, not {error, message}.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(400).send({ error: 'invalid', message: `url: ${err.message}` });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | RomanaError, req, reply) => {
    if (err instanceof RomanaError) {
      if (err.kind === 'internal') req.log.error({ err }, 'internal error');
      return reply.status(httpStatusOf(err.kind)).send(err.toJSON());
    }
    const e = err as FastifyError;
    if (e.validation) return reply.status(400).send({ error: 'invalid', message: schemaMessage(e) });
    const status = e.statusCode ?? 500;
    if (status === 413) return reply.status(413).send({ error: 'too_large', message: `request body is larger than the limit: ${e.message}` });
    if (status === 429) return reply.status(429).send({ error: 'rate_limited', message: e.message });
    if (status >= 400 && status < 500) return reply.status(400).send({ error: 'invalid', message: e.message || 'bad request' });
    req.log.error({ err }, 'internal error');
    return reply.status(500).send({ error: 'internal', message: 'internal error; see the romanad log' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
