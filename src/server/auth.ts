// Who may do what. Bearer tokens come from the auth file; each has a role, and cni (and optionally
// agent) tokens are bound to one host. Every route declares the access it needs in its config
// (`config: { access }`); without a declaration GET needs 'read' and anything else 'admin'.
//
//   access     admin  agent        readonly  cni                             listener
//   public     yes    yes          yes       yes                             yes
//   read       yes    yes          yes       -                               -
//   inventory  yes    yes          yes       -                               yes (hosts, namespaces, pods, policies)
//   pod        yes    yes          yes       own host (one pod's metadata)   yes
//   watch      yes    yes          -         -                               -
//   status     yes    own host     -         -                               -
//   addresses  yes    yes          yes       own host (read its addresses)   yes
//   allocate   yes    -            -         own host (allocate and release) -
//   release    yes    own host     -         own host                        yes (conditional release: pending CNI
//                                                                                releases; addresses of pods that are gone)
//   cluster    yes    -            -         -                               yes (write hosts, namespaces, pods, policies)
//   admin      yes    -            -         -                               -
//
// The listener (romana-listener) keeps hosts, tenants, pod metadata and policies in step with
// Kubernetes, and releases the addresses of pods that are gone: nothing more.
//
// Host-bound checks that need the request's body or a stored record run in the route, through
// `requireHost`.
import { Type, type Static } from '@sinclair/typebox';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import YAML from 'yaml';
import { RomanaError, invalid } from '../core/errors.js';
import { check } from '../core/schema/check.js';

export const ROLES = ['admin', 'agent', 'cni', 'readonly', 'listener'] as const;
export type Role = (typeof ROLES)[number];
export const ACCESS = ['public', 'read', 'inventory', 'pod', 'watch', 'status', 'addresses', 'allocate', 'release', 'cluster', 'admin'] as const;
export type Access = (typeof ACCESS)[number];

const TokenEntry = Type.Object({
  token: Type.String({ minLength: 16, maxLength: 512, pattern: '^[!-~]+$', description: 'at least 16 printable characters, no spaces' }),
  role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  /** Shown in the audit log instead of the token's fingerprint. */
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
}, { additionalProperties: false });
export const AuthFile = Type.Object({ tokens: Type.Array(TokenEntry, { minItems: 1 }) }, { additionalProperties: false });
export type AuthFile = Static<typeof AuthFile>;

export interface Principal {
  /** The token's name, or `token:<fingerprint>`; `anonymous` when romanad runs without an auth file. */
  name: string;
  role: Role;
  host?: string;
}

const ALLOWED: Record<Access, readonly Role[]> = {
  public: ROLES,
  read: ['admin', 'agent', 'readonly'],
  inventory: ['admin', 'agent', 'readonly', 'listener'],
  pod: ['admin', 'agent', 'readonly', 'cni', 'listener'],
  watch: ['admin', 'agent'],
  status: ['admin', 'agent'],
  addresses: ['admin', 'agent', 'readonly', 'cni', 'listener'],
  allocate: ['admin', 'cni'],
  release: ['admin', 'agent', 'cni', 'listener'],
  cluster: ['admin', 'listener'],
  admin: ['admin'],
};

const digest = (token: string) => createHash('sha256').update(token).digest();
export const fingerprint = (token: string) => digest(token).toString('hex').slice(0, 12);

export class Authenticator {
  private readonly byDigest = new Map<string, Principal>();

  constructor(file: AuthFile) {
    for (const [i, t] of file.tokens.entries()) {
      if (t.role === 'cni' && !t.host) throw invalid(`tokens[${i}].host: is required for role cni (a cni token allocates for one host only)`);
      const key = digest(t.token).toString('hex');
      if (this.byDigest.has(key)) throw invalid(`tokens[${i}].token: appears twice`);
      this.byDigest.set(key, { name: t.name ?? `token:${fingerprint(t.token)}`, role: t.role, ...(t.host ? { host: t.host } : {}) });
    }
  }

  /** Parses an auth file's text (YAML or JSON). Errors name the field. */
  static parse(text: string, source = 'auth file'): Authenticator {
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (e) {
      throw invalid(`${source}: not YAML or JSON: ${(e as Error).message}`);
    }
    return new Authenticator(check(AuthFile, doc, ''));
  }

  /** The principal of an Authorization header, or undefined for a missing or unknown token. */
  principalOf(header: string | undefined): Principal | undefined {
    const m = /^Bearer +([!-~]{1,512}) *$/i.exec(header ?? '');
    if (!m) return undefined;
    // Looked up by digest, so the lookup's time says nothing about how much of a guess was right.
    return this.byDigest.get(digest(m[1]).toString('hex'));
  }
}

export const ANONYMOUS: Principal = { name: 'anonymous', role: 'admin' };
/** Who a request without a valid token is, on public routes. */
export const UNAUTHENTICATED: Principal = Object.freeze({ name: 'unauthenticated', role: 'readonly' });

export function allows(p: Principal, access: Access): boolean {
  return ALLOWED[access].includes(p.role);
}

declare module 'fastify' {
  interface FastifyRequest { principal: Principal }
  interface FastifyContextConfig { access?: Access }
}

export function accessOf(req: FastifyRequest): Access {
  const declared = req.routeOptions.config?.access;
  if (declared) return declared;
  return req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'admin';
}

/** A host-bound principal may act only for its own host. */
export function requireHost(req: FastifyRequest, host: string, what: string): void {
  const p = req.principal;
  if (p.host !== undefined && (p.role === 'cni' || p.role === 'agent') && p.host !== host) {
    throw new RomanaError('forbidden', `${p.name} (role ${p.role}) acts for host '${p.host}' only, not for ${what} on host '${host}'`);
  }
}

/**
 * Authenticates every request and checks its route's access before anything else runs (onRequest:
 * before the body is even read). Without an authenticator every caller is the anonymous admin.
 */
export function installAuth(app: FastifyInstance, auth: Authenticator | undefined): void {
  app.decorateRequest('principal', undefined as unknown as Principal);
  app.addHook('onRequest', async (req) => {
    const access = accessOf(req);
    if (!auth) {
      req.principal = ANONYMOUS;
      return;
    }
    const p = auth.principalOf(req.headers.authorization);
    if (!p) {
      req.principal = UNAUTHENTICATED;
      if (access === 'public') return;
      throw new RomanaError('unauthorized', req.headers.authorization ? 'the bearer token is not valid' : 'this request needs a bearer token (Authorization: Bearer ...)');
    }
    req.principal = p;
    if (!allows(p, access)) throw new RomanaError('forbidden', `${p.name} has role ${p.role}, which may not do this (needs ${access} access)`);
    // Agents bound to a host report status for that host only.
    if (access === 'status') {
      const host = (req.params as { name?: string } | undefined)?.name;
      if (host !== undefined) requireHost(req, host, 'status');
    }
  });
}
