// Compiles the policies that matter to one host into `iptables-restore --noflush` text (filter table)
// and `ipset restore` text. Pure: the agent applies the result (ipset first, then iptables).
//
// Layout (every name starts with ROMANA; see docs/policy.md):
//   ROMANA-FORWARD  hooked from FORWARD: ESTABLISHED,RELATED accept; INVALID drop; -j ROMANA-EGRESS; -j ROMANA-INGRESS
//   ROMANA-INPUT    hooked from INPUT:   same first rules; -j ROMANA-EGRESS (pods → this host); host ingress policies
//                   (after loopback and the inbound fail-safe ports, which RETURN before them)
//   ROMANA-OUTPUT   hooked from OUTPUT:  host egress policies only, after loopback and the outbound fail-safe ports
//   ROMANA-EGRESS   one rule per local pod isolated for egress:  -s IP/32 -g ROMANA-EPE-<h>
//   ROMANA-INGRESS  one rule per local pod isolated for ingress: -d IP/32 -g ROMANA-EPI-<h>
//   ROMANA-EP{I,E}-<h>  per distinct list of policies: clear the mark bit, jump to each policy chain and
//                   RETURN as soon as one set the bit, else DROP. Named by a hash of that list.
//   ROMANA-P{I,E}-<h>   one per policy and direction, named by a hash of the policy id: one rule per
//                   peer × port clause that sets the mark bit. Its body changes only when the policy does.
//   sets ROMANA-IP-<h> (hash:ip) / ROMANA-NET-<h> (hash:net), named by a hash of their definition (the
//                   selector, owner or CIDR list), so membership changes never rename them or touch rules.
// Egress of the source and ingress of the destination are both checked when both are local, because a
// verdict of "allowed" RETURNs (via goto) to ROMANA-FORWARD, which goes on to the next check.
import { cidrContainsIp, formatCidr, ipKey, sizeOf, tryParseCidr, tryParseIp, type Cidr } from '../net/ipv4.js';
import type { Cluster, Pod } from './cluster.js';
import { checkFailsafePort, DEFAULT_FAILSAFE, type Failsafe, type FailsafePort } from './failsafe.js';
import { canonicalJson, hash16, NAMESPACE_NAME_LABEL, peerDefinition, type Direction, type L4Protocol, type Peer, type Policy, type PortMatch } from './model.js';
import { isEmptySelector, matchesSelector } from './selector.js';

export interface CompileOptions {
  /** The packet-mark bit that carries "a policy allowed it" from a policy chain to its endpoint chain. */
  markBit?: number;
  /**
   * Host ports that no host policy can close (see failsafe.ts); each side defaults on its own to
   * DEFAULT_FAILSAFE. `[]` turns one side off.
   */
  failsafe?: Partial<Failsafe>;
}

export const DEFAULT_MARK_BIT = 0x10000;

export type SetType = 'hash:ip' | 'hash:net';
export interface CompiledSet { name: string; type: SetType; entries: string[]; definition: string }
export interface CompiledChain { name: string; rules: string[] } // rules without the "-A NAME " prefix

export interface CompiledHost {
  /** For `iptables-restore --noflush`: declares (and so flushes) every chain below, then fills them. */
  iptables: string;
  /** For `ipset restore`: creates each set if missing, flushes and fills it. */
  ipset: string;
  chains: string[];
  sets: string[];
  tables: { chains: CompiledChain[]; sets: CompiledSet[] };
  stats: {
    rules: number;
    setEntries: number;
    chains: number;
    sets: number;
    /** Rules a naive expansion (one rule per target pod × peer member × port) would need on this host. */
    naiveRules: number;
  };
}

export const TOP_CHAINS = ['ROMANA-FORWARD', 'ROMANA-INPUT', 'ROMANA-OUTPUT', 'ROMANA-EGRESS', 'ROMANA-INGRESS'] as const;

export function compileHost(cluster: Cluster, hostName: string, opts: CompileOptions = {}): CompiledHost {
  return new PolicyCompiler(cluster, opts).compileHost(hostName);
}

/** A rule in parts, rendered in iptables-save's canonical order so the agent can diff against the kernel. */
interface Rule { s?: string; d?: string; i?: string; o?: string; p?: string; m: string[]; j?: string; g?: string }
const render = (r: Rule): string =>
  [r.s && `-s ${r.s}`, r.d && `-d ${r.d}`, r.i && `-i ${r.i}`, r.o && `-o ${r.o}`, r.p && `-p ${r.p}`, ...r.m, r.g ? `-g ${r.g}` : `-j ${r.j}`].filter(Boolean).join(' ');

const CT = { established: '-m conntrack --ctstate RELATED,ESTABLISHED', invalid: '-m conntrack --ctstate INVALID' };

/**
 * Holds the cluster-wide indexes (pods by namespace, set memberships, block ownership) so that compiling
 * many hosts of one cluster does that work once. Immutable input; caches only.
 */
export class PolicyCompiler {
  private readonly mark: string;
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private readonly podsByNs = new Map<string, Pod[]>();
  private readonly pods: Pod[];
  private readonly policies: Policy[];
  private readonly members = new Map<string, Pod[]>();
  private readonly ownerNets = new Map<string, Cidr[] | null>();
  private blockOfPod?: Map<Pod, number>;
  private readonly blocks: { c: Cidr; tenant: string; segment: string }[];
  private readonly cidrs = new Map<string, Cidr | undefined>();
  /** The fail-safe RETURN rules, rendered once: inbound for ROMANA-INPUT, outbound for ROMANA-OUTPUT. */
  readonly failsafeRules: Record<'inbound' | 'outbound', string[]>;

  constructor(readonly cluster: Cluster, opts: CompileOptions = {}) {
    const bit = opts.markBit ?? DEFAULT_MARK_BIT;
    if (!Number.isInteger(bit) || bit <= 0 || bit > 0x80000000 || (bit & (bit - 1)) !== 0) throw new Error('markBit must be a single bit');
    this.mark = `0x${bit.toString(16)}`;
    const fs = (side: 'inbound' | 'outbound') =>
      failsafeRules((opts.failsafe?.[side] ?? DEFAULT_FAILSAFE[side]).map((p, i) => checkFailsafePort(p, `failsafe.${side}[${i}]`)));
    this.failsafeRules = { inbound: fs('inbound'), outbound: fs('outbound') };
    for (const n of cluster.namespaces) this.nsLabels.set(n.name, n.labels);
    this.pods = [...cluster.pods].sort((a, b) => a.ipNum - b.ipNum);
    for (const p of this.pods) {
      const l = this.podsByNs.get(p.namespace);
      if (l) l.push(p);
      else this.podsByNs.set(p.namespace, [p]);
    }
    this.policies = [...cluster.policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.blocks = cluster.blocks
      .map((b) => ({ c: tryParseCidr(b.cidr, false)!, tenant: b.tenant, segment: b.segment }))
      .sort((a, b) => a.c.base - b.c.base);
  }

  compileHost(hostName: string): CompiledHost {
    return new HostCompilation(this, hostName).run();
  }

  // ---- shared helpers used by HostCompilation ----

  get markHex(): string { return this.mark; }
  get sortedPolicies(): Policy[] { return this.policies; }
  get sortedPods(): Pod[] { return this.pods; }

  /** Pods matching a `pods` peer (or target), in address order. */
  podsOf(peer: Extract<Peer, { kind: 'pods' }>): Pod[] {
    const key = canonicalJson(peerDefinition(peer));
    let m = this.members.get(key);
    if (!m) {
      const pool = peer.namespace !== undefined ? this.podsByNs.get(peer.namespace) ?? [] : this.pods;
      m = pool.filter((p) => this.podMatches(peer, p));
      this.members.set(key, m);
    }
    return m;
  }

  podMatches(peer: Peer, p: Pod): boolean {
    switch (peer.kind) {
      case 'any': return true;
      case 'host': return false;
      case 'cidr': return !peer.ipv6 && this.inCidr(peer.cidr, p.ipNum) && !peer.except.some((x) => this.inCidr(x, p.ipNum));
      case 'pods':
        if (peer.namespace !== undefined && peer.namespace !== p.namespace) return false;
        if (peer.namespaceSelector && !matchesSelector(peer.namespaceSelector, this.nsLabels.get(p.namespace) ?? {})) return false;
        return matchesSelector(peer.podSelector, p.labels);
    }
  }

  /** Whether a policy target selects a pod (a cidr target selects the pods inside it). */
  targets(t: Peer, p: Pod): boolean {
    if (t.kind === 'cidr') return !t.ipv6 && this.inCidr(t.cidr, p.ipNum);
    return this.podMatches(t, p);
  }

  private inCidr(cidr: string, ip: number): boolean {
    let c = this.cidrs.get(cidr);
    if (!this.cidrs.has(cidr)) this.cidrs.set(cidr, (c = tryParseCidr(cidr, false)));
    return c !== undefined && cidrContainsIp(c, ip);
  }

  /**
   * The IPAM block CIDRs that stand for a tenant or tenant+segment peer, when they describe its members
   * exactly: every member's address is in one of the owner's blocks, and no other pod's, external's or
   * host's is. Else null (the caller falls back to the members' addresses).
   */
  ownerBlocks(peer: Extract<Peer, { kind: 'pods' }>): { owner: { tenant: string; segment?: string }; cidrs: Cidr[] } | null {
    const owner = ownerOf(peer, this.cluster.segmentLabel);
    if (!owner || this.blocks.length === 0) return null;
    const key = `${owner.tenant}\0${owner.segment ?? '\u0001'}`;
    let nets = this.ownerNets.get(key);
    if (nets === undefined) {
      const mine = this.blocks.map((b, i) => ({ b, i })).filter(({ b }) => b.tenant === owner.tenant && (owner.segment === undefined || b.segment === owner.segment));
      const idx = new Set(mine.map((x) => x.i));
      const byPod = this.podBlocks();
      const members = this.podsOf(peer);
      const inside = this.pods.filter((p) => idx.has(byPod.get(p) ?? -1)).length;
      // Selectors never match non-pod addresses, so no external or host address may sit in these blocks.
      const others = [...this.cluster.externals.map((e) => e.ipNum), ...this.cluster.hosts.flatMap((h) => (h.ip ? [tryParseIp(h.ip)!] : []))];
      const exact = mine.length > 0 && members.every((p) => idx.has(byPod.get(p) ?? -1)) && inside === members.length &&
        !others.some((ip) => mine.some(({ b }) => cidrContainsIp(b.c, ip)));
      nets = exact ? mine.map((x) => x.b.c) : null;
      this.ownerNets.set(key, nets);
    }
    return nets ? { owner, cidrs: nets } : null;
  }

  private podBlocks(): Map<Pod, number> {
    if (!this.blockOfPod) {
      this.blockOfPod = new Map();
      for (const p of this.pods) {
        // Blocks do not overlap: binary search for the last block starting at or below the address.
        let lo = 0, hi = this.blocks.length - 1, found = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (this.blocks[mid].c.base <= p.ipNum) { found = mid; lo = mid + 1; } else hi = mid - 1;
        }
        if (found >= 0 && cidrContainsIp(this.blocks[found].c, p.ipNum)) this.blockOfPod.set(p, found);
      }
    }
    return this.blockOfPod;
  }
}

/** The Romana owner a peer stands for: all pods of one namespace, or of one segment of it. */
export function ownerOf(peer: Peer, segmentLabel: string): { tenant: string; segment?: string } | undefined {
  if (peer.kind !== 'pods') return undefined;
  let tenant = peer.namespace;
  if (tenant === undefined && peer.namespaceSelector) {
    const s = peer.namespaceSelector;
    const keys = Object.keys(s.matchLabels);
    if (s.matchExpressions.length === 0 && keys.length === 1 && keys[0] === NAMESPACE_NAME_LABEL) tenant = s.matchLabels[NAMESPACE_NAME_LABEL];
  }
  if (tenant === undefined) return undefined;
  if (isEmptySelector(peer.podSelector)) return { tenant };
  const keys = Object.keys(peer.podSelector.matchLabels);
  if (peer.podSelector.matchExpressions.length === 0 && keys.length === 1 && keys[0] === segmentLabel) {
    return { tenant, segment: peer.podSelector.matchLabels[segmentLabel] };
  }
  return undefined;
}


/** `cidr` minus `except`, as the fewest CIDRs (address order). */
export function subtractCidrs(cidr: Cidr, except: Cidr[]): Cidr[] {
  const out: Cidr[] = [];
  const walk = (c: Cidr): void => {
    if (except.some((x) => x.prefix <= c.prefix && cidrContainsIp(x, c.base))) return; // fully excluded
    if (!except.some((x) => x.prefix > c.prefix && cidrContainsIp(c, x.base))) return void out.push(c); // untouched
    const half = sizeOf(c.prefix + 1);
    walk({ base: c.base, prefix: c.prefix + 1 });
    walk({ base: c.base + half, prefix: c.prefix + 1 });
  };
  walk(cidr);
  return out;
}

const PROTO_ORDER: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2, ICMP: 3 };
const MULTIPORT_SLOTS = 15;

/** Port clauses (named ports excluded) → protocol/port match fragments, merged per protocol with multiport. */
function portFragments(ports: PortMatch[]): { p?: string; m: string[] }[] {
  if (ports.length === 0 || ports.some((x) => x.protocol === 'ANY')) return [{ m: [] }];
  const byProto = new Map<string, PortMatch[]>();
  for (const x of ports) byProto.set(x.protocol, [...(byProto.get(x.protocol) ?? []), x]);
  const out: { p?: string; m: string[] }[] = [];
  for (const proto of [...byProto.keys()].sort((a, b) => PROTO_ORDER[a] - PROTO_ORDER[b])) {
    const list = byProto.get(proto)!;
    const p = proto.toLowerCase();
    if (proto === 'ICMP') {
      if (list.some((x) => x.icmpType === undefined)) { out.push({ p, m: [] }); continue; }
      const types = [...new Set(list.map((x) => (x.icmpCode === undefined ? `${x.icmpType}` : `${x.icmpType}/${x.icmpCode}`)))];
      types.sort((a, b) => parseFloat(a) - parseFloat(b) || (a < b ? -1 : 1));
      for (const t of types) out.push({ p, m: [`-m icmp --icmp-type ${t}`] });
      continue;
    }
    if (list.some((x) => x.port === undefined)) { out.push({ p, m: [] }); continue; }
    const specs = mergeRanges(list.map((x) => [x.port!, x.endPort ?? x.port!] as [number, number]));
    // multiport takes at most 15 ports, a range counting as two.
    let chunk: [number, number][] = [], used = 0;
    const flush = () => {
      if (chunk.length === 0) return;
      const text = chunk.map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(',');
      out.push({ p, m: [chunk.length === 1 ? `-m ${p} --dport ${text}` : `-m multiport --dports ${text}`] });
      chunk = [];
      used = 0;
    };
    for (const r of specs) {
      const w = r[0] === r[1] ? 1 : 2;
      if (used + w > MULTIPORT_SLOTS) flush();
      chunk.push(r);
      used += w;
    }
    flush();
  }
  return out;
}

function mergeRanges(rs: [number, number][]): [number, number][] {
  const s = [...rs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * Fail-safe ports as RETURN rules (destination port, merged per protocol). RETURN, not ACCEPT: the
 * packet skips Romana's host policies as an allowed one does, and the operator's own rules further down
 * INPUT/OUTPUT still decide. Never portFragments([]), which means "all traffic".
 */
function failsafeRules(ports: FailsafePort[]): string[] {
  return ports.length === 0 ? [] : portFragments(ports).map((f) => render({ p: f.p, m: f.m, j: 'RETURN' }));
}

const protoMatch = (proto: L4Protocol, port: number) => ({ p: proto.toLowerCase(), m: [`-m ${proto.toLowerCase()} --dport ${port}`] });

class HostCompilation {
  private readonly chains = new Map<string, CompiledChain>();
  private readonly sets = new Map<string, CompiledSet>();
  private readonly comments = new Map<string, string>();
  private naive = 0;
  private readonly local: Pod[];

  constructor(private readonly c: PolicyCompiler, private readonly host: string) {
    this.local = c.sortedPods.filter((p) => p.host === host);
  }

  run(): CompiledHost {
    const c = this.c;
    // Which policies select which local pods (and this host itself), per direction.
    const podPolicies = new Map<Pod, Record<Direction, Policy[]>>(this.local.map((p) => [p, { ingress: [], egress: [] }]));
    const hostPolicies: Record<Direction, Policy[]> = { ingress: [], egress: [] };
    for (const pol of c.sortedPolicies) {
      const targets = this.local.filter((p) => pol.appliesTo.some((t) => c.targets(t, p)));
      const onHost = pol.appliesTo.some((t) => t.kind === 'host');
      if (targets.length === 0 && !onHost) continue; // selects nothing here: emits nothing
      for (const dir of ['ingress', 'egress'] as const) {
        if (!pol[dir]) continue;
        for (const p of targets) podPolicies.get(p)![dir].push(pol);
        if (onHost) hostPolicies[dir].push(pol);
        this.policyChain(pol, dir, targets, onHost);
      }
    }

    const dispatch: Record<Direction, string[]> = { ingress: [], egress: [] };
    for (const p of this.local) {
      for (const dir of ['ingress', 'egress'] as const) {
        const pols = podPolicies.get(p)![dir];
        if (pols.length === 0) continue; // not isolated in this direction: its traffic passes
        const ep = this.endpointChain(dir, pols);
        dispatch[dir].push(render(dir === 'ingress' ? { d: `${p.ip}/32`, m: [], g: ep } : { s: `${p.ip}/32`, m: [], g: ep }));
      }
    }
    const top = (name: string, rules: string[]) => this.chains.set(name, { name, rules });
    top('ROMANA-FORWARD', [
      render({ m: [CT.established], j: 'ACCEPT' }),
      render({ m: [CT.invalid], j: 'DROP' }),
      render({ m: [], j: 'ROMANA-EGRESS' }),
      render({ m: [], j: 'ROMANA-INGRESS' }),
    ]);
    // Fail-safe ports come after the pods' egress check (they keep the operator and the control plane in,
    // they are no hole for isolated pods) and only when a host policy exists in that direction: without
    // one nothing here drops host traffic, and hosts without host policies keep their rules unchanged.
    const input = [render({ m: [CT.established], j: 'ACCEPT' }), render({ m: [CT.invalid], j: 'DROP' }), render({ m: [], j: 'ROMANA-EGRESS' })];
    if (hostPolicies.ingress.length) {
      input.push(render({ i: 'lo', m: [], j: 'RETURN' }), ...c.failsafeRules.inbound, render({ m: [], j: this.endpointChain('ingress', hostPolicies.ingress) }));
    }
    top('ROMANA-INPUT', input);
    const output: string[] = [];
    if (hostPolicies.egress.length) {
      output.push(render({ m: [CT.established], j: 'ACCEPT' }), render({ o: 'lo', m: [], j: 'RETURN' }), ...c.failsafeRules.outbound,
        render({ m: [], j: this.endpointChain('egress', hostPolicies.egress) }));
    }
    top('ROMANA-OUTPUT', output);
    top('ROMANA-EGRESS', dispatch.egress);
    top('ROMANA-INGRESS', dispatch.ingress);
    return this.emit();
  }

  /** ROMANA-EP{I,E}-<hash of the policy list>: allowed if any policy chain sets the mark, else DROP. */
  private endpointChain(dir: Direction, pols: Policy[]): string {
    const mark = this.c.markHex;
    const policyChains = pols.map((p) => policyChainName(p, dir));
    const name = `ROMANA-EP${dir === 'ingress' ? 'I' : 'E'}-${hash16(`endpoint\0${dir}\0${mark}\0${policyChains.join('\0')}`)}`;
    if (this.chains.has(name)) return name;
    const rules = [render({ m: [], j: `MARK --set-xmark 0x0/${mark}` })];
    for (const pc of policyChains) {
      rules.push(render({ m: [], j: pc }), render({ m: [`-m mark --mark ${mark}/${mark}`], j: 'RETURN' }));
    }
    rules.push(render({ m: [], j: 'DROP' }));
    this.chains.set(name, { name, rules });
    this.comments.set(name, `${dir} of endpoints selected by ${pols.map((p) => p.id).join(', ')}`);
    return name;
  }

  /** ROMANA-P{I,E}-<hash of the policy id>: one rule per peer × port clause, each setting the mark. */
  private policyChain(pol: Policy, dir: Direction, targets: Pod[], onHost: boolean): void {
    const c = this.c;
    const name = policyChainName(pol, dir);
    const accept = `MARK --set-xmark ${c.markHex}/${c.markHex}`;
    const rules: string[] = [];
    const nTargets = targets.length + (onHost ? 1 : 0);
    for (const rule of pol[dir] ?? []) {
      const named = rule.ports.filter((x) => x.name !== undefined);
      const plain = rule.ports.filter((x) => x.name === undefined);
      const peerParts = rule.peers.map((peer) => this.peerPart(peer, dir)).filter((x): x is Partial<Rule> => x !== null);
      const portParts = rule.ports.length === 0 ? [{ m: [] }] : plain.length ? portFragments(plain) : [];
      for (const pp of peerParts) for (const qp of portParts) rules.push(render({ ...pp, p: qp.p, m: [...qp.m, ...(pp.m ?? [])], j: accept }));

      for (const np of named) {
        const proto = np.protocol as L4Protocol;
        if (dir === 'ingress') {
          // Resolved per destination pod: group this host's targets by the port the name gives them.
          for (const [port, pods] of groupByNamedPort(targets, np.name!, proto)) {
            const set = this.set('hash:ip', { t: 'named-target', policy: pol.id, name: np.name, protocol: proto, port }, pods.map((p) => p.ip), `${pol.id}: targets whose port '${np.name}' is ${port}/${proto}`);
            const q = protoMatch(proto, port);
            for (const pp of peerParts) rules.push(render({ ...pp, p: q.p, m: [...q.m, ...(pp.m ?? []), `-m set --match-set ${set} dst`], j: accept }));
          }
        } else {
          // The destination is the peer: group the peer's pods by the port the name gives them.
          for (const peer of rule.peers) {
            const members = peer.kind === 'pods' ? c.podsOf(peer) : c.sortedPods.filter((p) => c.podMatches(peer, p));
            for (const [port, group] of groupByNamedPort(members, np.name!, proto)) {
              const set = this.set('hash:ip', { t: 'named-peer', peer: peerDefinition(peer), name: np.name, protocol: proto, port }, group.map((p) => p.ip), `peer pods whose port '${np.name}' is ${port}/${proto}`);
              const q = protoMatch(proto, port);
              rules.push(render({ p: q.p, m: [...q.m, `-m set --match-set ${set} dst`], j: accept }));
            }
          }
        }
      }
      // What a per-pod-pair expansion would need: every target × peer member × port clause.
      const peerCount = rule.peers.reduce((n, peer) => n + (peer.kind === 'pods' ? c.podsOf(peer).length : 1), 0);
      this.naive += nTargets * peerCount * Math.max(1, rule.ports.length);
    }
    this.chains.set(name, { name, rules });
    this.comments.set(name, `policy ${pol.id} ${dir}`);
  }

  /** The address match for one peer (src for ingress, dst for egress); null when it can match nothing. */
  private peerPart(peer: Peer, dir: Direction): Partial<Rule> | null {
    const side = dir === 'ingress' ? 'src' : 'dst';
    switch (peer.kind) {
      case 'any': return {};
      case 'host': return { m: [`-m addrtype --${side}-type LOCAL`] };
      case 'cidr': {
        if (peer.ipv6) return null;
        const cidr = tryParseCidr(peer.cidr, false)!;
        if (peer.except.length === 0) {
          if (cidr.prefix === 0) return {};
          return dir === 'ingress' ? { s: peer.cidr } : { d: peer.cidr };
        }
        const nets = subtractCidrs(cidr, peer.except.map((x) => tryParseCidr(x, false)!));
        const set = this.set('hash:net', { t: 'cidr', cidr: peer.cidr, except: peer.except }, nets.map(formatCidr), `${peer.cidr} except ${peer.except.join(', ')}`);
        return { m: [`-m set --match-set ${set} ${side}`] };
      }
      case 'pods': {
        const owned = this.c.ownerBlocks(peer);
        const set = owned
          ? this.set('hash:net', { t: 'owner', ...owned.owner }, owned.cidrs.map(formatCidr), `blocks of ${owned.owner.tenant}${owned.owner.segment !== undefined ? `:${owned.owner.segment}` : ''}`)
          : this.set('hash:ip', { t: 'pods', peer: peerDefinition(peer) }, this.c.podsOf(peer).map((p) => p.ip), describePeer(peer));
        return { m: [`-m set --match-set ${set} ${side}`] };
      }
    }
  }

  private set(type: SetType, definition: object, entries: string[], comment: string): string {
    const def = canonicalJson({ type, ...definition });
    const name = `ROMANA-${type === 'hash:ip' ? 'IP' : 'NET'}-${hash16(def)}`;
    if (!this.sets.has(name)) {
      const sorted = [...new Set(entries)].sort((a, b) => (entryKey(a) < entryKey(b) ? -1 : 1));
      this.sets.set(name, { name, type, entries: sorted, definition: def });
      this.comments.set(name, comment);
    }
    return name;
  }

  private emit(): CompiledHost {
    const order = (n: string) => { const i = (TOP_CHAINS as readonly string[]).indexOf(n); return i >= 0 ? `0${i}` : n.startsWith('ROMANA-EP') ? `1${n}` : `2${n}`; };
    const chains = [...this.chains.values()].sort((a, b) => (order(a.name) < order(b.name) ? -1 : 1));
    const sets = [...this.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    const ipt: string[] = ['*filter'];
    for (const ch of chains) ipt.push(`:${ch.name} - [0:0]`);
    for (const ch of chains) {
      const note = this.comments.get(ch.name);
      if (note) ipt.push(`# ${ch.name}: ${note}`);
      for (const r of ch.rules) ipt.push(`-A ${ch.name} ${r}`);
    }
    ipt.push('COMMIT', '');
    const ips: string[] = [];
    for (const s of sets) {
      const max = s.entries.length > 65536 ? ` maxelem ${2 ** Math.ceil(Math.log2(s.entries.length))}` : '';
      ips.push(`# ${s.name}: ${this.comments.get(s.name) ?? ''}`);
      ips.push(`create ${s.name} ${s.type} family inet${max} -exist`, `flush ${s.name}`);
      for (const e of s.entries) ips.push(`add ${s.name} ${e} -exist`);
    }
    const rules = chains.reduce((n, ch) => n + ch.rules.length, 0);
    const setEntries = sets.reduce((n, s) => n + s.entries.length, 0);
    return {
      iptables: ipt.join('\n'),
      ipset: ips.length ? ips.join('\n') + '\n' : '',
      chains: chains.map((c) => c.name).sort(),
      sets: sets.map((s) => s.name),
      tables: { chains, sets },
      stats: { rules, setEntries, chains: chains.length, sets: sets.length, naiveRules: this.naive },
    };
  }
}

export const policyChainName = (pol: Policy, dir: Direction): string => `ROMANA-P${dir === 'ingress' ? 'I' : 'E'}-${hash16(`policy\0${pol.id}`)}`;

function groupByNamedPort(pods: Pod[], name: string, proto: L4Protocol): [number, Pod[]][] {
  const g = new Map<number, Pod[]>();
  for (const p of pods) {
    const port = p.ports.find((x) => x.name === name && x.protocol === proto);
    if (port) g.set(port.port, [...(g.get(port.port) ?? []), p]);
  }
  return [...g.entries()].sort((a, b) => a[0] - b[0]);
}

/** Sort key for set entries: address order, then prefix. */
function entryKey(e: string): string {
  const c = tryParseCidr(e.includes('/') ? e : `${e}/32`, false);
  return c ? `${ipKey(c.base)}/${String(c.prefix).padStart(2, '0')}` : e;
}

function describePeer(p: Extract<Peer, { kind: 'pods' }>): string {
  const ns = p.namespace !== undefined ? `namespace ${p.namespace}` : p.namespaceSelector ? `namespaces ${canonicalJson(p.namespaceSelector)}` : 'all namespaces';
  return `pods ${canonicalJson(p.podSelector)} in ${ns}`;
}
