// /topology and /networks.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { TopologyDocument } from '../../core/topology/schema.js';
import type { Control } from '../../control/control.js';
import { NetworkList } from '../../control/records.js';
import { errorResponses } from '../schemas.js';

// The document is checked in depth by the topology core, whose errors name the exact field; the
// route schema only requires an object (a union schema would answer every mistake with "anyOf").
const TopologyBody = Type.Object({}, { additionalProperties: true, description: 'Topology document (networks + topologies) or the VPC shorthand {type: "vpc", ...}' });

const Change = Type.Object({
  object: Type.Union(['network', 'group', 'host', 'blocks', 'blackout'].map((k) => Type.Literal(k))),
  name: Type.String(),
  change: Type.Union(['added', 'removed', 'changed', 'renamed', 'moved', 'kept', 'skipped'].map((k) => Type.Literal(k))),
  detail: Type.String(),
});
const Replaced = Type.Object({ dry_run: Type.Boolean(), changes: Type.Array(Change), topology: TopologyDocument });

export const topologyRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  app.get('/topology', {
    schema: {
      tags: ['topology'], summary: 'The topology: the document with every group\'s CIDRs and, in each leaf, its hosts (output-only fields; the answer can be posted back as it is)',
      response: { 200: TopologyDocument },
    },
  }, async () => control.topology.show());
  app.post('/topology', {
    schema: {
      tags: ['topology'],
      summary: 'Replace the topology. The document owns networks and groups, the API hosts and labels: hosts are never removed nor relabelled; host entries say where hosts sit (in the first topology they also add them); every existing address is kept (re-placed by containment) or nothing changes. dry_run=true: only say what would change.',
      body: TopologyBody, querystring: Type.Object({ dry_run: Type.Optional(Type.Boolean()) }),
      response: { 200: Replaced, ...errorResponses },
    },
  }, async (req) => control.topology.replace(req.body, { dryRun: (req.query as { dry_run?: boolean }).dry_run === true }));
  app.get('/networks', {
    schema: {
      tags: ['topology'], summary: 'The networks',
      response: { 200: NetworkList },
    },
  }, async () => control.topology.networks());
};
