// The topology document (Romana 2.0 format) and its AWS VPC shorthand, as TypeBox schemas: the types
// below are derived from them, and romanad validates request bodies with the same schemas.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const TENANT_RE = '^[a-zA-Z0-9_-]*$';

export const Labels = Type.Record(Type.String(), Type.String(), { description: 'key=value labels' });

/** Romana's host/tenant/segment address layout (src/core/ipam/address-layout.ts); replaces block_mask. */
export const NetworkLayout = Type.Object(
  {
    host_bits: Type.Integer({ minimum: 1, maximum: 29 }),
    tenant_bits: Type.Integer({ minimum: 1, maximum: 29 }),
    segment_bits: Type.Integer({ minimum: 1, maximum: 29 }),
    endpoint_bits: Type.Integer({ minimum: 1, maximum: 29 }),
  },
  { additionalProperties: false, description: 'widths of the host, tenant, segment and endpoint IDs; together exactly the free bits of the CIDR' },
);

/** A host's ID in layout networks (`id` of a listed host or of `POST /hosts`). */
export const HostId = Type.Integer({ minimum: 1, maximum: 2 ** 29 - 1 });

export const NetworkSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    cidr: Type.String({ minLength: 1, maxLength: 43 }),
    block_mask: Type.Optional(Type.Integer()),
    layout: Type.Optional(NetworkLayout),
    tenants: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 10000 })),
  },
  { additionalProperties: true },
);

/** A map entry: a host when it has `ip`, otherwise a group. Checked in depth by parseTopology. */
export const MapEntry = Type.Recursive((Self) =>
  Type.Object(
    {
      name: Type.Optional(Type.String({ maxLength: 253 })),
      ip: Type.Optional(Type.String({ maxLength: 15 })),
      id: Type.Optional(HostId),
      labels: Type.Optional(Labels),
      assignment: Type.Optional(Labels),
      groups: Type.Optional(Type.Array(Self, { maxItems: 4096 })),
      routing: Type.Optional(Type.String()),
      // Output fields (`GET /topology`) are accepted and ignored so a document can be posted back.
      cidr: Type.Optional(Type.String()),
      cidrs: Type.Optional(Type.Record(Type.String(), Type.String())),
    },
    { additionalProperties: true },
  ),
);

export const TopologyDocument = Type.Object(
  {
    networks: Type.Array(NetworkSpec, { maxItems: 256 }),
    topologies: Type.Array(
      Type.Object(
        { networks: Type.Array(Type.String(), { maxItems: 256 }), map: Type.Array(MapEntry, { maxItems: 4096 }) },
        { additionalProperties: true },
      ),
      { maxItems: 256 },
    ),
  },
  { additionalProperties: true },
);

export const VpcDocument = Type.Object(
  {
    type: Type.Literal('vpc'),
    'num-azs': Type.Integer({ minimum: 1, maximum: 50 }),
    'prefix-groups': Type.Union([Type.Literal('max'), Type.Integer({ minimum: 1 })]),
    network: Type.String(),
    zones: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 })),
    block_mask: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);


export type Labels = Static<typeof Labels>;
export type NetworkSpec = Static<typeof NetworkSpec>;
export type NetworkLayout = Static<typeof NetworkLayout>;
export type MapEntry = Static<typeof MapEntry>;
export type TopologyDocument = Static<typeof TopologyDocument>;
export type VpcDocument = Static<typeof VpcDocument>;
