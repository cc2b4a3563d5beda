// GET /whoami: who the bearer token is and what its role may do, so a client (the console) shows only
// what the API would allow. Answers 401 for a missing or unknown token when romanad has tokens at all.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { RomanaError } from '../../core/errors.js';
import { ACCESS, UNAUTHENTICATED, allows } from '../auth.js';
import { ErrorBody } from '../schemas.js';

const Answer = Type.Object({
  name: Type.String(), role: Type.String(), host: Type.Optional(Type.String()),
  access: Type.Array(Type.String(), { description: 'the access levels this principal has (see src/server/auth.ts and docs/operations.md)' }),
});

export const whoamiRoutes: FastifyPluginAsync = async (app) => {
  app.get('/whoami', {
    schema: { tags: ['auth'], summary: 'The caller: token name, role, bound host and access levels', querystring: Type.Object({}, { additionalProperties: false }), response: { 200: Answer, 401: ErrorBody } },
    // Public so that the answer for a bad token is a clear 401 from here, not a role check.
    config: { access: 'public', storeless: true },
  }, async (req) => {
    const p = req.principal;
    if (p === UNAUTHENTICATED) throw new RomanaError('unauthorized', req.headers.authorization ? 'the bearer token is not valid' : 'this request needs a bearer token (Authorization: Bearer ...)');
    return { name: p.name, role: p.role, ...(p.host !== undefined ? { host: p.host } : {}), access: ACCESS.filter((a) => allows(p, a)) };
  });
};
