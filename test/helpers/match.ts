// Partial matching as the public conformance cases define it: objects compare only the listed keys,
// arrays must have equal length and pair up one to one in any order, scalars must be equal.
export function matches(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return false;
    return pairUp(actual, expected, matches);
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([k, v]) => matches((actual as Record<string, unknown>)[k], v));
  }
  return actual === expected;
}

/** Whether every expected item pairs with a distinct actual item (bipartite matching, small inputs). */
export function pairUp<A, E>(actual: A[], expected: E[], ok: (a: A, e: E) => boolean): boolean {
  const owner = new Array<number>(actual.length).fill(-1);
  const tryAssign = (ei: number, seen: boolean[]): boolean => {
    for (let ai = 0; ai < actual.length; ai++) {
      if (seen[ai] || !ok(actual[ai], expected[ei])) continue;
      seen[ai] = true;
      if (owner[ai] < 0 || tryAssign(owner[ai], seen)) {
        owner[ai] = ei;
        return true;
      }
    }
    return false;
  };
  return expected.every((_, ei) => tryAssign(ei, new Array(actual.length).fill(false)));
}
