// Reading the cluster: one informer per kind (@kubernetes/client-node's ListWatch), listing in pages
// and then watching from the list's resourceVersion with bookmarks. A 410 Gone makes the ListWatch list
// again and report what disappeared meanwhile as deletions; any other failure is retried here with
// capped, jittered backoff, resuming the watch from the last resourceVersion seen.
import { type KubeConfig, KubernetesObjectApi, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
// The package does not re-export its serializer; typed list items go back to plain JSON through it
// (a model's field names are not always the JSON names: NetworkPolicyIngressRule.from is `_from`).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import type { Logger } from 'pino';
import { backoff } from './queue.js';

export interface KindSpec {
  /** Short name used in keys, logs and metrics (node, ns, pod, np, rp). */
  kind: string;
  apiVersion: string;
  k8sKind: string;
  /** Collection path for all namespaces. */
  path: string;
  /** The client's model, to turn typed list items into plain JSON like watch events. */
  model?: string;
}

export const KINDS: KindSpec[] = [
  { kind: 'node', apiVersion: 'v1', k8sKind: 'Node', path: '/api/v1/nodes', model: 'V1Node' },
  { kind: 'ns', apiVersion: 'v1', k8sKind: 'Namespace', path: '/api/v1/namespaces', model: 'V1Namespace' },
  { kind: 'pod', apiVersion: 'v1', k8sKind: 'Pod', path: '/api/v1/pods', model: 'V1Pod' },
  { kind: 'np', apiVersion: 'networking.k8s.io/v1', k8sKind: 'NetworkPolicy', path: '/apis/networking.k8s.io/v1/networkpolicies', model: 'V1NetworkPolicy' },
  { kind: 'rp', apiVersion: 'romana.io/v1', k8sKind: 'RomanaPolicy', path: '/apis/romana.io/v1/romanapolicies' },
];

export interface InformerEvents {
  change(kind: string, type: 'add' | 'update' | 'delete', obj: KubernetesObject): void;
  /** A list completed (first sync, or a relist after 410 Gone or a reconnect). */
  listed(kind: string): void;
  error(kind: string, err: unknown): void;
}

/** A Watch that asks for bookmarks and for a server-side timeout, as client-go's reflector does. */
class BookmarkingWatch extends Watch {
  override watch(path: string, params: Record<string, unknown>, cb: (phase: string, obj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    const timeoutSeconds = Math.floor(300 * (1 + Math.random()));
    return super.watch(path, { ...params, allowWatchBookmarks: true, timeoutSeconds }, cb, done);
  }
}

export class Informer {
  readonly lw: ListWatch<KubernetesObject>;
  listedOnce = false;
  private failures = 0;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly spec: KindSpec, kc: KubeConfig, events: InformerEvents, log: Logger, opts: { pageSize: number; maxBackoffMs: number }) {
    const api = KubernetesObjectApi.makeApiClient(kc);
    const plain = (o: KubernetesObject) => (spec.model ? (ObjectSerializer.serialize(o, spec.model, '') as KubernetesObject) : o);
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const items: KubernetesObject[] = [];
      let cont: string | undefined;
      let rv = '';
      do {
        const page = await api.list(spec.apiVersion, spec.k8sKind, undefined, undefined, undefined, undefined, undefined, undefined, opts.pageSize, cont);
        for (const o of page.items) items.push(plain(o));
        cont = page.metadata?._continue || undefined;
        rv = page.metadata?.resourceVersion ?? rv;
      } while (cont);
      this.failures = 0;
      this.listedOnce = true;
      setImmediate(() => events.listed(spec.kind));
      return { apiVersion: spec.apiVersion, kind: `${spec.k8sKind}List`, metadata: { resourceVersion: rv }, items };
    };
    this.lw = new ListWatch(spec.path, new BookmarkingWatch(kc), listFn, false);
    this.lw.on('add', (o) => events.change(spec.kind, 'add', o));
    this.lw.on('update', (o) => events.change(spec.kind, 'update', o));
    this.lw.on('delete', (o) => events.change(spec.kind, 'delete', o));
    this.lw.on('error', (err) => {
      events.error(spec.kind, err);
      if (this.stopped) return;
      const ms = backoff(this.failures++, 200, opts.maxBackoffMs);
      log.warn({ kind: spec.k8sKind, err: (err as Error)?.message ?? String(err), retryInMs: Math.round(ms) }, 'watch failed; resuming');
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.lw.start().catch(() => undefined), ms);
    });
  }

  start(): Promise<void> {
    return this.lw.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.lw.stop();
  }

  get(key: string): KubernetesObject | undefined {
    const i = key.indexOf('/');
    return i < 0 ? this.lw.get(key) : this.lw.get(key.slice(i + 1), key.slice(0, i));
  }

  list(): readonly KubernetesObject[] {
    return this.lw.list();
  }

  get resourceVersion(): string {
    return this.lw.latestResourceVersion();
  }
}
