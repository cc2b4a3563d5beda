// OpenAPI v3 documents (/openapi/v3 and /openapi/v3/apis/GROUP/VERSION), which kubectl reads to learn
// which patch types and query parameters each kind takes and, for client-side apply, the list merge
// keys of built-in kinds. The schemas are the ones the server checks objects against: the models of
// built-in kinds (models.ts) and the CRDs' own schemas.
import { createHash } from 'node:crypto';
import type { Models } from './models.js';
import { type Obj, type ResourceDef, keyOf } from './resources.js';

const pathOfGv = (group: string, version: string) => (group ? `apis/${group}/${version}` : `api/${version}`);

export function openApiIndex(defs: ResourceDef[], models: Models): Obj {
  const paths: Obj = {};
  for (const d of defs) {
    const p = pathOfGv(d.group, d.version);
    const hash = createHash('sha256').update(JSON.stringify(openApiGroupVersion(defs, p, models))).digest('hex').slice(0, 32).toUpperCase();
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

const schemaName = (d: ResourceDef, models: Models) => models.rootOf(keyOf(d)) ?? `${d.group.split('.').reverse().join('.')}.${d.version}.${d.kind}`;

const json = (schema: Obj) => ({ 'application/json': { schema }, 'application/yaml': { schema } });
const param = (name: string, description: string, type = 'string') => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });
const WRITE_PARAMS = [
  param('dryRun', 'When present, indicates that modifications should not be persisted.'),
  param('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  param('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.'),
];
const LIST_PARAMS = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'timeoutSeconds', 'watch']
  .map((n) => param(n, n, ['limit', 'timeoutSeconds'].includes(n) ? 'integer' : ['allowWatchBookmarks', 'watch'].includes(n) ? 'boolean' : 'string'));

export function openApiGroupVersion(defs: ResourceDef[], gvPath: string, models: Models): Obj | undefined {
  const mine = defs.filter((d) => pathOfGv(d.group, d.version) === gvPath);
  if (!mine.length) return undefined;
  const paths: Obj = {};
  const schemas: Obj = {};
  for (const d of mine) {
    const ref = (x: ResourceDef) => ({ $ref: `#/components/schemas/${schemaName(x, models)}` });
    const gvk = [{ group: d.group, version: d.version, kind: d.kind }];
    const base = `/${gvPath}${d.namespaced ? '/namespaces/{namespace}' : ''}/${d.resource}`;
    const op = (action: string, extra: Obj = {}) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk[0], operationId: `${action}${d.kind}`, responses: { 200: { description: 'OK', content: json(ref(d)) } }, ...extra });
    const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', ...(d.crd ? [] : ['application/strategic-merge-patch+json'])];
    paths[base] = {
      get: op('list', { parameters: LIST_PARAMS }),
      post: op('post', { parameters: WRITE_PARAMS, requestBody: { content: json(ref(d)) } }),
      delete: op('deletecollection'),
    };
    const item = {
      get: op('get'),
      put: op('put', { parameters: WRITE_PARAMS, requestBody: { content: json(ref(d)) } }),
      patch: op('patch', { parameters: WRITE_PARAMS, requestBody: { content: Object.fromEntries(patchTypes.map((t) => [t, { schema: { type: 'object' } }])) } }),
      delete: op('delete', { parameters: [param('dryRun', 'dryRun')] }),
    };
    paths[`${base}/{name}`] = item;
    if (d.status) paths[`${base}/{name}/status`] = { get: item.get, put: item.put, patch: item.patch };
    const root = models.rootOf(keyOf(d));
    if (root) Object.assign(schemas, models.closure(root, { ...schemas }));
    const own = root ? models.schemas[root] : (d.crd?.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    schemas[schemaName(d, models)] = { ...own, 'x-kubernetes-group-version-kind': gvk };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (test stand-in)', version: 'v1.32.0' }, paths, components: { schemas } };
}
