// The listener's reconciler: for every Kubernetes object (and every romanad record the listener owns)
// it compares what romanad should hold (mapping.ts) with what it holds, and writes the difference.
// Level-triggered: a key is queued on every change, on every relist and on a resync timer, and its work
// reads the current state, so a missed event, a restart or an outage heals the same way. Only the
// leader writes, and it checks that it still leads right before each write.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { RomanaError } from '../core/errors.js';
import type { PolicyRecord } from '../control/policies.js';
import type { Informer } from './informers.js';
import {
  type KObj, MANAGED_LABEL, MANAGED_VALUE, RP_APIVERSION, hostOfNode, isHostNetwork, isOwnRomanaPolicy, keyOfObj, metadataOfPod,
  policyOfNetworkPolicy, policyOfRomanaPolicy, sameJson, tenantOfNamespace,
} from './mapping.js';
import type { ListenerMetrics } from './metrics.js';
import { type Outcome, WorkQueue } from './queue.js';
import type { Reporter } from './report.js';
import type { Host, Pod, Romanad, Tenant } from './romanad.js';

export interface ControllerOptions {
  romanad: Romanad;
  reporter: Reporter;
  informers: Map<string, Informer>;
  leading: (marginMs?: number) => boolean;
  log: Logger;
  metrics: ListenerMetrics;
  rackLabel?: string;
  /** How long an address must have been without its pod before it is released (a CNI ADD may be in flight). */
  releaseGraceMs: number;
  resyncMs: number;
  concurrency: number;
  /** A write starts only while the lease has at least this long to run. */
  writeMarginMs: number;
}

interface View { hosts: Map<string, Host>; namespaces: Map<string, Tenant>; pods: Map<string, Pod>; policies: Map<string, PolicyRecord> }

class NotLeading extends Error {}
const SWEEP = 'sweep';
const KIND_NAMES: Record<string, [string, string]> = {
  node: ['v1', 'Node'], ns: ['v1', 'Namespace'], pod: ['v1', 'Pod'], np: ['networking.k8s.io/v1', 'NetworkPolicy'], rp: [RP_APIVERSION, 'RomanaPolicy'],
};

/** Transient failures are retried; refusals are reported and wait for the object to change. */
function classify(e: unknown): 'transient' | 'gone' | 'refused' {
  if (!(e instanceof RomanaError)) return 'transient';
  if (e.kind === 'not_found') return 'gone';
  if (['unavailable', 'rate_limited', 'internal', 'forbidden', 'unauthorized'].includes(e.kind)) return 'transient';
  return 'refused';
}

export class Controller {
  readonly queue: WorkQueue;
  private view?: View;
  private loading?: Promise<View>;
  /** key -> the desired record romanad refused (so it is not sent again until the object changes). */
  private readonly refused = new Map<string, string>();
  /** key -> what was last reported about an object that cannot be applied (reported once). */
  private readonly reported = new Map<string, string>();
  private readonly orphanSince = new Map<string, number>();
  /** Keys whose last attempt failed (the listener is not in sync while there are any). */
  private readonly failing = new Set<string>();
  private resynced = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue((k) => this.process(k), {
      concurrency: o.concurrency, baseDelayMs: 100, maxDelayMs: 30_000, gate: () => o.leading(o.writeMarginMs),
      onDone: (key, ms) => {
        if (key !== SWEEP) o.metrics.lag.observe(ms / 1000);
      },
    });
  }

  start(): void {
    const tick = () => {
      void this.resync();
      this.timer = setTimeout(tick, this.o.resyncMs);
    };
    this.timer = setTimeout(tick, this.o.resyncMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.stop();
  }

  private get allListed(): boolean {
    return [...this.o.informers.values()].every((i) => i.listedOnce);
  }

  /** Every kind listed, romanad read, and nothing due or failing: romanad holds what the API server says. */
  get synced(): boolean {
    return this.allListed && this.resynced && this.queue.due === 0 && this.failing.size === 0;
  }

  status(): Record<string, unknown> {
    return {
      synced: this.synced, queue: this.queue.depth, due: this.queue.due, failing: [...this.failing].slice(0, 20),
      resourceVersions: Object.fromEntries([...this.o.informers].map(([k, i]) => [k, i.resourceVersion])),
      objects: Object.fromEntries([...this.o.informers].map(([k, i]) => [k, i.list().length])),
      orphanAddresses: this.orphanSince.size, refused: [...this.refused.keys()].slice(0, 20),
    };
  }

  // ---- inputs --------------------------------------------------------------------------------

  onChange(kind: string, type: 'add' | 'update' | 'delete', obj: KubernetesObject): void {
    this.o.metrics.events.inc({ kind, type });
    const key = `${kind}:${keyOfObj(obj as KObj)}`;
    this.queue.add(key);
    // A pod gone (or replaced under the same name) may leave an address to release.
    if (kind === 'pod' && type !== 'add') this.queue.add(SWEEP, this.o.releaseGraceMs);
  }

  onListed(): void {
    if (this.allListed) void this.resync();
  }

  onLeading(leading: boolean): void {
    this.o.metrics.leader.set(leading ? 1 : 0);
    if (leading) {
      this.view = undefined; // another leader wrote meanwhile: read romanad afresh
      void this.resync();
    }
    this.queue.pump();
  }

  /** Reads romanad afresh and queues every key either side knows, so differences of any age are found. */
  async resync(): Promise<void> {
    if (!this.allListed || !this.o.leading()) return;
    try {
      this.view = await this.readView();
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'resync: cannot read romanad; will retry');
      this.failing.add('resync');
      setTimeout(() => void this.resync(), 1000);
      return;
    }
    this.failing.delete('resync');
    const v = this.view;
    const keys = new Set<string>();
    for (const [kind, inf] of this.o.informers) for (const obj of inf.list()) keys.add(`${kind}:${keyOfObj(obj as KObj)}`);
    for (const h of v.hosts.values()) if (h.labels?.[MANAGED_LABEL] === MANAGED_VALUE) keys.add(`node:${h.name}`);
    for (const n of v.namespaces.keys()) keys.add(`ns:${n}`);
    for (const p of v.pods.keys()) keys.add(`pod:${p}`);
    for (const p of v.policies.values()) {
      if (p.kind === 'NetworkPolicy') keys.add(`np:${p.id}`);
      else if (isOwnRomanaPolicy(p.object)) keys.add(`rp:${p.id}`);
    }
    for (const k of keys) this.queue.add(k);
    this.queue.add(SWEEP);
    this.resynced = true;
  }

  private async readView(): Promise<View> {
    const r = this.o.romanad;
    const [hosts, namespaces, pods, policies] = await Promise.all([r.hosts(), r.namespaces(), r.pods(), r.policies()]);
    return {
      hosts: new Map(hosts.map((h) => [h.name, h])),
      namespaces: new Map(namespaces.map((n) => [n.name, n])),
      pods: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])),
      policies: new Map(policies.map((p) => [p.id, p])),
    };
  }

  private async getView(): Promise<View> {
    if (this.view) return this.view;
    this.loading ??= this.readView().finally(() => (this.loading = undefined));
    this.view = await this.loading;
    return this.view;
  }

  // ---- work ----------------------------------------------------------------------------------

  /** Throws unless this listener still leads with time to spare: called right before every write. */
  private guard(): void {
    if (!this.o.leading(this.o.writeMarginMs)) throw new NotLeading();
  }

  private async process(key: string): Promise<Outcome> {
    const i = key.indexOf(':');
    const kind = i < 0 ? key : key.slice(0, i);
    const name = i < 0 ? '' : key.slice(i + 1);
    try {
      const v = await this.getView();
      let out: Outcome;
      switch (kind) {
        case 'node': out = await this.node(v, key, name); break;
        case 'ns': out = await this.namespace(v, name); break;
        case 'pod': out = await this.pod(v, name); break;
        case 'np': out = await this.networkPolicy(v, key, name); break;
        case 'rp': out = await this.romanaPolicy(v, key, name); break;
        case SWEEP: out = await this.sweep(v); break;
        default: out = 'done';
      }
      this.failing.delete(key);
      return out;
    } catch (e) {
      if (e instanceof NotLeading) return { after: 200 };
      this.failing.add(key);
      this.o.metrics.errors.inc({ kind, reason: e instanceof RomanaError ? e.kind : 'error' });
      this.o.log.warn({ key, err: (e as Error).message }, 'sync failed; will retry');
      if (e instanceof RomanaError && e.kind === 'unavailable') this.view = undefined;
      return 'retry';
    }
  }

  private write<T>(kind: string, op: string, f: () => Promise<T>): Promise<T> {
    this.guard();
    this.o.metrics.writes.inc({ kind, op });
    return f();
  }

  /** Tells the object's users that romanad refused it (once per refused version), and logs it. */
  private async refuse(key: string, obj: KObj, reason: string, message: string): Promise<void> {
    const kind = key.slice(0, key.indexOf(':'));
    if (this.reported.get(key) === message) return;
    this.reported.set(key, message);
    this.o.metrics.refused.inc({ kind });
    this.o.log.warn({ key, reason, message }, 'romanad refused an object; skipped');
    const [apiVersion, k8sKind] = KIND_NAMES[kind];
    this.guard();
    await this.o.reporter.event(obj, apiVersion, k8sKind, reason, message).catch((e: Error) => this.o.log.warn({ key, err: e.message }, 'could not record the Event'));
  }

  private obj(kind: string, name: string): KObj | undefined {
    return this.o.informers.get(kind)?.get(name) as KObj | undefined;
  }

  private async node(v: View, key: string, name: string): Promise<Outcome> {
    const node = this.obj('node', name);
    const host = v.hosts.get(name);
    if (node) {
      const want = hostOfNode(node, this.o.rackLabel);
      if ('skip' in want) {
        await this.refuse(key, node, 'RomanaHostPending', `romana-listener cannot register this node as a host yet: ${want.skip}`);
        return 'done';
      }
      if (!host) {
        try {
          const made = await this.write('node', 'create', () => this.o.romanad.addHost(want));
          v.hosts.set(name, made);
          this.reported.delete(key);
        } catch (e) {
          if (classify(e) !== 'refused') throw e;
          await this.refuse(key, node, 'RomanaRefused', `romanad refused the host: ${(e as Error).message}`);
        }
        return 'done';
      }
      if (host.ip !== want.ip) {
        await this.refuse(key, node, 'RomanaRefused', `romanad has host '${name}' with IP ${host.ip}, but the node's InternalIP is ${want.ip} (a host's IP cannot change; delete and re-create the node)`);
        return 'done';
      }
      if (!sameJson(host.labels, want.labels) || host.draining) {
        try {
          const made = await this.write('node', 'update', () => this.o.romanad.updateHost(name, { labels: want.labels, draining: false }));
          v.hosts.set(name, made);
          this.reported.delete(key);
        } catch (e) {
          if (classify(e) !== 'refused') throw e;
          await this.refuse(key, node, 'RomanaRefused', `romanad refused the node's labels: ${(e as Error).message}`);
        }
      }
      return 'done';
    }
    // The node is gone: its host goes once no address lives on it; until then it takes no new ones.
    if (!host || host.labels?.[MANAGED_LABEL] !== MANAGED_VALUE) return 'done';
    if (!host.draining) v.hosts.set(name, await this.write('node', 'drain', () => this.o.romanad.updateHost(name, { draining: true })));
    try {
      await this.write('node', 'delete', () => this.o.romanad.removeHost(name));
      v.hosts.delete(name);
      this.reported.delete(key);
      return 'done';
    } catch (e) {
      const c = classify(e);
      if (c === 'gone') {
        v.hosts.delete(name);
        return 'done';
      }
      if (c !== 'refused') throw e;
      // Still has addresses: their pods' addresses are released by the sweep; look again later.
      this.queue.add(SWEEP);
      return { after: Math.max(1000, Math.min(this.o.releaseGraceMs, 10_000)) };
    }
  }

  private async namespace(v: View, name: string): Promise<Outcome> {
    const ns = this.obj('ns', name);
    const rec = v.namespaces.get(name);
    if (ns) {
      const want = tenantOfNamespace(ns);
      if (rec && sameJson(rec.labels, want.labels)) return 'done';
      v.namespaces.set(name, await this.write('ns', 'put', () => this.o.romanad.putNamespace(want)));
      return 'done';
    }
    if (!rec) return 'done';
    try {
      await this.write('ns', 'delete', () => this.o.romanad.deleteNamespace(name));
    } catch (e) {
      if (classify(e) !== 'gone') throw e;
    }
    v.namespaces.delete(name);
    return 'done';
  }

  private async pod(v: View, key: string): Promise<Outcome> {
    const pod = this.obj('pod', key);
    const rec = v.pods.get(key);
    if (pod && !isHostNetwork(pod)) {
      const want = metadataOfPod(pod);
      if (rec && sameJson(rec, want)) return 'done';
      if (rec?.uid && rec.uid !== want.uid) this.queue.add(SWEEP, this.o.releaseGraceMs);
      try {
        v.pods.set(key, await this.write('pod', 'put', () => this.o.romanad.putPod(want)));
        this.reported.delete(`pod:${key}`);
      } catch (e) {
        if (classify(e) !== 'refused') throw e;
        await this.refuse(`pod:${key}`, pod, 'RomanaRefused', `romanad refused the pod's metadata: ${(e as Error).message}`);
      }
      return 'done';
    }
    if (!rec) return 'done';
    try {
      await this.write('pod', 'delete', () => this.o.romanad.deletePod(rec.namespace, rec.name));
    } catch (e) {
      if (classify(e) !== 'gone') throw e;
    }
    v.pods.delete(key);
    return 'done';
  }

  private async applyPolicy(v: View, key: string, obj: KObj, want: KObj): Promise<boolean> {
    const text = JSON.stringify(want);
    if (this.refused.get(key) === text) return false;
    try {
      const rec = await this.write(key.slice(0, 2), 'apply', () => this.o.romanad.applyPolicy(want));
      v.policies.set(rec.id, rec);
      this.refused.delete(key);
      this.reported.delete(key);
      return true;
    } catch (e) {
      if (classify(e) !== 'refused') throw e;
      this.refused.set(key, text);
      const had = v.policies.has(key.slice(3));
      await this.refuse(key, obj, 'RomanaRefused', `romanad refused the policy${had ? ' (its previous version stays in force)' : ''}: ${(e as Error).message}`);
      if (key.startsWith('rp:')) {
        this.guard();
        await this.o.reporter.accepted(obj, false, 'Refused', (e as Error).message);
      }
      return false;
    }
  }

  private async deletePolicy(v: View, kind: string, id: string): Promise<void> {
    try {
      await this.write(kind, 'delete', () => this.o.romanad.deletePolicy(id));
    } catch (e) {
      if (classify(e) !== 'gone') throw e;
    }
    v.policies.delete(id);
  }

  private async networkPolicy(v: View, key: string, id: string): Promise<Outcome> {
    const np = this.obj('np', id);
    const rec = v.policies.get(id);
    if (np) {
      const want = policyOfNetworkPolicy(np);
      if (rec && sameJson(rec.object, want)) return 'done';
      await this.applyPolicy(v, key, np, want);
      return 'done';
    }
    this.refused.delete(key);
    if (rec?.kind === 'NetworkPolicy') await this.deletePolicy(v, 'np', id);
    return 'done';
  }

  private async romanaPolicy(v: View, key: string, id: string): Promise<Outcome> {
    const rp = this.obj('rp', id);
    const rec = v.policies.get(id);
    if (rp) {
      if (rec && !isOwnRomanaPolicy(rec.object)) {
        const why = `romanad already holds a Romana policy '${id}' that was not made from Kubernetes; rename one of them`;
        await this.refuse(key, rp, 'RomanaConflict', why);
        this.guard();
        await this.o.reporter.accepted(rp, false, 'Conflict', why);
        return 'done';
      }
      const want = policyOfRomanaPolicy(rp);
      const same = rec !== undefined && sameJson(rec.object, want);
      if (same || (await this.applyPolicy(v, key, rp, want))) {
        this.guard();
        await this.o.reporter.accepted(rp, true, 'Applied', 'romanad holds this policy');
      }
      return 'done';
    }
    this.refused.delete(key);
    if (rec && isOwnRomanaPolicy(rec.object)) await this.deletePolicy(v, 'rp', id);
    return 'done';
  }

  /**
   * Releases the addresses the CNI plugin made for pods that are gone or were replaced (another UID),
   * once they have been so for the grace period; each release is conditional (an address made again
   * meanwhile is kept). Then hosts waiting to be removed are looked at again.
   */
  private async sweep(v: View): Promise<Outcome> {
    const pods = this.o.informers.get('pod');
    if (!pods?.listedOnce) return { after: 500 };
    const now = Date.now();
    let next = Infinity;
    let released = 0;
    const seen = new Set<string>();
    for (const a of await this.o.romanad.addresses()) {
      const at = a.attributes ?? {};
      if (at.plugin !== 'romana-cni' || !at.namespace || !at.pod) continue;
      seen.add(a.name);
      const pod = pods.get(`${at.namespace}/${at.pod}`) as KObj | undefined;
      const orphan = !pod || (at.pod_uid !== undefined && pod.metadata?.uid !== at.pod_uid);
      if (!orphan) {
        this.orphanSince.delete(a.name);
        continue;
      }
      const since = this.orphanSince.get(a.name) ?? now;
      this.orphanSince.set(a.name, since);
      if (now - since < this.o.releaseGraceMs) {
        next = Math.min(next, since + this.o.releaseGraceMs - now);
        continue;
      }
      try {
        await this.write('address', 'release', () => this.o.romanad.releaseIfUnchanged(a));
        released++;
        this.o.log.info({ address: a.name, ip: a.ip, pod: `${at.namespace}/${at.pod}` }, 'released the address of a pod that is gone');
      } catch (e) {
        if (classify(e) === 'transient') throw e; // gone or changed meanwhile: nothing to release
      }
      this.orphanSince.delete(a.name);
    }
    for (const k of [...this.orphanSince.keys()]) if (!seen.has(k)) this.orphanSince.delete(k);
    if (released) for (const h of v.hosts.values()) if (h.draining) this.queue.add(`node:${h.name}`);
    return next === Infinity ? 'done' : { after: next + 50 };
  }
}
