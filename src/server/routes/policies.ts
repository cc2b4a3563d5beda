// /policies: Romana policies and Kubernetes NetworkPolicies, as JSON or YAML.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { invalid } from '../../core/errors.js';
import { parsePolicies } from '../../core/policy/normalize.js';
import type { Control } from '../../control/control.js';
import { PolicyList, PolicyRecordSchema } from '../../control/records.js';
import { errorResponses } from '../schemas.js';

const PolicyRecord = PolicyRecordSchema;
/** The stored policy, and whether it was `created`, `configured` (replaced) or `unchanged`. */
const Applied = Type.Object({ ...PolicyRecord.properties, result: Type.Union([Type.Literal('created'), Type.Literal('configured'), Type.Literal('unchanged')]) });
const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 400 }) });

export const policyRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  // YAML bodies arrive as text and are parsed by the policy core (clear errors with line numbers).
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      const objects = parsePolicies(body as string);
      if (objects.length !== 1) throw invalid(`body: expected one policy, found ${objects.length} (send one request per policy)`);
      done(null, objects[0]);
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  const tags = ['policies'];
  app.get('/policies', { schema: { tags, response: { 200: PolicyList } }, config: { access: 'inventory' } },
    async () => control.policies.list());
  app.post('/policies', {
    schema: {
      tags, summary: 'Create or replace a policy (Romana policy or Kubernetes NetworkPolicy; JSON or YAML)',
      // Checked in depth by the policy core, whose errors name the exact field.
      body: Type.Object({}, { additionalProperties: true }), response: { 200: Applied, 201: Applied, ...errorResponses },
    },
    config: { access: 'cluster' },
  }, async (req, reply) => {
    const r = await control.policies.apply(req.body);
    return reply.status(r.result === 'created' ? 201 : 200).send(r);
  });
  app.get('/policies/:id', { schema: { tags, params: IdParam, response: { 200: PolicyRecord, ...errorResponses } } },
    async (req) => control.policies.get((req.params as { id: string }).id));
  app.delete('/policies/:id', { schema: { tags, summary: 'Delete a policy; answers it', params: IdParam, response: { 200: PolicyRecord, ...errorResponses } }, config: { access: 'cluster' } },
    async (req) => control.policies.remove((req.params as { id: string }).id));
};
