// The CNI protocol as this plugin speaks it: versions, error codes and results, one shape per version.
// Spec: containernetworking/cni SPEC.md (1.1.0); 0.4.0 differs only in `ips[].version`, 1.1.0 adds
// `interfaces[].mtu`.
import { RomanaError, cniCodeOf } from '../core/errors.js';

export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST: CniVersion = '1.1.0';

/** Well-known error codes (spec section "Error"); 100+ would be ours, 999 is the reference plugins' generic one. */
export const Code = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decoding: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  notAvailableLimited: 51,
  generic: 999,
} as const;

export class CniError extends Error {
  constructor(readonly code: number, msg: string, readonly details?: string) {
    super(msg);
    this.name = 'CniError';
  }
}

export const cniError = (code: number, msg: string, details?: string) => new CniError(code, msg, details);

/** Any failure -> the spec's error object. RomanaError kinds map through the project's one table. */
export function toErrorResult(e: unknown, cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
  if (e instanceof CniError) return { cniVersion, code: e.code, msg: e.message, ...(e.details ? { details: e.details } : {}) };
  if (e instanceof RomanaError) return { cniVersion, code: cniCodeOf(e.kind), msg: e.message, details: `romanad: ${e.kind}` };
  const err = e as Error;
  return { cniVersion, code: Code.generic, msg: err?.message ?? String(e), ...(err?.stack ? { details: err.stack.split('\n').slice(0, 4).join(' | ') } : {}) };
}

export const isSupported = (v: unknown): v is CniVersion => typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);

// --- results ---------------------------------------------------------------------------------------

export interface Iface { name: string; mac?: string; mtu?: number; sandbox?: string }
export interface IpConfig { address: string; gateway?: string; interface?: number }
export interface Route { dst: string; gw?: string }
export interface Dns { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] }

/** The version-neutral result the plugin works with; `render` turns it into a given version's JSON. */
export interface Result { interfaces: Iface[]; ips: IpConfig[]; routes: Route[]; dns?: Dns }

export function render(r: Result, v: CniVersion): Record<string, unknown> {
  const interfaces = r.interfaces.map((i) => ({
    name: i.name,
    ...(i.mac ? { mac: i.mac } : {}),
    ...(v === '1.1.0' && i.mtu ? { mtu: i.mtu } : {}),
    ...(i.sandbox ? { sandbox: i.sandbox } : {}),
  }));
  const ips = r.ips.map((ip) => ({
    ...(v === '0.4.0' ? { version: ip.address.includes(':') ? '6' : '4' } : {}),
    address: ip.address,
    ...(ip.gateway ? { gateway: ip.gateway } : {}),
    ...(ip.interface !== undefined ? { interface: ip.interface } : {}),
  }));
  const dns = r.dns && Object.keys(r.dns).length ? r.dns : undefined;
  return { cniVersion: v, interfaces, ips, routes: r.routes.map((x) => ({ ...x })), ...(dns ? { dns } : {}) };
}

/** Reads a prevResult of any supported version (0.3.x too: the same shape as 0.4.0). */
export function parseResult(raw: unknown): Result {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw cniError(Code.decoding, 'prevResult must be an object');
  const o = raw as Record<string, unknown>;
  const arr = (k: string): Record<string, unknown>[] => {
    const x = o[k];
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x) || x.some((e) => !e || typeof e !== 'object')) throw cniError(Code.decoding, `prevResult.${k} must be a list of objects`);
    return x as Record<string, unknown>[];
  };
  const str = (x: unknown) => (typeof x === 'string' && x ? x : undefined);
  // Required text fields: String() of an object would throw (or say "[object Object]").
  const text = (x: unknown, where: string): string => {
    if (x === undefined || x === null) return '';
    if (typeof x !== 'string') throw cniError(Code.decoding, `prevResult.${where} must be a string`);
    return x;
  };
  return {
    interfaces: arr('interfaces').map((i, n) => ({
      name: text(i.name, `interfaces[${n}].name`), mac: str(i.mac), sandbox: str(i.sandbox), mtu: typeof i.mtu === 'number' ? i.mtu : undefined,
    })),
    ips: arr('ips').map((i, n) => ({
      address: text(i.address, `ips[${n}].address`), gateway: str(i.gateway), interface: typeof i.interface === 'number' ? i.interface : undefined,
    })),
    routes: arr('routes').map((r, n) => ({ dst: text(r.dst, `routes[${n}].dst`), ...(str(r.gw) ? { gw: str(r.gw) } : {}) })),
    ...(o.dns && typeof o.dns === 'object' ? { dns: o.dns as Dns } : {}),
  };
}

/** Appends `ours` to a previous result (a plugin that is not first in a chain keeps what came before). */
export function merge(prev: Result | undefined, ours: Result): Result {
  if (!prev) return ours;
  const off = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...ours.interfaces],
    ips: [...prev.ips, ...ours.ips.map((ip) => ({ ...ip, ...(ip.interface !== undefined ? { interface: ip.interface + off } : {}) }))],
    routes: [...prev.routes, ...ours.routes],
    ...(ours.dns ?? prev.dns ? { dns: ours.dns ?? prev.dns } : {}),
  };
}
