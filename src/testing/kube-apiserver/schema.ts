// Structural OpenAPI v3 schemas, as CustomResourceDefinitions carry them: validation with field errors
// worded as the API server words them, defaulting, and pruning of unknown fields (which the real server
// does silently, or refuses with fieldValidation=Strict).
import { type StatusCause, invalidValue, required, typeInvalid, unsupportedValue } from './errors.js';

export interface Schema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  default?: unknown;
  oneOf?: Schema[];
  anyOf?: Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-patch-strategy'?: string;
  'x-kubernetes-group-version-kind'?: unknown;
}

/** Looks up a `$ref` (schemas of built-in kinds refer to each other). */
export type Resolve = (ref: string) => Schema;

export interface Checked { value: unknown; causes: StatusCause[]; unknown: string[]; resolve?: Resolve }

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

/** Validates `value` against `schema`; returns it defaulted and pruned, with the field errors and unknown fields. */
export function checkSchema(value: unknown, schema: Schema, path: string, resolve?: Resolve): Checked {
  const out: Checked = { value: undefined, causes: [], unknown: [], resolve };
  out.value = walk(value, schema, path, out);
  return out;
}

function walk(v: unknown, schema: Schema, path: string, out: Checked): unknown {
  const s = schema.$ref && out.resolve ? out.resolve(schema.$ref) : schema;
  if (v === null) {
    if (!s.nullable && s.type) out.causes.push(typeInvalid(path, null, `"${s.type}"`));
    return v;
  }
  if (s['x-kubernetes-int-or-string']) {
    if (typeof v !== 'string' && !Number.isInteger(v)) out.causes.push(typeInvalid(path, v, 'integer or string'));
    return v;
  }
  const t = typeName(v);
  if (s.type && !(t === s.type || (s.type === 'number' && t === 'integer'))) {
    out.causes.push(typeInvalid(path, v, `"${s.type}"`));
    return v;
  }
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) out.causes.push(unsupportedValue(path, v, s.enum.map(String)));
  if (typeof v === 'string') {
    if (s.pattern && !new RegExp(s.pattern, 'u').test(v)) out.causes.push(invalidValue(path, v, `${path} in body should match '${s.pattern}'`));
    if (s.minLength !== undefined && v.length < s.minLength) out.causes.push(invalidValue(path, v, `${path} in body should be at least ${s.minLength} chars long`));
    if (s.maxLength !== undefined && v.length > s.maxLength) out.causes.push({ reason: 'FieldValueTooLong', message: `Too long: may not be longer than ${s.maxLength}`, field: path });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.causes.push(invalidValue(path, v, `${path} in body should be greater than or equal to ${s.minimum}`));
    if (s.maximum !== undefined && v > s.maximum) out.causes.push(invalidValue(path, v, `${path} in body should be less than or equal to ${s.maximum}`));
  }
  for (const alt of [s.oneOf, s.anyOf]) {
    if (!alt) continue;
    const passing = alt.filter((a) => checkSchema(v, { ...a, type: a.type ?? s.type }, path, out.resolve).causes.length === 0).length;
    if (alt === s.oneOf ? passing !== 1 : passing === 0) out.causes.push(invalidValue(path, v, `must validate ${alt === s.oneOf ? 'one and only one' : 'at least one'} schema (${alt === s.oneOf ? 'oneOf' : 'anyOf'})`));
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) out.causes.push(invalidValue(path, v.length, `${path} in body should have at least ${s.minItems} items`));
    if (s.maxItems !== undefined && v.length > s.maxItems) out.causes.push({ reason: 'FieldValueTooMany', message: `Too many: ${v.length}: must have at most ${s.maxItems} items`, field: path });
    return s.items ? v.map((x, i) => walk(x, s.items!, `${path}[${i}]`, out)) : v;
  }
  if (isMap(v)) {
    const res: Record<string, unknown> = {};
    for (const k of s.required ?? []) if (v[k] === undefined) out.causes.push(required(path ? `${path}.${k}` : k));
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      const sub = s.properties?.[k] ?? (isMap(s.additionalProperties) ? s.additionalProperties : undefined);
      if (sub) res[k] = walk(x, sub, p, out);
      else if (s['x-kubernetes-preserve-unknown-fields'] || s.additionalProperties === true || (!s.properties && !s.additionalProperties && s.type !== 'object')) res[k] = x;
      else out.unknown.push(p);
    }
    for (const [k, sub] of Object.entries(s.properties ?? {})) if (res[k] === undefined && sub.default !== undefined) res[k] = structuredClone(sub.default);
    return res;
  }
  return v;
}

/** The problems that make a CRD's schema unusable (the real server insists on structural schemas). */
export function structuralProblems(s: Schema, path: string): string[] {
  const out: string[] = [];
  if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) out.push(`${path}.type: Required value: must not be empty for specified object fields`);
  if (s.properties && isMap(s.additionalProperties)) out.push(`${path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`);
  for (const [k, sub] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(sub, `${path}.properties[${k}]`));
  if (s.items) out.push(...structuralProblems(s.items, `${path}.items`));
  if (isMap(s.additionalProperties)) out.push(...structuralProblems(s.additionalProperties, `${path}.additionalProperties`));
  if (s.type === 'array' && !s.items) out.push(`${path}.items: Required value: must be specified`);
  return out;
}
