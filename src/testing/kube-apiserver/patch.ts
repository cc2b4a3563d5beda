// The three patch formats the API server takes besides server-side apply:
//   application/merge-patch+json            RFC 7386
//   application/json-patch+json             RFC 6902
//   application/strategic-merge-patch+json  Kubernetes' strategic merge (built-in kinds only)
// Strategic merge reads the list merge keys from the kind's schema (models.ts).
import { badRequest, KubeError } from './errors.js';
import type { Obj } from './resources.js';
import type { Resolve, Schema } from './schema.js';

const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const out: Obj = isMap(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---- RFC 6902 ----------------------------------------------------------------------------------

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer '${path}'`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let root = clone(doc);
  const parentOf = (parts: string[], op: string): { parent: Obj | unknown[]; last: string } => {
    let cur: unknown = root;
    for (const p of parts.slice(0, -1)) {
      cur = Array.isArray(cur) ? cur[Number(p)] : isMap(cur) ? cur[p] : undefined;
      if (cur === undefined) throw new KubeError(422, 'Invalid', `${op} operation does not apply: doc is missing path: "/${parts.join('/')}": missing value`);
    }
    return { parent: cur as Obj | unknown[], last: parts[parts.length - 1] };
  };
  const get = (parts: string[]): unknown => parts.reduce<unknown>((c, p) => (Array.isArray(c) ? c[Number(p)] : isMap(c) ? c[p] : undefined), root);
  const remove = (parts: string[], op: string) => {
    const { parent, last } = parentOf(parts, op);
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (!(i >= 0 && i < parent.length)) throw new KubeError(422, 'Invalid', `${op} operation does not apply: doc is missing path: "/${parts.join('/')}"`);
      return parent.splice(i, 1)[0];
    }
    if (!(last in (parent as Obj))) throw new KubeError(422, 'Invalid', `${op} operation does not apply: doc is missing path: "/${parts.join('/')}": missing value`);
    const v = (parent as Obj)[last];
    delete (parent as Obj)[last];
    return v;
  };
  const add = (parts: string[], value: unknown, op: string) => {
    if (parts.length === 0) {
      root = value;
      return;
    }
    const { parent, last } = parentOf(parts, op);
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!(i >= 0 && i <= parent.length)) throw new KubeError(422, 'Invalid', `${op} operation does not apply: index out of bounds`);
      parent.splice(i, 0, value);
    } else if (isMap(parent)) parent[last] = value;
    else throw new KubeError(422, 'Invalid', `${op} operation does not apply: doc is missing path: "/${parts.join('/')}"`);
  };
  for (const raw of ops) {
    const o = raw as { op?: string; path?: string; from?: string; value?: unknown };
    if (typeof o.path !== 'string') throw badRequest('the server rejected our request due to an error in our request: missing path');
    const parts = pointer(o.path);
    switch (o.op) {
      case 'add': add(parts, clone(o.value), 'add'); break;
      case 'remove': remove(parts, 'remove'); break;
      case 'replace': remove(parts, 'replace'); add(parts, clone(o.value), 'replace'); break;
      case 'move': { const v = remove(pointer(o.from ?? ''), 'move'); add(parts, v, 'move'); break; }
      case 'copy': add(parts, clone(get(pointer(o.from ?? ''))), 'copy'); break;
      case 'test':
        if (JSON.stringify(get(parts)) !== JSON.stringify(o.value)) throw new KubeError(422, 'Invalid', `testing value /${parts.join('/')} failed: test failed`);
        break;
      default: throw badRequest(`Unexpected kind: ${String(o.op)}`);
    }
  }
  return root;
}

// ---- strategic merge ---------------------------------------------------------------------------

/**
 * Strategic merge, driven by the kind's schema: lists whose field carries
 * x-kubernetes-patch-merge-key merge by that key, lists with strategy "merge" and no key merge as sets,
 * other lists are replaced; maps merge; null deletes; the $patch, $retainKeys, $setElementOrder and
 * $deleteFromPrimitiveList directives work as in apimachinery's strategicpatch.
 */
export function strategicMergePatch(target: unknown, patch: unknown, schema: Schema, resolve: Resolve): unknown {
  return smpMap(isMap(target) ? target : {}, patch, schema, resolve);
}

const deref = (s: Schema | undefined, resolve: Resolve): Schema | undefined => (s?.$ref ? resolve(s.$ref) : s);

function fieldSchema(s: Schema | undefined, k: string, resolve: Resolve): Schema | undefined {
  const d = deref(s, resolve);
  return d?.properties?.[k] ?? (typeof d?.additionalProperties === 'object' ? d.additionalProperties : undefined);
}

function smpMap(target: Obj, patch: unknown, schema: Schema | undefined, resolve: Resolve): Obj {
  if (!isMap(patch)) throw badRequest('the strategic merge patch must be a JSON object');
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return {};
  const out: Obj = { ...target };
  const retain = patch.$retainKeys as string[] | undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[f])) out[f] = (out[f] as unknown[]).filter((x) => !(v as unknown[]).includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const fs = fieldSchema(schema, k, resolve);
    const key = fs?.['x-kubernetes-patch-merge-key'];
    const strategy = fs?.['x-kubernetes-patch-strategy'] ?? '';
    if (Array.isArray(v) && key) out[k] = mergeByKey(Array.isArray(out[k]) ? out[k] : [], v, key, k, fs?.items, resolve);
    else if (Array.isArray(v) && strategy.includes('merge')) out[k] = [...new Set([...(Array.isArray(out[k]) ? out[k] : []), ...v])];
    else if (isMap(v) && (isMap(out[k]) || out[k] === undefined)) out[k] = smpMap(isMap(out[k]) ? out[k] : {}, v, fs, resolve);
    else out[k] = clone(v);
  }
  for (const [k, order] of Object.entries(patch)) {
    const f = k.slice('$setElementOrder/'.length);
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(out[f]) || !Array.isArray(order)) continue;
    const key = fieldSchema(schema, f, resolve)?.['x-kubernetes-patch-merge-key'];
    const pos = (x: unknown) => order.findIndex((o) => (key && isMap(o) && isMap(x) ? o[key] === x[key] : o === x));
    out[f] = [...(out[f] as unknown[])].sort((a, b) => {
      const [pa, pb] = [pos(a), pos(b)];
      return (pa < 0 ? Infinity : pa) - (pb < 0 ? Infinity : pb);
    });
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

function mergeByKey(target: unknown[], patch: unknown[], key: string, field: string, items: Schema | undefined, resolve: Resolve): unknown[] {
  if (patch.some((p) => isMap(p) && p.$patch === 'replace')) return patch.filter((p) => !(isMap(p) && p.$patch === 'replace')).map(clone);
  const out = target.map((x) => x);
  for (const p of patch) {
    if (!isMap(p)) throw badRequest(`the strategic merge patch for ${field} must hold objects`);
    const i = out.findIndex((t) => isMap(t) && t[key] === p[key]);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = smpMap(out[i] as Obj, p, items, resolve);
    else out.push(smpMap({}, p, items, resolve));
  }
  return out;
}
