// Endpoint metadata that policy selectors need: namespace labels and pod labels and ports. In
// Kubernetes a listener keeps these in step with the API server; the lab and operators set them
// through the API. IPAM does not depend on them.
import { notFound } from '../core/errors.js';
import { NAMESPACES, PODS, namespaceKey, podKey } from './keys.js';
import { type ControlState, parseJson } from './state.js';

export interface NamespaceRecord { name: string; labels: Record<string, string> }
export interface PodPort { name?: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }
export interface PodRecord { namespace: string; name: string; labels: Record<string, string>; ports: PodPort[] }

export class Metadata {
  constructor(private readonly s: ControlState) {}

  async putNamespace(rec: NamespaceRecord): Promise<NamespaceRecord> {
    await this.s.store.put(namespaceKey(rec.name), JSON.stringify(rec));
    return rec;
  }
  async namespaces(): Promise<NamespaceRecord[]> {
    return (await this.s.store.list(NAMESPACES)).items.map((kv) => JSON.parse(kv.value) as NamespaceRecord);
  }
  async deleteNamespace(name: string): Promise<void> {
    if (!(await this.s.store.delete(namespaceKey(name)))) throw notFound(`namespace '${name}' does not exist`);
  }

  async putPod(rec: PodRecord): Promise<PodRecord> {
    await this.s.store.put(podKey(rec.namespace, rec.name), JSON.stringify(rec));
    return rec;
  }
  async pods(): Promise<PodRecord[]> {
    return (await this.s.store.list(PODS)).items.map((kv) => JSON.parse(kv.value) as PodRecord);
  }
  async getPod(namespace: string, name: string): Promise<PodRecord> {
    const rec = parseJson<PodRecord>(await this.s.store.get(podKey(namespace, name)));
    if (!rec) throw notFound(`pod '${namespace}/${name}' does not exist`);
    return rec;
  }
  async deletePod(namespace: string, name: string): Promise<void> {
    if (!(await this.s.store.delete(podKey(namespace, name)))) throw notFound(`pod '${namespace}/${name}' does not exist`);
  }
}
