// The JSON records romanad keeps in the store, as TypeBox schemas (the API answers reuse them).
import { Type, type Static } from '@sinclair/typebox';
import { Labels, NetworkLayout } from '../core/topology/schema.js';

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
  /** The newest change (not counting agents' reports) in the state it last applied. */
  applied_change_revision: Type.Optional(Type.Integer()),
  /** Times the agent found the kernel changed behind its back and repaired it. */
  drift_repairs: Type.Optional(Type.Integer()),
  last_error: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  last_error_at: Type.Optional(Type.String()),
  /** The longest the agent waits between two reports. */
  report_interval_seconds: Type.Optional(Type.Integer()),
});
export type HostStatusRecord = Static<typeof HostStatusRecord>;

export const Blackout = Type.Object({ network: Type.String(), cidr: Type.String() });
export type Blackout = Static<typeof Blackout>;

export const NetworkView = Type.Object({
  name: Type.String(), cidr: Type.String(), block_mask: Type.Integer(), tenants: Type.Optional(Type.Array(Type.String())), layout: Type.Optional(NetworkLayout),
});
export type NetworkView = Static<typeof NetworkView>;

export const PolicyRecordSchema = Type.Object({
  id: Type.String(), kind: Type.String(), description: Type.Optional(Type.String()),
  object: Type.Record(Type.String(), Type.Unknown()),
});

// The API's lists: items under a named key, with the revision they were read at.
export const HostList = Type.Object({ revision: Type.Integer(), hosts: Type.Array(HostRecord) });
export const AddressList = Type.Object({ revision: Type.Integer(), addresses: Type.Array(AddressRecord) });
export const BlockList = Type.Object({ revision: Type.Integer(), blocks: Type.Array(BlockView) });
export const BlackoutList = Type.Object({ revision: Type.Integer(), blackouts: Type.Array(Blackout) });
export const NetworkList = Type.Object({ revision: Type.Integer(), networks: Type.Array(NetworkView) });
export const PolicyList = Type.Object({ revision: Type.Integer(), policies: Type.Array(PolicyRecordSchema) });
