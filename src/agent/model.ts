// The agent's copy of the store, and the cluster it describes (what the policy compiler and the route
// manager need), kept up to date key by key. Pure.
//
// Endpoints: every address record is an endpoint. Its pod identity is attributes.namespace (else the
// tenant) / attributes.pod (else the address name); its labels and ports come from the pod metadata
// record of that identity when there is one, and the segment label is set to the address's segment
// unless the metadata says otherwise. Local endpoints get a /32 route to their host-side interface,
// attributes.host_ifname as the CNI plugin records it.
//
// Each record is parsed once per value, and each derived object (pod, endpoint, namespace, block,
// policy) is made again only when its sources change, so an unchanged one keeps its identity. The
// lists of the cluster are rebuilt only for the kinds of record that changed; a list whose kind did
// not change keeps its identity. Whoever compares by identity (the incremental compiler) sees exactly
// what changed.
import { type LayoutNetwork } from '../core/ipam/address-layout.js';
import { tryParseCidr, tryParseIp } from '../core/net/ipv4.js';
import type { Block, Cluster, Host, Namespace, Pod } from '../core/policy/cluster.js';
import { DEFAULT_SEGMENT_LABEL, NAMESPACE_NAME_LABEL, type L4Protocol, type Policy } from '../core/policy/model.js';
import { normalizePolicy } from '../core/policy/normalize-object.js';
import { ADDRESSES, BLOCKS, HOSTS, NAMESPACES, PODS, POLICIES, TOPOLOGY, podKey } from '../control/keys.js';
import type { NamespaceRecord, PodRecord } from '../control/metadata.js';
import type { PolicyRecord } from '../control/policies.js';
import type { AddressRecord, HostRecord } from '../control/records.js';
import { type LayoutView, layoutView } from './layout.js';

export interface Endpoint { name: string; ip: string; host: string; namespace: string; pod: string; ifname?: string }

/** Normalized policies by their stored JSON text, so that an unchanged policy is not normalized again. */
export type PolicyCache = Map<string, Policy | { error: string }>;

export interface ClusterView {
  cluster: Cluster;
  endpoints: Endpoint[];
  layout: LayoutView;
  /** Host records with a valid address. */
  hostRecords: HostRecord[];
  problems: string[];
}

// Interface names go into `ip -batch` lines and /proc paths: accept only what the kernel accepts and
// nothing that could split a line or climb a path.
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

type Kind = 'hosts' | 'addresses' | 'pods' | 'blocks' | 'namespaces' | 'policies' | 'topology';
const KINDS: [string, Kind][] = [[HOSTS, 'hosts'], [ADDRESSES, 'addresses'], [PODS, 'pods'], [BLOCKS, 'blocks'], [NAMESPACES, 'namespaces'], [POLICIES, 'policies']];
const kindOf = (key: string): Kind | undefined => (key === TOPOLOGY ? 'topology' : KINDS.find(([p]) => key.startsWith(p))?.[1]);

/** A parsed record, kept while its value stays the same. */
interface Parsed<T> { value: string; rec?: T; bad?: string }

/** An address's endpoint and pod, kept while the address's and its pod record's texts stay the same. */
interface PodMemo { addr: string; metaKey: string; meta: string | undefined; ipNum: number; pod: Pod; endpoint: Endpoint; problems: string[]; seen: number }

export class ClusterModel {
  /** Every key under /romana/ and its value. */
  readonly values = new Map<string, string>();
  private readonly keysOf = new Map<Kind, Set<string>>(KINDS.map(([, k]) => [k, new Set<string>()]));
  private readonly parsed = new Map<string, Parsed<unknown>>();
  private dirty = new Set<Kind>(['hosts', 'addresses', 'pods', 'blocks', 'namespaces', 'policies', 'topology']);
  private readonly segmentLabel: string;
  private readonly policyCache: PolicyCache;
  private readonly podMemo = new Map<string, PodMemo>();
  /** Which address's memo last took each IP (in the view numbered `seen`): duplicates without a map per view. */
  private readonly ipOwner = new Map<number, PodMemo>();
  private views = 0;
  private readonly nsMemo = new Map<string, Namespace>();
  private addressOrder?: string[];
  private last?: {
    namespaces: Namespace[]; pods: Pod[]; endpoints: Endpoint[]; blocks: Block[]; policies: Policy[]; hosts: Host[]; hostRecords: HostRecord[];
    layout: LayoutView; problems: Record<'addresses' | 'blocks' | 'policies' | 'hosts' | 'namespaces' | 'layout', string[]>; cluster: Cluster;
  };

  constructor(opts: { segmentLabel?: string; policyCache?: PolicyCache } = {}) {
    this.segmentLabel = opts.segmentLabel ?? DEFAULT_SEGMENT_LABEL;
    this.policyCache = opts.policyCache ?? new Map();
  }

  /** Replaces everything with a listing. */
  reset(snapshot: Iterable<[string, string]>): this {
    this.addressOrder = undefined; // sorted again once, not kept in order key by key
    // Memos outlive a relist: the pods that did not change keep their identity (the compiler sees no change).
    const memos = new Map(this.podMemo);
    for (const k of [...this.values.keys()]) this.delete(k);
    for (const [k, m] of memos) this.podMemo.set(k, m);
    for (const [k, v] of snapshot) this.set(k, v);
    for (const k of memos.keys()) if (!this.values.has(k)) this.dropMemo(k);
    return this;
  }

  set(key: string, value: string): void {
    if (this.values.get(key) === value) return;
    const kind = kindOf(key);
    if (kind === 'addresses' && this.addressOrder) this.placeAddress(this.addressOrder, key, value);
    this.values.set(key, value);
    if (kind && kind !== 'topology') this.keysOf.get(kind)!.add(key);
    if (kind) this.dirty.add(kind);
  }

  delete(key: string): void {
    if (!this.values.delete(key)) return;
    const kind = kindOf(key);
    if (kind === 'addresses' && this.addressOrder) {
      const i = this.addressOrder.indexOf(key);
      if (i >= 0) this.addressOrder.splice(i, 1);
    }
    if (kind === 'addresses') this.dropMemo(key);
    if (kind && kind !== 'topology') this.keysOf.get(kind)!.delete(key);
    this.parsed.delete(key);
    if (kind) this.dirty.add(kind);
  }

  /** Nothing changed since the last view. */
  get clean(): boolean {
    return this.dirty.size === 0 && this.last !== undefined;
  }

  view(): ClusterView {
    const d = this.dirty;
    const last = this.last;
    const problems = last ? { ...last.problems } : { addresses: [], blocks: [], policies: [], hosts: [], namespaces: [], layout: [] };
    const hostsChanged = !last || d.has('hosts');
    let hosts = last?.hosts, hostRecords = last?.hostRecords;
    if (hostsChanged) {
      problems.hosts = [];
      const recs = this.records<HostRecord>('hosts', problems.hosts);
      hostRecords = recs.filter((h) => tryParseIp(h.ip) !== undefined);
      hosts = recs.map((h) => (tryParseIp(h.ip) !== undefined ? { name: h.name, ip: h.ip } : { name: h.name }));
      if (last && sameHosts(hosts, last.hosts)) hosts = last.hosts;
    }
    let namespaces = last?.namespaces, pods = last?.pods, endpoints = last?.endpoints;
    if (!last || d.has('addresses') || d.has('pods') || d.has('namespaces')) {
      problems.namespaces = [];
      problems.addresses = [];
      ({ namespaces, pods, endpoints } = this.endpoints(problems.namespaces, problems.addresses));
      if (last && sameList(namespaces, last.namespaces)) namespaces = last.namespaces;
      if (last && sameList(pods, last.pods)) pods = last.pods;
      if (last && sameList(endpoints, last.endpoints)) endpoints = last.endpoints;
    }
    let blocks = last?.blocks;
    if (!last || d.has('blocks')) {
      problems.blocks = [];
      blocks = this.records<Block & { host: string }>('blocks', problems.blocks).filter((b) => {
        if (tryParseCidr(b.cidr, false)) return true;
        problems.blocks.push(`block ${b.cidr} of host ${b.host}: not a CIDR`);
        return false;
      });
    }
    let policies = last?.policies;
    if (!last || d.has('policies')) {
      problems.policies = [];
      policies = [];
      for (const key of sortedKeys(this.keysOf.get('policies')!)) {
        const p = this.policy(key, this.values.get(key)!);
        if ('error' in p) problems.policies.push(`${key}: ${p.error}`);
        else policies.push(p);
      }
    }
    let layout = last?.layout;
    if (!last || d.has('topology') || hostsChanged) {
      problems.layout = [];
      layout = layoutView(this.values, hostRecords!, problems.layout);
      if (last && JSON.stringify(layout) === JSON.stringify(last.layout)) layout = last.layout;
    }
    const layoutNetworks: LayoutNetwork[] | undefined = layout!.networks.length ? layout!.networks : undefined;
    let cluster = last?.cluster;
    if (!last || namespaces !== last.namespaces || pods !== last.pods || policies !== last.policies || blocks !== last.blocks || hosts !== last.hosts || layout !== last.layout) {
      cluster = {
        namespaces: namespaces!, pods: pods!, externals: last?.cluster.externals ?? [], policies: policies!,
        blocks: blocks!, hosts: hosts!, segmentLabel: this.segmentLabel, ...(layoutNetworks ? { layoutNetworks } : {}),
      };
    }
    this.dirty = new Set();
    this.last = { namespaces: namespaces!, pods: pods!, endpoints: endpoints!, blocks: blocks!, policies: policies!, hosts: hosts!, hostRecords: hostRecords!, layout: layout!, problems, cluster: cluster! };
    return {
      cluster: cluster!, endpoints: endpoints!, layout: layout!, hostRecords: hostRecords!,
      problems: [...problems.hosts, ...problems.namespaces, ...problems.addresses, ...problems.blocks, ...problems.policies, ...problems.layout],
    };
  }

  // ---- parts ----

  /** The parsed records of one kind, in key order (bad JSON is a problem, and skipped). */
  private records<T>(kind: Kind, problems: string[]): T[] {
    const out: T[] = [];
    for (const key of sortedKeys(this.keysOf.get(kind)!)) {
      const p = this.parse<T>(key);
      if (p.rec !== undefined) out.push(p.rec);
      else problems.push(`${key}: not JSON`);
    }
    return out;
  }

  private parse<T>(key: string): Parsed<T> {
    const value = this.values.get(key)!;
    let p = this.parsed.get(key) as Parsed<T> | undefined;
    if (p?.value !== value) {
      try {
        p = { value, rec: JSON.parse(value) as T };
      } catch {
        p = { value, bad: 'not JSON' };
      }
      this.parsed.set(key, p);
    }
    return p;
  }

  private policy(key: string, value: string): Policy | { error: string } {
    let got = this.policyCache.get(value);
    if (!got) {
      try {
        got = normalizePolicy((JSON.parse(value) as PolicyRecord).object, { segmentLabel: this.segmentLabel });
      } catch (e) {
        got = { error: (e as Error).message };
      }
      // The cache holds what the store holds now (and what it just held): older texts go.
      if (this.policyCache.size > 2 * this.keysOf.get('policies')!.size + 64) {
        const live = new Set([...this.keysOf.get('policies')!].map((k) => this.values.get(k)));
        for (const k of this.policyCache.keys()) if (!live.has(k)) this.policyCache.delete(k);
      }
      this.policyCache.set(value, got);
    }
    void key;
    return got;
  }

  /** Namespaces, pods and endpoints, from namespace records, addresses (by name) and pod metadata. */
  private endpoints(nsProblems: string[], problems: string[]): { namespaces: Namespace[]; pods: Pod[]; endpoints: Endpoint[] } {
    const nsLabels = new Map<string, Record<string, string>>();
    for (const n of this.records<NamespaceRecord>('namespaces', nsProblems)) if (!nsLabels.has(n.name)) nsLabels.set(n.name, n.labels ?? {});
    const order = this.addressOrder ??= this.sortedAddresses();
    const pods: Pod[] = [];
    const endpoints: Endpoint[] = [];
    const view = ++this.views;
    for (const key of order) {
      // Addresses and pod records are parsed only when their text changed: their memo holds what they say.
      const m = this.memoOf(key, problems);
      if (!m) continue;
      const other = this.ipOwner.get(m.ipNum);
      if (other && other.seen === view) {
        problems.push(`address ${m.endpoint.name}: ${m.pod.ip} is also the address of ${other.endpoint.name}`);
        continue;
      }
      m.seen = view;
      this.ipOwner.set(m.ipNum, m);
      problems.push(...m.problems);
      if (!nsLabels.has(m.pod.namespace)) nsLabels.set(m.pod.namespace, {});
      pods.push(m.pod);
      endpoints.push(m.endpoint);
    }
    const namespaces = [...nsLabels].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, labels]) => this.namespace(name, labels));
    return { namespaces, pods, endpoints };
  }

  /** An address's name (the order of endpoints), from its memo while that is current. */
  private addressName(key: string, value = this.values.get(key)!): string {
    const m = this.podMemo.get(key);
    return m && m.addr === value ? m.endpoint.name : parseText<AddressRecord>(value)?.name ?? '';
  }

  /** Keeps the order of addresses (by name, then key) as one is added or changed, without sorting them all again. */
  private placeAddress(order: string[], key: string, value: string): void {
    const name = this.addressName(key, value);
    const old = this.values.get(key);
    if (old !== undefined) {
      if (this.addressName(key, old) !== name) this.addressOrder = undefined;
      return;
    }
    let lo = 0, hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1, k = order[mid], n = this.addressName(k);
      if (n < name || (n === name && k < key)) lo = mid + 1; else hi = mid;
    }
    order.splice(lo, 0, key);
  }

  private sortedAddresses(): string[] {
    const names = new Map<string, string>();
    for (const key of this.keysOf.get('addresses')!) names.set(key, this.addressName(key));
    return [...names.keys()].sort((x, y) => {
      const a = names.get(x)!, b = names.get(y)!;
      return a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0;
    });
  }

  /** The endpoint of one address key, kept while its texts stay the same; undefined (and a problem) when it has none. */
  private memoOf(key: string, problems: string[]): PodMemo | undefined {
    const addr = this.values.get(key)!;
    const kept = this.podMemo.get(key);
    if (kept && kept.addr === addr && kept.meta === this.values.get(kept.metaKey)) return kept;
    const a = parseText<AddressRecord>(addr);
    if (!a) {
      problems.push(`${key}: not JSON`);
      return undefined;
    }
    const ipNum = tryParseIp(a.ip);
    if (ipNum === undefined) {
      problems.push(`address ${a.name}: '${a.ip}' is not an IPv4 address`);
      return undefined;
    }
    return this.pod(key, addr, a, ipNum);
  }

  private pod(key: string, addr: string, a: AddressRecord, ipNum: number): PodMemo {
    const attrs = a.attributes ?? {};
    const namespace = attrs.namespace || a.tenant;
    const name = attrs.pod || a.name;
    const mk = podKey(namespace, name);
    const meta = this.values.get(mk);
    const problems: string[] = [];
    let rec: PodRecord | undefined;
    if (meta !== undefined) {
      rec = parseText<PodRecord>(meta);
      if (!rec) problems.push(`${mk}: not JSON`);
    }
    const labels: Record<string, string> = { ...(rec?.labels ?? {}) };
    if (labels[this.segmentLabel] === undefined) labels[this.segmentLabel] = a.segment;
    const ports = (rec?.ports ?? []).map((x) => ({ ...(x.name ? { name: x.name } : {}), port: x.port, protocol: x.protocol as L4Protocol }));
    const pod: Pod = { key: `${namespace}/${name}`, namespace, name, labels, ip: a.ip, ipNum, host: a.host, ports };
    let ifname: string | undefined = attrs.host_ifname;
    if (ifname !== undefined && !IFNAME.test(ifname)) {
      problems.push(`address ${a.name}: host_ifname '${ifname}' is not an interface name`);
      ifname = undefined;
    }
    const endpoint: Endpoint = { name: a.name, ip: a.ip, host: a.host, namespace, pod: name, ...(ifname ? { ifname } : {}) };
    const m: PodMemo = { addr, metaKey: mk, meta, ipNum, pod, endpoint, problems, seen: 0 };
    this.dropMemo(key);
    this.podMemo.set(key, m);
    return m;
  }

  /** Forgets an address's memo (it went, or its texts changed), and its claim on its IP. */
  private dropMemo(key: string): void {
    const m = this.podMemo.get(key);
    if (!m) return;
    this.podMemo.delete(key);
    if (this.ipOwner.get(m.ipNum) === m) this.ipOwner.delete(m.ipNum);
  }

  private namespace(name: string, labels: Record<string, string>): Namespace {
    const want = { ...labels, [NAMESPACE_NAME_LABEL]: name };
    const kept = this.nsMemo.get(name);
    if (kept && sameLabels(kept.labels, want)) return kept;
    const ns = { name, labels: want };
    this.nsMemo.set(name, ns);
    return ns;
  }
}

/** A record's text parsed, not kept (addresses and pod records live on in their memos); undefined when not JSON. */
function parseText<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function sortedKeys(keys: Set<string>): string[] {
  return [...keys].sort();
}

const sameList = <T>(a: T[], b: T[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameHosts = (a: Host[], b: Host[]) => a.length === b.length && a.every((x, i) => x.name === b[i].name && x.ip === b[i].ip);
function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k, i) => k === Object.keys(b)[i] && a[k] === b[k]);
}
