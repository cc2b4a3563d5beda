// One parsed policy object → the normalized policy. Apart from normalize.ts (the text entry points),
// so that the agent, which only normalizes stored objects, does not load the YAML parser.
import { RomanaError, invalid } from '../errors.js';
import { checkDepth } from '../schema/depth.js';
import { describe, isObj } from './fields.js';
import { fromNetworkPolicy } from './kubernetes.js';
import type { NormalizeOptions, Policy } from './model.js';
import { fromRomanaPolicy } from './romana.js';

/**
 * Validates one parsed object — a Kubernetes NetworkPolicy (has `kind: NetworkPolicy`/`apiVersion`) or a
 * Romana policy — and returns it normalized with its stable id (`<namespace>/<name>` or the Romana id).
 * Throws RomanaError('invalid', "<field path>: <what is wrong>"), e.g. "spec.ingress[0].ports[1].port: ...".
 */
export function normalizePolicy(o: unknown, opts: NormalizeOptions = {}): Policy {
  if (!isObj(o)) throw invalid(`a policy must be an object, got ${describe(o)}`);
  checkDepth(o, MAX_DEPTH); // metadata and status are carried along unchecked, and later cloned and stored
  if (o.kind === 'NetworkPolicy' || (o.apiVersion !== undefined && o.kind === undefined)) {
    if (o.kind === undefined) throw invalid("kind: required ('NetworkPolicy')");
    return fromNetworkPolicy(o);
  }
  if (o.kind !== undefined && o.kind !== 'RomanaPolicy') {
    throw invalid(`kind: ${describe(o.kind)} is not a policy (expected NetworkPolicy, or a Romana policy with direction and applied_to)`);
  }
  return fromRomanaPolicy(o, opts);
}

/** Prefixes the field path of an `invalid` error: "spec.x: ..." → "policies[2].spec.x: ...". */
export function withPath<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RomanaError && e.kind === 'invalid') {
      const sep = /^[A-Za-z_]/.test(e.message) && /^[\w.[\]-]+: /.test(e.message) ? '.' : ': ';
      throw invalid(`${prefix}${sep}${e.message}`);
    }
    throw e;
  }
}

/**
 * Deeper than any policy or cluster file needs. The YAML composer recurses once per level, and a few
 * thousand levels (a few KB of `[[[[`) exhaust the stack, which can abort the whole process rather
 * than throw; the CST parser keeps its own stack, so the depth is checked there first.
 */
export const MAX_DEPTH = 64;
