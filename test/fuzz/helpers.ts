// Shared pieces of the hostile-input property tests: arbitraries for hostile JSON values and for
// mutations of valid documents, and the assertion every parser must satisfy (succeed, or throw a
// RomanaError of kind `invalid` whose message starts with the field it is about).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RomanaError } from '../../src/core/errors.js';

/** Kept small so the whole test/fuzz folder runs in well under a minute on two shared cores. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

/** Keys that would be dangerous if an object were merged naively. */
export const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

const strings = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '', ' ', '\u0000', '\n', 'é', '🙂', '\u202e', '..', '/', '%2F', '*', 'any', 'host', 'tcp', 'TCP', 'ingress', 'egress',
      '10.0.0.0/8', '10.0.0.1/24', '0.0.0.0/0', '255.255.255.255/32', '1.2.3.4', '999.1.1.1/33', '10.0.0.0/-1', '::/0',
      'fe80::/200', '01.2.3.4/8', '10.0.0.0/8/8', '1e3', '65536', 'NetworkPolicy', 'networking.k8s.io/v1', 'vpc', 'max',
      'In', 'NotIn', 'Exists', 'x'.repeat(300), ...POLLUTING_KEYS,
    ),
  },
);

const numbers = fc.oneof(
  fc.integer({ min: -3, max: 70000 }),
  fc.constantFrom(0, -0, -1, 1.5, 32, 33, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1e308, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

export const key = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom(...POLLUTING_KEYS) });

/** Any JSON value, biased towards the strings and numbers parsers trip on. */
export const hostile: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    strings, numbers, fc.boolean(), fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(key, tie('v'), { maxKeys: 4 }),
  ),
})).v;

type Path = (string | number)[];

/** Every path into a JSON value (the root is []), iteratively. */
export function paths(v: unknown): Path[] {
  const out: Path[] = [];
  const stack: [unknown, Path][] = [[v, []]];
  while (stack.length) {
    const [x, p] = stack.pop()!;
    out.push(p);
    if (x !== null && typeof x === 'object') {
      for (const [k, c] of Object.entries(x)) stack.push([c, [...p, Array.isArray(x) ? Number(k) : k]]);
    }
  }
  return out;
}

/** `base` with one change at `path`: replaced, removed, or given an extra (possibly polluting) key. */
function mutateAt(base: unknown, path: Path, op: number, value: unknown, extraKey: string): unknown {
  if (path.length === 0) return op === 0 ? value : base;
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let parent = copy;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (op === 0) parent[last] = value;
  else if (op === 1 && Array.isArray(parent)) parent.splice(last as number, 1);
  else if (op === 1) delete parent[last];
  else if (op === 2 && parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    // defineProperty: a plain assignment to "__proto__" would change the prototype instead of adding a key.
    Object.defineProperty(parent[last], extraKey, { value, enumerable: true, writable: true, configurable: true });
  } else if (op === 2 && Array.isArray(parent[last])) (parent[last] as unknown[]).push(value);
  else parent[last] = value;
  return copy;
}

/** Valid documents changed in 1-3 places: wrong types, missing fields, extra keys, odd values. */
export function mutated(bases: unknown[], values: fc.Arbitrary<unknown> = hostile): fc.Arbitrary<unknown> {
  const step = fc.tuple(fc.nat(), fc.nat({ max: 2 }), values, key);
  return fc.tuple(fc.constantFrom(...bases), fc.array(step, { minLength: 1, maxLength: 3 })).map(([base, steps]) => {
    let doc = base;
    for (const [pick, op, value, k] of steps) {
      const all = paths(doc);
      doc = mutateAt(doc, all[pick % all.length], op, value, k);
    }
    return doc;
  });
}

/** A message that starts with what it is about: "networks[0].cidr: ...", "document 1: ...". */
export function assertNamesField(message: string): void {
  assert.ok(message.length > 0, 'empty error message');
  const i = message.indexOf(': ');
  assert.ok(i > 0 && !/^\s/.test(message), `message does not start with a field: ${JSON.stringify(message.slice(0, 200))}`);
}

/**
 * Runs `f`: it may return, or throw RomanaError('invalid') naming a field; any other exception (a
 * TypeError, a RangeError from deep recursion, another kind) fails the property.
 */
export function okOrInvalid<T>(f: () => T, maxMs = 2000): T | RomanaError {
  const start = performance.now();
  try {
    return f();
  } catch (e) {
    if (!(e instanceof RomanaError)) throw new Error(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
    assert.equal(e.kind, 'invalid', `kind ${e.kind}: ${e.message}`);
    assertNamesField(e.message);
    return e;
  } finally {
    const ms = performance.now() - start;
    assert.ok(ms < maxMs, `took ${ms.toFixed(0)} ms`);
  }
}

/** No key was added to Object.prototype by anything parsed so far. */
export function assertPrototypeClean(): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTO_KEYS);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
}
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

/** Builds a JSON text nested `n` levels deep without recursing (JSON.stringify would overflow). */
export const deepJson = (n: number, open = '{"a":', close = '}', leaf = '1') => open.repeat(n) + leaf + close.repeat(n);
