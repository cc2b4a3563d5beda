// /topology and /networks.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Control } from '../../control/control.js';
import { NetworkList } from '../../control/records.js';
import { errorResponses } from '../schemas.js';

// The document is checked in depth by the topology core, whose errors name the exact field; the
// route schema only requires an object (a union schema would answer every mistake with "anyOf").
const TopologyBody = Type.Object({}, { additionalProperties: true, description: 'Topology document (networks + topologies) or the VPC shorthand {type: "vpc", ...}' });

const Shown = Type.Object({ networks: Type.Array(Type.Object({}, { additionalProperties: true })), topologies: Type.Array(Type.Object({}, { additionalProperties: true })) });

export const topologyRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  app.get('/topology', { schema: { tags: ['topology'], summary: 'The topology with computed group CIDRs and placed hosts', response: { 200: Shown } } },
    async () => control.topology.show());
  app.post('/topology', {
    schema: { tags: ['topology'], summary: 'Replace the topology, keeping every existing address', body: TopologyBody, response: { 200: Shown, ...errorResponses } },
  }, async (req) => control.topology.replace(req.body));
  app.get('/networks', {
    schema: {
      tags: ['topology'], summary: 'The networks',
      response: { 200: NetworkList },
    },
  }, async () => control.topology.networks());
};
