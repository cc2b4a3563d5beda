// The schemas of the built-in kinds, built from @kubernetes/client-node's generated models (which are
// generated from Kubernetes' own OpenAPI document), plus the strategic-merge list keys of the Go types
// (patchMergeKey/patchStrategy tags, which the models do not carry). They feed the OpenAPI v3
// documents kubectl reads, the server's strategic merge patch, and unknown-field checks.
import type { Schema } from './schema.js';

interface Attr { name: string; baseName: string; type: string; format: string }
type Model = { getAttributeTypeMap(): Attr[] };

/** The model of each built-in resource, by `group/resource`. */
export const MODEL_OF: Record<string, string> = {
  '/namespaces': 'V1Namespace', '/nodes': 'V1Node', '/pods': 'V1Pod', '/events': 'CoreV1Event', '/serviceaccounts': 'V1ServiceAccount',
  '/configmaps': 'V1ConfigMap', 'networking.k8s.io/networkpolicies': 'V1NetworkPolicy', 'coordination.k8s.io/leases': 'V1Lease',
  'apiextensions.k8s.io/customresourcedefinitions': 'V1CustomResourceDefinition',
  'rbac.authorization.k8s.io/clusterroles': 'V1ClusterRole', 'rbac.authorization.k8s.io/clusterrolebindings': 'V1ClusterRoleBinding',
  'rbac.authorization.k8s.io/roles': 'V1Role', 'rbac.authorization.k8s.io/rolebindings': 'V1RoleBinding',
};

/** model.field → [patchMergeKey, patchStrategy], from the Go types' struct tags. */
const PATCH: Record<string, [string | undefined, string]> = {
  'V1ObjectMeta.finalizers': [undefined, 'merge'], 'V1ObjectMeta.ownerReferences': ['uid', 'merge'],
  'V1PodSpec.containers': ['name', 'merge'], 'V1PodSpec.initContainers': ['name', 'merge'], 'V1PodSpec.ephemeralContainers': ['name', 'merge'],
  'V1PodSpec.volumes': ['name', 'merge,retainKeys'], 'V1PodSpec.imagePullSecrets': ['name', 'merge'], 'V1PodSpec.hostAliases': ['ip', 'merge'],
  'V1PodSpec.topologySpreadConstraints': ['topologyKey', 'merge'], 'V1PodSpec.schedulingGates': ['name', 'merge'],
  'V1PodSpec.resourceClaims': ['name', 'merge,retainKeys'],
  'V1Container.env': ['name', 'merge'], 'V1Container.ports': ['containerPort', 'merge'], 'V1Container.volumeMounts': ['mountPath', 'merge'],
  'V1Container.volumeDevices': ['devicePath', 'merge'],
  'V1EphemeralContainer.env': ['name', 'merge'], 'V1EphemeralContainer.volumeMounts': ['mountPath', 'merge'], 'V1EphemeralContainer.volumeDevices': ['devicePath', 'merge'],
  'V1PodStatus.conditions': ['type', 'merge'], 'V1PodStatus.podIPs': ['ip', 'merge'],
  'V1NodeStatus.addresses': ['type', 'merge'], 'V1NodeStatus.conditions': ['type', 'merge'],
  'V1NamespaceStatus.conditions': ['type', 'merge'],
};

export const REF_PREFIX = '#/components/schemas/';

// Loaded on first use, not at import: the `romana` CLI bundles this server and must start fast.
let k8s: Record<string, Model | undefined> | undefined;
export async function loadModels(): Promise<void> {
  k8s ??= (await import('@kubernetes/client-node')) as unknown as Record<string, Model | undefined>;
}

export class Models {
  readonly schemas: Record<string, Schema> = {};

  /** The schema of a built-in resource's kind, or undefined for resources without a model. */
  rootOf(groupResource: string): string | undefined {
    const m = MODEL_OF[groupResource];
    if (m) this.ensure(m);
    return m;
  }

  resolve = (ref: string): Schema => {
    const name = ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : ref;
    this.ensure(name);
    return this.schemas[name];
  };

  /** A model and the models it refers to, transitively. */
  closure(name: string, into: Record<string, Schema> = {}): Record<string, Schema> {
    if (into[name]) return into;
    this.ensure(name);
    into[name] = this.schemas[name];
    const visit = (s: Schema | undefined) => {
      if (!s) return;
      if (s.$ref) this.closure(s.$ref.slice(REF_PREFIX.length), into);
      visit(s.items);
      if (typeof s.additionalProperties === 'object') visit(s.additionalProperties);
      for (const p of Object.values(s.properties ?? {})) visit(p);
    };
    visit(this.schemas[name]);
    return into;
  }

  private ensure(name: string): void {
    if (this.schemas[name]) return;
    if (!k8s) throw new Error('the Kubernetes models are not loaded (await loadModels() first)');
    const model = k8s[name];
    if (!model?.getAttributeTypeMap) throw new Error(`no model ${name} in @kubernetes/client-node`);
    const s: Schema = { type: 'object', properties: {} };
    this.schemas[name] = s; // before the fields: models refer to themselves (JSONSchemaProps)
    for (const a of model.getAttributeTypeMap()) {
      const field = this.typeSchema(a.type, a.format);
      const patch = PATCH[`${name}.${a.baseName}`];
      if (patch) {
        if (patch[0]) field['x-kubernetes-patch-merge-key'] = patch[0];
        field['x-kubernetes-patch-strategy'] = patch[1];
      }
      s.properties![a.baseName] = field;
    }
  }

  private typeSchema(t: string, format: string): Schema {
    let m: RegExpExecArray | null;
    if (t === 'string') return { type: 'string', ...(format ? { format } : {}) };
    if (t === 'number') return format === 'double' || format === 'float' ? { type: 'number', format } : { type: 'integer', ...(format ? { format } : {}) };
    if (t === 'boolean') return { type: 'boolean' };
    if (t === 'Date' || t === 'V1MicroTime') return { type: 'string', format: 'date-time' };
    if (t === 'any' || t === 'object') return { 'x-kubernetes-preserve-unknown-fields': true };
    if (t === 'IntOrString') return { 'x-kubernetes-int-or-string': true };
    if ((m = /^Array<(.+)>$/.exec(t))) return { type: 'array', items: this.typeSchema(m[1], '') };
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(t))) return { type: 'object', additionalProperties: this.typeSchema(m[1], '') };
    return { $ref: REF_PREFIX + t };
  }
}
