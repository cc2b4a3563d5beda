// What romanad should hold for each Kubernetes object: pure functions from the API server's objects
// (as plain JSON) to romanad's records. No I/O here; the reconciler compares these with what romanad
// holds and writes the difference.
import { RP_API_VERSION, RP_EXTERNAL_ID_PREFIX } from './crd.js';

export type KObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Hosts the listener made carry this label, so that it removes only its own when their node goes. */
export const MANAGED_LABEL = 'romana.io/managed-by';
export const MANAGED_VALUE = 'romana-listener';
export const RACK_LABEL = 'rack';

export interface HostWant { name: string; ip: string; labels: Record<string, string> }
export interface PodPort { name?: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }
export interface PodWant { namespace: string; name: string; labels: Record<string, string>; ports: PodPort[]; host?: string; ip?: string; uid?: string }

export const keyOfObj = (o: KObj) => (o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name) as string;

/**
 * A node's host: its name, its InternalIP, and its labels (so topology groups can select by zone or
 * rack). The node's value of `rackLabel` is also given as `rack`, the label topology documents use.
 * Undefined (with the reason) when the node has no InternalIP yet.
 */
export function hostOfNode(node: KObj, rackLabel?: string): HostWant | { skip: string } {
  const ip = ((node.status?.addresses ?? []) as KObj[]).find((a) => a.type === 'InternalIP' && /^\d{1,3}(\.\d{1,3}){3}$/.test(a.address))?.address;
  if (!ip) return { skip: 'the node has no IPv4 InternalIP address yet' };
  const labels: Record<string, string> = { ...(node.metadata?.labels ?? {}) };
  if (rackLabel && labels[rackLabel] !== undefined) labels[RACK_LABEL] = labels[rackLabel];
  labels[MANAGED_LABEL] = MANAGED_VALUE;
  return { name: node.metadata.name, ip, labels };
}

/** A namespace's tenant record: its labels (the API server already adds kubernetes.io/metadata.name). */
export const tenantOfNamespace = (ns: KObj) => ({ name: ns.metadata.name as string, labels: { ...(ns.metadata?.labels ?? {}) } as Record<string, string> });

/** Pods on the host's network have no address of their own (romana-cni never attaches them). */
export const isHostNetwork = (pod: KObj) => pod.spec?.hostNetwork === true;

/** A pod's metadata: labels, named container ports, and what Kubernetes knows of its node, address and UID. */
export function metadataOfPod(pod: KObj): PodWant {
  const ports: PodPort[] = [];
  for (const c of (pod.spec?.containers ?? []) as KObj[]) {
    for (const p of (c.ports ?? []) as KObj[]) {
      if (!Number.isInteger(p.containerPort)) continue;
      ports.push({ ...(p.name ? { name: p.name } : {}), port: p.containerPort, protocol: (p.protocol ?? 'TCP') as PodPort['protocol'] });
    }
  }
  const ip = pod.status?.podIP;
  return {
    namespace: pod.metadata.namespace, name: pod.metadata.name, labels: { ...(pod.metadata?.labels ?? {}) }, ports,
    ...(pod.spec?.nodeName ? { host: pod.spec.nodeName } : {}),
    ...(typeof ip === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? { ip } : {}),
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
  };
}

/** The NetworkPolicy as romanad stores it: its spec and the identity of the object, no server bookkeeping. */
export function policyOfNetworkPolicy(np: KObj): KObj {
  const m = np.metadata ?? {};
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: { name: m.name, namespace: m.namespace, ...(m.uid ? { uid: m.uid } : {}), ...(m.labels && Object.keys(m.labels).length ? { labels: m.labels } : {}) },
    spec: np.spec ?? {},
  };
}

/** The Romana policy of a RomanaPolicy custom resource: its name is the id; external_id marks it as the listener's. */
export function policyOfRomanaPolicy(rp: KObj): KObj {
  return { id: rp.metadata.name, external_id: `${RP_EXTERNAL_ID_PREFIX}${rp.metadata.name}`, ...(rp.spec ?? {}) };
}

export const isOwnRomanaPolicy = (stored: KObj) => typeof stored.external_id === 'string' && stored.external_id.startsWith(RP_EXTERNAL_ID_PREFIX);
export const RP_APIVERSION = RP_API_VERSION;

/** Deep equality of JSON values, ignoring key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => sameJson(x, (b as unknown[])[i]));
  const ka = Object.keys(a).filter((k) => (a as KObj)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as KObj)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson((a as KObj)[k], (b as KObj)[k]));
}
