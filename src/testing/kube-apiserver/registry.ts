// What the API server does with an object on create, update, patch and delete: checks (names, labels,
// the kind's own validation, a custom resource's schema), defaults, server-set metadata (uid,
// resourceVersion, creationTimestamp, generation, managedFields), the status subresource, optimistic
// concurrency, namespace existence and cascading deletion. Storage is the ObjectStore.
import { randomUUID } from 'node:crypto';
import { crdResources, crdStatus, validateCrd } from './crd.js';
import {
  KubeError, type StatusCause, alreadyExists, badRequest, conflict, invalidObject, invalidValue, notFound, required, unsupportedMediaType,
} from './errors.js';
import { type Writer, updateManagedFields } from './managed.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import {
  BUILTIN, DNS_LABEL_MSG, DNS_SUBDOMAIN_MSG, type Obj, type ResourceDef, gvOf, isCrdDef, isDnsLabel, isDnsSubdomain, isNamespaceDef, keyOf,
} from './resources.js';
import { Models, REF_PREFIX } from './models.js';
import { type Schema, checkSchema } from './schema.js';
import { ObjectStore, objectKey } from './store.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
export interface WriteOptions { manager: string; dryRun?: boolean; fieldValidation?: FieldValidation; subresource?: string }
export interface WriteResult { obj: Obj; warnings: string[] }

const NS = { group: '', resource: 'namespaces', kind: 'Namespace' };
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const now = () => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const SERVER_SET = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'];
const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function qualifiedNameProblem(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const [prefix, name] = slash >= 0 ? [k.slice(0, slash), k.slice(slash + 1)] : [undefined, k];
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `prefix part ${DNS_SUBDOMAIN_MSG}`;
  if (!name || name.length > 63 || !LABEL_NAME.test(name)) return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  return undefined;
}

function validateMeta(def: ResourceDef, m: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const name = m.name;
  if (!name) c.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  else if (def.nameRule === 'label' ? !isDnsLabel(name) : def.nameRule === 'segment' ? /[/%]/.test(name) || name === '.' || name === '..' : !isDnsSubdomain(name)) {
    c.push(invalidValue('metadata.name', name, def.nameRule === 'segment' ? 'may not contain \'/\' or \'%\'' : def.nameRule === 'label' ? DNS_LABEL_MSG : DNS_SUBDOMAIN_MSG));
  }
  for (const [k, v] of Object.entries((m.labels ?? {}) as Obj)) {
    const p = qualifiedNameProblem(k);
    if (p) c.push(invalidValue('metadata.labels', k, p));
    if (typeof v !== 'string' || v.length > 63 || (v !== '' && !LABEL_NAME.test(v))) c.push(invalidValue('metadata.labels', v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
  }
  let size = 0;
  for (const [k, v] of Object.entries((m.annotations ?? {}) as Obj)) {
    const p = qualifiedNameProblem(k);
    if (p) c.push(invalidValue('metadata.annotations', k, p));
    size += k.length + String(v).length;
  }
  if (size > 256 * 1024) c.push({ reason: 'FieldValueTooLong', message: 'Too long: must have at most 262144 bytes', field: 'metadata.annotations' });
  return c;
}

/** The object without the server's bookkeeping, to tell a real change from a no-op write. */
const content = (o: Obj) => canonical({ ...o, metadata: Object.fromEntries(Object.entries(o.metadata).filter(([k]) => !['resourceVersion', 'managedFields'].includes(k))) });
const specOf = (o: Obj) => canonical(Object.fromEntries(Object.entries(o).filter(([k]) => !['metadata', 'status', 'apiVersion', 'kind'].includes(k))));
/** JSON with keys in order, so that equal objects give equal text. */
const canonical = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (isMap(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));

export class Registry {
  readonly store: ObjectStore;
  private readonly defs = new Map<string, ResourceDef>();
  readonly models = new Models();

  constructor(historyLimit?: number) {
    this.store = new ObjectStore(historyLimit);
    for (const d of BUILTIN) this.defs.set(`${d.group}/${d.version}/${d.resource}`, d);
  }

  resources(): ResourceDef[] {
    return [...this.defs.values()];
  }

  find(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.defs.get(`${group}/${version}/${resource}`);
  }

  /** The served resource of a kind (for objects given with apiVersion and kind). */
  findKind(apiVersion: string, kind: string): ResourceDef | undefined {
    return this.resources().find((d) => gvOf(d) === apiVersion && d.kind === kind);
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): Obj {
    const o = this.store.get(keyOf(def), namespace ? `${namespace}/${name}` : name);
    if (!o) throw notFound(def, name);
    return this.versioned(def, o);
  }

  list(def: ResourceDef, namespace?: string, atRv?: number): Obj[] {
    return this.store.list(keyOf(def), namespace, atRv).map((o) => this.versioned(def, o));
  }

  /** Custom resources stored under one version are served as any other with conversion "None". */
  versioned(def: ResourceDef, o: Obj): Obj {
    return def.crd && o.apiVersion !== gvOf(def) ? { ...o, apiVersion: gvOf(def) } : o;
  }

  private checkTypeMeta(def: ResourceDef, body: Obj): void {
    if (body.apiVersion !== undefined && body.apiVersion !== gvOf(def)) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${gvOf(def)})`);
    }
    if (body.kind !== undefined && body.kind !== def.kind) throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${def.kind})`);
  }

  /** The schema objects of a resource are checked against: its model, or its CRD's schema. */
  schemaOf(def: ResourceDef): Schema | undefined {
    if (def.crd) return def.crd.schema;
    const root = this.models.rootOf(keyOf(def));
    return root ? { $ref: REF_PREFIX + root } : undefined;
  }

  /**
   * Checks an object against its schema, applies the schema's defaults and drops unknown fields, which
   * are refused with fieldValidation=Strict and otherwise reported as warnings (as the real server).
   */
  private applySchema(def: ResourceDef, o: Obj, opts: WriteOptions, warnings: string[]): Obj {
    const schema = this.schemaOf(def);
    if (!schema) return o;
    const { apiVersion, kind, metadata, ...rest } = o;
    const top = def.crd ? { ...schema, properties: Object.fromEntries(Object.entries(schema.properties ?? {}).filter(([k]) => !['apiVersion', 'kind', 'metadata'].includes(k))) } : schema;
    const r = checkSchema(def.crd ? rest : o, top, '', this.models.resolve);
    if (r.causes.length) {
      if (def.crd) throw invalidObject(def, metadata?.name ?? '', r.causes);
      const c = r.causes[0];
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${c.field ? `${c.field}: ` : ''}${c.message}`);
    }
    if (r.unknown.length && opts.fieldValidation === 'Strict') {
      throw badRequest(`strict decoding error: ${r.unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (opts.fieldValidation !== 'Ignore') warnings.push(...r.unknown.map((u) => `unknown field "${u}"`));
    return def.crd ? { apiVersion, kind, metadata, ...(r.value as Obj) } : { ...(r.value as Obj), apiVersion, kind };
  }

  private checkValid(def: ResourceDef, o: Obj, old?: Obj): void {
    const causes = [...validateMeta(def, o.metadata), ...(def.validate?.(o, old) ?? []), ...(isCrdDef(def) ? validateCrd(o) : [])];
    if (causes.length) throw invalidObject(def, o.metadata.name ?? '', causes);
  }

  private writer(def: ResourceDef, opts: WriteOptions): Writer {
    return { manager: opts.manager, operation: 'Update', apiVersion: gvOf(def), ...(opts.subresource ? { subresource: opts.subresource } : {}) };
  }

  create(def: ResourceDef, namespace: string | undefined, body: unknown, opts: WriteOptions): WriteResult {
    if (!isMap(body)) throw badRequest(`Object '${def.kind}' is missing in '${JSON.stringify(body)?.slice(0, 100)}'`);
    this.checkTypeMeta(def, body);
    const warnings: string[] = [];
    let o: Obj = structuredClone(body);
    o.apiVersion = gvOf(def);
    o.kind = def.kind;
    const m: Obj = isMap(o.metadata) ? o.metadata : {};
    if (def.namespaced) {
      if (m.namespace !== undefined && m.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = namespace;
    } else delete m.namespace;
    if (!m.name && typeof m.generateName === 'string') {
      const chars = 'bcdfghjklmnpqrstvwxz2456789';
      m.name = m.generateName + Array.from({ length: 5 }, () => chars[Math.floor(Math.random() * chars.length)]).join('');
    }
    for (const k of SERVER_SET) delete m[k];
    o.metadata = m;
    if (def.status && !def.keepStatusOnCreate) delete o.status;
    if (def.initialStatus) o.status = def.initialStatus(o);
    o = this.applySchema(def, o, opts, warnings);
    def.defaults?.(o);
    this.checkValid(def, o);
    if (def.namespaced && !this.store.get(keyOf(NS), namespace!)) throw notFound(NS, namespace!);
    if (this.store.get(keyOf(def), objectKey(o))) throw alreadyExists(def, m.name);
    const time = now();
    o.metadata = { ...o.metadata, uid: randomUUID(), creationTimestamp: time, ...(def.generation ? { generation: 1 } : {}) };
    if (isCrdDef(def)) o.status = crdStatus(o, time);
    o.metadata.managedFields = updateManagedFields(undefined, o, this.writer(def, opts), time);
    if (opts.dryRun) return { obj: o, warnings };
    const stored = this.store.put(keyOf(def), o);
    if (isCrdDef(def)) this.serveCrd(stored);
    return { obj: stored, warnings };
  }

  update(def: ResourceDef, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions): WriteResult {
    if (!isMap(body)) throw badRequest(`Object '${def.kind}' is missing in '${JSON.stringify(body)?.slice(0, 100)}'`);
    this.checkTypeMeta(def, body);
    const cur = this.store.get(keyOf(def), namespace ? `${namespace}/${name}` : name);
    if (!cur) throw notFound(def, name);
    const bm: Obj = isMap(body.metadata) ? body.metadata : {};
    if (bm.name !== undefined && bm.name !== name) throw badRequest(`the name of the object (${bm.name}) does not match the name on the URL (${name})`);
    if (def.namespaced && bm.namespace !== undefined && bm.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (bm.resourceVersion !== undefined && bm.resourceVersion !== '' && bm.resourceVersion !== cur.metadata.resourceVersion) throw conflict(def, name);
    if (bm.uid !== undefined && bm.uid !== cur.metadata.uid) throw conflict(def, name, `Precondition failed: UID in precondition: ${bm.uid}, UID in object meta: ${cur.metadata.uid}`);
    const warnings: string[] = [];
    const keep = Object.fromEntries(SERVER_SET.filter((k) => k !== 'resourceVersion' && cur.metadata[k] !== undefined).map((k) => [k, cur.metadata[k]]));
    let next: Obj;
    if (opts.subresource === 'status') {
      next = { ...cur, status: structuredClone(body.status) };
    } else {
      next = structuredClone(body);
      next.metadata = { ...bm, name, ...(def.namespaced ? { namespace } : {}), ...keep };
      delete next.metadata.namespace;
      if (def.namespaced) next.metadata.namespace = namespace;
      // The status is the status subresource's: kept as it was (absent stays absent, not `undefined`).
      if (def.status) {
        if (cur.status === undefined) delete next.status;
        else next.status = cur.status;
      }
    }
    next.apiVersion = gvOf(def);
    next.kind = def.kind;
    next = this.applySchema(def, next, opts, warnings);
    def.defaults?.(next);
    if (isCrdDef(def) && cur.status !== undefined) next.status = cur.status;
    this.checkValid(def, next, cur);
    if (def.generation && specOf(next) !== specOf(cur)) next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    // A write that changes nothing keeps the resourceVersion and writes nothing (as the real server does).
    if (content(next) === content(cur)) return { obj: this.versioned(def, cur), warnings };
    next.metadata.managedFields = updateManagedFields(cur, next, this.writer(def, opts), now());
    if (opts.dryRun) return { obj: next, warnings };
    const stored = this.store.put(keyOf(def), next);
    if (isCrdDef(def)) this.serveCrd(stored);
    return { obj: stored, warnings };
  }

  patch(def: ResourceDef, namespace: string | undefined, name: string, contentType: string, patch: unknown, opts: WriteOptions): WriteResult {
    const cur = this.store.get(keyOf(def), namespace ? `${namespace}/${name}` : name);
    if (!cur) throw notFound(def, name);
    let next: unknown;
    const type = contentType.split(';')[0].trim();
    if (type === 'application/merge-patch+json') next = mergePatch(cur, patch);
    else if (type === 'application/json-patch+json') next = jsonPatch(cur, patch);
    else if (type === 'application/strategic-merge-patch+json') {
      if (def.crd) throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
      next = strategicMergePatch(cur, patch, this.schemaOf(def)!, this.models.resolve);
    } else if (type === 'application/apply-patch+yaml') {
      throw unsupportedMediaType('server-side apply is not implemented by this test stand-in of the Kubernetes API server; use client-side apply (kubectl apply without --server-side)');
    } else throw unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${def.crd ? '' : ', application/strategic-merge-patch+json'}`);
    if (!isMap(next)) throw badRequest('the patch did not produce an object');
    // A resourceVersion the patch itself sets is a precondition; otherwise the patch applies to the current object.
    const patchedRv = (next.metadata as Obj | undefined)?.resourceVersion;
    const body = { ...next, metadata: { ...(next.metadata as Obj), resourceVersion: patchedRv ?? cur.metadata.resourceVersion } };
    return this.update(def, namespace, name, body, opts);
  }

  delete(def: ResourceDef, namespace: string | undefined, name: string, options: Obj, dryRun = false): Obj {
    const key = namespace ? `${namespace}/${name}` : name;
    const cur = this.store.get(keyOf(def), key);
    if (!cur) throw notFound(def, name);
    const pre = (options?.preconditions ?? {}) as Obj;
    if (pre.uid && pre.uid !== cur.metadata.uid) throw conflict(def, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(def, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
    if (dryRun) return cur;
    // No finalizers or graceful termination here: what a namespace holds goes with it at once.
    if (isNamespaceDef(def)) {
      for (const d of this.uniqueResources()) if (d.namespaced) for (const o of this.store.list(keyOf(d), name)) this.store.remove(keyOf(d), objectKey(o));
    }
    if (isCrdDef(def)) this.unserveCrd(cur);
    return this.store.remove(keyOf(def), key)!;
  }

  /** One definition per stored resource (custom resources may be served in several versions). */
  private uniqueResources(): ResourceDef[] {
    const seen = new Map<string, ResourceDef>();
    for (const d of this.defs.values()) if (!seen.has(keyOf(d))) seen.set(keyOf(d), d);
    return [...seen.values()];
  }

  private serveCrd(crd: Obj): void {
    for (const [k, d] of this.defs) if (d.crd?.name === crd.metadata.name) this.defs.delete(k);
    for (const d of crdResources(crd)) {
      const clash = this.find(d.group, d.version, d.resource);
      if (clash && !clash.crd) throw new KubeError(409, 'Conflict', `${d.resource}.${d.group} is served by the server itself`);
      this.defs.set(`${d.group}/${d.version}/${d.resource}`, d);
    }
  }

  private unserveCrd(crd: Obj): void {
    const served = [...this.defs.entries()].filter(([, d]) => d.crd?.name === crd.metadata.name);
    if (served.length) for (const o of this.store.list(keyOf(served[0][1]))) this.store.remove(keyOf(served[0][1]), objectKey(o));
    for (const [k] of served) this.defs.delete(k);
  }
}

export { required };
