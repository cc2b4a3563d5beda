// Telling Kubernetes users what romanad made of their objects: a Warning Event on an object romanad
// refused (aggregated by count, as client-go's recorder does), and an `Accepted` condition in the
// status of every RomanaPolicy.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, type CoreV1Event, setHeaderOptions } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { RP_GROUP, RP_PLURAL, RP_VERSION } from './crd.js';
import type { KObj } from './mapping.js';

const statusOf = (e: unknown) => (e as { code?: number }).code;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class Reporter {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig, private readonly identity: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** A Warning Event about `obj`; the same event again raises its count. Cluster-scoped objects' events go to `default`. */
  async event(obj: KObj, apiVersion: string, kind: string, reason: string, message: string): Promise<void> {
    const m = obj.metadata;
    const namespace = m.namespace ?? 'default';
    const name = `${m.name}.${createHash('sha256').update(`${kind}/${m.namespace ?? ''}/${m.name}/${m.uid ?? ''}/${reason}/${message}`).digest('hex').slice(0, 16)}`;
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: { apiVersion, kind, name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}), ...(m.uid ? { uid: m.uid } : {}), ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}) },
      reason, message: message.slice(0, 1024), type: 'Warning', count: 1, firstTimestamp: now, lastTimestamp: now,
      source: { component: 'romana-listener' }, reportingComponent: 'romana-listener', reportingInstance: this.identity,
    };
    try {
      await this.core.createNamespacedEvent({ namespace, body });
    } catch (e) {
      if (statusOf(e) !== 409) throw e;
      const cur = await this.core.readNamespacedEvent({ name, namespace });
      await this.core.patchNamespacedEvent({ name, namespace, body: { count: (cur.count ?? 1) + 1, lastTimestamp: now.toISOString() } }, mergePatch);
    }
  }

  /** Sets the RomanaPolicy's `Accepted` condition, unless it already says the same for this generation. */
  async accepted(rp: KObj, accepted: boolean, reason: string, message: string): Promise<void> {
    const cur = ((rp.status?.conditions ?? []) as KObj[]).find((c) => c.type === 'Accepted');
    const generation = rp.metadata.generation;
    const status = accepted ? 'True' : 'False';
    if (cur && cur.status === status && cur.reason === reason && cur.message === message && cur.observedGeneration === generation) return;
    const condition = {
      type: 'Accepted', status, reason, message: message.slice(0, 32768), observedGeneration: generation,
      lastTransitionTime: cur && cur.status === status ? cur.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    await this.custom.patchClusterCustomObjectStatus({ group: RP_GROUP, version: RP_VERSION, plural: RP_PLURAL, name: rp.metadata.name, body: { status: { conditions: [condition] } } }, mergePatch);
  }
}
