// The topology document (Romana 2.0 format) and its AWS VPC shorthand, as TypeBox schemas: the types
// below are derived from them, and romanad validates request bodies with the same schemas.
//
// Every object is strict (`additionalProperties: false`): a misspelt field (`assigment`, `blockmask`)
// is an error naming it, never silently ignored. A field added here is accepted; nothing else is.
// Fields marked output-only are what `GET /topology` adds; they are accepted and ignored, so what
// `romana topology show -o yaml` prints can be applied again as it is (its host entries then only say
// where existing hosts sit: see core/topology/replace.ts).
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { RoutingSpec } from '../routing/schema.js';

export const TENANT_RE = '^[a-zA-Z0-9_-]*$';

const strict = <T extends TProperties>(props: T, description?: string): TObject<T> =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

export const Labels = Type.Record(Type.String(), Type.String(), { description: 'key=value labels' });

/** Romana's host/tenant/segment address layout (src/core/ipam/address-layout.ts); replaces block_mask. */
export const NetworkLayout = strict({
  host_bits: Type.Integer({ minimum: 1, maximum: 29 }),
  tenant_bits: Type.Integer({ minimum: 1, maximum: 29 }),
  segment_bits: Type.Integer({ minimum: 1, maximum: 29 }),
  endpoint_bits: Type.Integer({ minimum: 1, maximum: 29 }),
}, 'widths of the host, tenant, segment and endpoint IDs; together exactly the free bits of the CIDR');

/** A host's ID in layout networks (`id` of a listed host or of `POST /hosts`). */
export const HostId = Type.Integer({ minimum: 1, maximum: 2 ** 29 - 1 });

export const NetworkSpec = strict({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  cidr: Type.String({ minLength: 1, maxLength: 43 }),
  block_mask: Type.Optional(Type.Integer({ description: 'prefix length of the blocks carved for each host x tenant x segment (default 29)' })),
  layout: Type.Optional(NetworkLayout),
  tenants: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 10000, description: 'reserved for these tenants (default: any tenant)' })),
});

const outputOnly = {
  cidr: Type.Optional(Type.String({ description: 'output only: the group\'s CIDR (topologies of one network)' })),
  cidrs: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'output only: the group\'s CIDR in each network' })),
};

/**
 * A map entry: a host when it has `ip` (name, ip, id, labels), otherwise a group (name, assignment,
 * groups and per-group settings). Which fields suit which is checked in depth by parseTopology.
 */
export const MapEntry = Type.Recursive((Self) => strict({
  name: Type.Optional(Type.String({ maxLength: 253 })),
  ip: Type.Optional(Type.String({ maxLength: 15 })),
  id: Type.Optional(HostId),
  labels: Type.Optional(Labels),
  assignment: Type.Optional(Labels),
  groups: Type.Optional(Type.Array(Self, { maxItems: 4096 })),
  // A string is Romana 1's free-form routing label (its topologies carry e.g. "routing": "test"): kept
  // as written, and routes as if unset (host-routes).
  routing: Type.Optional(Type.Union([Type.String({ maxLength: 253, description: 'Romana 1 routing label: kept, no effect' }), RoutingSpec])),
  ...outputOnly,
}), { $id: 'MapEntry' });

export const TopologyDocument = strict({
  networks: Type.Array(NetworkSpec, { maxItems: 256 }),
  topologies: Type.Array(strict({
    networks: Type.Array(Type.String(), { maxItems: 256 }),
    map: Type.Array(MapEntry, { maxItems: 4096 }),
  }), { maxItems: 256 }),
});

export const VpcDocument = strict({
  type: Type.Literal('vpc'),
  'num-azs': Type.Integer({ minimum: 1, maximum: 50 }),
  'prefix-groups': Type.Union([Type.Literal('max'), Type.Integer({ minimum: 1 })]),
  network: Type.String(),
  zones: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 })),
  block_mask: Type.Optional(Type.Integer()),
});

export type Labels = Static<typeof Labels>;
export type NetworkSpec = Static<typeof NetworkSpec>;
export type NetworkLayout = Static<typeof NetworkLayout>;
export type MapEntry = Static<typeof MapEntry>;
export type TopologyDocument = Static<typeof TopologyDocument>;
export type VpcDocument = Static<typeof VpcDocument>;
