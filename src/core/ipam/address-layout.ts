// Romana's host/tenant/segment address layout: a network whose free bits are split into host, tenant,
// segment and endpoint IDs, so that an address *is* its endpoint's identity and one route per host
// covers all of that host's endpoints. Pure: ID choice and address arithmetic only.
//
//   address = cidr base + host << (t+s+e) + tenant << (s+e) + segment << e + endpoint
//
// Every ID starts at 1 (an all-zero part is never handed out). Host IDs are one cluster-wide space
// (a host keeps its ID in every layout network); tenant IDs are per network; segment IDs per tenant
// of a network; endpoint IDs per host x tenant x segment, whose segment CIDR is the IPAM block.
import { RomanaError, invalid } from '../errors.js';
import { type Cidr, type Ip, formatCidr, formatIp, sizeOf } from '../net/ipv4.js';

export interface AddressLayout {
  host_bits: number;
  tenant_bits: number;
  segment_bits: number;
  endpoint_bits: number;
}

export const LAYOUT_PARTS = ['host', 'tenant', 'segment', 'endpoint'] as const;
export type LayoutPart = (typeof LAYOUT_PARTS)[number];

/** A network that uses the layout: its CIDR and the widths of the four parts. */
export interface LayoutNetwork {
  name: string;
  cidr: Cidr;
  layout: AddressLayout;
}

export interface LayoutIds {
  host: number;
  tenant: number;
  segment: number;
  endpoint: number;
}

const bitsOf = (l: AddressLayout, part: LayoutPart): number => l[`${part}_bits`];

/** Checks the widths against the network's prefix: each at least 1, together exactly the free bits. */
export function checkLayout(l: AddressLayout, prefix: number, field: string): AddressLayout {
  for (const part of LAYOUT_PARTS) {
    const b = bitsOf(l, part);
    if (!Number.isInteger(b) || b < 1) throw invalid(`${field}.${part}_bits: must be at least 1 (IDs start at 1), got ${b}`);
  }
  const sum = LAYOUT_PARTS.reduce((n, p) => n + bitsOf(l, p), 0);
  if (sum !== 32 - prefix) {
    throw invalid(`${field}: host_bits + tenant_bits + segment_bits + endpoint_bits = ${sum}, but the /${prefix} network has ${32 - prefix} free bits`);
  }
  return { host_bits: l.host_bits, tenant_bits: l.tenant_bits, segment_bits: l.segment_bits, endpoint_bits: l.endpoint_bits };
}

/** How far a part's ID is shifted left in the address. */
export function shiftOf(l: AddressLayout, part: LayoutPart): number {
  const i = LAYOUT_PARTS.indexOf(part);
  return LAYOUT_PARTS.slice(i + 1).reduce((n, p) => n + bitsOf(l, p), 0);
}

/** The largest ID of a part (IDs run 1 .. 2^bits - 1). */
export const maxId = (l: AddressLayout, part: LayoutPart): number => 2 ** bitsOf(l, part) - 1;

/** The prefix length of the CIDR that ends with `part` (the host CIDR, tenant CIDR, segment CIDR). */
export const prefixThrough = (n: LayoutNetwork, part: LayoutPart): number => 32 - shiftOf(n.layout, part);

function checkId(n: LayoutNetwork, part: LayoutPart, id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > maxId(n.layout, part)) {
    throw invalid(`${part} id ${id} is outside 1-${maxId(n.layout, part)} of network '${n.name}'`);
  }
}

/** The address of an endpoint. */
export function layoutAddress(n: LayoutNetwork, ids: LayoutIds): Ip {
  let ip = n.cidr.base;
  for (const part of LAYOUT_PARTS) {
    checkId(n, part, ids[part]);
    ip += ids[part] * 2 ** shiftOf(n.layout, part);
  }
  return ip;
}

/** The four IDs an address of the network carries (0 where a part is all zero). */
export function decodeAddress(n: LayoutNetwork, ip: Ip): LayoutIds {
  const off = ip - n.cidr.base;
  const get = (part: LayoutPart) => Math.floor(off / 2 ** shiftOf(n.layout, part)) % 2 ** bitsOf(n.layout, part);
  return { host: get('host'), tenant: get('tenant'), segment: get('segment'), endpoint: get('endpoint') };
}

/** The CIDR of a host (one route covers all its endpoints), of a tenant on a host, or of a segment of it. */
export function hostCidr(n: LayoutNetwork, host: number): Cidr {
  checkId(n, 'host', host);
  return { base: n.cidr.base + host * 2 ** shiftOf(n.layout, 'host'), prefix: prefixThrough(n, 'host') };
}

/** The CIDR of one tenant on one host. */
export function tenantCidr(n: LayoutNetwork, host: number, tenant: number): Cidr {
  checkId(n, 'tenant', tenant);
  return { base: hostCidr(n, host).base + tenant * 2 ** shiftOf(n.layout, 'tenant'), prefix: prefixThrough(n, 'tenant') };
}

/** The segment CIDR of host x tenant x segment: the IPAM block its endpoints come from. */
export function segmentCidr(n: LayoutNetwork, host: number, tenant: number, segment: number): Cidr {
  checkId(n, 'segment', segment);
  const base = tenantCidr(n, host, tenant).base + segment * 2 ** shiftOf(n.layout, 'segment');
  return { base, prefix: prefixThrough(n, 'segment') };
}

// ---- Masked matches ------------------------------------------------------------------------------

/** `(address & mask) == value`: with the host bits left out of the mask, one match covers every host. */
export interface MaskedMatch { value: Ip; mask: Ip }

const ones = (bits: number, shift: number): number => (2 ** bits - 1) * 2 ** shift;

/** "Tenant T (and segment S) on every host" of a network, as one masked match. */
export function ownerMatch(n: LayoutNetwork, tenant: number, segment?: number): MaskedMatch {
  checkId(n, 'tenant', tenant);
  let mask = ones(n.cidr.prefix, 32 - n.cidr.prefix) + ones(n.layout.tenant_bits, shiftOf(n.layout, 'tenant'));
  let value = n.cidr.base + tenant * 2 ** shiftOf(n.layout, 'tenant');
  if (segment !== undefined) {
    checkId(n, 'segment', segment);
    mask += ones(n.layout.segment_bits, shiftOf(n.layout, 'segment'));
    value += segment * 2 ** shiftOf(n.layout, 'segment');
  }
  return { value, mask };
}

/** Both bit patterns as unsigned numbers, ANDed the way the kernel does (JS `&` is signed). */
export const maskAddress = (ip: Ip, mask: Ip): Ip => (ip & mask) >>> 0;
export const matchesMasked = (m: MaskedMatch, ip: Ip): boolean => maskAddress(ip, m.mask) === m.value;

/** The prefix length of a contiguous mask, else undefined. */
export function maskPrefix(mask: Ip): number | undefined {
  for (let p = 0; p <= 32; p++) if (ones(p, 32 - p) === mask) return p;
  return undefined;
}

/** As iptables-save prints it: `a.b.c.d/N` for a contiguous mask, `a.b.c.d/m.m.m.m` otherwise. */
export function formatMasked(m: MaskedMatch): string {
  const p = maskPrefix(m.mask);
  return p !== undefined ? formatCidr({ base: m.value, prefix: p }) : `${formatIp(m.value)}/${formatIp(m.mask)}`;
}

// ---- IDs -----------------------------------------------------------------------------------------

/** The lowest ID in 1..max not in `used`, or undefined when all are taken. */
export function lowestFreeId(used: Iterable<number>, max: number): number | undefined {
  const taken = new Set(used);
  // Among 1..size+1 one is free, so the walk never goes past the number of IDs in use.
  const last = Math.min(max, taken.size + 1);
  for (let id = 1; id <= last; id++) if (!taken.has(id)) return id;
  return undefined;
}

/** Running out of a part: `no_available_ip`, naming the part, whose IDs they are, and the network. */
export function exhausted(n: LayoutNetwork, part: LayoutPart, of?: string): RomanaError {
  const b = bitsOf(n.layout, part);
  return new RomanaError('no_available_ip',
    `No available IP: the ${part} IDs${of ? ` of ${of}` : ''} in network '${n.name}' ran out (${b} ${part} bit${b === 1 ? '' : 's'}: IDs 1-${maxId(n.layout, part)}, all in use).`);
}

/** The largest host ID a host may carry outside any layout network (the schema's bound). */
export const MAX_HOST_ID = 2 ** 29 - 1;

/**
 * The ID a host gets: the one it asks for (or already has), else the lowest free one when it sits in a
 * layout network (else none). It must fit the host bits of every layout network it is placed in.
 * `used` maps the IDs of the other hosts to their names.
 */
export function chooseHostId(networks: LayoutNetwork[], used: ReadonlyMap<number, string>, requested: number | undefined, field = 'id'): number | undefined {
  const tightest = networks.length ? networks.reduce((a, b) => (maxId(b.layout, 'host') < maxId(a.layout, 'host') ? b : a)) : undefined;
  const max = tightest ? maxId(tightest.layout, 'host') : MAX_HOST_ID;
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || requested > max) {
      throw invalid(`${field}: ${requested} is outside the host IDs 1-${max}${tightest ? ` of network '${tightest.name}'` : ''}`);
    }
    const owner = used.get(requested);
    if (owner !== undefined) throw new RomanaError('exists', `${field}: ${requested} is already the ID of host '${owner}'`);
    return requested;
  }
  if (!tightest) return undefined;
  const id = lowestFreeId(used.keys(), max);
  if (id === undefined) throw exhausted(tightest, 'host');
  return id;
}
