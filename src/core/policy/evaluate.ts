// One evaluator behind both `simulate` (many probes, verdicts only) and `explain` (one probe, reasons).
//
// A probe is a direct connection (no NAT) from one endpoint to another on (port, protocol). It is allowed
// when the source's egress AND the destination's ingress allow it. In each direction an endpoint is
// isolated when some policy that selects it covers that direction; an isolated endpoint admits only what
// some rule of those policies allows. Non-isolated endpoints and externals admit everything.
import { invalid } from '../errors.js';
import { cidrContainsIp, tryParseCidr } from '../net/ipv4.js';
import { endpointByKey, type Cluster, type Endpoint, type Pod } from './cluster.js';
import type { Direction, L4Protocol, Peer, Policy, PortMatch } from './model.js';
import { matchesSelector } from './selector.js';

export type ProbeProtocol = L4Protocol | 'ICMP';
export interface Probe { from: string; to: string; port: number; protocol: ProbeProtocol }
export interface ProbeResult extends Probe { allowed: boolean }

/** Parses "FROM,TO,PORT/PROTO" (e.g. "x/a,ext/dns,53/UDP"). The protocol defaults to TCP; for ICMP the port is the type (code 0). */
export function parseProbe(s: string): Probe {
  const parts = s.split(',').map((x) => x.trim());
  if (parts.length !== 3 || !parts[0] || !parts[1]) throw invalid(`--probe: '${s}' is not FROM,TO,PORT/PROTO (e.g. x/a,y/b,80/TCP)`);
  const [from, to, pp] = parts;
  const { port, protocol } = parsePortProto(pp, '--probe');
  return { from, to, port, protocol };
}

export function parsePortProto(s: string, what: string): { port: number; protocol: ProbeProtocol } {
  const m = /^(\d{1,5})(?:\/([A-Za-z]+))?$/.exec(s.trim());
  const protocol = (m?.[2] ?? 'TCP').toUpperCase() as ProbeProtocol;
  if (!m || !['TCP', 'UDP', 'SCTP', 'ICMP'].includes(protocol)) throw invalid(`${what}: '${s}' is not PORT/PROTO with PROTO one of TCP, UDP, SCTP, ICMP`);
  const port = Number(m[1]);
  const max = protocol === 'ICMP' ? 255 : 65535;
  if (port > max || (protocol !== 'ICMP' && port < 1)) throw invalid(`${what}: port ${port} is out of range for ${protocol}`);
  return { port, protocol };
}

/** Every pod and external as source, to every pod on every port it serves, with its protocol. */
export function defaultProbes(c: Cluster): Probe[] {
  const sources = [...c.pods.map((p) => p.key), ...c.externals.map((e) => e.key)];
  const out: Probe[] = [];
  for (const from of sources) for (const to of c.pods) for (const p of to.ports) out.push({ from, to: to.key, port: p.port, protocol: p.protocol });
  return out;
}

export interface RuleMatch {
  policy: string;
  rule: string; // field path of the rule inside the policy, e.g. "spec.ingress[0]"
  peer?: string; // field path of the peer that matched (absent: the rule has no peer list = every peer)
  port?: string; // field path of the port clause that matched (absent: the rule has no ports = every port)
}

export interface DirectionExplanation {
  direction: Direction;
  endpoint: string;
  /** Whether some policy selects the endpoint for this direction. */
  isolated: boolean;
  /** Ids of the policies that select the endpoint for this direction. */
  policies: string[];
  allowed: boolean;
  /** Every rule that allows the probe (empty when denied, or when not isolated). */
  allowedBy: RuleMatch[];
  reason: string;
}

export interface Explanation extends ProbeResult {
  egress: DirectionExplanation;
  ingress: DirectionExplanation;
}

export function simulate(c: Cluster, probes?: Probe[]): ProbeResult[] {
  const ev = new Evaluator(c);
  return (probes ?? defaultProbes(c)).map((p) => ({ ...p, allowed: ev.allowed(p) }));
}

export function explain(c: Cluster, probe: Probe): Explanation {
  return new Evaluator(c).explain(probe);
}

const fmtProbe = (p: Probe) => `${p.port}/${p.protocol}`;

export class Evaluator {
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private readonly selecting = new Map<string, { ingress: Policy[]; egress: Policy[] }>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly cidrs = new Map<string, ReturnType<typeof tryParseCidr>>();

  constructor(readonly cluster: Cluster) {
    for (const n of cluster.namespaces) this.nsLabels.set(n.name, n.labels);
  }

  private inCidr(cidr: string, ip: number): boolean {
    let c = this.cidrs.get(cidr);
    if (c === undefined) {
      c = tryParseCidr(cidr, false);
      this.cidrs.set(cidr, c);
    }
    return c !== undefined && cidrContainsIp(c, ip);
  }

  endpoint(key: string, field: string): Endpoint {
    let e = this.endpoints.get(key);
    if (!e) {
      e = endpointByKey(this.cluster, key);
      if (!e) throw invalid(`${field}: no pod or external named '${key}' (pods are namespace/name, externals ext/<name>)`);
      this.endpoints.set(key, e);
    }
    return e;
  }

  /** Policies selecting `pod`, per direction, in cluster order. */
  policiesFor(pod: Pod): { ingress: Policy[]; egress: Policy[] } {
    let s = this.selecting.get(pod.key);
    if (!s) {
      s = { ingress: [], egress: [] };
      for (const pol of this.cluster.policies) {
        if (!pol.appliesTo.some((t) => this.targets(t, pod))) continue;
        if (pol.ingress) s.ingress.push(pol);
        if (pol.egress) s.egress.push(pol);
      }
      this.selecting.set(pod.key, s);
    }
    return s;
  }

  /** Whether a policy target (appliesTo entry) selects this pod. */
  targets(t: Peer, pod: Pod): boolean {
    if (t.kind === 'cidr') return !t.ipv6 && this.inCidr(t.cidr, pod.ipNum);
    return t.kind === 'host' ? false : this.peerMatches(t, { type: 'pod', ...pod });
  }

  peerMatches(peer: Peer, e: Endpoint): boolean {
    switch (peer.kind) {
      case 'any': return true;
      case 'host': return false; // hosts are not endpoints of the simulation
      case 'cidr': return !peer.ipv6 && this.inCidr(peer.cidr, e.ipNum) && !peer.except.some((x) => this.inCidr(x, e.ipNum));
      case 'pods':
        if (e.type !== 'pod') return false; // selectors never match non-pod addresses
        if (peer.namespace !== undefined && peer.namespace !== e.namespace) return false;
        if (peer.namespaceSelector && !matchesSelector(peer.namespaceSelector, this.nsLabels.get(e.namespace) ?? {})) return false;
        return matchesSelector(peer.podSelector, e.labels);
    }
  }

  allowed(p: Probe): boolean {
    const from = this.endpoint(p.from, 'from');
    const to = this.endpoint(p.to, 'to');
    return this.direction('egress', from, to, p, false).allowed && this.direction('ingress', to, from, p, false).allowed;
  }

  explain(p: Probe): Explanation {
    const from = this.endpoint(p.from, 'from');
    const to = this.endpoint(p.to, 'to');
    const egress = this.direction('egress', from, to, p, true);
    const ingress = this.direction('ingress', to, from, p, true);
    return { ...p, allowed: egress.allowed && ingress.allowed, egress, ingress };
  }

  /** The verdict of `self`'s policies in `dir` about traffic with `other` (the peer). */
  private direction(dir: Direction, self: Endpoint, other: Endpoint, p: Probe, all: boolean): DirectionExplanation {
    const base = { direction: dir, endpoint: self.key, allowedBy: [] as RuleMatch[] };
    if (self.type !== 'pod') {
      return { ...base, isolated: false, policies: [], allowed: true, reason: `${self.key} is outside the cluster: no policy applies to it` };
    }
    const pols = this.policiesFor(self)[dir];
    if (pols.length === 0) {
      return { ...base, isolated: false, policies: [], allowed: true, reason: `no policy selects ${self.key} for ${dir}: not isolated, all ${dir} allowed` };
    }
    const dst = dir === 'egress' ? other : self;
    for (const pol of pols) {
      for (const rule of pol[dir] ?? []) {
        const peer = rule.peers.find((x) => this.peerMatches(x, other));
        if (!peer) continue;
        const port = rule.ports.length === 0 ? undefined : rule.ports.find((m) => portMatches(m, p, dst));
        if (rule.ports.length > 0 && !port) continue;
        base.allowedBy.push({ policy: pol.id, rule: rule.path, peer: peer.path, port: port?.path });
        if (!all) break;
      }
      if (!all && base.allowedBy.length) break;
    }
    const ids = pols.map((x) => x.id);
    const allowed = base.allowedBy.length > 0;
    const what = dir === 'egress' ? `to ${other.key}` : `from ${other.key}`;
    const reason = allowed
      ? `isolated for ${dir} by ${ids.join(', ')}; ${what} on ${fmtProbe(p)} allowed by ${base.allowedBy.map(fmtMatch).join('; ')}`
      : `isolated for ${dir} by ${ids.join(', ')}; no rule of these allows ${what} on ${fmtProbe(p)}`;
    return { ...base, isolated: true, policies: ids, allowed, reason };
  }
}

export const fmtMatch = (m: RuleMatch): string =>
  `${m.policy} ${m.rule}` + (m.peer || m.port ? ` (${[m.peer && `peer ${m.peer}`, m.port && `port ${m.port}`].filter(Boolean).join(', ')})` : '');


/** Whether a port clause admits the probe; named ports resolve against the destination pod's ports. */
export function portMatches(m: PortMatch, p: Probe, dst: Endpoint): boolean {
  if (m.protocol === 'ANY') return true;
  if (m.protocol !== p.protocol) return false;
  if (m.protocol === 'ICMP') return (m.icmpType === undefined || m.icmpType === p.port) && (m.icmpCode === undefined || m.icmpCode === 0);
  if (m.name !== undefined) return dst.type === 'pod' && dst.ports.some((x) => x.name === m.name && x.protocol === m.protocol && x.port === p.port);
  return m.port === undefined || (p.port >= m.port && p.port <= (m.endPort ?? m.port));
}
