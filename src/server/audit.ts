// The audit log: one line per change request and per refused request, with who asked, what, and the
// result. Reads are not audited (they change nothing); refusals are, because they may be probing. A
// POST that only reads (POST /policies/simulate) says so by its access, `read`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { accessOf } from './auth.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest { auditError?: string }
}

/** The object a request acts on, as far as its body names it (the URL names the rest). */
function targetOf(req: FastifyRequest): Record<string, unknown> | undefined {
  const b = req.body as Record<string, unknown> | undefined;
  if (!b || typeof b !== 'object' || Array.isArray(b)) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'host', 'tenant', 'segment', 'id', 'cidr']) if (typeof b[k] === 'string') out[k] = (b[k] as string).slice(0, 253);
  const meta = b.metadata as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object' && typeof meta.name === 'string') out.name = meta.name.slice(0, 253);
  return Object.keys(out).length ? out : undefined;
}

export function installAudit(app: FastifyInstance, audit: Logger): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      try {
        req.auditError = (JSON.parse(payload) as { error?: string }).error;
      } catch { /* not JSON */ }
    }
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    if ((READS.has(req.method) || accessOf(req) === 'read') && status !== 401 && status !== 403) return;
    const p = req.principal;
    audit.info({
      who: p?.name ?? 'unauthenticated', role: p?.role, ...(p?.host ? { host: p.host } : {}), from: req.ip ?? 'unix-socket',
      method: req.method, url: req.url.slice(0, 1024), target: targetOf(req),
      status, result: status < 400 ? 'ok' : req.auditError ?? 'error',
    }, 'audit');
  });
}
