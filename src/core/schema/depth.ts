// Bounds how deeply an input value nests, without recursing. Schema checks, structuredClone and
// JSON.stringify all recurse once per level: a few KB of `{"a":{"a":...` exhaust the stack, which is a
// 500 at best and can abort the process. A cyclic value (YAML aliases can build one) is too deep too.
import { invalid } from '../errors.js';

interface Frame { value: object; depth: number; key: string; parent?: Frame }

/** Throws `invalid` naming where `v` first nests deeper than `max` levels (the value itself is level 1). */
export function checkDepth(v: unknown, max: number, root = ''): void {
  if (v === null || typeof v !== 'object') return;
  const stack: Frame[] = [{ value: v, depth: 1, key: '' }];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (f.depth > max) throw invalid(`${pathOf(f, root)}: nested more than ${max} levels deep`);
    const isArr = Array.isArray(f.value);
    for (const [k, c] of Object.entries(f.value)) {
      if (c !== null && typeof c === 'object') stack.push({ value: c, depth: f.depth + 1, key: isArr ? `[${k}]` : k, parent: f });
    }
  }
}

/** The first few keys down to the frame, e.g. "metadata.annotations.a.a.a.a...". */
function pathOf(f: Frame, root: string): string {
  const keys: string[] = [];
  for (let x: Frame | undefined = f; x?.parent; x = x.parent) keys.push(x.key);
  keys.reverse();
  let out = root;
  for (const k of keys.slice(0, 6)) out += k.startsWith('[') || !out ? k : `.${k}`;
  return (out || '(document)') + (keys.length > 6 ? '...' : '');
}
