// The one internal representation of a network policy. Kubernetes NetworkPolicy (kubernetes.ts) and
// Romana policies (romana.ts) both translate into it, so simulate/explain (evaluate.ts) and the iptables
// compiler (compile.ts) share a single meaning of every policy.
import { createHash } from 'node:crypto';

/** Transport protocols that carry ports. */
export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';
export type RuleProtocol = L4Protocol | 'ICMP' | 'ANY';
export const L4_PROTOCOLS: readonly L4Protocol[] = ['TCP', 'UDP', 'SCTP'];

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelExpression {
  key: string;
  operator: Operator;
  values: string[]; // sorted, deduplicated; empty for Exists/DoesNotExist
}

/** A Kubernetes label selector, canonical: keys sorted, expressions sorted. Empty matches everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelExpression[];
}

/**
 * Who a policy applies to, or a peer of one of its rules.
 * - `pods`: pods in `namespace` (exact) or in namespaces matching `namespaceSelector` (at most one of the
 *   two is set; neither = every namespace), whose labels match `podSelector`. Never matches non-pod IPs.
 * - `cidr`: any address in `cidr` outside every `except` (pods included). IPv6 blocks (`ipv6: true`) are
 *   kept but match nothing: this dataplane is IPv4 only.
 * - `any`: every address.
 * - `host`: the host itself (Romana `peer: host`).
 */
export type Peer =
  | { kind: 'pods'; namespace?: string; namespaceSelector?: LabelSelector; podSelector: LabelSelector; path?: string }
  | { kind: 'cidr'; cidr: string; except: string[]; ipv6?: boolean; path?: string }
  | { kind: 'any'; path?: string }
  | { kind: 'host'; path?: string };

/**
 * One port clause of a rule. L4 protocols: `port` absent = every port; `endPort` makes a range; `name` is
 * a named port, resolved against the destination pod (never matches a non-pod destination). ICMP:
 * optional type and code. ANY: all traffic.
 */
export interface PortMatch {
  protocol: RuleProtocol;
  port?: number;
  endPort?: number;
  name?: string;
  icmpType?: number;
  icmpCode?: number;
  path?: string;
}

/** Allows traffic from/to any of `peers` matching any of `ports` (`ports: []` = all traffic). */
export interface Rule {
  peers: Peer[]; // never empty; [{kind:'any'}] for "every peer"
  ports: PortMatch[];
  path: string; // e.g. "spec.ingress[0]" — used by explain
}

export type PolicyKind = 'NetworkPolicy' | 'RomanaPolicy';

/**
 * A normalized policy. An endpoint selected by `appliesTo` is isolated in each direction whose rule list
 * is present (possibly empty = deny all); there, only traffic some rule (of any policy) allows passes.
 */
export interface Policy {
  id: string; // "<namespace>/<name>" for NetworkPolicy, the Romana id otherwise (never contains '/')
  kind: PolicyKind;
  name: string;
  namespace?: string;
  description?: string;
  appliesTo: Peer[];
  ingress?: Rule[];
  egress?: Rule[];
  /** The validated input object, for storage and display. */
  object: Record<string, unknown>;
}

export type Direction = 'ingress' | 'egress';

export interface NormalizeOptions {
  /** Pod label whose value is the Romana segment. Default `romana.io/segment`. */
  segmentLabel?: string;
}

export const DEFAULT_SEGMENT_LABEL = 'romana.io/segment';
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** JSON with object keys sorted: the canonical text that names are hashed from. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** 16 upper-case hex digits (64 bits) of SHA-256: short enough for iptables' 28-character chain names. */
export const hash16 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16).toUpperCase();

/** A peer without its source path, for hashing and comparing. */
export function peerDefinition(p: Peer): Peer {
  const { path: _path, ...rest } = p;
  void _path;
  return rest as Peer;
}
