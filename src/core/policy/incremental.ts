// The policy compiler of one host, kept between compilations (the agent's): a change costs what it
// touches, not what exists. Pure.
//
// It answers what the compiler asks (compile.ts, CompilerIndex) from indexes it updates by difference:
//   - the members of each selector (a `pods` peer or target), updated for the pods that changed and
//     for the pods of namespaces whose labels changed;
//   - the owners' blocks and masks that stand for a tenant (and segment), recomputed only for the
//     tenants a changed pod, block or host can affect;
//   - each policy's targets on this host.
// Each policy's chain (with the sets its rules name) is kept together with what it read of these
// indexes; it is made again only when one of those answers changed. Answers keep their identity while
// their content does not change, so "changed" is an identity check.
//
// compileHost (compile.ts) stays the reference: for any sequence of clusters, compile() equals it
// (test/policy/incremental.test.ts checks that property).
import type { MaskedMatch } from '../ipam/address-layout.js';
import { type Cidr, cidrContainsIp, tryParseCidr, tryParseIp } from '../net/ipv4.js';
import type { Cluster, Pod } from './cluster.js';
import {
  type CompileOptions, type CompilerIndex, type PieceCache, type PolicyPiece, PolicyCompiler, compileWith, exactMasks, ownerOf,
} from './compile.js';
import type { IrChain } from './ir.js';
import { canonicalJson, peerDefinition, type Direction, type Peer, type Policy } from './model.js';
import { renderIptables, type CompiledHost } from './render-iptables.js';
import { matchesSelector } from './selector.js';

type PodsPeer = Extract<Peer, { kind: 'pods' }>;
type OwnerBlocks = { owner: { tenant: string; segment?: string }; cidrs: Cidr[] } | null;

/** One answer a kept piece read, and what it was. */
type Dep =
  | { kind: 'podsOf'; peer: PodsPeer; result: Pod[] }
  | { kind: 'ownerBlocks'; peer: PodsPeer; result: OwnerBlocks }
  | { kind: 'ownerMasks'; peer: PodsPeer; result: MaskedMatch[] | null }
  | { kind: 'sortedPods'; result: Pod[] };

/** Each kept thing remembers the last compilation that used it (`seen`); the others are dropped after it. */
interface Members { peer: PodsPeer; pods: Pod[]; set: Set<Pod>; seen: number }
interface KeptPiece { pol: Policy; targets: Pod[]; onHost: boolean; piece: PolicyPiece; deps: Dep[]; seen: number }
interface KeptTargets { pol: Policy; local: Pod[]; deps: Dep[]; targets: Pod[]; seen: number }

const byIp = (a: Pod, b: Pod) => a.ipNum - b.ipNum;
const sameList = <T>(a: T[], b: T[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export class IncrementalCompiler implements CompilerIndex, PieceCache {
  readonly markBit: number;
  readonly failsafe: CompilerIndex['failsafe'];
  readonly pieces: PieceCache = this;
  private cluster?: Cluster;
  private pods: Pod[] = [];
  private byIpNum = new Map<number, Pod>();
  private podsByNs = new Map<string, Pod[]>();
  private local: Pod[] = [];
  private policies: Policy[] = [];
  private nsLabels = new Map<string, Record<string, string>>();
  private blocks: { c: Cidr; tenant: string; segment: string }[] = [];
  private podsInBlock: number[] = [];
  private blockOf = new Map<Pod, number>();
  private others: number[] = [];
  private layoutKey = '';
  private readonly defKeys = new WeakMap<Peer, string>();
  private readonly members = new Map<string, Members>();
  private readonly ownerBlockMemo = new Map<string, OwnerBlocks>();
  private readonly ownerMaskMemo = new Map<string, MaskedMatch[] | null>();
  private readonly pieceMemo = new Map<string, KeptPiece>();
  private readonly targetMemo = new Map<string, KeptTargets>();
  private readonly endpointMemo = new Map<string, { chain: IrChain; seen: number }>();
  private recording: Dep[] | undefined;
  private generation = 0;
  private owners = new WeakMap<Peer, { tenant: string; segment?: string; key: string } | null>();

  constructor(readonly host: string, opts: CompileOptions = {}) {
    // The options are checked and turned into matches exactly as a one-off compilation does.
    const ref = new PolicyCompiler({ namespaces: [], pods: [], externals: [], policies: [], blocks: [], hosts: [], segmentLabel: '' }, opts);
    this.markBit = ref.markBit;
    this.failsafe = ref.failsafe;
  }

  /** This host's compiled policy for `cluster`, reusing what the previous clusters' compilations found. */
  compile(cluster: Cluster): CompiledHost {
    this.update(cluster);
    const gen = ++this.generation;
    const ir = compileWith(this, this.host);
    for (const memo of [this.members, this.pieceMemo, this.targetMemo, this.endpointMemo] as Map<string, { seen: number }>[]) {
      for (const [k, v] of memo) if (v.seen !== gen) memo.delete(k);
    }
    return renderIptables(ir);
  }

  // ---- CompilerIndex ----

  get sortedPolicies(): Policy[] { return this.policies; }
  get sortedPods(): Pod[] {
    this.recording?.push({ kind: 'sortedPods', result: this.pods });
    return this.pods;
  }

  localPods(host: string): Pod[] {
    return host === this.host ? this.local : this.pods.filter((p) => p.host === host);
  }

  targetsOn(pol: Policy, local: Pod[]): Pod[] {
    const kept = this.targetMemo.get(pol.id);
    if (kept) kept.seen = this.generation;
    if (kept && kept.pol === pol && kept.local === local && this.valid(kept.deps)) return kept.targets;
    const deps: Dep[] = [];
    const sets = new Map<Peer, Set<Pod>>();
    for (const t of pol.appliesTo) {
      if (t.kind !== 'pods') continue;
      const m = this.membersOf(t);
      deps.push({ kind: 'podsOf', peer: t, result: m.pods });
      sets.set(t, m.set);
    }
    // On this host, with selectors only: the members here (a selector's members are few; local pods many).
    let targets = local === this.local && pol.appliesTo.every((t) => t.kind === 'pods')
      ? this.membersHere([...sets.values()])
      : local.filter((p) => pol.appliesTo.some((t) => (t.kind === 'pods' ? sets.get(t)!.has(p) : this.targets(t, p))));
    if (kept && sameList(kept.targets, targets)) targets = kept.targets;
    this.targetMemo.set(pol.id, { pol, local, deps, targets, seen: this.generation });
    return targets;
  }

  /** The pods of these address-ordered sets that live on this host, once each, in address order. */
  private membersHere(sets: Set<Pod>[]): Pod[] {
    const here = sets.length === 1 ? [...sets[0]].filter((p) => p.host === this.host)
      : [...new Set(sets.flatMap((x) => [...x]))].filter((p) => p.host === this.host).sort(byIp);
    return here;
  }

  podsOf(peer: PodsPeer): Pod[] {
    const pods = this.membersOf(peer).pods;
    this.recording?.push({ kind: 'podsOf', peer, result: pods });
    return pods;
  }

  podMatches(peer: Peer, p: Pod): boolean {
    switch (peer.kind) {
      case 'any': return true;
      case 'host': return false;
      case 'cidr': return !peer.ipv6 && inCidr(peer.cidr, p.ipNum) && !peer.except.some((x) => inCidr(x, p.ipNum));
      case 'pods':
        if (peer.namespace !== undefined && peer.namespace !== p.namespace) return false;
        if (peer.namespaceSelector && !matchesSelector(peer.namespaceSelector, this.nsLabels.get(p.namespace) ?? {})) return false;
        return matchesSelector(peer.podSelector, p.labels);
    }
  }

  targets(t: Peer, p: Pod): boolean {
    if (t.kind === 'cidr') return !t.ipv6 && inCidr(t.cidr, p.ipNum);
    return this.podMatches(t, p);
  }

  ownerBlocks(peer: PodsPeer): OwnerBlocks {
    const result = this.ownerBlocksOf(peer);
    this.recording?.push({ kind: 'ownerBlocks', peer, result });
    return result;
  }

  ownerMasks(peer: PodsPeer): MaskedMatch[] | null {
    const result = this.ownerMasksOf(peer);
    this.recording?.push({ kind: 'ownerMasks', peer, result });
    return result;
  }

  // ---- PieceCache ----

  piece(pol: Policy, dir: Direction, targets: Pod[], onHost: boolean, make: () => PolicyPiece): PolicyPiece {
    const key = `${pol.id}\0${dir}`;
    const kept = this.pieceMemo.get(key);
    if (kept) kept.seen = this.generation;
    if (kept && kept.pol === pol && kept.targets === targets && kept.onHost === onHost && this.valid(kept.deps)) return kept.piece;
    const deps: Dep[] = [];
    const outer = this.recording;
    this.recording = deps;
    let piece: PolicyPiece;
    try {
      piece = make();
    } finally {
      this.recording = outer;
    }
    // A piece made again because what it read changed (often only a set's members) mostly renders the
    // same chain and sets: hand back the kept objects then, so nothing downstream renders them again.
    if (kept && sameValue(piece.chain, kept.piece.chain)) piece = { ...piece, chain: kept.piece.chain };
    if (kept) {
      const before = new Map(kept.piece.sets.map((x) => [x.name, x]));
      const sets = piece.sets.map((x) => {
        const k = before.get(x.name);
        return k && k !== x && sameValue(x, k) ? k : x;
      });
      if (!sameList(sets, piece.sets)) piece = { ...piece, sets };
    }
    this.pieceMemo.set(key, { pol, targets, onHost, piece, deps, seen: this.generation });
    return piece;
  }

  endpoint(name: string, make: () => IrChain): IrChain {
    let kept = this.endpointMemo.get(name);
    if (!kept) this.endpointMemo.set(name, (kept = { chain: make(), seen: 0 }));
    kept.seen = this.generation;
    return kept.chain;
  }

  // ---- answers, kept while their content stays the same ----

  private valid(deps: Dep[]): boolean {
    for (const d of deps) {
      const now = d.kind === 'podsOf' ? this.membersOf(d.peer).pods : d.kind === 'ownerBlocks' ? this.ownerBlocksOf(d.peer)
        : d.kind === 'ownerMasks' ? this.ownerMasksOf(d.peer) : this.pods;
      if (now !== d.result) return false;
    }
    return true;
  }

  private defKey(peer: PodsPeer): string {
    let k = this.defKeys.get(peer);
    if (k === undefined) this.defKeys.set(peer, (k = canonicalJson(peerDefinition(peer))));
    return k;
  }

  private membersOf(peer: PodsPeer): Members {
    const key = this.defKey(peer);
    let m = this.members.get(key);
    if (!m) {
      const pool = peer.namespace !== undefined ? this.podsByNs.get(peer.namespace) ?? [] : this.pods;
      const pods = pool.filter((p) => this.podMatches(peer, p));
      m = { peer, pods, set: new Set(pods), seen: 0 };
      this.members.set(key, m);
    }
    m.seen = this.generation;
    return m;
  }

  /** The owner a peer stands for, and its memo key (segmentLabel is fixed while this is kept). */
  private ownerKey(peer: PodsPeer): { tenant: string; segment?: string; key: string } | null {
    let o = this.owners.get(peer);
    if (o === undefined) {
      const owner = ownerOf(peer, this.cluster!.segmentLabel);
      o = owner ? { ...owner, key: `${owner.tenant}\0${owner.segment ?? '\u0001'}` } : null;
      this.owners.set(peer, o);
    }
    return o;
  }

  private ownerBlocksOf(peer: PodsPeer): OwnerBlocks {
    const o = this.ownerKey(peer);
    if (!o || this.blocks.length === 0) return null;
    const { key } = o;
    const owner = o.segment === undefined ? { tenant: o.tenant } : { tenant: o.tenant, segment: o.segment };
    if (this.ownerBlockMemo.has(key)) return this.ownerBlockMemo.get(key)!;
    // As PolicyCompiler.ownerBlocks: exact when every member is in one of the owner's blocks, no other
    // pod is, and no host or external address is.
    const mine: number[] = [];
    this.blocks.forEach((b, i) => {
      if (b.tenant === owner.tenant && (owner.segment === undefined || b.segment === owner.segment)) mine.push(i);
    });
    const idx = new Set(mine);
    const members = this.membersOf(peer).pods;
    const inside = mine.reduce((n, i) => n + this.podsInBlock[i], 0);
    const exact = mine.length > 0 && members.every((p) => idx.has(this.blockOf.get(p) ?? -1)) && inside === members.length &&
      !this.others.some((ip) => mine.some((i) => cidrContainsIp(this.blocks[i].c, ip)));
    const result = exact ? { owner, cidrs: mine.map((i) => this.blocks[i].c) } : null;
    this.ownerBlockMemo.set(key, result);
    return result;
  }

  private ownerMasksOf(peer: PodsPeer): MaskedMatch[] | null {
    const owner = this.ownerKey(peer);
    const nets = this.cluster!.layoutNetworks ?? [];
    if (!owner || nets.length === 0) return null;
    const key = owner.key;
    if (this.ownerMaskMemo.has(key)) return this.ownerMaskMemo.get(key)!;
    const result = exactMasks(owner.segment !== undefined, this.membersOf(peer).pods, nets, this.pods, this.others);
    this.ownerMaskMemo.set(key, result);
    return result;
  }

  // ---- taking in a new cluster ----

  private update(c: Cluster): void {
    const prev = this.cluster;
    this.cluster = c;
    const layoutKey = JSON.stringify(c.layoutNetworks ?? []);
    if (!prev || prev.segmentLabel !== c.segmentLabel || layoutKey !== this.layoutKey) {
      // What every answer depends on changed: start from nothing.
      this.layoutKey = layoutKey;
      this.owners = new WeakMap();
      this.members.clear();
      this.ownerBlockMemo.clear();
      this.ownerMaskMemo.clear();
      this.pieceMemo.clear();
      this.targetMemo.clear();
      this.endpointMemo.clear();
      this.byIpNum.clear();
      this.nsLabels.clear();
      this.pods = []; // every pod is taken in again below (and counted into its block once)
      this.setBlocks(c);
      this.setOthers(c);
      this.setNamespaces(c, []);
      this.setPods(c, true);
      this.setPolicies(c);
      return;
    }
    // Pods of namespaces whose labels changed are looked at again, as if they had changed.
    const relabelled: string[] = [];
    if (prev.namespaces !== c.namespaces) this.setNamespaces(c, relabelled);
    if (prev.blocks !== c.blocks) this.setBlocks(c);
    if (prev.hosts !== c.hosts || prev.externals !== c.externals) this.setOthers(c);
    if (prev.pods !== c.pods || relabelled.length) this.setPods(c, false, relabelled);
    if (prev.policies !== c.policies) this.setPolicies(c);
  }

  private setNamespaces(c: Cluster, relabelled: string[]): void {
    const next = new Map(c.namespaces.map((n) => [n.name, n.labels]));
    for (const name of new Set([...next.keys(), ...this.nsLabels.keys()])) {
      const a = this.nsLabels.get(name);
      const b = next.get(name);
      if (a === b) continue;
      if (a && b && canonicalJson(a) === canonicalJson(b)) {
        next.set(name, a);
        continue;
      }
      relabelled.push(name);
    }
    this.nsLabels = next;
  }

  private setBlocks(c: Cluster): void {
    this.blocks = c.blocks.map((b) => ({ c: tryParseCidr(b.cidr, false)!, tenant: b.tenant, segment: b.segment })).sort((a, b) => a.c.base - b.c.base);
    this.blockOf.clear();
    this.podsInBlock = this.blocks.map(() => 0);
    for (const p of this.pods) this.placeInBlock(p, +1);
    this.ownerBlockMemo.clear();
  }

  private setOthers(c: Cluster): void {
    this.others = [...c.externals.map((e) => e.ipNum), ...c.hosts.flatMap((h) => (h.ip ? [tryParseIp(h.ip)!] : []))];
    this.ownerBlockMemo.clear();
    this.ownerMaskMemo.clear();
  }

  private setPolicies(c: Cluster): void {
    this.policies = [...c.policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The block a pod's address lies in (blocks do not overlap), with its count of pods. */
  private placeInBlock(p: Pod, delta: 1 | -1): void {
    if (delta < 0) {
      const i = this.blockOf.get(p);
      if (i !== undefined) this.podsInBlock[i]--;
      this.blockOf.delete(p);
      return;
    }
    let lo = 0, hi = this.blocks.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.blocks[mid].c.base <= p.ipNum) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found >= 0 && cidrContainsIp(this.blocks[found].c, p.ipNum)) {
      this.blockOf.set(p, found);
      this.podsInBlock[found]++;
    }
  }

  /** Takes in the cluster's pods: what changed updates memberships, block counts and owners. */
  private setPods(c: Cluster, fresh: boolean, relabelled: string[] = []): void {
    const changes: [Pod | undefined, Pod | undefined][] = [];
    const next = new Map<number, Pod>();
    for (const p of c.pods) next.set(p.ipNum, p);
    for (const [ip, p] of next) {
      const o = this.byIpNum.get(ip);
      if (o !== p) changes.push([o, p]);
    }
    for (const [ip, o] of this.byIpNum) if (!next.has(ip)) changes.push([o, undefined]);
    const moved = new Set(relabelled);
    if (moved.size) for (const p of c.pods) if (moved.has(p.namespace) && this.byIpNum.get(p.ipNum) === p) changes.push([p, p]);
    if (changes.length === 0 && !fresh) return;
    this.byIpNum = next;
    if (changes.length || fresh) {
      this.pods = [...c.pods].sort(byIp);
      this.podsByNs = new Map();
      for (const p of this.pods) {
        const l = this.podsByNs.get(p.namespace);
        if (l) l.push(p);
        else this.podsByNs.set(p.namespace, [p]);
      }
      const local = this.pods.filter((p) => p.host === this.host);
      if (!sameList(local, this.local)) this.local = local;
    }
    const tenants = new Set<string>();
    for (const [o, n] of changes) {
      if (o) {
        tenants.add(o.namespace);
        const i = this.blockOf.get(o);
        if (i !== undefined) tenants.add(this.blocks[i].tenant);
        if (o !== n) this.placeInBlock(o, -1);
      }
      if (n) {
        if (o !== n) this.placeInBlock(n, +1);
        tenants.add(n.namespace);
        const i = this.blockOf.get(n);
        if (i !== undefined) tenants.add(this.blocks[i].tenant);
      }
    }
    // Memberships: each changed pod leaves the selectors it was in and joins those it matches now.
    for (const m of this.members.values()) {
      let pods: Pod[] | undefined;
      for (const [o, n] of changes) {
        const was = o !== undefined && m.set.has(o);
        const is = n !== undefined && this.podMatches(m.peer, n);
        if (!was && !is) continue;
        pods ??= [...m.pods];
        if (was) pods.splice(pods.indexOf(o!), 1);
        if (is) pods.splice(insertAt(pods, n!), 0, n!);
      }
      if (pods && !sameList(pods, m.pods)) {
        m.pods = pods;
        m.set = new Set(pods);
      }
    }
    for (const k of this.ownerBlockMemo.keys()) if (tenants.has(k.slice(0, k.indexOf('\0')))) this.ownerBlockMemo.delete(k);
    // A layout owner's exactness looks at every pod's address: any change may move it.
    if (changes.length) this.ownerMaskMemo.clear();
  }
}

/** Deep equality of plain data (what the IR is made of), without allocating. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (!Object.prototype.hasOwnProperty.call(x, k)) continue;
    n++;
    if (!Object.prototype.hasOwnProperty.call(y, k) || !sameValue(x[k], y[k])) return false;
  }
  for (const k in y) if (Object.prototype.hasOwnProperty.call(y, k)) n--;
  return n === 0;
}

/** Where a pod goes in an address-ordered list. */
function insertAt(pods: Pod[], p: Pod): number {
  let lo = 0, hi = pods.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pods[mid].ipNum < p.ipNum) lo = mid + 1; else hi = mid;
  }
  return lo;
}

const cidrCache = new Map<string, Cidr | undefined>();
function inCidr(cidr: string, ip: number): boolean {
  let c = cidrCache.get(cidr);
  if (!cidrCache.has(cidr)) {
    if (cidrCache.size > 10_000) cidrCache.clear();
    cidrCache.set(cidr, (c = tryParseCidr(cidr, false)));
  }
  return c !== undefined && cidrContainsIp(c, ip);
}

