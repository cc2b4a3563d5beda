// Endpoint metadata that policy selectors need: namespace labels and pod labels and ports. In
// Kubernetes a listener keeps these in step with the API server; the lab and operators set them
// through the API. IPAM does not depend on them.
import { notFound } from '../core/errors.js';
import { NAMESPACES, PODS, namespaceKey, podKey } from './keys.js';
import { type ControlState, del, parseJson, put, unchanged } from './state.js';

export interface NamespaceRecord { name: string; labels: Record<string, string> }
export interface PodPort { name?: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }
export interface PodRecord {
  namespace: string; name: string; labels: Record<string, string>; ports: PodPort[];
  /** Kubernetes' view of the pod (from romana-listener): its node, address and UID. */
  host?: string; ip?: string; uid?: string;
}

export class Metadata {
  constructor(private readonly s: ControlState) {}

  /** Creates or replaces a namespace; `created` says which. */
  async putNamespace(rec: NamespaceRecord): Promise<{ record: NamespaceRecord; created: boolean }> {
    return { record: rec, created: await this.upsert(namespaceKey(rec.name), rec) };
  }
  async namespaces(): Promise<NamespaceRecord[]> {
    return (await this.listNamespaces()).namespaces;
  }
  async listNamespaces(): Promise<{ revision: number; namespaces: NamespaceRecord[] }> {
    const r = await this.s.store.list(NAMESPACES);
    return { revision: r.revision, namespaces: r.items.map((kv) => JSON.parse(kv.value) as NamespaceRecord) };
  }
  async deleteNamespace(name: string): Promise<NamespaceRecord> {
    return this.remove<NamespaceRecord>(namespaceKey(name), `namespace '${name}'`);
  }

  async putPod(rec: PodRecord): Promise<{ record: PodRecord; created: boolean }> {
    return { record: rec, created: await this.upsert(podKey(rec.namespace, rec.name), rec) };
  }
  async pods(): Promise<PodRecord[]> {
    return (await this.listPods()).pods;
  }
  async listPods(): Promise<{ revision: number; pods: PodRecord[] }> {
    const r = await this.s.store.list(PODS);
    return { revision: r.revision, pods: r.items.map((kv) => JSON.parse(kv.value) as PodRecord) };
  }
  async getPod(namespace: string, name: string): Promise<PodRecord> {
    const rec = parseJson<PodRecord>(await this.s.store.get(podKey(namespace, name)));
    if (!rec) throw notFound(`pod '${namespace}/${name}' does not exist`);
    return rec;
  }
  async deletePod(namespace: string, name: string): Promise<PodRecord> {
    return this.remove<PodRecord>(podKey(namespace, name), `pod '${namespace}/${name}'`);
  }

  /** Puts a record; whether the key was new. One transaction (a compare that the key is absent first). */
  private async upsert(key: string, rec: object): Promise<boolean> {
    return this.s.cas('put', async () => {
      const kv = await this.s.store.get(key);
      return { compares: [unchanged(key, kv)], ops: [put(key, rec)], result: kv === undefined };
    });
  }

  /** Deletes a record and answers it, unless it changed in between (then it tries again). */
  private async remove<T>(key: string, what: string): Promise<T> {
    return this.s.cas('delete', async () => {
      const kv = await this.s.store.get(key);
      if (!kv) throw notFound(`${what} does not exist`);
      return { compares: [unchanged(key, kv)], ops: [del(key)], result: JSON.parse(kv.value) as T };
    });
  }
}
