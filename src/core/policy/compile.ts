// Compiles the policies that matter to one host into the dataplane-neutral form of ir.ts, and renders
// it for iptables/ipset (render-iptables.ts: `iptables-restore --noflush` text for the filter table and
// `ipset restore` text) or for nftables (render-nft.ts). Pure: the agent applies the result.
//
// Layout (every name starts with ROMANA; see docs/policy.md):
//   ROMANA-FORWARD  hook forward: ESTABLISHED,RELATED accept; INVALID to/from pods (rmn*) drop; jump ROMANA-EGRESS; jump ROMANA-INGRESS
//   ROMANA-INPUT    hook input:   same first rules; jump ROMANA-EGRESS (pods → this host); host ingress policies
//                   (after loopback and the inbound fail-safe ports, which return before them)
//   ROMANA-OUTPUT   hook output:  host egress policies only, after loopback and the outbound fail-safe ports
//   ROMANA-EGRESS   the map of local pods isolated for egress:  source address → goto ROMANA-EPE-<h>
//   ROMANA-INGRESS  the map of local pods isolated for ingress: destination address → goto ROMANA-EPI-<h>
//   ROMANA-EP{I,E}-<h>  per distinct list of policies: clear the mark bit, jump to each policy chain and
//                   return as soon as one set the bit, else drop. Named by a hash of that list.
//   ROMANA-P{I,E}-<h>   one per policy and direction, named by a hash of the policy id: one rule per
//                   peer × port clause that sets the mark bit. Its body changes only when the policy does.
//   sets ROMANA-IP-<h> (addresses) / ROMANA-NET-<h> (CIDRs), named by a hash of their definition (the
//                   selector, owner or CIDR list), so membership changes never rename them or touch rules.
// Egress of the source and ingress of the destination are both checked when both are local, because a
// verdict of "allowed" returns (via goto) to ROMANA-FORWARD, which goes on to the next check.
import { type LayoutNetwork, type MaskedMatch, decodeAddress, matchesMasked, ownerMatch } from '../ipam/address-layout.js';
import { POD_IFACE_PREFIX } from '../dataplane.js';
import { cidrContainsIp, formatCidr, formatIp, ipKey, sizeOf, tryParseCidr, tryParseIp, type Cidr } from '../net/ipv4.js';
import type { Cluster, Pod } from './cluster.js';
import { checkFailsafePort, DEFAULT_FAILSAFE, type Failsafe } from './failsafe.js';
import { mergeRanges, type AddrMatch, type IrChain, type IrHost, type IrMap, type IrRule, type IrSet, type L4Match } from './ir.js';
import { canonicalJson, hash16, NAMESPACE_NAME_LABEL, peerDefinition, type Direction, type L4Protocol, type Peer, type Policy, type RuleProtocol } from './model.js';
import { renderIptables, type CompiledHost } from './render-iptables.js';
import { isEmptySelector, matchesSelector } from './selector.js';

export type { CompiledChain, CompiledHost, CompiledSet, SetType } from './render-iptables.js';

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

export const TOP_CHAINS = ['ROMANA-FORWARD', 'ROMANA-INPUT', 'ROMANA-OUTPUT', 'ROMANA-EGRESS', 'ROMANA-INGRESS'] as const;

/** The host's policy in the neutral form, rendered for iptables (`ir` keeps the neutral form). */
export function compileHost(cluster: Cluster, hostName: string, opts: CompileOptions = {}): CompiledHost {
  return new PolicyCompiler(cluster, opts).compileHost(hostName);
}

export function compileHostIr(cluster: Cluster, hostName: string, opts: CompileOptions = {}): IrHost {
  return new PolicyCompiler(cluster, opts).compileHostIr(hostName);
}

/** What one policy contributes to a host in one direction: its chain, the sets its rules name, its naive rule count. */
export interface PolicyPiece { chain: IrChain; sets: IrSet[]; naive: number }

/** Keeps pieces between compilations (incremental.ts): answers a kept one, or makes it with `make`. */
export interface PieceCache {
  piece(pol: Policy, dir: Direction, targets: Pod[], onHost: boolean, make: () => PolicyPiece): PolicyPiece;
  /** An endpoint chain: its name says all it holds, so a kept one of that name is the same chain. */
  endpoint?(name: string, make: () => IrChain): IrChain;
}

/**
 * What a host's compilation asks of the cluster. PolicyCompiler works it out from one cluster; the
 * agent's IncrementalCompiler (incremental.ts) keeps it up to date as the cluster changes.
 */
export interface CompilerIndex {
  readonly markBit: number;
  readonly failsafe: Record<'inbound' | 'outbound', L4Match[] | undefined>;
  /** By id. */
  readonly sortedPolicies: Policy[];
  /** In address order. */
  readonly sortedPods: Pod[];
  /** The pods on `host`, in address order. */
  localPods(host: string): Pod[];
  /** The pods of `local` that `pol` applies to, in address order. */
  targetsOn(pol: Policy, local: Pod[]): Pod[];
  podsOf(peer: Extract<Peer, { kind: 'pods' }>): Pod[];
  podMatches(peer: Peer, p: Pod): boolean;
  ownerBlocks(peer: Extract<Peer, { kind: 'pods' }>): { owner: { tenant: string; segment?: string }; cidrs: Cidr[] } | null;
  ownerMasks(peer: Extract<Peer, { kind: 'pods' }>): MaskedMatch[] | null;
  readonly pieces?: PieceCache;
}

/** One host's compilation on an index (PolicyCompiler, or the incremental one). */
export function compileWith(index: CompilerIndex, hostName: string): IrHost {
  return new HostCompilation(index, hostName).run();
}

/**
 * Holds the cluster-wide indexes (pods by namespace, set memberships, block ownership) so that compiling
 * many hosts of one cluster does that work once. Immutable input; caches only.
 */
export class PolicyCompiler implements CompilerIndex {
  readonly markBit: number;
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private readonly podsByNs = new Map<string, Pod[]>();
  private readonly pods: Pod[];
  private readonly policies: Policy[];
  private readonly members = new Map<string, Pod[]>();
  private readonly ownerNets = new Map<string, Cidr[] | null>();
  private readonly ownerMaskCache = new Map<string, MaskedMatch[] | null>();
  private blockOfPod?: Map<Pod, number>;
  private readonly blocks: { c: Cidr; tenant: string; segment: string }[];
  private readonly cidrs = new Map<string, Cidr | undefined>();
  /** The fail-safe ports as one port match each side (undefined: none): inbound for ROMANA-INPUT, outbound for ROMANA-OUTPUT. */
  readonly failsafe: Record<'inbound' | 'outbound', L4Match[] | undefined>;

  constructor(readonly cluster: Cluster, opts: CompileOptions = {}) {
    const bit = opts.markBit ?? DEFAULT_MARK_BIT;
    if (!Number.isInteger(bit) || bit <= 0 || bit > 0x80000000 || (bit & (bit - 1)) !== 0) throw new Error('markBit must be a single bit');
    this.markBit = bit;
    // Never l4Of([]), which means "all traffic".
    const fs = (side: 'inbound' | 'outbound') => {
      const ports = (opts.failsafe?.[side] ?? DEFAULT_FAILSAFE[side]).map((p, i) => checkFailsafePort(p, `failsafe.${side}[${i}]`));
      return ports.length ? l4Of(ports) : undefined;
    };
    this.failsafe = { inbound: fs('inbound'), outbound: fs('outbound') };
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
    return renderIptables(this.compileHostIr(hostName));
  }

  compileHostIr(hostName: string): IrHost {
    return new HostCompilation(this, hostName).run();
  }

  // ---- shared helpers used by HostCompilation ----

  get sortedPolicies(): Policy[] { return this.policies; }
  get sortedPods(): Pod[] { return this.pods; }

  localPods(host: string): Pod[] {
    return this.pods.filter((p) => p.host === host);
  }

  targetsOn(pol: Policy, local: Pod[]): Pod[] {
    return local.filter((p) => pol.appliesTo.some((t) => this.targets(t, p)));
  }

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

  /**
   * A tenant or tenant+segment peer as masked address matches (one per layout network its members are
   * in), when they describe its members exactly: each member's address is in a layout network and
   * carries there the one tenant (and segment) ID of them all, and no other pod's, external's or host's
   * address matches. Else null. iptables and nftables take such a non-contiguous mask in one rule.
   */
  ownerMasks(peer: Extract<Peer, { kind: 'pods' }>): MaskedMatch[] | null {
    const owner = ownerOf(peer, this.cluster.segmentLabel);
    const nets = this.cluster.layoutNetworks ?? [];
    if (!owner || nets.length === 0) return null;
    const key = `${owner.tenant}\0${owner.segment ?? '\u0001'}`;
    let masks = this.ownerMaskCache.get(key);
    if (masks === undefined) {
      const others = [...this.cluster.externals.map((e) => e.ipNum), ...this.cluster.hosts.flatMap((h) => (h.ip ? [tryParseIp(h.ip)!] : []))];
      masks = exactMasks(owner.segment !== undefined, this.podsOf(peer), nets, this.pods, others);
      this.ownerMaskCache.set(key, masks);
    }
    return masks;
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

/** Port clauses (named ports excluded) as alternatives: per protocol, merged; undefined means all traffic. */
export function l4Of(ports: { protocol: RuleProtocol; port?: number; endPort?: number; icmpType?: number; icmpCode?: number }[]): L4Match[] | undefined {
  if (ports.length === 0 || ports.some((x) => x.protocol === 'ANY')) return undefined;
  const out: L4Match[] = [];
  for (const proto of ['TCP', 'UDP', 'SCTP', 'ICMP'] as const) {
    const list = ports.filter((x) => x.protocol === proto);
    if (list.length === 0) continue;
    if (proto === 'ICMP') {
      if (list.some((x) => x.icmpType === undefined)) { out.push({ proto: 'icmp' }); continue; }
      const types = [...new Set(list.map((x) => (x.icmpCode === undefined ? `${x.icmpType}` : `${x.icmpType}/${x.icmpCode}`)))];
      types.sort((a, b) => parseFloat(a) - parseFloat(b) || (a < b ? -1 : 1));
      for (const t of types) {
        const [type, code] = t.split('/').map(Number);
        out.push(code === undefined ? { proto: 'icmp', type } : { proto: 'icmp', type, code });
      }
      continue;
    }
    const p = proto.toLowerCase() as 'tcp' | 'udp' | 'sctp';
    if (list.some((x) => x.port === undefined)) { out.push({ proto: p }); continue; }
    out.push({ proto: p, ports: mergeRanges(list.map((x) => [x.port!, x.endPort ?? x.port!] as [number, number])) });
  }
  return out;
}

const portMatch = (proto: L4Protocol, port: number): L4Match[] => [{ proto: proto.toLowerCase() as 'tcp' | 'udp' | 'sctp', ports: [[port, port]] }];
const MARK = { kind: 'mark' } as const;
const rule = (match: IrRule['match'], verdict: IrRule['verdict'], counter?: string): IrRule => (counter ? { match, verdict, counter } : { match, verdict });
const CT_ESTABLISHED = rule({ ct: 'established' }, { kind: 'accept' });
const CT_INVALID = rule({ ct: 'invalid' }, { kind: 'drop' });
// Forwarded traffic: INVALID is dropped only to or from a local pod. A packet that merely crosses this
// host (a VPC route's target forwarding a reply to another member of its group, whose request took
// another path) was never seen by this host's conntrack; the destination host judges it.
const POD_IFACES = `${POD_IFACE_PREFIX}*`;
const CT_INVALID_PODS = [rule({ ct: 'invalid', oif: POD_IFACES }, { kind: 'drop' }), rule({ ct: 'invalid', iif: POD_IFACES }, { kind: 'drop' })];

class HostCompilation {
  private readonly chains = new Map<string, IrChain>();
  private readonly sets = new Map<string, IrSet>();
  private naive = 0;
  private readonly local: Pod[];
  /** The sets the piece being made names. */
  private pieceSets = new Map<string, IrSet>();

  constructor(private readonly c: CompilerIndex, private readonly host: string) {
    this.local = c.localPods(host);
  }

  run(): IrHost {
    const c = this.c;
    // Which policies select which local pods (and this host itself), per direction.
    const podPolicies = new Map<Pod, Record<Direction, Policy[]>>(this.local.map((p) => [p, { ingress: [], egress: [] }]));
    const hostPolicies: Record<Direction, Policy[]> = { ingress: [], egress: [] };
    for (const pol of c.sortedPolicies) {
      const targets = c.targetsOn(pol, this.local);
      const onHost = pol.appliesTo.some((t) => t.kind === 'host');
      if (targets.length === 0 && !onHost) continue; // selects nothing here: emits nothing
      for (const dir of ['ingress', 'egress'] as const) {
        if (!pol[dir]) continue;
        for (const p of targets) podPolicies.get(p)![dir].push(pol);
        if (onHost) hostPolicies[dir].push(pol);
        this.policyChain(pol, dir, targets, onHost);
      }
    }

    const dispatch: Record<Direction, IrMap> = {
      ingress: { name: 'ROMANA-INGRESS-MAP', entries: [], comment: 'local pods isolated for ingress, by destination' },
      egress: { name: 'ROMANA-EGRESS-MAP', entries: [], comment: 'local pods isolated for egress, by source' },
    };
    for (const p of this.local) {
      for (const dir of ['ingress', 'egress'] as const) {
        const pols = podPolicies.get(p)![dir];
        if (pols.length === 0) continue; // not isolated in this direction: its traffic passes
        dispatch[dir].entries.push({ ip: p.ip, chain: this.endpointChain(dir, pols) });
      }
    }
    const top = (name: string, rules: IrRule[], hook?: IrChain['hook']) => this.chains.set(name, { name, ...(hook ? { hook } : {}), rules });
    top('ROMANA-FORWARD', [CT_ESTABLISHED, ...CT_INVALID_PODS, rule({}, { kind: 'jump', chain: 'ROMANA-EGRESS' }), rule({}, { kind: 'jump', chain: 'ROMANA-INGRESS' })], 'forward');
    // Fail-safe ports come after the pods' egress check (they keep the operator and the control plane in,
    // they are no hole for isolated pods) and only when a host policy exists in that direction: without
    // one nothing here drops host traffic, and hosts without host policies keep their rules unchanged.
    const input = [CT_ESTABLISHED, CT_INVALID, rule({}, { kind: 'jump', chain: 'ROMANA-EGRESS' })];
    if (hostPolicies.ingress.length) {
      input.push(rule({ iif: 'lo' }, { kind: 'return' }));
      if (c.failsafe.inbound) input.push(rule({ l4: c.failsafe.inbound }, { kind: 'return' }));
      input.push(rule({}, { kind: 'jump', chain: this.endpointChain('ingress', hostPolicies.ingress) }));
    }
    top('ROMANA-INPUT', input, 'input');
    const output: IrRule[] = [];
    if (hostPolicies.egress.length) {
      output.push(CT_ESTABLISHED, rule({ oif: 'lo' }, { kind: 'return' }));
      if (c.failsafe.outbound) output.push(rule({ l4: c.failsafe.outbound }, { kind: 'return' }));
      output.push(rule({}, { kind: 'jump', chain: this.endpointChain('egress', hostPolicies.egress) }));
    }
    top('ROMANA-OUTPUT', output, 'output');
    top('ROMANA-EGRESS', dispatch.egress.entries.length ? [rule({}, { kind: 'vmap', key: 'src', map: dispatch.egress.name })] : []);
    top('ROMANA-INGRESS', dispatch.ingress.entries.length ? [rule({}, { kind: 'vmap', key: 'dst', map: dispatch.ingress.name })] : []);
    const maps = [dispatch.egress, dispatch.ingress].filter((m) => m.entries.length);

    const order = (n: string) => { const i = (TOP_CHAINS as readonly string[]).indexOf(n); return i >= 0 ? `0${i}` : n.startsWith('ROMANA-EP') ? `1${n}` : `2${n}`; };
    return {
      markBit: c.markBit,
      chains: [...this.chains.values()].map((ch) => ({ ch, k: order(ch.name) })).sort((a, b) => (a.k < b.k ? -1 : 1)).map((x) => x.ch),
      sets: [...this.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
      maps,
      naiveRules: this.naive,
    };
  }

  /** ROMANA-EP{I,E}-<hash of the policy list>: allowed if any policy chain sets the mark, else drop. */
  private endpointChain(dir: Direction, pols: Policy[]): string {
    const mark = `0x${this.c.markBit.toString(16)}`;
    const policyChains = pols.map((p) => policyChainName(p, dir));
    const name = `ROMANA-EP${dir === 'ingress' ? 'I' : 'E'}-${hashOf(`endpoint\0${dir}\0${mark}\0${policyChains.join('\0')}`)}`;
    if (this.chains.has(name)) return name;
    const make = (): IrChain => {
      const rules = [rule({}, { kind: 'unmark' })];
      // A policy's hits are counted here, where its verdict is taken (once per packet it allows), not in
      // its own chain: that chain is rewritten when the policy changes, and a rewrite would lose them.
      for (const pc of policyChains) rules.push(rule({}, { kind: 'jump', chain: pc }), rule({ marked: true }, { kind: 'return' }, pc));
      rules.push(rule({}, { kind: 'drop' }, name));
      return { name, comment: `${dir} of endpoints selected by ${pols.map((p) => p.id).join(', ')}`, rules };
    };
    // Its name is a hash of everything in it: a kept chain of that name is this chain.
    this.chains.set(name, this.c.pieces?.endpoint ? this.c.pieces.endpoint(name, make) : make());
    return name;
  }

  /** A policy's chain in one direction, with its sets: kept from an earlier compilation, or made. */
  private policyChain(pol: Policy, dir: Direction, targets: Pod[], onHost: boolean): void {
    const make = () => this.makePiece(pol, dir, targets, onHost);
    const piece = this.c.pieces ? this.c.pieces.piece(pol, dir, targets, onHost, make) : make();
    this.chains.set(piece.chain.name, piece.chain);
    for (const s of piece.sets) if (!this.sets.has(s.name)) this.sets.set(s.name, s);
    this.naive += piece.naive;
  }

  /** ROMANA-P{I,E}-<hash of the policy id>: one rule per peer × port clause, each setting the mark. */
  private makePiece(pol: Policy, dir: Direction, targets: Pod[], onHost: boolean): PolicyPiece {
    const c = this.c;
    const name = policyChainName(pol, dir);
    const rules: IrRule[] = [];
    const nTargets = targets.length + (onHost ? 1 : 0);
    this.pieceSets = new Map();
    let naive = 0;
    const side = dir === 'ingress' ? 'src' : 'dst';
    for (const r of pol[dir] ?? []) {
      const named = r.ports.filter((x) => x.name !== undefined);
      const plain = r.ports.filter((x) => x.name === undefined);
      const peerAddrs = r.peers.flatMap((peer) => this.peerAddrs(peer));
      const withPeer = (a: AddrMatch | 'any') => (a === 'any' ? {} : { [side]: a });
      // No port clause: all traffic; only named ones: nothing but the named rules below.
      if (r.ports.length === 0 || plain.length) {
        const l4 = r.ports.length === 0 ? undefined : l4Of(plain);
        for (const a of peerAddrs) rules.push(rule({ ...withPeer(a), ...(l4 ? { l4 } : {}) }, MARK));
      }

      for (const np of named) {
        const proto = np.protocol as L4Protocol;
        if (dir === 'ingress') {
          // Resolved per destination pod: group this host's targets by the port the name gives them.
          for (const [port, pods] of groupByNamedPort(targets, np.name!, proto)) {
            const set = this.set('ip', { t: 'named-target', policy: pol.id, name: np.name, protocol: proto, port }, pods.map((p) => p.ip), `${pol.id}: targets whose port '${np.name}' is ${port}/${proto}`);
            for (const a of peerAddrs) rules.push(rule({ ...withPeer(a), dst: { kind: 'set', set }, l4: portMatch(proto, port) }, MARK));
          }
        } else {
          // The destination is the peer: group the peer's pods by the port the name gives them.
          for (const peer of r.peers) {
            const members = peer.kind === 'pods' ? c.podsOf(peer) : c.sortedPods.filter((p) => c.podMatches(peer, p));
            for (const [port, group] of groupByNamedPort(members, np.name!, proto)) {
              const set = this.set('ip', { t: 'named-peer', peer: peerDefinition(peer), name: np.name, protocol: proto, port }, group.map((p) => p.ip), `peer pods whose port '${np.name}' is ${port}/${proto}`);
              rules.push(rule({ dst: { kind: 'set', set }, l4: portMatch(proto, port) }, MARK));
            }
          }
        }
      }
      // What a per-pod-pair expansion would need: every target × peer member × port clause.
      const peerCount = r.peers.reduce((n, peer) => n + (peer.kind === 'pods' ? c.podsOf(peer).length : 1), 0);
      naive += nTargets * peerCount * Math.max(1, r.ports.length);
    }
    return { chain: { name, comment: `policy ${pol.id} ${dir}`, policy: { id: pol.id, direction: dir }, rules }, sets: [...this.pieceSets.values()], naive };
  }

  /** The address matches for one peer, any of which admits ('any': no address match); none when it can match nothing. */
  private peerAddrs(peer: Peer): (AddrMatch | 'any')[] {
    switch (peer.kind) {
      case 'any': return ['any'];
      case 'host': return [{ kind: 'local' }];
      case 'cidr': {
        if (peer.ipv6) return [];
        const cidr = tryParseCidr(peer.cidr, false)!;
        if (peer.except.length === 0) return [cidr.prefix === 0 ? 'any' : { kind: 'cidr', cidr: peer.cidr }];
        const nets = subtractCidrs(cidr, peer.except.map((x) => tryParseCidr(x, false)!));
        return [{ kind: 'set', set: this.set('net', { t: 'cidr', cidr: peer.cidr, except: peer.except }, nets.map(formatCidr), `${peer.cidr} except ${peer.except.join(', ')}`) }];
      }
      case 'pods': {
        // A tenant or segment of layout networks: one masked address match per network, no set.
        const masks = this.c.ownerMasks(peer);
        if (masks) return masks.map((m) => ({ kind: 'masked', addr: formatIp(m.value), mask: formatIp(m.mask) }));
        const owned = this.c.ownerBlocks(peer);
        if (owned) return [{ kind: 'set', set: this.set('net', { t: 'owner', ...owned.owner }, owned.cidrs.map(formatCidr), `blocks of ${owned.owner.tenant}${owned.owner.segment !== undefined ? `:${owned.owner.segment}` : ''}`) }];
        // Asked every time: an incremental compiler records that this piece read the peer's members.
        const members = this.c.podsOf(peer);
        const def = () => setDefinition('ip', { t: 'pods', peer: peerDefinition(peer) });
        let name = podsSetNames.get(peer);
        if (name === undefined) podsSetNames.set(peer, (name = setName('ip', def())));
        const set = this.namedSet('ip', name, def, () => members.map((p) => p.ip), () => describePeer(peer));
        return [{ kind: 'set', set }];
      }
    }
  }

  private set(type: IrSet['type'], definition: object, entries: string[], comment: string): string {
    const def = setDefinition(type, definition);
    return this.namedSet(type, setName(type, def), () => def, () => entries, () => comment);
  }

  /** The set `name`; what is in it is worked out only when this compilation has not made it yet. */
  private namedSet(type: IrSet['type'], name: string, def: () => string, entries: () => string[], comment: () => string): string {
    // A set of this name is the same set wherever it is named (its definition says what is in it).
    let set = this.sets.get(name) ?? this.pieceSets.get(name);
    if (!set) {
      const sorted = [...new Set(entries())].sort((a, b) => (entryKey(a) < entryKey(b) ? -1 : 1));
      set = { name, type, entries: sorted, definition: def(), comment: comment() };
    }
    this.pieceSets.set(name, set);
    return name;
  }
}

/** The definition keeps the ipset type names it always had, so set names do not change. */
const setDefinition = (type: IrSet['type'], definition: object): string => canonicalJson({ type: type === 'ip' ? 'hash:ip' : 'hash:net', ...definition });
const setName = (type: IrSet['type'], def: string): string => `ROMANA-${type === 'ip' ? 'IP' : 'NET'}-${hash16(def)}`;

/**
 * The set name of each `pods` peer, by the peer: a policy keeps its peers while its text stays the same
 * (the agent's policy cache), so remaking a piece does not serialize and hash them again.
 */
const podsSetNames = new WeakMap<Peer, string>();

export const policyChainName = (pol: Policy, dir: Direction): string => `ROMANA-P${dir === 'ingress' ? 'I' : 'E'}-${hashOf(`policy\0${pol.id}`)}`;

/** hash16, remembered: chain names are asked for again and again (every pod's endpoint chain, every compilation). */
const hashes = new Map<string, string>();
function hashOf(text: string): string {
  let h = hashes.get(text);
  if (h === undefined) {
    if (hashes.size >= 50_000) hashes.clear();
    hashes.set(text, (h = hash16(text)));
  }
  return h;
}

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

/**
 * The layout masks that match exactly `members` among all `pods` and none of `others` (host and external
 * addresses), or null: members outside the layout, of two tenants (or segments), or masks that would
 * also match someone else.
 */
export function exactMasks(withSegment: boolean, members: Pod[], nets: LayoutNetwork[], pods: Pod[], others: number[]): MaskedMatch[] | null {
  if (members.length === 0) return null;
  const found = new Map<LayoutNetwork, MaskedMatch>();
  for (const p of members) {
    const net = nets.find((n) => cidrContainsIp(n.cidr, p.ipNum));
    if (!net) return null;
    const ids = decodeAddress(net, p.ipNum);
    if (ids.tenant === 0 || (withSegment && ids.segment === 0)) return null; // no layout address
    const m = ownerMatch(net, ids.tenant, withSegment ? ids.segment : undefined);
    if ((found.get(net)?.value ?? m.value) !== m.value) return null; // members of two tenants (or segments)
    found.set(net, m);
  }
  const masks = [...found.values()];
  const hit = (ip: number) => masks.some((m) => matchesMasked(m, ip));
  const memberSet = new Set(members);
  if (pods.some((p) => hit(p.ipNum) !== memberSet.has(p))) return null;
  return others.some(hit) ? null : masks;
}
