// Discovery documents: /api, /apis, /api/v1, /apis/GROUP and /apis/GROUP/VERSION, in the classic form
// and in aggregated discovery (apidiscovery.k8s.io/v2), which kubectl asks for first.
import { type ResourceDef, VERBS, gvOf } from './resources.js';

export const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const wantsAggregated = (accept: string | undefined) => /g=apidiscovery\.k8s\.io;\s*v=v2;\s*as=APIGroupDiscoveryList/.test(accept ?? '');

export function groups(defs: ResourceDef[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of defs) {
    const vs = out.get(d.group) ?? [];
    if (!vs.includes(d.version)) vs.push(d.version);
    out.set(d.group, vs);
  }
  return out;
}

export function apiVersions(address: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
}

const gv = (group: string, version: string) => ({ groupVersion: group ? `${group}/${version}` : version, version });

function apiGroup(name: string, versions: string[]) {
  return { name, versions: versions.map((v) => gv(name, v)), preferredVersion: gv(name, versions[0]) };
}

export function apiGroupList(defs: ResourceDef[]) {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups(defs)].filter(([g]) => g !== '').map(([g, vs]) => apiGroup(g, vs)) };
}

export function apiGroupDoc(defs: ResourceDef[], group: string) {
  const vs = groups(defs).get(group);
  return vs ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, vs) } : undefined;
}

export function resourceList(defs: ResourceDef[], group: string, version: string) {
  const mine = defs.filter((d) => d.group === group && d.version === version);
  if (!mine.length) return undefined;
  const resources = mine.flatMap((d) => [
    {
      name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: VERBS,
      ...(d.shortNames.length ? { shortNames: d.shortNames } : {}), ...(d.categories.length ? { categories: d.categories } : {}),
    },
    ...(d.status ? [{ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gvOf({ group, version }), resources };
}

/** The aggregated discovery of the core group (`/api`) or of all the others (`/apis`). */
export function aggregated(defs: ResourceDef[], core: boolean) {
  const items = [...groups(defs)].filter(([g]) => (g === '') === core).map(([g, vs]) => ({
    metadata: { name: g, creationTimestamp: null },
    versions: vs.map((v) => ({
      version: v,
      freshness: 'Current',
      resources: defs.filter((d) => d.group === g && d.version === v).map((d) => ({
        resource: d.resource, responseKind: { group: g, version: v, kind: d.kind }, scope: d.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: d.singular, verbs: VERBS,
        ...(d.shortNames.length ? { shortNames: d.shortNames } : {}), ...(d.categories.length ? { categories: d.categories } : {}),
        ...(d.status ? { subresources: [{ subresource: 'status', responseKind: { group: g, version: v, kind: d.kind }, verbs: ['get', 'patch', 'update'] }] } : {}),
      })),
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}
