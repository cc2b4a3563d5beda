// A daemon's operational HTTP endpoints, shared by romana-agent, romana-listener and romana-route-publisher:
// /healthz (the process is up), /readyz (when the daemon says what ready means), /status (JSON) and
// /metrics (Prometheus, the daemon's own prom-client registry). Plain node:http: no routing or
// schemas are needed for four read-only paths, and it keeps the daemons' bundles small.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface OpsEndpoints {
  status: () => unknown;
  metrics: { registry: Registry };
  ready?: () => { ready: boolean; why: string };
}

export function serveOps(o: OpsEndpoints): Server {
  const paths = ['/healthz', ...(o.ready ? ['/readyz'] : []), '/status', '/metrics'];
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz' && o.ready) {
      const r = o.ready();
      return send(r.ready ? 200 : 503, 'text/plain', `${r.why}\n`);
    }
    if (path === '/status') return send(200, 'application/json', JSON.stringify(o.status(), null, 2) + '\n');
    if (path === '/metrics') {
      o.metrics.registry.metrics().then((text) => send(200, o.metrics.registry.contentType, text), (e: Error) => send(500, 'text/plain', `${e.message}\n`));
      return;
    }
    send(404, 'text/plain', `not found: try ${paths.join(', ')}\n`);
  });
}
