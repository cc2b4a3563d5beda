// Authentication by static bearer tokens (kube-apiserver's --token-auth-file format) and authorization
// by the RBAC objects the stand-in holds (ClusterRoles, Roles and their bindings), with the real
// authorizer's rules: users, groups and service accounts as subjects; verbs, API groups, resources,
// subresources, resource names and non-resource URLs; `system:masters` may do anything.
import { readFileSync } from 'node:fs';
import type { Obj } from './resources.js';

export interface User { name: string; uid?: string; groups: string[] }

export interface RequestAttributes {
  user: User;
  verb: string;
  /** Resource requests; a non-resource request has `path` instead. */
  resource?: { group: string; resource: string; subresource?: string; namespace?: string; name?: string };
  path?: string;
}

/** Who a request is, by its bearer token; undefined for an unknown or missing token. */
export class TokenAuthenticator {
  private readonly users = new Map<string, User>();

  /** Lines of `token,user,uid,"group1,group2"`. */
  static fromFile(file: string): TokenAuthenticator {
    const a = new TokenAuthenticator();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      const m = /^([^,]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?$/.exec(t);
      if (!m) throw new Error(`token file ${file}: cannot read line '${t.slice(0, 40)}...'`);
      a.add(m[1], { name: m[2], uid: m[3] || undefined, groups: (m[4] ?? '').split(',').filter(Boolean) });
    }
    return a;
  }

  add(token: string, user: User): this {
    this.users.set(token, { ...user, groups: [...new Set([...user.groups, 'system:authenticated'])] });
    return this;
  }

  authenticate(header: string | undefined): User | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return m ? this.users.get(m[1]) : undefined;
  }
}

/** Paths every authenticated user may read (the bootstrap system:discovery and public-info-viewer roles). */
const DISCOVERY = ['/api', '/api/*', '/apis', '/apis/*', '/version', '/version/', '/healthz', '/livez', '/readyz', '/openapi', '/openapi/*'];

const serviceAccountUser = (ns: string, name: string) => `system:serviceaccount:${ns}:${name}`;

function subjectMatches(s: Obj, u: User, bindingNs?: string): boolean {
  if (s.kind === 'User') return s.name === u.name;
  if (s.kind === 'Group') return u.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return serviceAccountUser(s.namespace ?? bindingNs ?? '', s.name) === u.name;
  return false;
}

const has = (list: unknown, v: string) => Array.isArray(list) && (list.includes(v) || list.includes('*'));

function pathMatches(rule: string, path: string): boolean {
  return rule === '*' || rule === path || (rule.endsWith('*') && path.startsWith(rule.slice(0, -1)));
}

export function ruleAllows(rule: Obj, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.path !== undefined) return Array.isArray(rule.nonResourceURLs) && rule.nonResourceURLs.some((p: string) => pathMatches(p, a.path!));
  const r = a.resource!;
  if (!has(rule.apiGroups, r.group)) return false;
  const full = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  const resources = (rule.resources ?? []) as string[];
  if (!resources.includes(full) && !resources.includes('*') && !(r.subresource && resources.includes(`*/${r.subresource}`))) return false;
  const names = (rule.resourceNames ?? []) as string[];
  return names.length === 0 || (r.name !== undefined && names.includes(r.name));
}

/** The RBAC objects, as the authorizer reads them from storage. */
export interface RbacSource {
  clusterRoles(): Obj[];
  clusterRoleBindings(): Obj[];
  roles(namespace: string): Obj[];
  roleBindings(namespace: string): Obj[];
}

export function authorize(src: RbacSource, a: RequestAttributes): { allowed: boolean; message?: string } {
  if (a.user.groups.includes('system:masters')) return { allowed: true };
  if (a.path !== undefined && a.verb === 'get' && DISCOVERY.some((p) => pathMatches(p, a.path!))) return { allowed: true };
  const clusterRoles = new Map(src.clusterRoles().map((r) => [r.metadata.name as string, r]));
  const rulesOf = (ref: Obj, ns?: string): Obj[] => {
    if (ref?.kind === 'ClusterRole') return (clusterRoles.get(ref.name)?.rules ?? []) as Obj[];
    if (ref?.kind === 'Role' && ns) return (src.roles(ns).find((r) => r.metadata.name === ref.name)?.rules ?? []) as Obj[];
    return [];
  };
  for (const b of src.clusterRoleBindings()) {
    if (((b.subjects ?? []) as Obj[]).some((s) => subjectMatches(s, a.user))) {
      if (rulesOf(b.roleRef).some((r) => ruleAllows(r, a))) return { allowed: true };
    }
  }
  const ns = a.resource?.namespace;
  if (ns) {
    for (const b of src.roleBindings(ns)) {
      if (((b.subjects ?? []) as Obj[]).some((s) => subjectMatches(s, a.user, ns)) && rulesOf(b.roleRef, ns).some((r) => ruleAllows(r, a))) return { allowed: true };
    }
  }
  if (a.path !== undefined) return { allowed: false, message: `forbidden: User "${a.user.name}" cannot ${a.verb} path "${a.path}"` };
  const r = a.resource!;
  const what = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  const name = r.name ? ` "${r.name}"` : '';
  const where = ns ? `in the namespace "${ns}"` : 'at the cluster scope';
  return { allowed: false, message: `${r.resource}${r.group ? `.${r.group}` : ''}${name} is forbidden: User "${a.user.name}" cannot ${a.verb} resource "${what}" in API group "${r.group}" ${where}` };
}
