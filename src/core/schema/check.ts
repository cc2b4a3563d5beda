// Validates data against a TypeBox schema and turns the first failure into an `invalid` error that
// names the field, e.g. "networks[0].cidr: Expected string". Used wherever input enters the core.
import type { TSchema, Static } from '@sinclair/typebox';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { invalid } from '../errors.js';

/** "/networks/0/cidr" -> "networks[0].cidr" */
export function fieldPath(pointer: string, root = ''): string {
  let out = root;
  for (const part of pointer.split('/').slice(1)) {
    const p = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  }
  return out || root || '(document)';
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The known field closest to `field` (case, separators and small typos), if any is close. */
export function closest(field: string, known: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = norm(k) === norm(field) ? 0 : distance(field.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(field.length / 3)) ? best : undefined;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function check<S extends TSchema>(schema: S, data: unknown, root = ''): Static<S> {
  if (Value.Check(schema, data)) return data as Static<S>;
  const first = Value.Errors(schema, data).First();
  if (!first) throw invalid(`${root || 'document'}: does not match the schema`);
  if (first.type === ValueErrorType.ObjectAdditionalProperties) {
    const field = first.path.split('/').pop() ?? '';
    const hint = closest(field, Object.keys((first.schema as { properties?: object }).properties ?? {}));
    throw invalid(`${fieldPath(first.path, root)}: is not a known field${hint ? ` (did you mean '${hint}'?)` : ''}`);
  }
  // "Expected union value" says little; a choice among constants names them.
  const choices = (first.schema as { anyOf?: { const?: unknown }[] }).anyOf;
  // A union of shapes (a string label or an object): the one alternative of the value's own JSON type
  // says what is wrong inside it.
  const alike = choices?.filter((c) => c && typeof c === 'object' && (c as { type?: unknown }).type === jsonType(first.value));
  if (alike?.length === 1) return check(alike[0] as TSchema, first.value, fieldPath(first.path, root)) as Static<S>;
  const message = choices?.length && choices.every((c) => typeof c.const === 'string')
    ? `must be one of ${choices.map((c) => c.const).join(', ')}`
    : first.message;
  throw invalid(`${fieldPath(first.path, root)}: ${message}`);
}
