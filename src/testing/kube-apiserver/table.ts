// Server-side printing: `kubectl get` asks for a meta.k8s.io/v1 Table, whose columns are the kind's
// (Name and Age for kinds without their own, as the real server's default).
import type { Obj, ResourceDef } from './resources.js';

export const wantsTable = (accept: string | undefined) => /as=Table/.test(accept ?? '');

const partial = (o: Obj) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata });

export function toTable(def: ResourceDef, items: Obj[], listMeta: Obj, includeObject: string | null, withColumns = true): Obj {
  const now = Date.now();
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta,
    ...(withColumns ? { columnDefinitions: def.columns.map((c) => ({ name: c.name, type: c.type, format: c.name === 'Name' ? 'name' : '', description: c.description, priority: c.priority })) } : {}),
    rows: items.map((o) => ({
      cells: def.columns.map((c) => c.cell(o, now)),
      object: includeObject === 'None' ? undefined : includeObject === 'Object' ? o : partial(o),
    })),
  };
}
