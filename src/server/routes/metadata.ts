// /namespaces and /pods: the labels and ports that policy selectors match.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Labels } from '../../core/topology/schema.js';
import { invalid } from '../../core/errors.js';
import type { Control } from '../../control/control.js';
import type { PodPort } from '../../control/metadata.js';
import { errorResponses } from '../schemas.js';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const Name = Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL });
const PodName = Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' });
const Port = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  protocol: Type.Union([Type.Literal('TCP'), Type.Literal('UDP'), Type.Literal('SCTP')]),
}, { additionalProperties: false });
const NamespaceBody = Type.Object({ name: Type.Optional(Name), labels: Type.Optional(Labels) }, { additionalProperties: false });
const PodBody = Type.Object({
  namespace: Type.Optional(Name), name: Type.Optional(PodName), labels: Type.Optional(Labels), ports: Type.Optional(Type.Array(Port, { maxItems: 64 })),
}, { additionalProperties: false });
const NamespaceRecord = Type.Object({ name: Type.String(), labels: Labels });
const PodRecord = Type.Object({ namespace: Type.String(), name: Type.String(), labels: Labels, ports: Type.Array(Port) });

export const metadataRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const m = control.metadata;
  app.get('/namespaces', { schema: { tags: ['metadata'], response: { 200: Type.Object({ namespaces: Type.Array(NamespaceRecord) }) } } },
    async () => ({ namespaces: await m.namespaces() }));
  app.put('/namespaces/:name', { schema: { tags: ['metadata'], params: Type.Object({ name: Name }), body: NamespaceBody, response: { 200: NamespaceRecord, ...errorResponses } } },
    async (req) => {
      const { name } = req.params as { name: string };
      const b = req.body as { name?: string; labels?: Record<string, string> };
      if (b.name !== undefined && b.name !== name) throw invalid(`name: '${b.name}' does not match the path ('${name}')`);
      return m.putNamespace({ name, labels: b.labels ?? {} });
    });
  app.delete('/namespaces/:name', { schema: { tags: ['metadata'], params: Type.Object({ name: Name }), response: { 204: Type.Null(), ...errorResponses } } },
    async (req, reply) => {
      await m.deleteNamespace((req.params as { name: string }).name);
      return reply.status(204).send();
    });
  app.get('/pods', { schema: { tags: ['metadata'], response: { 200: Type.Object({ pods: Type.Array(PodRecord) }) } } },
    async () => ({ pods: await m.pods() }));
  app.get('/pods/:namespace/:name', { schema: { tags: ['metadata'], params: Type.Object({ namespace: Name, name: PodName }), response: { 200: PodRecord, ...errorResponses } } },
    async (req) => {
      const p = req.params as { namespace: string; name: string };
      return m.getPod(p.namespace, p.name);
    });
  app.put('/pods/:namespace/:name', { schema: { tags: ['metadata'], params: Type.Object({ namespace: Name, name: PodName }), body: PodBody, response: { 200: PodRecord, ...errorResponses } } },
    async (req) => {
      const p = req.params as { namespace: string; name: string };
      const b = req.body as { namespace?: string; name?: string; labels?: Record<string, string>; ports?: PodPort[] };
      for (const f of ['namespace', 'name'] as const) {
        if (b[f] !== undefined && b[f] !== p[f]) throw invalid(`${f}: '${b[f]}' does not match the path ('${p[f]}')`);
      }
      return m.putPod({ namespace: p.namespace, name: p.name, labels: b.labels ?? {}, ports: b.ports ?? [] });
    });
  app.delete('/pods/:namespace/:name', { schema: { tags: ['metadata'], params: Type.Object({ namespace: Name, name: PodName }), response: { 204: Type.Null(), ...errorResponses } } },
    async (req, reply) => {
      const p = req.params as { namespace: string; name: string };
      await m.deletePod(p.namespace, p.name);
      return reply.status(204).send();
    });
};
