// Validates data against a TypeBox schema and turns the first failure into an `invalid` error that
// names the field, e.g. "networks[0].cidr: Expected string". Used wherever input enters the core.
import type { TSchema, Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
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

export function check<S extends TSchema>(schema: S, data: unknown, root = ''): Static<S> {
  if (Value.Check(schema, data)) return data as Static<S>;
  const first = Value.Errors(schema, data).First();
  if (!first) throw invalid(`${root || 'document'}: does not match the schema`);
  throw invalid(`${fieldPath(first.path, root)}: ${first.message}`);
}
