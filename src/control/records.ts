// The JSON records romanad keeps in the store, as TypeBox schemas (the API answers reuse them).
import { Type, type Static } from '@sinclair/typebox';
import { Labels } from '../core/topology/schema.js';

export const HostRecord = Type.Object({
  name: Type.String(),
  ip: Type.String(),
  labels: Labels,
  agent_port: Type.Integer(),
  /** Its host ID in layout networks (src/core/ipam/address-layout.ts): set once it sits in one. */
  id: Type.Optional(Type.Integer()),
  /** Set while the host is being removed: it takes no new addresses. */
  draining: Type.Optional(Type.Boolean()),
});
export type HostRecord = Static<typeof HostRecord>;

export const AddressRecord = Type.Object({
  name: Type.String(),
  ip: Type.String(),
  host: Type.String(),
  tenant: Type.String(),
  segment: Type.String(),
  network: Type.String(),
  block: Type.String(),
  /** Free-form facts a client records with the address (the CNI plugin: namespace, pod, container). */
  attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** When romanad allocated it (ISO 8601): `ipam check` gives young addresses time to get their interface. */
  created_at: Type.Optional(Type.String()),
});
export type AddressRecord = Static<typeof AddressRecord>;

export const BlockView = Type.Object({
  cidr: Type.String(),
  network: Type.String(),
  host: Type.String(),
  tenant: Type.String(),
  segment: Type.String(),
  allocated_ip_count: Type.Integer(),
});
export type BlockView = Static<typeof BlockView>;

/** A host agent's last report (romanad stamps `received_at` with its own clock). */
export const PendingReleaseView = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  ip: Type.Optional(Type.String({ maxLength: 15 })),
  since: Type.String({ maxLength: 64 }),
}, { additionalProperties: false });
export type PendingReleaseView = Static<typeof PendingReleaseView>;

export const HostStatusRecord = Type.Object({
  host: Type.String(),
  received_at: Type.String(),
  /** Interfaces that exist on the host (a pod's host-side veth is there exactly while the pod is). */
  interfaces: Type.Array(Type.String()),
  /** The store revision the agent last applied. */
  last_applied_revision: Type.Integer(),
  /** Releases a CNI DEL recorded on the host because romanad could not be reached; the agent sends them. */
  pending_releases: Type.Optional(Type.Array(PendingReleaseView)),
});
export type HostStatusRecord = Static<typeof HostStatusRecord>;
