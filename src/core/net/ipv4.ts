// IPv4 addresses as unsigned 32-bit numbers, and CIDRs as {base, prefix}. Pure, no I/O.
import { invalid } from '../errors.js';

export type Ip = number; // 0 .. 2^32-1

export interface Cidr {
  readonly base: Ip; // network address (host bits zero)
  readonly prefix: number; // 0..32
}

const IP_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function tryParseIp(s: string): Ip | undefined {
  const m = IP_RE.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i];
    if (part.length > 1 && part[0] === '0') return undefined; // no octal-looking octets
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function parseIp(s: string, field = 'ip'): Ip {
  const ip = typeof s === 'string' ? tryParseIp(s) : undefined;
  if (ip === undefined) throw invalid(`${field}: '${String(s)}' is not an IPv4 address`);
  return ip;
}

export function formatIp(ip: Ip): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export const isIp = (s: string): boolean => tryParseIp(s) !== undefined;

/** Number of addresses in a prefix length. */
export const sizeOf = (prefix: number): number => 2 ** (32 - prefix);

export function tryParseCidr(s: string, strict = true): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > 32) return undefined;
  const base = ip - (ip % sizeOf(prefix));
  if (strict && base !== ip) return undefined;
  return { base, prefix };
}

/** Parses "a.b.c.d/n". Host bits must be zero: "10.0.0.1/24" is an error naming the field. */
export function parseCidr(s: string, field = 'cidr'): Cidr {
  const c = tryParseCidr(s, false);
  if (!c) throw invalid(`${field}: '${String(s)}' is not an IPv4 CIDR (a.b.c.d/n)`);
  if (c.base !== tryParseIp(s.slice(0, s.indexOf('/')))) {
    throw invalid(`${field}: '${s}' has host bits set (did you mean ${formatCidr(c)}?)`);
  }
  return c;
}

export const formatCidr = (c: Cidr): string => `${formatIp(c.base)}/${c.prefix}`;
export const lastIp = (c: Cidr): Ip => c.base + sizeOf(c.prefix) - 1;
export const cidrContainsIp = (c: Cidr, ip: Ip): boolean => ip >= c.base && ip <= lastIp(c);
export const cidrContains = (outer: Cidr, inner: Cidr): boolean =>
  outer.prefix <= inner.prefix && cidrContainsIp(outer, inner.base);
export const cidrsOverlap = (a: Cidr, b: Cidr): boolean => cidrContains(a, b) || cidrContains(b, a);
export const cidrEquals = (a: Cidr, b: Cidr): boolean => a.base === b.base && a.prefix === b.prefix;

/** Splits `c` into 2^bits equal children, in address order. */
export function splitCidr(c: Cidr, bits: number): Cidr[] {
  const prefix = c.prefix + bits;
  if (prefix > 32) throw invalid(`cannot split ${formatCidr(c)} into ${2 ** bits} parts`);
  const step = sizeOf(prefix);
  const out: Cidr[] = [];
  for (let i = 0; i < 2 ** bits; i++) out.push({ base: c.base + i * step, prefix });
  return out;
}

/** Smallest k with 2^k >= n (n >= 1). */
export function log2Ceil(n: number): number {
  let k = 0;
  while (2 ** k < n) k++;
  return k;
}

/** A key that sorts CIDRs and IPs in address order as strings (fixed width hex). */
export const ipKey = (ip: Ip): string => ip.toString(16).padStart(8, '0');
export const cidrKey = (c: Cidr): string => `${ipKey(c.base)}-${String(c.prefix).padStart(2, '0')}`;
