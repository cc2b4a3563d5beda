// Kubernetes NetworkPolicy (networking.k8s.io/v1) → the internal model, validated as the API server does.
import { tryParseCidr, cidrContains, formatCidr } from '../net/ipv4.js';
import { at, arr, describe, dnsLabel, dnsSubdomain, fail, int, isPortName, obj, onlyKeys, type Obj } from './fields.js';
import type { L4Protocol, Peer, Policy, PortMatch, Rule } from './model.js';
import { parseSelector } from './selector.js';

export const NETWORK_POLICY_API_VERSION = 'networking.k8s.io/v1';

/** The namespace a NetworkPolicy without metadata.namespace lands in (as kubectl's default context does). */
export const DEFAULT_NAMESPACE = 'default';

export function fromNetworkPolicy(o: Obj): Policy {
  onlyKeys(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  if (o.apiVersion !== NETWORK_POLICY_API_VERSION) {
    fail('apiVersion', `must be '${NETWORK_POLICY_API_VERSION}' for a NetworkPolicy, got ${describe(o.apiVersion)}`);
  }
  const meta = obj(o.metadata, 'metadata'); // any other metadata (labels, uid, ...) is carried along untouched
  const name = dnsSubdomain(meta.name, 'metadata.name');
  const namespace = meta.namespace === undefined || meta.namespace === null ? DEFAULT_NAMESPACE : dnsLabel(meta.namespace, 'metadata.namespace');
  const spec = obj(o.spec, 'spec');
  onlyKeys(spec, 'spec', ['podSelector', 'policyTypes', 'ingress', 'egress']);
  const podSelector = parseSelector(spec.podSelector, 'spec.podSelector');

  const ingressRaw = spec.ingress === undefined || spec.ingress === null ? [] : arr(spec.ingress, 'spec.ingress');
  const egressRaw = spec.egress === undefined || spec.egress === null ? [] : arr(spec.egress, 'spec.egress');
  const ingress = ingressRaw.map((r, i) => rule(r, `spec.ingress[${i}]`, 'from', namespace));
  const egress = egressRaw.map((r, i) => rule(r, `spec.egress[${i}]`, 'to', namespace));

  // policyTypes defaulting, exactly as the API server does it: when absent (or empty), "Ingress", plus
  // "Egress" when the policy has at least one egress rule.
  let types: string[];
  if (spec.policyTypes === undefined || spec.policyTypes === null || (Array.isArray(spec.policyTypes) && spec.policyTypes.length === 0)) {
    types = egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  } else {
    types = arr(spec.policyTypes, 'spec.policyTypes').map((t, i) => {
      if (t !== 'Ingress' && t !== 'Egress') fail(`spec.policyTypes[${i}]`, `must be 'Ingress' or 'Egress', got ${describe(t)}`);
      return t;
    });
    if (new Set(types).size !== types.length) fail('spec.policyTypes', 'must not repeat a type');
  }

  const object = structuredClone(o);
  (object.metadata as Obj).namespace = namespace;
  return {
    id: `${namespace}/${name}`,
    kind: 'NetworkPolicy',
    name,
    namespace,
    appliesTo: [{ kind: 'pods', namespace, podSelector, path: 'spec.podSelector' }],
    ingress: types.includes('Ingress') ? ingress : undefined,
    egress: types.includes('Egress') ? egress : undefined,
    object,
  };
}

function rule(v: unknown, path: string, peersKey: 'from' | 'to', namespace: string): Rule {
  const o = obj(v, path);
  onlyKeys(o, path, [peersKey, 'ports']);
  const peersRaw = o[peersKey] === undefined || o[peersKey] === null ? [] : arr(o[peersKey], at(path, peersKey));
  const portsRaw = o.ports === undefined || o.ports === null ? [] : arr(o.ports, at(path, 'ports'));
  // An empty or missing peer list matches every peer; an empty or missing port list every port.
  const peers = peersRaw.length === 0 ? [{ kind: 'any' } as Peer] : peersRaw.map((p, j) => peer(p, at(at(path, peersKey), j), namespace));
  const ports = portsRaw.map((p, k) => port(p, at(at(path, 'ports'), k)));
  return { peers, ports, path };
}

function peer(v: unknown, path: string, namespace: string): Peer {
  const o = obj(v, path);
  onlyKeys(o, path, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const has = (k: string) => o[k] !== undefined && o[k] !== null;
  if (has('ipBlock')) {
    if (has('podSelector') || has('namespaceSelector')) fail(path, 'ipBlock cannot be combined with podSelector or namespaceSelector');
    return ipBlock(o.ipBlock, at(path, 'ipBlock'), path);
  }
  if (!has('podSelector') && !has('namespaceSelector')) fail(path, 'must specify podSelector, namespaceSelector or ipBlock');
  const podSelector = parseSelector(o.podSelector, at(path, 'podSelector'));
  // A podSelector alone selects pods in the policy's own namespace; with a namespaceSelector both must match.
  if (!has('namespaceSelector')) return { kind: 'pods', namespace, podSelector, path };
  return { kind: 'pods', namespaceSelector: parseSelector(o.namespaceSelector, at(path, 'namespaceSelector')), podSelector, path };
}

const V6_CIDR = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\/(\d{1,3})$/;

function ipBlock(v: unknown, path: string, peerPath: string): Peer {
  const o = obj(v, path);
  onlyKeys(o, path, ['cidr', 'except']);
  const cidrPath = at(path, 'cidr');
  if (typeof o.cidr !== 'string') fail(cidrPath, `must be a CIDR string, got ${describe(o.cidr)}`);
  const exceptRaw = o.except === undefined || o.except === null ? [] : arr(o.except, at(path, 'except'));
  const v6 = V6_CIDR.exec(o.cidr);
  if (v6) {
    if (Number(v6[1]) > 128) fail(cidrPath, `'${o.cidr}' has a prefix longer than 128`);
    exceptRaw.forEach((e, i) => {
      if (typeof e !== 'string' || !V6_CIDR.test(e)) fail(at(at(path, 'except'), i), `must be an IPv6 CIDR inside ${o.cidr}`);
    });
    return { kind: 'cidr', cidr: o.cidr, except: exceptRaw as string[], ipv6: true, path: peerPath };
  }
  const c = strictCidr(o.cidr, cidrPath);
  const except = exceptRaw.map((e, i) => {
    const p = at(at(path, 'except'), i);
    const x = strictCidr(e, p);
    if (!(cidrContains(c, x) && x.prefix > c.prefix)) fail(p, `'${formatCidr(x)}' must be strictly inside cidr ${formatCidr(c)}`);
    return formatCidr(x);
  });
  return { kind: 'cidr', cidr: formatCidr(c), except: [...new Set(except)].sort(), path: peerPath };
}

export function strictCidr(v: unknown, path: string) {
  if (typeof v !== 'string') fail(path, `must be a CIDR string, got ${describe(v)}`);
  const loose = tryParseCidr(v, false);
  if (!loose) fail(path, `'${v}' is not a CIDR (a.b.c.d/n)`);
  if (!tryParseCidr(v, true)) fail(path, `'${v}' has host bits set (did you mean ${formatCidr(loose)}?)`);
  return loose;
}

function port(v: unknown, path: string): PortMatch {
  const o = obj(v, path);
  onlyKeys(o, path, ['protocol', 'port', 'endPort']);
  let protocol: L4Protocol = 'TCP';
  if (o.protocol !== undefined && o.protocol !== null) {
    if (o.protocol !== 'TCP' && o.protocol !== 'UDP' && o.protocol !== 'SCTP') {
      fail(at(path, 'protocol'), `must be TCP, UDP or SCTP, got ${describe(o.protocol)}`);
    }
    protocol = o.protocol;
  }
  const out: PortMatch = { protocol, path };
  if (typeof o.port === 'string') {
    if (/^\d+$/.test(o.port)) fail(at(path, 'port'), `'${o.port}' is a string; write the number ${o.port} without quotes, or use a port name`);
    if (!isPortName(o.port)) fail(at(path, 'port'), `'${o.port}' is not a valid port name (at most 15 of a-z, 0-9 and '-', with at least one letter)`);
    out.name = o.port;
  } else if (o.port !== undefined && o.port !== null) {
    out.port = int(o.port, at(path, 'port'), 1, 65535);
  }
  if (o.endPort !== undefined && o.endPort !== null) {
    if (out.port === undefined) fail(at(path, 'endPort'), 'requires a numeric port');
    out.endPort = int(o.endPort, at(path, 'endPort'), out.port, 65535);
  }
  return out;
}
