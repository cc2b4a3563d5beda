// The install manifests (deploy/kubernetes): every object validates against the Kubernetes schemas
// (kubernetes-models), has no field the Kubernetes types do not know (checked with the models of
// @kubernetes/client-node, as the API server's strict field validation would), the kinds the test API
// server serves are accepted by it with fieldValidation=Strict, and the CRD is the one the code makes.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, describe, it } from 'node:test';
import { romanaPolicyCrd } from '../../src/listener/crd.js';
import { Models, loadModels } from '../../src/testing/kube-apiserver/models.js';
import { checkSchema } from '../../src/testing/kube-apiserver/schema.js';
import { KubeApiServer } from '../../src/testing/kube-apiserver/server.js';
import { manifests } from './helpers.js';

const require = createRequire(import.meta.url);
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The client-node model of a kind (V1Deployment, V1ClusterRole, ...). */
const MODEL: Record<string, string> = { Event: 'CoreV1Event' };
const modelOf = (kind: string) => MODEL[kind] ?? `V1${kind}`;

describe('install manifests', () => {
  const all = manifests();
  before(() => loadModels());

  it('holds every part: namespace, service accounts, RBAC, romanad, the listener (2 replicas), the agent DaemonSet with its CNI installer, the CRD', () => {
    const kinds = all.map((m) => `${m.obj.kind}/${m.obj.metadata.name}`);
    for (const k of ['Namespace/romana-system', 'ServiceAccount/romanad', 'ServiceAccount/romana-agent', 'ServiceAccount/romana-listener', 'ClusterRole/romana-listener',
      'Deployment/romanad', 'PersistentVolumeClaim/romanad-data', 'Service/romanad', 'Deployment/romana-listener', 'DaemonSet/romana-agent', 'CustomResourceDefinition/romanapolicies.romana.io']) {
      assert.ok(kinds.includes(k), `${k} is missing`);
    }
    const listener = all.find((m) => m.obj.kind === 'Deployment' && m.obj.metadata.name === 'romana-listener')!.obj;
    assert.equal(listener.spec.replicas, 2);
    const agent = all.find((m) => m.obj.kind === 'DaemonSet')!.obj.spec.template.spec;
    assert.equal(agent.hostNetwork, true);
    assert.ok(agent.containers[0].securityContext.capabilities.add.includes('NET_ADMIN'));
    assert.match(agent.initContainers[0].command.join(' '), /romana-cni\.mjs install \/host\/opt\/cni\/bin/);
    for (const m of all) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'].includes(m.obj.kind)) assert.equal(m.obj.metadata.namespace, 'romana-system', `${m.file}: ${m.obj.kind}/${m.obj.metadata.name}`);
    }
  });

  it('every object validates against the Kubernetes schemas (kubernetes-models)', () => {
    for (const { file, obj } of all) {
      const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
      const mod = require(`kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`) as Record<string, new (o: Obj) => { validate(): void }>;
      assert.doesNotThrow(() => new mod[obj.kind](obj).validate(), `${file}: ${obj.kind}/${obj.metadata.name}`);
    }
  });

  it('no object has a field the Kubernetes types do not know', () => {
    const models = new Models();
    for (const { file, obj } of all) {
      const r = checkSchema(obj, { $ref: `#/components/schemas/${modelOf(obj.kind)}` }, '', models.resolve);
      assert.deepEqual(r.unknown, [], `${file}: ${obj.kind}/${obj.metadata.name}`);
      assert.deepEqual(r.causes, [], `${file}: ${obj.kind}/${obj.metadata.name}`);
    }
  });

  it('the test API server takes the kinds it serves with strict field validation', () => {
    const k = new KubeApiServer();
    const first = (m: { obj: Obj }) => (m.obj.kind === 'Namespace' ? 0 : 1);
    for (const { file, obj } of [...all].sort((a, b) => first(a) - first(b))) {
      const def = k.registry.findKind(obj.apiVersion, obj.kind);
      if (!def) continue;
      assert.doesNotThrow(() => k.registry.create(def, obj.metadata.namespace, obj, { manager: 'test', fieldValidation: 'Strict' }), `${file}: ${obj.kind}/${obj.metadata.name}`);
    }
  });

  it('the CRD is the one the code makes (its schema is the Romana policy schema)', () => {
    const crd = all.find((m) => m.obj.kind === 'CustomResourceDefinition')!.obj;
    assert.deepEqual(crd, romanaPolicyCrd());
  });
});
