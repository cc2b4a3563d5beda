// The load's clients, each with its own token as in a real cluster: allocators (one per host, a cni
// token bound to that host) that keep a window of addresses and release the oldest, and one admin
// that creates, replaces and deletes Romana policies and Kubernetes NetworkPolicies.
import { ApiClient } from '../../src/cli/client.js';
import type { Recorder } from './record.js';

export interface Held { name: string; ip: string; host: string }

export class Allocator {
  /** What this client believes it holds, oldest first. */
  readonly held: Held[] = [];
  /** Names whose outcome is unknown (the request failed), with the request: reported apart by the check. */
  readonly uncertain = new Map<string, string>();
  private n = 0;

  constructor(readonly api: ApiClient, readonly host: string, private readonly window: number, private readonly rec: Recorder) {}

  /** One step: release the oldest once the window is full, otherwise allocate. */
  async step(): Promise<void> {
    if (this.held.length >= this.window) {
      const a = this.held.shift()!;
      const r = await this.rec.time('release', () => this.api.del(`/address?addressName=${encodeURIComponent(a.name)}`));
      if (!r.ok) this.uncertain.set(a.name, 'release');
      return;
    }
    const i = this.n++;
    // 4 tenants x 2 segments per host: blocks (/29) fill, empty and get carved again as the window turns.
    const name = `${this.host}-a${i}`;
    const r = await this.rec.time('allocate', () =>
      this.api.post<Held>('/address', { name, host: this.host, tenant: `t${i % 4}`, segment: `s${(i >> 2) % 2}` }));
    if (r.ok) this.held.push({ name, ip: r.value.ip, host: r.value.host });
    else this.uncertain.set(name, 'allocate');
  }
}

const romana = (k: number, v: number) => ({
  id: `load-r${k}`, direction: 'ingress', applied_to: [{ tenant: `t${k % 4}`, segment: 's0' }],
  ingress: [{ peers: [{ tenant: `t${(k + 1) % 4}` }, { cidr: `10.${200 + (k % 50)}.0.0/16` }], rules: [{ protocol: 'tcp', ports: [5000 + v] }, { protocol: 'icmp' }] }],
});
const np = (k: number, v: number) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${k}`, namespace: 'load' },
  spec: {
    podSelector: { matchLabels: { app: `a${k}` } }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 8000 + v }] }],
  },
});

/**
 * Cycles over SLOTS policy ids (half Romana, half NetworkPolicy): create all, replace all, delete
 * all, and again, so creates, replaces and deletes come in equal numbers.
 */
export class PolicyWriter {
  static readonly SLOTS = 16;
  /** Ids believed to exist. */
  readonly existing = new Set<string>();
  readonly uncertain = new Map<string, string>();
  private i = 0;

  constructor(readonly api: ApiClient, private readonly rec: Recorder) {}

  async step(): Promise<void> {
    const i = this.i++;
    const slot = i % PolicyWriter.SLOTS;
    const phase = Math.floor(i / PolicyWriter.SLOTS) % 3;
    const k = slot >> 1;
    const obj = slot % 2 ? np(k, i % 1000) : romana(k, i % 1000);
    const id = slot % 2 ? `load/np-${k}` : `load-r${k}`;
    if (phase < 2) {
      const r = await this.rec.time('policy apply', () => this.api.post<{ id: string }>('/policies', obj));
      if (r.ok && r.value.id !== id) this.rec.fail('policy apply', new Error(`stored under '${r.value.id}', expected '${id}'`));
      if (r.ok) this.existing.add(id);
      else this.uncertain.set(id, 'apply');
    } else {
      const r = await this.rec.time('policy delete', () => this.api.del(`/policies/${encodeURIComponent(id)}`));
      if (r.ok) this.existing.delete(id);
      else this.uncertain.set(id, 'delete');
    }
  }
}

/** Runs each client's steps back to back (one request in flight per client) until `seconds` pass. */
export async function drive(clients: { step(): Promise<void> }[], seconds: number, tick?: (elapsed: number) => void): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const timer = tick ? setInterval(() => tick((performance.now() - t0) / 1000), 10_000) : undefined;
  try {
    await Promise.all(clients.map(async (c) => {
      while (performance.now() < end) await c.step();
    }));
  } finally {
    clearInterval(timer);
  }
  return (performance.now() - t0) / 1000;
}
