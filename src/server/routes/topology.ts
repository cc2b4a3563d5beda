// /topology and /networks.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Control } from '../../control/control.js';
import { errorResponses } from '../schemas.js';

// The document is checked in depth by the topology core, whose errors name the exact field; the
// route schema only requires an object (a union schema would answer every mistake with "anyOf").
const TopologyBody = Type.Object({}, { additionalProperties: true, description: 'Topology document (networks + topologies) or the VPC shorthand {type: "vpc", ...}' });

export const topologyRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  app.get('/topology', { schema: { tags: ['topology'], summary: 'The topology with computed group CIDRs and placed hosts' } },
    async () => control.topology.show());
  app.post('/topology', {
    schema: { tags: ['topology'], summary: 'Replace the topology, keeping every existing address', body: TopologyBody, response: errorResponses },
  }, async (req) => control.topology.replace(req.body));
  app.get('/networks', {
    schema: {
      tags: ['topology'], summary: 'The networks',
      response: { 200: Type.Array(Type.Object({ name: Type.String(), cidr: Type.String(), block_mask: Type.Integer(), tenants: Type.Optional(Type.Array(Type.String())) })) },
    },
  }, async () => control.topology.networks());
};
