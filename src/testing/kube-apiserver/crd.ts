// CustomResourceDefinitions: checked as the real server checks them, given the status the real server
// gives them (names accepted, established), and turned into served resources.
import { type StatusCause, invalidValue, required, unsupportedValue } from './errors.js';
import { AGE_COLUMN, type Column, NAME_COLUMN, type Obj, type ResourceDef, humanDuration } from './resources.js';
import { type Schema, structuralProblems } from './schema.js';

export function validateCrd(o: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const s = o.spec ?? {};
  const n = s.names ?? {};
  if (!s.group) c.push(required('spec.group'));
  if (!n.plural) c.push(required('spec.names.plural'));
  if (!n.kind) c.push(required('spec.names.kind'));
  if (s.group && n.plural && o.metadata.name !== `${n.plural}.${s.group}`) c.push(invalidValue('metadata.name', o.metadata.name, 'must be spec.names.plural+"."+spec.group'));
  if (!['Namespaced', 'Cluster'].includes(s.scope)) c.push(unsupportedValue('spec.scope', s.scope, ['Cluster', 'Namespaced']));
  const versions = (s.versions ?? []) as Obj[];
  if (versions.length === 0) c.push(required('spec.versions'));
  if (versions.filter((v) => v.storage).length !== 1) c.push(invalidValue('spec.versions', versions.map((v) => v.name), 'must have exactly one version marked as storage version'));
  versions.forEach((v, i) => {
    const schema = v.schema?.openAPIV3Schema as Schema | undefined;
    if (!schema) c.push(required(`spec.versions[${i}].schema.openAPIV3Schema`));
    else for (const p of structuralProblems(schema, `spec.versions[${i}].schema.openAPIV3Schema`)) c.push({ reason: 'FieldValueInvalid', message: p.slice(p.indexOf(': ') + 2), field: p.slice(0, p.indexOf(': ')) });
  });
  return c;
}

export function crdStatus(o: Obj, now: string): Obj {
  const n = o.spec.names;
  const cond = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now, reason, message });
  return {
    conditions: [cond('NamesAccepted', 'NoConflicts', 'no conflicts found'), cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
    acceptedNames: { plural: n.plural, singular: n.singular ?? String(n.kind).toLowerCase(), kind: n.kind, listKind: n.listKind ?? `${n.kind}List`, ...(n.shortNames ? { shortNames: n.shortNames } : {}), ...(n.categories ? { categories: n.categories } : {}) },
    storedVersions: [((o.spec.versions ?? []) as Obj[]).find((v) => v.storage)?.name],
  };
}

/** A JSONPath of additionalPrinterColumns (the simple `.a.b[0].c` form) read from an object. */
function jsonPath(o: Obj, path: string): unknown {
  let cur: unknown = o;
  for (const part of path.replace(/^\./, '').split('.')) {
    const m = /^([^[]*)(?:\[(\d+)\])?$/.exec(part);
    if (!m || cur === undefined || cur === null) return undefined;
    if (m[1]) cur = (cur as Obj)[m[1]];
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[2])] : undefined;
  }
  return cur;
}

/** The resources a CRD serves: one per served version. */
export function crdResources(o: Obj): ResourceDef[] {
  const s = o.spec;
  const n = s.names;
  return ((s.versions ?? []) as Obj[]).filter((v) => v.served !== false).map((v) => {
    const printer = ((v.additionalPrinterColumns ?? []) as Obj[]).map((p): Column => ({
      name: p.name, type: p.type === 'integer' ? 'integer' : 'string', priority: p.priority ?? 0, description: p.description ?? p.name,
      cell: (x, now) => {
        const val = jsonPath(x, p.jsonPath);
        if (val === undefined || val === null) return '<none>';
        // Date columns are shown as ages, as `kubectl get` shows them.
        if (p.type === 'date' && typeof val === 'string') return humanDuration(now - Date.parse(val));
        return typeof val === 'object' ? JSON.stringify(val) : (val as string | number);
      },
    }));
    return {
      group: s.group, version: v.name, resource: n.plural, kind: n.kind, listKind: n.listKind ?? `${n.kind}List`, singular: n.singular ?? String(n.kind).toLowerCase(),
      namespaced: s.scope === 'Namespaced', shortNames: n.shortNames ?? [], categories: n.categories ?? [], status: !!v.subresources?.status, generation: true,
      fields: [], columns: printer.length ? [NAME_COLUMN, ...printer] : [NAME_COLUMN, AGE_COLUMN],
      crd: { name: o.metadata.name, schema: v.schema?.openAPIV3Schema, subresources: !!v.subresources?.status },
    };
  });
}
