// romanad as the listener uses it: the calls of its role (role listener in the auth file), over one
// keep-alive connection pool.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { type Endpoint, call } from '../client/transport.js';
import type { PolicyRecord } from '../control/policies.js';
import type { AddressRecord, HostRecord } from '../control/records.js';
import type { HostWant, PodWant } from './mapping.js';

export type Host = HostRecord & { draining?: boolean };
export interface Tenant { name: string; labels: Record<string, string> }
export type Pod = PodWant;

export class Romanad {
  private readonly ep: Endpoint;

  constructor(ep: Endpoint, private readonly timeoutMs = 15000) {
    const agent = ep.baseUrl.startsWith('https:') ? new HttpsAgent({ keepAlive: true, maxSockets: 32, ...(ep.ca ? { ca: ep.ca } : {}) }) : new HttpAgent({ keepAlive: true, maxSockets: 32 });
    this.ep = { ...ep, agent };
  }

  private req<T>(method: string, path: string, body?: unknown): Promise<T> {
    return call<T>(this.ep, { method, path, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: this.timeoutMs });
  }

  async hosts(): Promise<Host[]> { return (await this.req<{ hosts: Host[] }>('GET', '/hosts')).hosts; }
  addHost(h: HostWant) { return this.req<Host>('POST', '/hosts', h); }
  updateHost(name: string, body: { labels?: Record<string, string>; draining?: boolean }) { return this.req<Host>('PUT', `/hosts/${encodeURIComponent(name)}`, body); }
  removeHost(name: string) { return this.req<void>('DELETE', `/hosts/${encodeURIComponent(name)}`); }

  async namespaces(): Promise<Tenant[]> { return (await this.req<{ namespaces: Tenant[] }>('GET', '/namespaces')).namespaces; }
  putNamespace(t: Tenant) { return this.req<Tenant>('PUT', `/namespaces/${encodeURIComponent(t.name)}`, { labels: t.labels }); }
  deleteNamespace(name: string) { return this.req<void>('DELETE', `/namespaces/${encodeURIComponent(name)}`); }

  async pods(): Promise<Pod[]> { return (await this.req<{ pods: Pod[] }>('GET', '/pods')).pods; }
  putPod(p: Pod) {
    const { namespace, name, ...body } = p;
    return this.req<Pod>('PUT', `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`, body);
  }
  deletePod(namespace: string, name: string) { return this.req<void>('DELETE', `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`); }

  async policies(): Promise<PolicyRecord[]> { return (await this.req<{ policies: PolicyRecord[] }>('GET', '/policies')).policies; }
  applyPolicy(obj: unknown) { return this.req<PolicyRecord>('POST', '/policies', obj); }
  deletePolicy(id: string) { return this.req<PolicyRecord>('DELETE', `/policies/${encodeURIComponent(id)}`); }

  async addresses(): Promise<AddressRecord[]> { return (await this.req<{ addresses: AddressRecord[] }>('GET', '/addresses')).addresses; }
  /** Releases the address only if it is still the one seen (same IP, same allocation time). */
  releaseIfUnchanged(a: AddressRecord) {
    return this.req<AddressRecord>('POST', '/ipam/release', { name: a.name, ip: a.ip, ...(a.created_at ? { created_at: a.created_at } : {}) });
  }
}
