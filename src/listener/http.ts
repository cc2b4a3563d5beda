// The listener's HTTP endpoints: /healthz (the process is up), /readyz (leading and in sync, or
// following), /status (JSON) and /metrics (Prometheus).
import { createServer, type Server } from 'node:http';
import type { ListenerMetrics } from './metrics.js';

export function serveHttp(o: { status: () => Record<string, unknown>; ready: () => { ready: boolean; why: string }; metrics: ListenerMetrics }): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') {
      const r = o.ready();
      return send(r.ready ? 200 : 503, 'text/plain', `${r.why}\n`);
    }
    if (path === '/status') return send(200, 'application/json', JSON.stringify(o.status(), null, 2) + '\n');
    if (path === '/metrics') {
      o.metrics.registry.metrics().then((text) => send(200, o.metrics.registry.contentType, text), (e: Error) => send(500, 'text/plain', `${e.message}\n`));
      return;
    }
    send(404, 'text/plain', 'not found: try /healthz, /readyz, /status or /metrics\n');
  });
}
