// /ipam/check, /ipam/repair, /ipam/release and /hosts/:name/status: IPAM integrity, and the host
// agents' reports that tell a leaked address (no interface on its host) from a live one.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { FINDING_KINDS } from '../../core/ipam/check.js';
import type { Control } from '../../control/control.js';
import { IpamCheck } from '../../control/check.js';
import { AddressRecord, HostStatusRecord, PendingReleaseView } from '../../control/records.js';
import { requireHost } from '../auth.js';
import { NameParam, errorResponses } from '../schemas.js';

const IFNAME = '^[A-Za-z0-9_.:@-]{1,15}$';
const StatusBody = Type.Object({
  interfaces: Type.Array(Type.String({ pattern: IFNAME }), { maxItems: 65536 }),
  last_applied_revision: Type.Integer({ minimum: 0 }),
  pending_releases: Type.Optional(Type.Array(PendingReleaseView, { maxItems: 65536 })),
  applied_change_revision: Type.Optional(Type.Integer({ minimum: 0 })),
  drift_repairs: Type.Optional(Type.Integer({ minimum: 0 })),
  last_error: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
  last_error_at: Type.Optional(Type.String({ maxLength: 64 })),
  report_interval_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
}, { additionalProperties: false });

const Seconds = Type.Integer({ minimum: 0, maximum: 86400 });
const CheckQuery = Type.Object({ grace_seconds: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })), stale_seconds: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })) });
const RepairBody = Type.Object({ grace_seconds: Type.Optional(Seconds), stale_seconds: Type.Optional(Seconds) }, { additionalProperties: false });
const ReleaseBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  ip: Type.String({ minLength: 7, maxLength: 15 }),
  created_at: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });

const Action = Type.Object({ action: Type.String() }, { additionalProperties: true });
export const Finding = Type.Object({
  kind: Type.Union(FINDING_KINDS.map((k) => Type.Literal(k))), subject: Type.String(), host: Type.Optional(Type.String()), detail: Type.String(),
  safe: Type.Boolean(), repair: Type.Array(Action), advice: Type.Optional(Type.String()),
});
const Report = {
  checked_at: Type.String(), revision: Type.Integer(),
  summary: Type.Object({ addresses: Type.Integer(), blocks: Type.Integer(), hosts: Type.Integer(), problems: Type.Integer(), repairable: Type.Integer(), unjudged: Type.Integer() }),
  findings: Type.Array(Finding),
  unjudged: Type.Array(Type.Object({ why: Type.String(), count: Type.Integer() })),
  hosts: Type.Array(Type.Object({
    host: Type.String(), report: Type.String(), received_at: Type.Optional(Type.String()), age_seconds: Type.Optional(Type.Integer()),
    addresses: Type.Integer(), last_applied_revision: Type.Optional(Type.Integer()), pending_releases: Type.Optional(Type.Array(PendingReleaseView)),
  })),
};
const Repaired = Type.Object({ kind: Type.String(), subject: Type.String(), action: Action, result: Type.String(), detail: Type.Optional(Type.String()) });

const opts = (q: { grace_seconds?: string | number; stale_seconds?: string | number }) => ({
  ...(q.grace_seconds !== undefined ? { graceSeconds: Number(q.grace_seconds) } : {}),
  ...(q.stale_seconds !== undefined ? { staleSeconds: Number(q.stale_seconds) } : {}),
});

export const ipamRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  const check = new IpamCheck(control.state, control.ipam);
  const tags = ['ipam'];
  app.put('/hosts/:name/status', {
    schema: { tags, summary: "A host agent reports the interfaces on its host", params: NameParam, body: StatusBody, response: { 200: HostStatusRecord, ...errorResponses } },
    config: { access: 'status' },
  }, async (req) => check.report((req.params as { name: string }).name, req.body as Parameters<IpamCheck['report']>[1]));
  app.get('/hosts/:name/status', { schema: { tags, params: NameParam, response: { 200: HostStatusRecord, ...errorResponses } } },
    async (req) => check.hostStatus((req.params as { name: string }).name));
  app.get('/ipam/check', {
    schema: { tags, summary: 'Leaked addresses, duplicate IPs, orphan blocks, wrong counts and index entries', querystring: CheckQuery, response: { 200: Type.Object(Report), ...errorResponses } },
  }, async (req) => check.check(opts(req.query as object)));
  app.post('/ipam/repair', {
    schema: { tags, summary: 'Repair what is safe to repair, then check again', body: Type.Optional(RepairBody), response: { 200: Type.Object({ ...Report, repaired: Type.Array(Repaired) }), ...errorResponses } },
    config: { access: 'admin' },
  }, async (req) => check.repair(opts((req.body ?? {}) as object)));
  app.post('/ipam/release', {
    schema: { tags, summary: 'Release an address only if it is still the one the caller saw (same IP, same allocation time)', body: ReleaseBody, response: { 200: AddressRecord, ...errorResponses } },
    // Agents too: they send the releases a CNI DEL left pending on their host; the listener those of pods that are gone.
    config: { access: 'release' },
  }, async (req) => {
    const b = req.body as { name: string; ip: string; created_at?: string };
    return control.ipam.release(b.name, { expect: { ip: b.ip, created_at: b.created_at }, by: 'name', authorize: (rec) => requireHost(req, rec.host, `releasing '${b.name}'`) });
  });
};
