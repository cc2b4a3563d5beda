// /agents and /agents/events: every host agent's health (see src/control/agents.ts). The events route
// is a server-sent event stream: an `agents` event at once, again after every change in the store
// (throttled), and whenever a report goes stale with nothing else happening; a comment line every
// 15 s keeps proxies from closing a quiet stream. Browsers read it with fetch (EventSource cannot send
// the Authorization header).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { type AgentsView, Agents, aged, isReportKey } from '../../control/agents.js';
import { IpamCheck } from '../../control/check.js';
import type { Control } from '../../control/control.js';
import { ROOT } from '../../control/keys.js';
import { Finding } from './ipam.js';

export const AgentView = Type.Object({
  host: Type.String(), ip: Type.String(),
  report: Type.Union([Type.Literal('fresh'), Type.Literal('stale'), Type.Literal('none')]),
  window_seconds: Type.Number(), received_at: Type.Optional(Type.String()), age_seconds: Type.Optional(Type.Number()),
  last_applied_revision: Type.Optional(Type.Integer()), applied_change_revision: Type.Optional(Type.Integer()), current: Type.Optional(Type.Boolean()),
  drift_repairs: Type.Optional(Type.Integer()), last_error: Type.Optional(Type.Union([Type.String(), Type.Null()])), last_error_at: Type.Optional(Type.String()),
  interfaces: Type.Optional(Type.Integer()),
});
export const AgentsViewSchema = Type.Object({
  revision: Type.Integer(), change_revision: Type.Integer(), at: Type.String(), agents: Type.Array(AgentView),
  check: Type.Object({
    checked_at: Type.String(),
    summary: Type.Object({ addresses: Type.Integer(), blocks: Type.Integer(), hosts: Type.Integer(), problems: Type.Integer(), repairable: Type.Integer(), unjudged: Type.Integer() }),
    findings: Type.Array(Finding),
  }),
});
const NoQuery = Type.Object({}, { additionalProperties: false });

export const STREAM_THROTTLE_MS = 500;
const HEARTBEAT_MS = 15_000;

export const agentRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const agents = new Agents(control.state, new IpamCheck(control.state, control.ipam));
  const tags = ['agents'];

  app.get('/agents', {
    schema: { tags, summary: "Each host agent's reports: freshness, applied revision, drift repairs, last error; and the ipam check findings", querystring: NoQuery, response: { 200: AgentsViewSchema } },
    config: { access: 'read' },
  }, async () => agents.view());

  app.get('/agents/events', {
    schema: {
      tags, summary: 'The same view as GET /agents, pushed as server-sent events (event `agents`) on every change', querystring: NoQuery,
      produces: ['text/event-stream'], response: { 200: { description: 'text/event-stream: `event: agents` with a JSON body shaped as GET /agents', type: 'string' } },
    },
    config: { access: 'read' },
  }, async (req, reply) => {
    const start = await agents.changeRevision();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.write('retry: 2000\n\n');
    let change = start.change;
    let last: AgentsView | undefined;
    let closed = false;
    let pending: NodeJS.Timeout | undefined;
    let running = false;
    let again = false;
    let lastRun = 0;
    const send = (v: AgentsView) => {
      last = v;
      if (!closed) res.write(`event: agents\nid: ${v.revision}\ndata: ${JSON.stringify(v)}\n\n`);
    };
    const refresh = async () => {
      if (running) return void (again = true);
      running = true;
      lastRun = Date.now();
      try {
        send(await agents.view(change));
      } catch (e) {
        if (!closed) res.write(`event: problem\ndata: ${JSON.stringify({ error: 'unavailable', message: (e as Error).message })}\n\n`);
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    };
    // At most one view per throttle period; the last change always gets one.
    const schedule = () => {
      if (pending || closed) return;
      pending = setTimeout(() => {
        pending = undefined;
        void refresh();
      }, Math.max(0, lastRun + STREAM_THROTTLE_MS - Date.now()));
    };
    // Time alone turns a report stale: re-judge the last view every second, send it when a verdict moved.
    const tick = setInterval(() => {
      if (!last || running) return;
      const now = Date.now();
      const next = { ...last, at: new Date(now).toISOString(), agents: last.agents.map((a) => aged(a, now)) };
      if (next.agents.some((a, i) => a.report !== last!.agents[i].report)) send(next);
      else last = next;
    }, 1000);
    const beat = setInterval(() => !closed && res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const end = () => {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      clearInterval(beat);
      clearTimeout(pending);
      void watch.then((w) => w.close()).catch(() => undefined);
      res.end();
    };
    const broken = (err: Error) => {
      if (!closed) res.write(`event: problem\ndata: ${JSON.stringify({ error: (err as { kind?: string }).kind ?? 'unavailable', message: err.message })}\n\n`);
      end();
    };
    const watch = control.store.watch(ROOT, start.revision + 1, {
      onEvents: (events) => {
        for (const e of events) if (!isReportKey(e.key) && e.revision > change) change = e.revision;
        schedule();
      },
      onError: broken,
    });
    watch.catch(broken);
    req.raw.on('close', end);
    void refresh();
  });
};
