// The kinds the stand-in serves, with what the real API server does for each: defaults, validation,
// status handling on create, field selectors and the columns of `kubectl get`. Custom resources are
// added at run time from CustomResourceDefinitions (see crd.ts).
import { type StatusCause, forbiddenField, invalidValue, required, unsupportedValue } from './errors.js';
import type { Schema } from './schema.js';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  description: string;
  /** 0 in `kubectl get`, 1 only with `-o wide`. */
  priority: number;
  cell: (o: Obj, now: number) => string | number;
}

export interface ResourceDef {
  group: string;
  version: string;
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Serves the /status subresource; the main resource then ignores status changes. */
  status: boolean;
  /** Keeps the status sent on create (a kubelet registers its Node with its addresses). */
  keepStatusOnCreate?: boolean;
  /** metadata.generation counts changes outside metadata and status. */
  generation: boolean;
  /** Field selector labels besides metadata.name and metadata.namespace. */
  fields: string[];
  columns: Column[];
  defaults?: (o: Obj) => void;
  initialStatus?: (o: Obj) => Obj;
  validate?: (o: Obj, old?: Obj) => StatusCause[];
  /** The CRD that defines a custom resource, and the schema of its served version. */
  crd?: { name: string; schema?: Schema; subresources: boolean };
  /** Names are DNS labels (namespaces) or path segments (RBAC), not DNS subdomains. */
  nameRule?: 'label' | 'segment';
}

export const gvOf = (r: { group: string; version: string }) => (r.group ? `${r.group}/${r.version}` : r.version);
export const keyOf = (r: { group: string; resource: string }) => `${r.group}/${r.resource}`;

// ---- cells -------------------------------------------------------------------------------------

/** Kubernetes' HumanDuration (k8s.io/apimachinery/pkg/util/duration): 45s, 3m12s, 5h, 2d3h, 40d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 192) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  return `${Math.floor(h / 24 / 365)}y`;
}
const age = (o: Obj, now: number) => (o.metadata?.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>');
export const NAME_COLUMN: Column = { name: 'Name', type: 'string', priority: 0, description: 'Name must be unique within a namespace.', cell: (o) => o.metadata.name };
export const AGE_COLUMN: Column = { name: 'Age', type: 'string', priority: 0, description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', cell: age };
const col = (name: string, cell: Column['cell'], priority = 0, type: Column['type'] = 'string'): Column => ({ name, type, priority, description: name, cell });
const selectorText = (s: Obj | undefined) => {
  const parts = Object.entries(s?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of (s?.matchExpressions ?? []) as Obj[]) parts.push(`${e.key} ${String(e.operator).toLowerCase()} (${(e.values ?? []).join(',')})`);
  return parts.length ? parts.join(',') : '<none>';
};

// ---- validation helpers ------------------------------------------------------------------------

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const isDnsLabel = (s: unknown): s is string => typeof s === 'string' && s.length <= 63 && DNS_LABEL.test(s);
export const isDnsSubdomain = (s: unknown): s is string => typeof s === 'string' && s.length <= 253 && DNS_SUBDOMAIN.test(s);
export const DNS_LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const DNS_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

function isCidr(s: unknown): boolean {
  if (typeof s !== 'string') return false;
  const [ip, len, extra] = s.split('/');
  if (extra !== undefined || len === undefined || !/^\d{1,3}$/.test(len)) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip.split('.').every((o) => Number(o) <= 255) && Number(len) <= 32;
  return /^[0-9a-fA-F:.]+$/.test(ip) && ip.includes(':') && Number(len) <= 128;
}

function ports(list: unknown, path: string, c: StatusCause[], container: boolean): void {
  if (!Array.isArray(list)) return;
  list.forEach((p: Obj, i) => {
    const at = `${path}[${i}]`;
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) c.push(unsupportedValue(`${at}.protocol`, p.protocol, ['SCTP', 'TCP', 'UDP']));
    const key = container ? 'containerPort' : 'port';
    const v = p[key];
    if (container && v === undefined) c.push(required(`${at}.containerPort`));
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 1 || v > 65535)) c.push(invalidValue(`${at}.${key}`, v, 'must be between 1 and 65535, inclusive'));
    if (typeof v === 'string' && (container || !IANA_SVC_NAME.test(v) || v.length > 15)) c.push(invalidValue(`${at}.${key}`, v, container ? 'must be an integer' : 'must be a valid port name'));
    if (p.name !== undefined && (typeof p.name !== 'string' || p.name.length > 15 || !IANA_SVC_NAME.test(p.name))) c.push(invalidValue(`${at}.name`, p.name, 'must be no more than 15 characters and contain only lowercase letters, digits and hyphens, with at least one letter'));
    if (!container && p.endPort !== undefined && (typeof v !== 'number' || p.endPort < v)) c.push(invalidValue(`${at}.endPort`, p.endPort, 'must be greater than or equal to `port`'));
  });
}

// ---- the built-in kinds ------------------------------------------------------------------------

function def(d: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'version' | 'resource' | 'kind' | 'namespaced'>): ResourceDef {
  return {
    listKind: `${d.kind}List`, singular: d.kind.toLowerCase(), shortNames: [], categories: [], status: false, generation: false, fields: [],
    columns: [NAME_COLUMN, AGE_COLUMN], ...d,
  };
}

const podDefaults = (o: Obj) => {
  const s = (o.spec ??= {});
  s.restartPolicy ??= 'Always';
  s.terminationGracePeriodSeconds ??= 30;
  s.dnsPolicy ??= 'ClusterFirst';
  s.securityContext ??= {};
  s.schedulerName ??= 'default-scheduler';
  s.enableServiceLinks ??= true;
  s.preemptionPolicy ??= 'PreemptLowerPriority';
  s.priority ??= 0;
  s.serviceAccountName ??= s.serviceAccount ?? 'default';
  s.serviceAccount ??= s.serviceAccountName;
  s.tolerations ??= [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ];
  for (const c of (s.containers ?? []) as Obj[]) {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.imagePullPolicy ??= typeof c.image === 'string' && (!/:[^/]+$/.test(c.image) || c.image.endsWith(':latest')) ? 'Always' : 'IfNotPresent';
    c.resources ??= {};
    for (const p of (c.ports ?? []) as Obj[]) p.protocol ??= 'TCP';
  }
};

function validatePod(o: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const cs = o.spec?.containers;
  if (!Array.isArray(cs) || cs.length === 0) c.push(required('spec.containers'));
  const names = new Set<string>();
  (Array.isArray(cs) ? cs : []).forEach((k: Obj, i) => {
    if (!k.name) c.push(required(`spec.containers[${i}].name`));
    else if (!isDnsLabel(k.name)) c.push(invalidValue(`spec.containers[${i}].name`, k.name, DNS_LABEL_MSG));
    else if (names.has(k.name)) c.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${k.name}"`, field: `spec.containers[${i}].name` });
    names.add(k.name);
    if (!k.image) c.push(required(`spec.containers[${i}].image`));
    ports(k.ports, `spec.containers[${i}].ports`, c, true);
  });
  if (o.spec?.nodeName !== undefined && !isDnsSubdomain(o.spec.nodeName)) c.push(invalidValue('spec.nodeName', o.spec.nodeName, DNS_SUBDOMAIN_MSG));
  return c;
}

function validatePodUpdate(o: Obj, old?: Obj): StatusCause[] {
  const c = validatePod(o);
  if (old && old.spec?.nodeName && o.spec?.nodeName !== old.spec.nodeName) c.push(forbiddenField('spec.nodeName', 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)'));
  return c;
}

function validateNetworkPolicy(o: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const s = o.spec ?? {};
  for (const [i, t] of ((s.policyTypes ?? []) as unknown[]).entries()) if (t !== 'Ingress' && t !== 'Egress') c.push(unsupportedValue(`spec.policyTypes[${i}]`, t, ['Egress', 'Ingress']));
  for (const dir of ['ingress', 'egress'] as const) {
    ((s[dir] ?? []) as Obj[]).forEach((r, i) => {
      ports(r.ports, `spec.${dir}[${i}].ports`, c, false);
      ((r[dir === 'ingress' ? 'from' : 'to'] ?? []) as Obj[]).forEach((p, j) => {
        const at = `spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}[${j}]`;
        const n = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => p[k] !== undefined && p[k] !== null).length;
        if (n === 0) c.push(required(at));
        if (p.ipBlock && (p.podSelector || p.namespaceSelector)) c.push(forbiddenField(at, 'may not specify both ipBlock and another peer'));
        if (p.ipBlock) {
          if (!isCidr(p.ipBlock.cidr)) c.push(invalidValue(`${at}.ipBlock.cidr`, p.ipBlock.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
          ((p.ipBlock.except ?? []) as unknown[]).forEach((e, k) => {
            if (!isCidr(e)) c.push(invalidValue(`${at}.ipBlock.except[${k}]`, e, 'must be a valid CIDR value'));
          });
        }
      });
    });
  }
  return c;
}

function validateLease(o: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const s = o.spec ?? {};
  for (const k of ['leaseDurationSeconds', 'leaseTransitions'] as const) {
    if (s[k] !== undefined && (!Number.isInteger(s[k]) || s[k] < (k === 'leaseDurationSeconds' ? 1 : 0))) c.push(invalidValue(`spec.${k}`, s[k], k === 'leaseDurationSeconds' ? 'must be greater than 0' : 'must be greater than or equal to 0'));
  }
  return c;
}

function validateRoleRules(o: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  ((o.rules ?? []) as Obj[]).forEach((r, i) => {
    if (!Array.isArray(r.verbs) || r.verbs.length === 0) c.push(required(`rules[${i}].verbs`));
    if (!r.nonResourceURLs && !Array.isArray(r.apiGroups)) c.push(required(`rules[${i}].apiGroups`));
  });
  return c;
}

function validateBinding(o: Obj, old?: Obj): StatusCause[] {
  const c: StatusCause[] = [];
  const ref = o.roleRef;
  if (!ref?.name) c.push(required('roleRef.name'));
  if (!['Role', 'ClusterRole'].includes(ref?.kind)) c.push(unsupportedValue('roleRef.kind', ref?.kind, ['ClusterRole', 'Role']));
  if (old && JSON.stringify(old.roleRef) !== JSON.stringify(ref)) c.push({ reason: 'FieldValueInvalid', message: 'Invalid value: cannot change roleRef', field: 'roleRef' });
  ((o.subjects ?? []) as Obj[]).forEach((s, i) => {
    if (!['User', 'Group', 'ServiceAccount'].includes(s.kind)) c.push(unsupportedValue(`subjects[${i}].kind`, s.kind, ['Group', 'ServiceAccount', 'User']));
    if (!s.name) c.push(required(`subjects[${i}].name`));
  });
  return c;
}

const nodeReady = (o: Obj) => {
  const r = ((o.status?.conditions ?? []) as Obj[]).find((x) => x.type === 'Ready');
  return r?.status === 'True' ? 'Ready' : r ? 'NotReady' : 'Unknown';
};
const internalIp = (o: Obj) => ((o.status?.addresses ?? []) as Obj[]).find((a) => a.type === 'InternalIP')?.address ?? '<none>';

export const BUILTIN: ResourceDef[] = [
  def({
    group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], status: true, nameRule: 'label',
    fields: ['status.phase'],
    columns: [NAME_COLUMN, col('Status', (o) => o.status?.phase ?? ''), AGE_COLUMN],
    // Since Kubernetes 1.21 every namespace carries its own name as a label.
    defaults: (o) => {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
      o.spec ??= {};
      o.spec.finalizers ??= ['kubernetes'];
    },
    initialStatus: () => ({ phase: 'Active' }),
  }),
  def({
    group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], status: true, keepStatusOnCreate: true,
    fields: ['spec.unschedulable'],
    columns: [NAME_COLUMN, col('Status', nodeReady), col('Roles', (o) => Object.keys(o.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice(24)).join(',') || '<none>'),
      AGE_COLUMN, col('Version', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''), col('Internal-IP', internalIp, 1)],
  }),
  def({
    group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], categories: ['all'], status: true,
    fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    columns: [
      NAME_COLUMN,
      col('Ready', (o) => `${((o.status?.containerStatuses ?? []) as Obj[]).filter((s) => s.ready).length}/${(o.spec?.containers ?? []).length}`),
      col('Status', (o) => o.status?.phase ?? ''),
      col('Restarts', (o) => ((o.status?.containerStatuses ?? []) as Obj[]).reduce((n, s) => n + (s.restartCount ?? 0), 0), 0, 'integer'),
      AGE_COLUMN,
      col('IP', (o) => o.status?.podIP ?? '<none>', 1),
      col('Node', (o) => o.spec?.nodeName ?? '<none>', 1),
    ],
    defaults: podDefaults,
    initialStatus: (o) => ({ phase: 'Pending', qosClass: 'BestEffort', ...(o.spec?.nodeName ? {} : {}) }),
    validate: validatePodUpdate,
  }),
  def({
    group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'],
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
    columns: [
      col('Last Seen', (o, now) => (o.lastTimestamp ?? o.eventTime ? humanDuration(now - Date.parse(o.lastTimestamp ?? o.eventTime)) : '<unknown>')),
      col('Type', (o) => o.type ?? ''), col('Reason', (o) => o.reason ?? ''),
      col('Object', (o) => `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`),
      col('Message', (o) => o.message ?? ''),
    ],
    validate: (o) => {
      const c: StatusCause[] = [];
      const ns = o.involvedObject?.namespace;
      if (ns && ns !== o.metadata.namespace) c.push(invalidValue('involvedObject.namespace', ns, 'does not match event.namespace'));
      return c;
    },
  }),
  def({ group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] }),
  def({ group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
  def({
    group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, shortNames: ['netpol'], generation: true,
    columns: [NAME_COLUMN, col('Pod-Selector', (o) => selectorText(o.spec?.podSelector)), AGE_COLUMN],
    // SetDefaults_NetworkPolicy: TCP for ports without a protocol; policyTypes from the rules present.
    defaults: (o) => {
      const s = (o.spec ??= {});
      s.podSelector ??= {};
      for (const dir of ['ingress', 'egress']) for (const r of (s[dir] ?? []) as Obj[]) for (const p of (r.ports ?? []) as Obj[]) p.protocol ??= 'TCP';
      if (!s.policyTypes || s.policyTypes.length === 0) s.policyTypes = s.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
    },
    validate: validateNetworkPolicy,
  }),
  def({
    group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true,
    columns: [NAME_COLUMN, col('Holder', (o) => o.spec?.holderIdentity ?? ''), AGE_COLUMN],
    validate: validateLease,
  }),
  def({
    group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false,
    shortNames: ['crd', 'crds'], categories: ['api-extensions'], status: true, generation: true,
    columns: [NAME_COLUMN, { name: 'Created At', type: 'date', priority: 0, description: 'Created At', cell: (o) => o.metadata.creationTimestamp }],
  }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false, nameRule: 'segment', validate: validateRoleRules }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, nameRule: 'segment', validate: validateBinding,
    columns: [NAME_COLUMN, col('Role', (o) => `${o.roleRef?.kind}/${o.roleRef?.name}`), AGE_COLUMN] }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true, nameRule: 'segment', validate: validateRoleRules }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true, nameRule: 'segment', validate: validateBinding,
    columns: [NAME_COLUMN, col('Role', (o) => `${o.roleRef?.kind}/${o.roleRef?.name}`), AGE_COLUMN] }),
];

/** Verbs every resource here serves. */
export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const isNamespaceDef = (r: ResourceDef) => r.group === '' && r.resource === 'namespaces';
export const isCrdDef = (r: ResourceDef) => r.group === 'apiextensions.k8s.io' && r.resource === 'customresourcedefinitions';
