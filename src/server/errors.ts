// Turns every failure into the API's error body {"error": KIND, "message": text}. A client's mistake is
// never a 500: malformed JSON, schema violations, unknown routes, wrong methods and media types, and
// oversized bodies all get a kind (statuses come from core/errors.ts).
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
  const what = v.keyword === 'required' ? 'is required' : v.keyword === 'additionalProperties'
    ? (ctx === 'querystring' ? 'is not a known query parameter' : 'is not a known field') : v.message;
  return `${ctx === 'body' ? '' : ctx + ' '}${path || ctx}: ${what}`;
}

/**
 * For Fastify's `frameworkErrors` option: a URL the router cannot take (bad percent-encoding, a path
 * parameter over `maxParamLength`) otherwise gets Fastify's own body, not {error, message}.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void reply.status(400).send({ error: 'invalid', message: `url: ${err.message}` });
}

const send = (reply: FastifyReply, e: RomanaError) => reply.status(httpStatusOf(e.kind)).send(e.toJSON());

export function installErrorHandling(app: FastifyInstance): void {
  // The route table, to tell a wrong method (405, with Allow) from a path that does not exist (404).
  const routes: { re: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (r) => {
    const re = new RegExp('^' + r.url.split('/').map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/') + '/?$');
    let entry = routes.find((x) => x.re.source === re.source);
    if (!entry) routes.push((entry = { re, methods: new Set() }));
    for (const m of [r.method].flat()) entry.methods.add(m);
  });
  app.setErrorHandler((err: FastifyError | RomanaError, req, reply) => {
    if (err instanceof RomanaError) {
      if (err.kind === 'internal') req.log.error({ err }, 'internal error');
      return send(reply, err);
    }
    const e = err as FastifyError;
    if (e.validation) return send(reply, new RomanaError('invalid', schemaMessage(e)));
    const status = e.statusCode ?? 500;
    if (status === 413) {
      const limit = req.routeOptions.bodyLimit;
      return send(reply, new RomanaError('too_large', `the request body is larger than ${limit} bytes (romanad --body-limit)`));
    }
    if (status === 415) {
      return send(reply, new RomanaError('unsupported_media_type', `content-type '${req.headers['content-type'] ?? ''}' is not accepted here (send application/json)`));
    }
    if (status === 429) return send(reply, new RomanaError('rate_limited', e.message));
    if (status >= 400 && status < 500) return send(reply, new RomanaError('invalid', e.message || 'bad request'));
    req.log.error({ err }, 'internal error');
    return send(reply, new RomanaError('internal', 'internal error; see the romanad log'));
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const allowed = routes.find((r) => r.re.test(path))?.methods;
    if (allowed && !allowed.has(req.method)) {
      void reply.header('allow', [...allowed].sort().join(', '));
      return send(reply, new RomanaError('method_not_allowed', `${req.method} is not allowed on ${path} (allowed: ${[...allowed].sort().join(', ')})`));
    }
    return send(reply, new RomanaError('not_found', `no route ${req.method} ${path}`));
  });
}
