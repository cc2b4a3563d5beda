// The cluster file: a cluster described offline (for simulate/explain, the compiler's tests and the lab).
//
//   namespaces: [{name, labels}]
//   pods:       [{namespace, name, labels, ip, host?, ports: [{name?, port, protocol}]}]
//   externals:  [{name, ip}]            # outside the cluster, addressed as ext/<name>
//   policies:   [NetworkPolicy or Romana policy objects]
//   blocks:     [{cidr, host?, tenant, segment?}]   # optional IPAM blocks (as GET /blocks lists them), for the compiler
//   hosts:      [{name, ip?}]                       # optional
//   networks:   [{name, cidr, layout?, ...}]        # optional (as GET /networks lists them): layout networks
//                                                   # let the compiler match a tenant or segment in one rule
import { invalid } from '../errors.js';
import { type LayoutNetwork, checkLayout } from '../ipam/address-layout.js';
import { cidrsOverlap, formatIp, tryParseIp, type Cidr } from '../net/ipv4.js';
import { at, describe, dnsLabel, dnsSubdomain, fail, int, isObj, isPortName, labels, obj, onlyKeys, optArr, str } from './fields.js';
import { strictCidr } from './kubernetes.js';
import { DEFAULT_SEGMENT_LABEL, NAMESPACE_NAME_LABEL, type L4Protocol, type NormalizeOptions, type Policy } from './model.js';
import { normalizeAll, parseDocuments } from './normalize.js';

export interface Namespace { name: string; labels: Record<string, string> }
export interface PodPort { name?: string; port: number; protocol: L4Protocol }
export interface Pod {
  key: string; // "namespace/name"
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  ipNum: number;
  host?: string;
  ports: PodPort[];
}
export interface External { key: string; name: string; ip: string; ipNum: number } // key "ext/<name>"
export interface Block { cidr: string; host?: string; tenant: string; segment: string }
export interface Host { name: string; ip?: string }

export interface Cluster {
  namespaces: Namespace[];
  pods: Pod[];
  externals: External[];
  policies: Policy[];
  blocks: Block[];
  hosts: Host[];
  /** Pod label whose value is the Romana segment. */
  segmentLabel: string;
  /** Networks with Romana's host/tenant/segment layout (their addresses carry tenant and segment IDs). */
  layoutNetworks?: LayoutNetwork[];
}

export type Endpoint = ({ type: 'pod' } & Pod) | ({ type: 'external' } & External);

/** Parses and validates a cluster file (YAML or JSON text, or an already parsed object). */
export function parseCluster(input: string | unknown, opts: NormalizeOptions = {}): Cluster {
  let o: unknown = input;
  if (typeof input === 'string') {
    const docs = parseDocuments(input, 'cluster file').filter((d) => d !== null && d !== undefined);
    if (docs.length !== 1) throw invalid(`cluster file: expected one document, found ${docs.length}`);
    o = docs[0];
  }
  if (!isObj(o)) throw invalid(`cluster file: must be an object with namespaces, pods, externals and policies, got ${describe(o)}`);
  onlyKeys(o, '', ['namespaces', 'pods', 'externals', 'policies', 'blocks', 'hosts', 'networks']);
  const segmentLabel = opts.segmentLabel ?? DEFAULT_SEGMENT_LABEL;

  const namespaces: Namespace[] = [];
  const nsByName = new Map<string, Namespace>();
  optArr(o.namespaces, 'namespaces').forEach((n, i) => {
    const p = `namespaces[${i}]`;
    const no = obj(n, p);
    onlyKeys(no, p, ['name', 'labels']);
    const name = dnsLabel(no.name, at(p, 'name'));
    if (nsByName.has(name)) fail(at(p, 'name'), `namespace '${name}' is listed twice`);
    const l = labels(no.labels, at(p, 'labels'));
    if (l[NAMESPACE_NAME_LABEL] !== undefined && l[NAMESPACE_NAME_LABEL] !== name) {
      fail(at(at(p, 'labels'), NAMESPACE_NAME_LABEL), `must equal the namespace name '${name}'`);
    }
    l[NAMESPACE_NAME_LABEL] = name; // every namespace carries it implicitly
    const ns = { name, labels: sortKeys(l) };
    nsByName.set(name, ns);
    namespaces.push(ns);
  });

  const byIp = new Map<number, string>();
  const claimIp = (v: unknown, path: string, who: string): number => {
    const s = str(v, path);
    const ip = tryParseIp(s);
    if (ip === undefined) fail(path, `'${s}' is not an IPv4 address`);
    const prev = byIp.get(ip);
    if (prev) fail(path, `${s} is already the address of ${prev}`);
    byIp.set(ip, who);
    return ip;
  };

  const pods: Pod[] = [];
  const podKeys = new Set<string>();
  optArr(o.pods, 'pods').forEach((v, i) => {
    const p = `pods[${i}]`;
    const po = obj(v, p);
    onlyKeys(po, p, ['namespace', 'name', 'labels', 'ip', 'host', 'ports']);
    const namespace = dnsLabel(po.namespace, at(p, 'namespace'));
    if (!nsByName.has(namespace)) fail(at(p, 'namespace'), `namespace '${namespace}' is not listed in namespaces`);
    const name = dnsSubdomain(po.name, at(p, 'name'));
    const key = `${namespace}/${name}`;
    if (podKeys.has(key)) fail(at(p, 'name'), `pod ${key} is listed twice`);
    podKeys.add(key);
    const ipNum = claimIp(po.ip, at(p, 'ip'), `pod ${key}`);
    const host = po.host === undefined || po.host === null ? undefined : str(po.host, at(p, 'host'));
    const ports: PodPort[] = [];
    optArr(po.ports, at(p, 'ports')).forEach((pv, j) => {
      const pp = at(at(p, 'ports'), j);
      const ppo = obj(pv, pp);
      onlyKeys(ppo, pp, ['name', 'port', 'protocol']);
      const port = int(ppo.port, at(pp, 'port'), 1, 65535);
      // Only a string may be upper-cased: String() of an object whose toString is not a function throws.
      const protocol = (ppo.protocol === undefined ? 'TCP' : typeof ppo.protocol === 'string' ? ppo.protocol.toUpperCase() : '') as L4Protocol;
      if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) fail(at(pp, 'protocol'), `must be TCP, UDP or SCTP, got ${describe(ppo.protocol)}`);
      let pname: string | undefined;
      if (ppo.name !== undefined && ppo.name !== null) {
        pname = str(ppo.name, at(pp, 'name'));
        if (!isPortName(pname)) fail(at(pp, 'name'), `'${pname}' is not a valid port name (at most 15 of a-z, 0-9 and '-', with a letter)`);
        if (ports.some((x) => x.name === pname)) fail(at(pp, 'name'), `port name '${pname}' is used twice in pod ${key}`);
      }
      if (ports.some((x) => x.port === port && x.protocol === protocol)) fail(pp, `${port}/${protocol} is listed twice in pod ${key}`);
      ports.push(pname === undefined ? { port, protocol } : { name: pname, port, protocol });
    });
    pods.push({ key, namespace, name, labels: sortKeys(labels(po.labels, at(p, 'labels'))), ip: formatIp(ipNum), ipNum, host, ports });
  });

  const externals: External[] = [];
  optArr(o.externals, 'externals').forEach((v, i) => {
    const p = `externals[${i}]`;
    const eo = obj(v, p);
    onlyKeys(eo, p, ['name', 'ip']);
    const name = dnsSubdomain(eo.name, at(p, 'name'));
    const key = `ext/${name}`;
    if (externals.some((e) => e.name === name)) fail(at(p, 'name'), `external '${name}' is listed twice`);
    if (podKeys.has(key)) fail(at(p, 'name'), `'${key}' is also the name of a pod (namespace 'ext')`);
    const ipNum = claimIp(eo.ip, at(p, 'ip'), `external ${key}`);
    externals.push({ key, name, ip: formatIp(ipNum), ipNum });
  });

  const blocks: Block[] = [];
  const cidrs: { c: Cidr; i: number }[] = [];
  optArr(o.blocks, 'blocks').forEach((v, i) => {
    const p = `blocks[${i}]`;
    const bo = obj(v, p);
    onlyKeys(bo, p, ['cidr', 'host', 'tenant', 'segment', 'network', 'allocated_ip_count']); // GET /blocks records fit as they are
    cidrs.push({ c: strictCidr(bo.cidr, at(p, 'cidr')), i });
    blocks.push({
      cidr: bo.cidr as string,
      host: bo.host === undefined || bo.host === null ? undefined : str(bo.host, at(p, 'host')),
      tenant: str(bo.tenant, at(p, 'tenant')),
      segment: bo.segment === undefined || bo.segment === null ? '' : segmentOf(bo.segment, at(p, 'segment')),
    });
  });

  // CIDRs either nest or are disjoint: sorted by start, each must begin after the previous one's end.
  cidrs.sort((a, b) => a.c.base - b.c.base || a.c.prefix - b.c.prefix);
  for (let k = 1; k < cidrs.length; k++) {
    const [prev, cur] = [cidrs[k - 1], cidrs[k]];
    if (cidrsOverlap(prev.c, cur.c)) {
      const [first, second] = prev.i < cur.i ? [prev, cur] : [cur, prev];
      fail(`blocks[${second.i}].cidr`, `overlaps blocks[${first.i}]`);
    }
  }

  const hosts: Host[] = optArr(o.hosts, 'hosts').map((v, i) => {
    const p = `hosts[${i}]`;
    const ho = obj(v, p);
    onlyKeys(ho, p, ['name', 'ip', 'labels']);
    const name = str(ho.name, at(p, 'name'));
    const ip = ho.ip === undefined ? undefined : formatIp(claimIp(ho.ip, at(p, 'ip'), `host ${name}`));
    return ip === undefined ? { name } : { name, ip };
  });

  const layoutNetworks: LayoutNetwork[] = [];
  optArr(o.networks, 'networks').forEach((v, i) => {
    const p = `networks[${i}]`;
    const no = obj(v, p);
    onlyKeys(no, p, ['name', 'cidr', 'layout', 'block_mask', 'tenants']); // GET /networks records fit as they are
    const name = str(no.name, at(p, 'name'));
    const cidr = strictCidr(no.cidr, at(p, 'cidr'));
    if (no.layout === undefined || no.layout === null) return;
    const lo = obj(no.layout, at(p, 'layout'));
    onlyKeys(lo, at(p, 'layout'), ['host_bits', 'tenant_bits', 'segment_bits', 'endpoint_bits']);
    const w = (k: string) => int(lo[k], at(at(p, 'layout'), k), 1, 29);
    const layout = checkLayout({ host_bits: w('host_bits'), tenant_bits: w('tenant_bits'), segment_bits: w('segment_bits'), endpoint_bits: w('endpoint_bits') }, cidr.prefix, at(p, 'layout'));
    if (layoutNetworks.some((n) => cidrsOverlap(n.cidr, cidr))) fail(at(p, 'cidr'), 'overlaps another layout network');
    layoutNetworks.push({ name, cidr, layout });
  });

  const policies = normalizeAll(optArr(o.policies, 'policies'), 'policies', { segmentLabel });
  return { namespaces, pods, externals, policies, blocks, hosts, segmentLabel, ...(layoutNetworks.length ? { layoutNetworks } : {}) };
}

function segmentOf(v: unknown, path: string): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  fail(path, `must be a string, got ${describe(v)}`);
}

function sortKeys(l: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(l).sort()) out[k] = l[k];
  return out;
}

/** Looks an endpoint up by its key: "namespace/name" for a pod, "ext/<name>" for an external. */
export function endpointByKey(c: Cluster, key: string): Endpoint | undefined {
  if (key.startsWith('ext/')) {
    const e = c.externals.find((x) => x.key === key);
    if (e) return { type: 'external', ...e };
  }
  const p = c.pods.find((x) => x.key === key);
  return p ? { type: 'pod', ...p } : undefined;
}
