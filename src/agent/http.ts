// The agent's HTTP endpoints: /healthz (the process is up), /status (JSON) and /metrics (Prometheus).
import { createServer, type Server } from 'node:http';
import type { AgentMetrics } from './metrics.js';

export function serveHttp(opts: { status: () => unknown; metrics: AgentMetrics }): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/status') return send(200, 'application/json', JSON.stringify(opts.status(), null, 2) + '\n');
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => send(200, opts.metrics.registry.contentType, text),
        (e: Error) => send(500, 'text/plain', `${e.message}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'not found: try /healthz, /status or /metrics\n');
  });
}
