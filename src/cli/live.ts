// `policy simulate --live`: the cluster as romanad has it now (namespaces, pods with their labels and
// ports, the addresses the CNI plugin gave them, the stored policies, networks, blocks and hosts), in
// the cluster file's shape, so the offline simulator answers for the live state without an export.
import { Type } from '@sinclair/typebox';
import { AddressList, BlockList, HostList, NetworkList, PolicyList } from '../control/records.js';
import type { ApiClient } from './client.js';

const NamespaceList = Type.Object({ namespaces: Type.Array(Type.Object({ name: Type.String(), labels: Type.Record(Type.String(), Type.String()) })) });
const PodList = Type.Object({
  pods: Type.Array(Type.Object({
    namespace: Type.String(), name: Type.String(), labels: Type.Record(Type.String(), Type.String()),
    ports: Type.Array(Type.Object({ name: Type.Optional(Type.String()), port: Type.Integer(), protocol: Type.String() })),
  })),
});

export interface LiveCluster {
  cluster: Record<string, unknown>;
  /** Pods romanad knows without an address (no endpoint yet): they cannot be probed. */
  withoutAddress: string[];
}

export async function liveCluster(client: ApiClient): Promise<LiveCluster> {
  const [ns, pods, addrs, pols, nets, blocks, hosts] = await Promise.all([
    client.fetch('/namespaces', NamespaceList), client.fetch('/pods', PodList), client.fetch('/addresses', AddressList),
    client.fetch('/policies', PolicyList), client.fetch('/networks', NetworkList), client.fetch('/blocks', BlockList), client.fetch('/hosts', HostList),
  ]);
  // The CNI plugin records each pod's namespace and name with its address.
  const addressOf = new Map<string, { ip: string; host: string }>();
  for (const a of addrs.addresses) {
    const at = a.attributes;
    if (at?.namespace && at.pod) addressOf.set(`${at.namespace}/${at.pod}`, { ip: a.ip, host: a.host });
  }
  const namespaces = new Map(ns.namespaces.map((n) => [n.name, n]));
  const withoutAddress: string[] = [];
  const podList = pods.pods.flatMap((p) => {
    const a = addressOf.get(`${p.namespace}/${p.name}`);
    if (!a) {
      withoutAddress.push(`${p.namespace}/${p.name}`);
      return [];
    }
    if (!namespaces.has(p.namespace)) namespaces.set(p.namespace, { name: p.namespace, labels: {} });
    return [{ namespace: p.namespace, name: p.name, labels: p.labels, ip: a.ip, host: a.host, ports: p.ports }];
  });
  return {
    cluster: {
      namespaces: [...namespaces.values()], pods: podList, externals: [], policies: pols.policies.map((p) => p.object),
      networks: nets.networks, blocks: blocks.blocks.map((b) => ({ cidr: b.cidr, host: b.host, tenant: b.tenant, segment: b.segment })),
      hosts: hosts.hosts.map((h) => ({ name: h.name, ip: h.ip })),
    },
    withoutAddress,
  };
}
