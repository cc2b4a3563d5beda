// The API's conventions, applied to every route as it is registered, so no route can forget them:
//   - unknown query parameters are refused like unknown body fields (`invalid`, naming the parameter);
//   - the OpenAPI document lists every error a route can answer: 400 (and 500) everywhere, 401 and 403
//     where a token is needed, 413 and 415 where a body is read, 429 (rate limit), and 503 where the
//     store is used. A route adds its own domain errors (404, 409) in its schema.
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorBody } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route never touches the store (so it never answers 503). */
    storeless?: boolean;
  }
  interface FastifyInstance {
    /** Every route as registered (method, URL pattern): the OpenAPI conformance test compares it with the document. */
    routeTable: { method: string; url: string; hidden: boolean }[];
  }
}

// Fastify reads a body on these (DELETE too, when one is sent), so the body limit and media types apply.
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What each error status means here; its body is always {error: KIND, message}. */
const MEANING: Record<number, string> = {
  400: 'invalid: a field, parameter or query parameter is wrong (the message names it)',
  401: 'unauthorized: no bearer token, or not a valid one (romanad --auth-file)',
  403: 'forbidden: the token\'s role (or host) may not do this',
  404: 'not_found: the named object does not exist',
  409: 'exists, conflict, no_suitable_group, no_network or no_available_ip: the state refuses the change (the message says why)',
  413: 'too_large: the body is over the limit (romanad --body-limit)',
  415: 'unsupported_media_type: a content-type this route does not read',
  429: 'rate_limited: too many requests from this address (romanad --rate-limit); see Retry-After',
  500: 'internal: a bug; see the romanad log',
  503: 'unavailable: the store cannot be reached; try again',
};

function strictQuery(q: TSchema | undefined): TSchema {
  if (!q) return Type.Object({}, { additionalProperties: false });
  return q.additionalProperties === undefined ? { ...q, additionalProperties: false } : q;
}

export function installConventions(app: FastifyInstance): void {
  const table: FastifyInstance['routeTable'] = [];
  app.decorate('routeTable', table);
  app.addHook('onRoute', (r: RouteOptions) => {
    const schema = (r.schema ??= {}) as { querystring?: TSchema; response?: Record<string, unknown>; hide?: boolean };
    for (const m of [r.method].flat()) table.push({ method: m, url: r.url, hidden: schema.hide === true });
    schema.querystring = strictQuery(schema.querystring);
    const errors: number[] = [400, 429, 500];
    const methods = [r.method].flat();
    if (r.config?.access !== 'public') errors.push(401, 403);
    if (methods.some((m) => BODY_METHODS.has(m))) errors.push(413, 415);
    if (!r.config?.storeless) errors.push(503);
    const response = (schema.response = { ...schema.response }); // route schemas share objects: never mutate them
    for (const s of errors) response[s] ??= ErrorBody;
    for (const s of Object.keys(response).map(Number)) if (response[s] === ErrorBody) response[s] = { ...ErrorBody, description: MEANING[s] ?? 'error' };
  });
}
