// Small validation helpers that name the offending field: every error reads "path.to[0].field: message".
import { invalid } from '../errors.js';

export type Obj = Record<string, unknown>;

export const at = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

export function fail(path: string, message: string): never {
  throw invalid(path ? `${path}: ${message}` : message);
}

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `'${v}'` : typeof v === 'object' ? 'an object' : String(v);

export function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) fail(path, `must be an object, got ${describe(v)}`);
  return v;
}

/** Rejects keys outside `allowed`, naming the first unknown one (catches typos such as `ingres`). */
export function onlyKeys(o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(at(path, k), `unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array, got ${describe(v)}`);
  return v;
}

/** An optional array: absent or null gives []. */
export const optArr = (v: unknown, path: string): unknown[] => (v === undefined || v === null ? [] : arr(v, path));

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') fail(path, `must be a non-empty string, got ${describe(v)}`);
  return v;
}

export function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
  }
  return v;
}

/** A map of string to string (labels). */
export function labels(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = obj(v, path);
  const out: Record<string, string> = {};
  for (const k of Object.keys(o).sort()) {
    if (k === '') fail(path, 'label keys must not be empty');
    const val = o[k];
    if (typeof val !== 'string') fail(at(path, k), `label values must be strings, got ${describe(val)}`);
    out[k] = val;
  }
  return out;
}

// DNS-1123 label (namespaces, Romana tenant names) and subdomain (object names).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dnsLabel(v: unknown, path: string): string {
  const s = str(v, path);
  if (s.length > 63 || !DNS_LABEL.test(s)) fail(path, `'${s}' is not a valid name (lower-case letters, digits and '-', at most 63)`);
  return s;
}

export function dnsSubdomain(v: unknown, path: string): string {
  const s = str(v, path);
  if (s.length > 253 || !DNS_SUBDOMAIN.test(s)) fail(path, `'${s}' is not a valid name (lower-case letters, digits, '-' and '.')`);
  return s;
}

/** IANA service name, as Kubernetes requires for named ports: at most 15 of [a-z0-9-], one letter, no '--'. */
export function isPortName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
}
