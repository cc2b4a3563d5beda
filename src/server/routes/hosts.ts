// /hosts
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { HostId, Labels } from '../../core/topology/schema.js';
import type { Control } from '../../control/control.js';
import { HostList, HostRecord } from '../../control/records.js';
import { RomanaError } from '../../core/errors.js';
import { NameParam, errorResponses } from '../schemas.js';

const HostBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  ip: Type.String({ minLength: 1, maxLength: 15 }),
  labels: Type.Optional(Labels),
  agent_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  id: Type.Optional(HostId),
}, { additionalProperties: false });

const HostUpdate = Type.Object({
  name: Type.Optional(Type.String()),
  ip: Type.Optional(Type.String()),
  labels: Type.Optional(Labels),
  agent_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** A draining host takes no new addresses (romana-listener marks a host whose node went away). */
  draining: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
const cluster = { access: 'cluster' as const };

/** A JSON merge patch (RFC 7386) of a host: labels with a null value are removed, the others set. */
const HostPatch = Type.Object({
  labels: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 317 }), Type.Union([Type.String({ maxLength: 63 }), Type.Null()]))),
  agent_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
}, { additionalProperties: false });

export const hostRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const tags = ['hosts'];
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.get('/hosts', { schema: { tags, response: { 200: HostList } }, config: { access: 'inventory' } },
    async () => control.topology.listHosts());
  app.post('/hosts', { schema: { tags, summary: 'Add a host; it is placed in a group of every network', body: HostBody, response: { 201: HostRecord, ...errorResponses } }, config: cluster },
    async (req, reply) => reply.status(201).send(await control.topology.addHost(req.body as Parameters<Control['topology']['addHost']>[0])));
  app.get('/hosts/:name', { schema: { tags, params: NameParam, response: { 200: HostRecord, ...errorResponses } } },
    async (req) => control.topology.getHost((req.params as { name: string }).name));
  app.put('/hosts/:name', { schema: { tags, params: NameParam, body: HostUpdate, response: { 200: HostRecord, ...errorResponses } }, config: cluster },
    async (req) => control.topology.updateHost((req.params as { name: string }).name, req.body as object));
  app.patch('/hosts/:name', {
    schema: { tags, summary: 'Merge labels into a host (null removes one); application/merge-patch+json or application/json', params: NameParam, body: HostPatch, response: { 200: HostRecord, ...errorResponses } },
  }, async (req) => control.topology.patchHost((req.params as { name: string }).name, req.body as { labels?: Record<string, string | null> }));
  app.delete('/hosts/:name', {
    schema: {
      tags, summary: 'Remove a host (force: release its addresses first); answers the removed host', params: NameParam,
      querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }), response: { 200: HostRecord, ...errorResponses },
    },
    config: cluster,
  }, async (req) => {
    const force = (req.query as { force?: boolean }).force === true;
    // Forcing releases live addresses: an operator's decision, not the listener's.
    if (force && req.principal.role !== 'admin') throw new RomanaError('forbidden', `${req.principal.name} has role ${req.principal.role}, which may remove only hosts without addresses (force needs admin)`);
    return control.removeHost((req.params as { name: string }).name, force);
  });
};
