// /namespaces and /pods: the labels and ports that policy selectors match.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Labels } from '../../core/topology/schema.js';
import { invalid } from '../../core/errors.js';
import type { Control } from '../../control/control.js';
import type { PodPort } from '../../control/metadata.js';
import { requireHost } from '../auth.js';
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
// What Kubernetes says of the pod (romana-listener fills these): its node, its address and its UID.
const PodFacts = {
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  ip: Type.Optional(Type.String({ minLength: 7, maxLength: 15, pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' })),
  uid: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
};
const PodBody = Type.Object({
  namespace: Type.Optional(Name), name: Type.Optional(PodName), labels: Type.Optional(Labels), ports: Type.Optional(Type.Array(Port, { maxItems: 64 })), ...PodFacts,
}, { additionalProperties: false });
const NamespaceRecord = Type.Object({ name: Type.String(), labels: Labels });
const PodRecord = Type.Object({ namespace: Type.String(), name: Type.String(), labels: Labels, ports: Type.Array(Port), ...PodFacts });
const cluster = { access: 'cluster' as const };

export const metadataRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const m = control.metadata;
  app.get('/namespaces', { schema: { tags: ['metadata'], response: { 200: Type.Object({ revision: Type.Integer(), namespaces: Type.Array(NamespaceRecord) }) } }, config: { access: 'inventory' } },
    async () => m.listNamespaces());
  app.put('/namespaces/:name', {
    schema: { tags: ['metadata'], summary: 'Create (201) or replace (200) a namespace', params: Type.Object({ name: Name }), body: NamespaceBody, response: { 200: NamespaceRecord, 201: NamespaceRecord, ...errorResponses } },
    config: cluster,
  }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const b = req.body as { name?: string; labels?: Record<string, string> };
      if (b.name !== undefined && b.name !== name) throw invalid(`name: '${b.name}' does not match the path ('${name}')`);
      const r = await m.putNamespace({ name, labels: b.labels ?? {} });
      return reply.status(r.created ? 201 : 200).send(r.record);
    });
  app.delete('/namespaces/:name', { schema: { tags: ['metadata'], summary: 'Delete a namespace; answers it', params: Type.Object({ name: Name }), response: { 200: NamespaceRecord, ...errorResponses } }, config: cluster },
    async (req) => m.deleteNamespace((req.params as { name: string }).name));
  app.get('/pods', { schema: { tags: ['metadata'], response: { 200: Type.Object({ revision: Type.Integer(), pods: Type.Array(PodRecord) }) } }, config: { access: 'inventory' } },
    async () => m.listPods());
  // The CNI plugin reads the pod it attaches (its segment label); a cni token only pods of its host.
  app.get('/pods/:namespace/:name', { schema: { tags: ['metadata'], params: Type.Object({ namespace: Name, name: PodName }), response: { 200: PodRecord, ...errorResponses } }, config: { access: 'pod' } },
    async (req) => {
      const p = req.params as { namespace: string; name: string };
      const rec = await m.getPod(p.namespace, p.name);
      if (req.principal.role === 'cni' && rec.host !== undefined) requireHost(req, rec.host, `reading pod '${p.namespace}/${p.name}'`);
      return rec;
    });
  app.put('/pods/:namespace/:name', {
    schema: { tags: ['metadata'], summary: 'Create (201) or replace (200) a pod\'s labels and ports', params: Type.Object({ namespace: Name, name: PodName }), body: PodBody, response: { 200: PodRecord, 201: PodRecord, ...errorResponses } },
    config: cluster,
  }, async (req, reply) => {
      const p = req.params as { namespace: string; name: string };
      const b = req.body as { namespace?: string; name?: string; labels?: Record<string, string>; ports?: PodPort[]; host?: string; ip?: string; uid?: string };
      for (const f of ['namespace', 'name'] as const) {
        if (b[f] !== undefined && b[f] !== p[f]) throw invalid(`${f}: '${b[f]}' does not match the path ('${p[f]}')`);
      }
      const r = await m.putPod({
        namespace: p.namespace, name: p.name, labels: b.labels ?? {}, ports: b.ports ?? [],
        ...(b.host !== undefined ? { host: b.host } : {}), ...(b.ip !== undefined ? { ip: b.ip } : {}), ...(b.uid !== undefined ? { uid: b.uid } : {}),
      });
      return reply.status(r.created ? 201 : 200).send(r.record);
    });
  app.delete('/pods/:namespace/:name', { schema: { tags: ['metadata'], summary: 'Delete a pod; answers it', params: Type.Object({ namespace: Name, name: PodName }), response: { 200: PodRecord, ...errorResponses } }, config: cluster },
    async (req) => {
      const p = req.params as { namespace: string; name: string };
      return m.deletePod(p.namespace, p.name);
    });
};
