// /version and /status: what an operator asks first. /status answers even while the store is down
// (ready false, the store's error), and for each host its agent's last report as GET /agents judges
// it (freshness by the agent's own interval, the change it applied against the store's newest, its
// last error), without GET /agents's ipam check, so it stays cheap.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { agentViews, changeRevisionOf } from '../../control/agents.js';
import type { Control } from '../../control/control.js';
import { HOSTS, HOST_STATUS, ROOT } from '../../control/keys.js';
import type { HostRecord, HostStatusRecord } from '../../control/records.js';
import { VERSION } from '../../version.js';
import { AgentView } from './agents.js';

const Status = Type.Object({
  version: Type.String(),
  ready: Type.Boolean(),
  store: Type.Object({
    backend: Type.String(), revision: Type.Optional(Type.Integer()),
    change_revision: Type.Optional(Type.Integer({ description: 'the newest change, agents\' reports aside: what an agent that is current has applied' })),
    error: Type.Optional(Type.String()),
  }),
  hosts: Type.Array(AgentView),
});
const NoQuery = Type.Object({}, { additionalProperties: false });

export const statusRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  app.get('/version', {
    schema: { tags: ['service'], summary: 'romanad\'s version', querystring: NoQuery, response: { 200: Type.Object({ version: Type.String() }) } },
    config: { access: 'public', storeless: true },
  }, async () => ({ version: VERSION }));
  // storeless: a store that cannot be reached is part of the answer, not a 503.
  app.get('/status', {
    schema: { tags: ['service'], summary: 'Readiness, the store, and each host\'s agent report', querystring: NoQuery, response: { 200: Status } },
    config: { access: 'read', storeless: true },
  }, async () => {
    const store = control.store;
    try {
      const all = await store.list(ROOT);
      const parse = <T>(prefix: string) => all.items.filter((kv) => kv.key.startsWith(prefix)).map((kv) => JSON.parse(kv.value) as T);
      const change = changeRevisionOf(all.items);
      return {
        version: VERSION, ready: true, store: { backend: store.backend, revision: all.revision, change_revision: change },
        hosts: agentViews(parse<HostRecord>(HOSTS), parse<HostStatusRecord>(HOST_STATUS), change, Date.now()),
      };
    } catch (e) {
      return { version: VERSION, ready: false, store: { backend: store.backend, error: (e as Error).message }, hosts: [] };
    }
  });
};
