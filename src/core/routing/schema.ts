// The `routing` setting of a topology group: how the routes to its pod blocks reach the rest of the
// network. One object shape for every kind (so the API documents it and unknown fields are refused);
// which fields a kind takes, and what contradicts what, is checked by `checkRouting` with errors that
// name the field.
import { Type, type Static } from '@sinclair/typebox';

export const ROUTING_TYPES = ['host-routes', 'bgp', 'vpc'] as const;
export type RoutingType = (typeof ROUTING_TYPES)[number];

// Passwords go into bird.conf between double quotes and become TCP-MD5 keys (at most 80 bytes): printable
// ASCII without the quote and the backslash, so nothing can end the string or escape from it.
export const BGP_PASSWORD_RE = '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]{1,80}$';
export const ROUTER_NAME_RE = '^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$';
/** 4-byte ASNs; 0 and 4294967295 are reserved. */
const Asn = Type.Integer({ minimum: 1, maximum: 4294967294, description: 'autonomous system number' });

export const BgpPeer = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: ROUTER_NAME_RE, description: 'router name, for `romana bgp config --router NAME`' })),
    ip: Type.String({ maxLength: 15, description: 'the router\'s address as the group\'s members reach it' }),
    asn: Asn,
    password: Type.Optional(Type.String({ pattern: BGP_PASSWORD_RE, description: 'TCP-MD5 password of the sessions with this router' })),
    uplink_ip: Type.Optional(Type.String({ maxLength: 15, description: 'the router\'s address towards the routers of the enclosing group (default: ip)' })),
  },
  { additionalProperties: false },
);

export const RoutingSpec = Type.Object(
  {
    type: Type.Union(ROUTING_TYPES.map((t) => Type.Literal(t)), {
      description: 'host-routes: every host routes to the blocks (L2 neighbours); bgp: announced to routers; vpc: published to a VPC route table',
    }),
    announce: Type.Optional(Type.Union([Type.Literal('blocks'), Type.Literal('aggregate')], { description: 'bgp, hosts: what each host announces (default blocks)' })),
    asn: Type.Optional({ ...Asn, description: 'bgp, hosts: the AS of the group\'s hosts' }),
    peers: Type.Optional(Type.Array(BgpPeer, { minItems: 1, maxItems: 16, description: 'bgp: the group\'s routers; every member peers with each' })),
    route_table: Type.Optional(Type.String({ pattern: '^rtb-[0-9a-f]{1,17}$', description: 'vpc: the route table (default: the publisher\'s --route-table)' })),
    route_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'vpc: routes the route table may hold (AWS default 50)' })),
  },
  { additionalProperties: false },
);

export type BgpPeer = Static<typeof BgpPeer>;
export type RoutingSpec = Static<typeof RoutingSpec>;
