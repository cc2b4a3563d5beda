// metadata.managedFields: which manager last set which fields, in the FieldsV1 notation
// (`{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}`). Each write gives its
// manager the fields it changed and takes them away from the others, as the real server does for
// Update operations.
import type { Obj } from './resources.js';

const SEP = '\u0000';
const LIST_KEYS = ['name', 'containerPort', 'type', 'uid', 'mountPath', 'ip'];
const MAPS_WITH_SELF = new Set(['labels', 'annotations', 'matchLabels', 'nodeSelector', 'data']);
const SERVER_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'selfLink']);

const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every field path of an object (leaves and the `.` markers of list elements and label-like maps). */
function paths(o: Obj, part: 'main' | 'status'): Map<string, string> {
  const out = new Map<string, string>(); // path -> JSON of the value at that leaf (to see what changed)
  const walk = (v: unknown, prefix: string, field: string) => {
    if (isMap(v)) {
      if (MAPS_WITH_SELF.has(field)) out.set(prefix + SEP + '.', '');
      for (const [k, x] of Object.entries(v)) walk(x, `${prefix}${SEP}f:${k}`, k);
      if (Object.keys(v).length === 0) out.set(prefix, '{}');
    } else if (Array.isArray(v) && v.length > 0 && v.every(isMap)) {
      const key = LIST_KEYS.find((k) => v.every((e) => (e as Obj)[k] !== undefined) && new Set(v.map((e) => (e as Obj)[k])).size === v.length);
      if (!key) {
        out.set(prefix, JSON.stringify(v));
        return;
      }
      for (const e of v as Obj[]) {
        const p = `${prefix}${SEP}k:${JSON.stringify({ [key]: e[key] })}`;
        out.set(p + SEP + '.', '');
        walk(e, p, '');
      }
    } else out.set(prefix, JSON.stringify(v));
  };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if ((k === 'status') !== (part === 'status')) continue;
    if (k === 'metadata') {
      for (const [mk, mv] of Object.entries(v as Obj)) if (!SERVER_META.has(mk)) walk(mv, `f:metadata${SEP}f:${mk}`, mk);
    } else walk(v, `f:${k}`, k);
  }
  for (const p of [...out.keys()]) {
    // Drop the trailing element of paths that are prefixes of others (they are implied).
    const parts = p.split(SEP);
    for (let i = 1; i < parts.length; i++) out.delete(parts.slice(0, i).join(SEP));
  }
  return out;
}

function nest(set: Iterable<string>): Obj {
  const root: Obj = {};
  for (const p of set) {
    let cur = root;
    for (const part of p.split(SEP)) cur = (cur[part] ??= {});
  }
  return root;
}

function flatten(f: Obj, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(f)) {
    const p = prefix ? prefix + SEP + k : k;
    if (isMap(v) && Object.keys(v).length) out.push(...flatten(v, p));
    else out.push(p);
  }
  return out;
}

export interface Writer { manager: string; operation: 'Update' | 'Apply'; apiVersion: string; subresource?: string }

/** The managedFields of `next` after `writer` turned `prev` (undefined on create) into it. */
export function updateManagedFields(prev: Obj | undefined, next: Obj, writer: Writer, time: string): Obj[] {
  const part = writer.subresource === 'status' ? 'status' : 'main';
  const before = prev ? paths(prev, part) : new Map<string, string>();
  const after = paths(next, part);
  const changed = [...after.entries()].filter(([p, v]) => before.get(p) !== v).map(([p]) => p);
  type Entry = Obj & { set: Set<string> };
  const entries: Entry[] = ((prev?.metadata?.managedFields ?? []) as Obj[]).map((e) => ({ ...e, set: new Set(flatten(e.fieldsV1 ?? {})) }));
  let m: Entry | undefined = entries.find((e) => e.manager === writer.manager && e.operation === writer.operation && (e.subresource ?? undefined) === writer.subresource);
  if (!m) entries.push((m = { manager: writer.manager, operation: writer.operation, apiVersion: writer.apiVersion, ...(writer.subresource ? { subresource: writer.subresource } : {}), set: new Set<string>() }));
  const all = new Map([...paths(next, 'main'), ...paths(next, 'status')]);
  for (const e of entries) {
    if (e === m) for (const p of changed) e.set.add(p);
    else for (const p of changed) e.set.delete(p);
    for (const p of [...e.set]) if (!all.has(p)) e.set.delete(p);
  }
  m.time = time;
  m.apiVersion = writer.apiVersion;
  return entries.filter((e) => e.set.size > 0).map(({ set, ...e }) => ({
    manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, time: e.time, fieldsType: 'FieldsV1', fieldsV1: nest(set),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}
