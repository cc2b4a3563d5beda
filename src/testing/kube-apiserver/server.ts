// A TEST STAND-IN FOR THE KUBERNETES API SERVER. It is not Kubernetes and must never be run as a
// cluster's API server. It exists because no real kube-apiserver can run on this project's machines,
// and Romana's Kubernetes parts (romana-listener, `romana lab up --kubernetes`) need one to talk to.
//
// It speaks the protocol as the real server does, for the kinds Romana uses (Namespaces, Nodes, Pods,
// Events, ServiceAccounts, ConfigMaps, NetworkPolicies, Leases, CustomResourceDefinitions and the custom
// resources they define, and the RBAC kinds): discovery (classic and aggregated), list with
// limit/continue and resourceVersion, watch with resourceVersion, bookmarks and 410 Gone, create,
// update, patch (merge, JSON and strategic merge), delete, the status subresource, Status bodies,
// server-side Tables for `kubectl get`, bearer tokens and RBAC. It is checked against real clients:
// kubectl and @kubernetes/client-node (test/kube-apiserver).
//
// What it does NOT do: persistence (state lives in memory for the process's life), admission,
// controllers (no scheduler, kubelet, garbage collector or namespace lifecycle: a deleted namespace
// takes its objects with it at once, and deletions are immediate, without graceful termination or
// finalizers), server-side apply, protobuf, and the OpenAPI v2 document (it serves OpenAPI v3).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import { AGGREGATED, aggregated, apiGroupDoc, apiGroupList, apiVersions, resourceList, wantsAggregated } from './discovery.js';
import { KubeError, badRequest, forbidden, gone, methodNotAllowed, pathNotFound, unauthorized } from './errors.js';
import { loadModels } from './models.js';
import { openApiIndex, openApiGroupVersion } from './openapi.js';
import { type FieldValidation, Registry } from './registry.js';
import { type RequestAttributes, TokenAuthenticator, type User, authorize } from './rbac.js';
import { type Obj, type ResourceDef, gvOf, keyOf } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { Watcher } from './store.js';
import { toTable, wantsTable } from './table.js';

export interface KubeApiServerOptions {
  /** Bearer tokens; without them every request is a cluster admin (system:masters). */
  tokens?: TokenAuthenticator;
  /** How often open watches that asked for bookmarks get one (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Events kept for watches and paginated lists; older resourceVersions are 410 Gone. */
  historyLimit?: number;
}

/** One request as the authorizer saw it (tests compare what a client did with what RBAC allowed it). */
export interface AccessRecord {
  user: string; verb: string; group?: string; resource?: string; subresource?: string; namespace?: string; name?: string;
  path: string; code: number;
  /** The query parameters (watch=true, resourceVersion, allowWatchBookmarks, limit, continue, ...). */
  query: Record<string, string>;
}

const ADMIN: User = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
export const VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0', gitCommit: 'romana-test-stand-in', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'n/a', compiler: 'n/a', platform: 'linux/amd64' };
const BODY_LIMIT = 3 * 1024 * 1024;

interface Route {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
  verb: string;
}

export class KubeApiServer {
  readonly registry: Registry;
  readonly requests: AccessRecord[] = [];
  private readonly http: Server;
  private address = '';

  constructor(private readonly opts: KubeApiServerOptions = {}) {
    this.registry = new Registry(opts.historyLimit);
    this.http = createServer((req, res) => void this.handle(req, res));
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await loadModels();
    await new Promise<void>((ok, fail) => {
      this.http.once('error', fail);
      this.http.listen(port, host, () => ok());
    });
    const a = this.http.address() as AddressInfo;
    this.address = `${a.address}:${a.port}`;
    return `http://${this.address}`;
  }

  async close(): Promise<void> {
    this.registry.store.closeWatches();
    this.http.closeAllConnections();
    await new Promise<void>((ok) => this.http.close(() => ok()));
  }

  /** Ends every watch without compacting (clients resume from their resourceVersion). */
  closeWatches(): void {
    this.registry.store.closeWatches();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const rec: AccessRecord = { user: 'unauthenticated', verb: (req.method ?? 'GET').toLowerCase(), path, code: 0, query: Object.fromEntries(q) };
    try {
      const user = this.opts.tokens ? this.opts.tokens.authenticate(req.headers.authorization) : ADMIN;
      if (!user) throw unauthorized();
      rec.user = user.name;
      const route = this.route(req.method ?? 'GET', path, q);
      const attrs: RequestAttributes = route
        ? { user, verb: route.verb, resource: { group: route.def.group, resource: route.def.resource, subresource: route.subresource, namespace: route.namespace, name: route.name } }
        : { user, verb: (req.method ?? 'GET').toLowerCase() === 'get' ? 'get' : (req.method ?? '').toLowerCase(), path };
      if (route) Object.assign(rec, { verb: route.verb, group: route.def.group, resource: route.def.resource, subresource: route.subresource, namespace: route.namespace, name: route.name });
      const decision = authorize(this.rbacSource(), attrs);
      if (!decision.allowed) throw forbidden(decision.message!);
      if (!route) return this.nonResource(req, res, path, rec);
      await this.resource(req, res, route, q, user, rec);
    } catch (e) {
      const err = e instanceof KubeError ? e : new KubeError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
      rec.code = err.code;
      if (!res.headersSent) this.send(res, err.code, err.toStatus());
      else res.end();
    } finally {
      if (rec.code === 0) rec.code = res.statusCode;
      this.requests.push(rec);
    }
  }

  private rbacSource() {
    const r = this.registry;
    const rb = (res: string) => r.find('rbac.authorization.k8s.io', 'v1', res)!;
    return {
      clusterRoles: () => r.list(rb('clusterroles')),
      clusterRoleBindings: () => r.list(rb('clusterrolebindings')),
      roles: (ns: string) => r.list(rb('roles'), ns),
      roleBindings: (ns: string) => r.list(rb('rolebindings'), ns),
    };
  }

  /** The resource a path names, and the verb of the request, or undefined for a non-resource path. */
  private route(method: string, path: string, q: URLSearchParams): Route | undefined {
    const p = path.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (p[0] === 'api' && p.length >= 3) [group, version, rest] = ['', p[1], p.slice(2)];
    else if (p[0] === 'apis' && p.length >= 4) [group, version, rest] = [p[1], p[2], p.slice(3)];
    else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && this.registry.find(group, version, rest[2])?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const def = this.registry.find(group, version, rest[0]);
    if (!def || rest.length > 3) throw pathNotFound();
    if (def.namespaced === false && namespace !== undefined) throw pathNotFound();
    const [, name, subresource] = rest;
    if (subresource !== undefined && !(subresource === 'status' && def.status)) throw pathNotFound();
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = name === undefined
      ? ({ GET: watch ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection' } as Record<string, string>)[method]
      : ({ GET: watch ? 'watch' : 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method];
    if (!verb) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    return { def, namespace, name, subresource, verb };
  }

  private nonResource(req: IncomingMessage, res: ServerResponse, path: string, rec: AccessRecord): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('the server does not allow this method on the requested resource');
    const defs = this.registry.resources();
    const accept = req.headers.accept;
    const p = path.split('/').filter(Boolean);
    let body: unknown;
    let type = 'application/json';
    if (path === '/version') body = VERSION;
    else if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    } else if (path === '/api') {
      [body, type] = wantsAggregated(accept) ? [aggregated(defs, true), AGGREGATED] : [apiVersions(this.address), type];
    } else if (path === '/apis') {
      [body, type] = wantsAggregated(accept) ? [aggregated(defs, false), AGGREGATED] : [apiGroupList(defs), type];
    } else if (p[0] === 'api' && p.length === 2) body = resourceList(defs, '', p[1]);
    else if (p[0] === 'apis' && p.length === 2) body = apiGroupDoc(defs, p[1]);
    else if (p[0] === 'apis' && p.length === 3) body = resourceList(defs, p[1], p[2]);
    else if (path === '/openapi/v3') body = openApiIndex(defs, this.registry.models);
    else if (p[0] === 'openapi' && p[1] === 'v3' && p.length >= 3) body = openApiGroupVersion(defs, p.slice(2).join('/'), this.registry.models);
    if (body === undefined) throw pathNotFound();
    rec.code = 200;
    this.send(res, 200, body, type);
  }

  private async resource(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams, user: User, rec: AccessRecord): Promise<void> {
    const reg = this.registry;
    const manager = q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0];
    const fv = q.get('fieldValidation');
    if (fv !== null && !['Strict', 'Warn', 'Ignore'].includes(fv)) throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
    const dry = q.getAll('dryRun');
    if (dry.some((d) => d !== 'All')) throw badRequest(`dryRun: Unsupported value: "${dry[0]}": supported values: "All"`);
    const opts = { manager, dryRun: dry.length > 0, fieldValidation: (fv ?? 'Warn') as FieldValidation, subresource: r.subresource };
    const table = wantsTable(req.headers.accept);
    const out = (code: number, obj: Obj, warnings: string[] = []) => {
      rec.code = code;
      const headers: Record<string, string> = warnings.length ? { warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } : {};
      this.send(res, code, table && r.verb === 'get' ? toTable(r.def, [obj], { resourceVersion: obj.metadata.resourceVersion }, q.get('includeObject')) : obj, 'application/json', headers);
    };
    switch (r.verb) {
      case 'get': return out(200, reg.get(r.def, r.namespace, r.name!));
      case 'list': return this.list(res, r, q, table, rec);
      case 'watch': return this.watch(req, res, r, q, table, rec);
      case 'create': {
        const w = reg.create(r.def, r.namespace, await this.body(req), opts);
        return out(201, w.obj, w.warnings);
      }
      case 'update': {
        const w = reg.update(r.def, r.namespace, r.name!, await this.body(req), opts);
        return out(200, w.obj, w.warnings);
      }
      case 'patch': {
        const w = reg.patch(r.def, r.namespace, r.name!, req.headers['content-type'] ?? '', await this.body(req, true), opts);
        return out(200, w.obj, w.warnings);
      }
      case 'delete': {
        const options = (await this.body(req, false, true)) as Obj;
        const gone = reg.delete(r.def, r.namespace, r.name!, options ?? {}, opts.dryRun);
        return out(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: r.name, ...(r.def.group ? { group: r.def.group } : {}), kind: r.def.resource, uid: gone.metadata.uid } });
      }
      case 'deletecollection': {
        const matches = this.filter(r, q);
        for (const o of reg.list(r.def, r.namespace).filter(matches)) reg.delete(r.def, o.metadata.namespace, o.metadata.name, {}, opts.dryRun);
        return out(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
    }
  }

  private filter(r: Route, q: URLSearchParams): (o: Obj) => boolean {
    const labels = parseLabelSelector(q.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(q.get('fieldSelector') ?? undefined, ['metadata.name', 'metadata.namespace', ...r.def.fields]);
    return (o) => (r.namespace === undefined || o.metadata.namespace === r.namespace) && (r.name === undefined || o.metadata.name === r.name) &&
      labels((k) => o.metadata.labels?.[k]) && fields((k) => fieldValue(o, k));
  }

  private list(res: ServerResponse, r: Route, q: URLSearchParams, table: boolean, rec: AccessRecord): void {
    const store = this.registry.store;
    const limit = Number(q.get('limit') ?? 0);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`limit: Invalid value: "${q.get('limit')}"`);
    const cont = q.get('continue');
    let rv = store.rv;
    let start = '';
    if (cont) {
      let tok: { rv?: number; start?: string };
      try {
        tok = JSON.parse(Buffer.from(cont, 'base64url').toString()) as { rv?: number; start?: string };
      } catch {
        throw badRequest('continue key is not valid: invalid token');
      }
      if (typeof tok.rv !== 'number' || typeof tok.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      if (tok.rv < store.compacted) {
        throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
      [rv, start] = [tok.rv, tok.start];
    } else {
      const asked = q.get('resourceVersion');
      const match = q.get('resourceVersionMatch');
      if (asked && asked !== '0') {
        const n = Number(asked);
        if (!Number.isInteger(n) || n < 0) throw badRequest(`resourceVersion: Invalid value: "${asked}": must be a non-negative integer`);
        if (n > store.rv) throw new KubeError(504, 'Timeout', `Too large resource version: ${n}, current: ${store.rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
        if (match === 'Exact') rv = n;
      }
    }
    const matches = this.filter(r, q);
    const all = this.registry.list(r.def, r.namespace, rv).filter(matches);
    const from = start ? all.findIndex((o) => objKey(o) > start) : 0;
    const rest = from < 0 ? [] : all.slice(from);
    const page = limit > 0 ? rest.slice(0, limit) : rest;
    const more = rest.length > page.length;
    const meta: Obj = { resourceVersion: String(rv) };
    if (more) {
      meta.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: objKey(page[page.length - 1]) })).toString('base64url');
      meta.remainingItemCount = rest.length - page.length;
    }
    rec.code = 200;
    if (table) return this.send(res, 200, toTable(r.def, page, meta, q.get('includeObject')));
    // Items of built-in lists carry no apiVersion and kind; those of custom resources do.
    const items = r.def.crd ? page : page.map(({ apiVersion: _a, kind: _k, ...o }) => o);
    this.send(res, 200, { apiVersion: gvOf(r.def), kind: r.def.listKind, metadata: meta, items });
  }

  private watch(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams, table: boolean, rec: AccessRecord): void {
    const store = this.registry.store;
    const asked = q.get('resourceVersion');
    const from = asked ? Number(asked) : undefined;
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) throw badRequest(`resourceVersion: Invalid value: "${asked}"`);
    const matches = this.filter({ ...r, name: r.name }, q);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    rec.code = 200;
    let first = true;
    const timers: NodeJS.Timeout[] = [];
    const w: Watcher = {
      res: keyOf(r.def),
      matches,
      send: (type, obj) => {
        if (res.writableEnded) return;
        let o = type === 'ERROR' || type === 'BOOKMARK' ? obj : this.registry.versioned(r.def, obj);
        if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
          o = toTable(r.def, [o], { resourceVersion: o.metadata.resourceVersion }, q.get('includeObject'), first);
          first = false;
        }
        res.write(JSON.stringify({ type, object: o }) + '\n');
      },
      close: () => {
        for (const t of timers) clearTimeout(t);
        store.unwatch(w);
        if (!res.writableEnded) res.end();
      },
    };
    res.on('close', () => w.close());
    if (timeout > 0) timers.push(setTimeout(() => w.close(), timeout * 1000));
    if (q.get('allowWatchBookmarks') === 'true') {
      const every = this.opts.bookmarkIntervalMs ?? 60_000;
      const tick = () => {
        if (w.frozen) return;
        w.send('BOOKMARK', { kind: r.def.kind, apiVersion: gvOf(r.def), metadata: { resourceVersion: String(store.rv) } });
        timers.push(setTimeout(tick, every));
      };
      timers.push(setTimeout(tick, every));
    }
    store.watch(w, from, r.namespace);
  }

  private async body(req: IncomingMessage, raw = false, optional = false): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > BODY_LIMIT) throw new KubeError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
      chunks.push(c as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text.trim()) {
      if (optional) return undefined;
      throw badRequest('the body of the request is empty');
    }
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim();
    try {
      if (/yaml/.test(type) && !raw) return YAML.parse(text);
      if (type === 'application/apply-patch+yaml') return YAML.parse(text);
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
    }
  }

  private send(res: ServerResponse, code: number, body: unknown, type = 'application/json', headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private', ...headers });
    res.end(text);
  }
}

const objKey = (o: Obj) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name) as string;

/** The value of a field selector label (`spec.nodeName`, `involvedObject.name`, ...). */
function fieldValue(o: Obj, key: string): string | undefined {
  const v = key.split('.').reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Obj)[k] : undefined), o);
  return v === undefined || v === null ? undefined : String(v);
}

export { TokenAuthenticator };
