// /store/list and /store/watch: a read-only view of romanad's state for host agents, so an agent reads
// and watches the same keys whether it talks to romanad or to etcd directly. The watch is a stream of
// newline-delimited JSON: one line per revision ({"revision", "events"}), and a heartbeat line
// ({"heartbeat": true}) every few seconds so a client can tell a quiet stream from a dead one.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { invalid } from '../../core/errors.js';
import type { Control } from '../../control/control.js';
import { ROOT } from '../../control/keys.js';

const Prefix = Type.String({ minLength: 1, maxLength: 512, default: ROOT });

function checkPrefix(p: string): string {
  if (!p.startsWith(ROOT)) throw invalid(`prefix: must start with ${ROOT}`);
  return p;
}

export const HEARTBEAT_MS = 5000;

const KeyValue = Type.Object({ key: Type.String(), value: Type.String(), createRevision: Type.Integer(), modRevision: Type.Integer() });
const WatchLine = Type.Object({
  revision: Type.Integer(),
  events: Type.Array(Type.Object({ type: Type.Union([Type.Literal('put'), Type.Literal('delete')]), key: Type.String(), value: Type.Optional(Type.String()), revision: Type.Integer() })),
});

export const storeRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const store = control.store;

  app.get('/store/list', {
    schema: {
      tags: ['store'], summary: 'Every key under a prefix, with the revision it was read at',
      querystring: Type.Object({ prefix: Prefix }),
      response: { 200: Type.Object({ revision: Type.Integer(), items: Type.Array(KeyValue) }) },
    },
  }, async (req) => store.list(checkPrefix((req.query as { prefix: string }).prefix)));

  app.get('/store/watch', {
    schema: {
      tags: ['store'], summary: 'Stream the changes under a prefix from a revision on (NDJSON)',
      querystring: Type.Object({ prefix: Prefix, from: Type.String({ pattern: '^[0-9]{1,15}$', description: 'revision to start from' }) }),
      response: {
        200: {
          description: 'One JSON object a line: {revision, events} per revision, {heartbeat: true} every few seconds, {error, message} as the last line if the watch breaks',
          content: { 'application/x-ndjson': { schema: Type.Union([WatchLine, Type.Object({ heartbeat: Type.Literal(true) }), Type.Object({ error: Type.String(), message: Type.String() })]) } },
        },
      },
    },
    config: { access: 'watch' },
  }, async (req, reply) => {
    const { prefix } = req.query as { prefix: string };
    const from = Number((req.query as { from: string }).from);
    checkPrefix(prefix);
    await store.revision(); // an unreachable store is a 503 now, not an error line after a 200
    reply.hijack();
    app.metrics?.watchClients.inc();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write('{"heartbeat":true}\n'); // sends the headers now: the client's watch call returns at once
    let closed = false;
    const end = () => {
      if (closed) return;
      closed = true;
      app.metrics?.watchClients.dec();
      clearInterval(beat);
      void watch.then((w) => w.close()).catch(() => undefined);
      res.end();
    };
    const beat = setInterval(() => res.write('{"heartbeat":true}\n'), HEARTBEAT_MS);
    const watch = store.watch(prefix, from, {
      onEvents: (events) => res.write(JSON.stringify({ revision: events[0].revision, events }) + '\n'),
      onError: (err) => {
        res.write(JSON.stringify({ error: (err as { kind?: string }).kind ?? 'unavailable', message: err.message }) + '\n');
        end();
      },
    });
    watch.catch((err: Error) => {
      res.write(JSON.stringify({ error: (err as { kind?: string }).kind ?? 'unavailable', message: err.message }) + '\n');
      end();
    });
    req.raw.on('close', end);
  });
};
