// /address, /addresses, /blocks and /blackouts.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { RomanaError, invalid } from '../../core/errors.js';
import type { Control } from '../../control/control.js';
import type { AddressFilter } from '../../control/ipam.js';
import { AddressList, AddressRecord, Blackout, BlackoutList, BlockList } from '../../control/records.js';
import { requireHost } from '../auth.js';
import { errorResponses } from '../schemas.js';

const AllocateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  host: Type.String({ minLength: 1, maxLength: 253 }),
  tenant: Type.String({ minLength: 1, maxLength: 253 }),
  segment: Type.Optional(Type.String({ maxLength: 253 })),
  network: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'allocate in this network only' })),
  attributes: Type.Optional(Type.Record(Type.String({ maxLength: 253 }), Type.String({ maxLength: 1024 }), { maxProperties: 32 })),
  ip: Type.Optional(Type.String({ minLength: 7, maxLength: 15, description: 'this address, or a refusal naming why not: it must lie in the host\'s group, not be taken or blacked out, and its block must be this owner\'s on this host or free' })),
  segment_from_pod: Type.Optional(Type.Object({
    namespace: Type.String({ minLength: 1, maxLength: 253 }),
    name: Type.String({ minLength: 1, maxLength: 253 }),
    label: Type.String({ minLength: 1, maxLength: 317 }),
  }, {
    additionalProperties: false,
    description: 'the segment is this label of this pod as romanad\'s pod metadata has it (romana-listener keeps it); `segment` when romanad does not know the pod or the pod has no such label. Lets the CNI plugin allocate for a Kubernetes pod in one round trip',
  })),
}, { additionalProperties: false });

// Opt-in, so that reusing a name by mistake stays `exists` (the public conformance cases ask that).
// The value is not kept: the address name is the request's identity.
const IdempotencyHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) });

interface PodRef { namespace: string; name: string; label: string }

/** The pod's label, as GET /pods/{namespace}/{name} would show it to this caller; undefined for an unknown pod. */
async function podLabel(control: Control, req: FastifyRequest, ref: PodRef): Promise<string | undefined> {
  const pod = await control.metadata.getPod(ref.namespace, ref.name).catch((e: unknown) => {
    if (e instanceof RomanaError && e.kind === 'not_found') return undefined;
    throw e;
  });
  if (pod && req.principal.role === 'cni' && pod.host !== undefined) requireHost(req, pod.host, `reading pod '${ref.namespace}/${ref.name}'`);
  return pod?.labels[ref.label] || undefined;
}

export const addressRoutes = (control: Control): FastifyPluginAsync => async (app) => {
  // cni tokens act for their own host only: checked against the body, or the stored record.
  app.post('/address', {
    schema: {
      tags: ['addresses'],
      summary: 'Allocate an address',
      description: 'Answers 201 with the new record. With an Idempotency-Key header, a request for a name that already exists on the same host for the same tenant and segment (and the same ip, if one is asked for) answers that record with 200 (a retry after a lost answer); without one, or for another host or owner, it is `exists`.',
      headers: IdempotencyHeader, body: AllocateBody, response: { 201: AddressRecord, 200: AddressRecord, ...errorResponses },
    },
    config: { access: 'allocate' },
  }, async (req, reply) => {
    const { segment_from_pod: fromPod, ...body } = req.body as Parameters<Control['ipam']['allocate']>[0] & { segment_from_pod?: PodRef };
    requireHost(req, body.host, 'allocating');
    if (fromPod) {
      const segment = await podLabel(control, req, fromPod);
      if (segment) body.segment = segment;
    }
    const idempotent = req.headers['idempotency-key'] !== undefined;
    const { record, created } = await control.ipam.allocate({ ...body, idempotent });
    return reply.status(created ? 201 : 200).send(record);
  });
  app.delete('/address', {
    schema: {
      tags: ['addresses'],
      summary: 'Release an address: name=NAME or ip=IP says which; addressName=X (Romana\'s) is an IP when an address holds it, else a name (names never read as IPs)',
      querystring: Type.Object({ addressName: Type.Optional(Type.String({ minLength: 1 })), name: Type.Optional(Type.String({ minLength: 1 })), ip: Type.Optional(Type.String({ minLength: 1 })) }),
      response: { 200: AddressRecord, ...errorResponses },
    },
    config: { access: 'allocate' },
  }, async (req) => {
    const q = req.query as { addressName?: string; name?: string; ip?: string };
    const given = (['addressName', 'name', 'ip'] as const).filter((k) => q[k] !== undefined);
    if (given.length !== 1) throw invalid(`querystring: give exactly one of name, ip or addressName (got ${given.length ? given.join(', ') : 'none'})`);
    const ref = q[given[0]]!;
    const by = given[0] === 'addressName' ? 'either' : given[0];
    return control.ipam.release(ref, { by, authorize: (rec) => requireHost(req, rec.host, `releasing '${ref}'`) });
  });
  app.get('/address/:name', {
    schema: { tags: ['addresses'], params: Type.Object({ name: Type.String() }), response: { 200: AddressRecord, ...errorResponses } },
    config: { access: 'addresses' },
  }, async (req) => {
    const rec = await control.ipam.getAddress((req.params as { name: string }).name);
    requireHost(req, rec.host, `reading '${rec.name}'`);
    return rec;
  });
  app.get('/addresses', {
    schema: {
      tags: ['addresses'], summary: 'Addresses, all or those matching every filter given',
      querystring: Type.Object({ host: Type.Optional(Type.String()), tenant: Type.Optional(Type.String()), segment: Type.Optional(Type.String()), network: Type.Optional(Type.String()) }),
      response: { 200: AddressList },
    },
    config: { access: 'addresses' },
  }, async (req) => {
    const filter = req.query as AddressFilter;
    if (req.principal.role === 'cni') requireHost(req, filter.host ?? '(every host)', 'listing addresses');
    return control.ipam.listAddresses(filter);
  });
  app.get('/blocks', {
    schema: { tags: ['addresses'], querystring: Type.Object({ host: Type.Optional(Type.String()) }), response: { 200: BlockList } },
  }, async (req) => {
    const host = (req.query as { host?: string }).host;
    const r = await control.ipam.blocks();
    return host ? { revision: r.revision, blocks: r.blocks.filter((b) => b.host === host) } : r;
  });
  app.get('/blackouts', { schema: { tags: ['blackouts'], response: { 200: BlackoutList } } },
    async () => control.ipam.listBlackouts());
  app.post('/blackouts', {
    schema: { tags: ['blackouts'], summary: 'Reserve a CIDR inside a network', body: Type.Object({ cidr: Type.String({ minLength: 1 }) }, { additionalProperties: false }), response: { 201: Blackout, ...errorResponses } },
  }, async (req, reply) => reply.status(201).send(await control.ipam.addBlackout((req.body as { cidr: string }).cidr)));
  app.delete('/blackouts', {
    schema: { tags: ['blackouts'], summary: 'Remove a blackout (exact CIDR); answers it', querystring: Type.Object({ cidr: Type.String({ minLength: 1 }) }), response: { 200: Blackout, ...errorResponses } },
  }, async (req) => control.ipam.removeBlackout((req.query as { cidr: string }).cidr));
};
