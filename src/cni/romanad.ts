// The few romanad calls the plugin makes, through the clients' shared transport (node:http(s), which
// loads much faster than fetch: that matters for a process started once per pod).
import { readFileSync } from 'node:fs';
import { type Endpoint, call } from '../client/transport.js';
import { RomanaError } from '../core/errors.js';
import { Code, cniError } from './spec.js';

export interface AddressRecord {
  name: string; ip: string; host: string; tenant: string; segment: string; network: string; block: string;
  attributes?: Record<string, string>;
  created_at?: string;
}
export interface AllocateRequest {
  name: string; host: string; tenant: string; segment?: string; attributes?: Record<string, string>;
  /** This address, or a refusal naming why not. */
  ip?: string;
  /** The segment is this pod's label in romanad's pod metadata; `segment` when it has none. */
  segment_from_pod?: { namespace: string; name: string; label: string };
}

export class Romanad {
  private readonly ep: Endpoint;
  constructor(base: string, tokenFile?: string, caFile?: string, private readonly timeoutMs = 15000) {
    const read = (key: string, file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw cniError(Code.invalidConfig, `${key} ${file} cannot be read: ${(e as Error).message}`);
      }
    };
    this.ep = { baseUrl: base.replace(/\/+$/, ''), token: tokenFile ? read('romana_token_file', tokenFile).trim() : undefined, ca: caFile ? read('romana_ca_file', caFile) : undefined };
  }

  /**
   * POST /address, retry-safe: should this name exist already on this host for this owner (an ADD
   * retried after a lost answer), romanad answers that record. One round trip either way.
   */
  allocate(req: AllocateRequest, onSent?: () => void) {
    return call<AddressRecord>(this.ep, { method: 'POST', path: '/address', body: JSON.stringify(req), timeoutMs: this.timeoutMs, headers: { 'idempotency-key': req.name }, onSent });
  }

  /** The record, or undefined when romanad has no address of that name. */
  async get(name: string): Promise<AddressRecord | undefined> {
    return this.call<AddressRecord>('GET', `/address/${encodeURIComponent(name)}`).catch(missingIsUndefined);
  }

  /** Releases by name; already gone is success (undefined). */
  async release(name: string): Promise<AddressRecord | undefined> {
    return this.call<AddressRecord>('DELETE', `/address?name=${encodeURIComponent(name)}`).catch(missingIsUndefined);
  }

  /**
   * Releases the address only if it is still the record the caller saw (same IP, same allocation
   * time); already gone is success (undefined), a changed record is a `conflict`.
   */
  async releaseIfUnchanged(a: Pick<AddressRecord, 'name' | 'ip' | 'created_at'>): Promise<AddressRecord | undefined> {
    const body = { name: a.name, ip: a.ip, ...(a.created_at ? { created_at: a.created_at } : {}) };
    return this.call<AddressRecord>('POST', '/ipam/release', body).catch(missingIsUndefined);
  }

  /** A Kubernetes pod's metadata (romana-listener keeps it), or undefined when romanad does not know the pod. */
  async pod(namespace: string, name: string): Promise<{ labels: Record<string, string>; uid?: string } | undefined> {
    return this.call<{ labels: Record<string, string>; uid?: string }>('GET', `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`).catch(missingIsUndefined);
  }

  async addresses(host: string): Promise<AddressRecord[]> {
    return (await this.call<{ addresses: AddressRecord[] }>('GET', `/addresses?host=${encodeURIComponent(host)}`)).addresses;
  }

  healthz(timeoutMs: number) { return this.call('GET', '/healthz', undefined, timeoutMs); }

  private call<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs, headers?: Record<string, string>): Promise<T> {
    return call<T>(this.ep, { method, path, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs, headers });
  }
}

function missingIsUndefined(e: unknown): undefined {
  if (e instanceof RomanaError && e.kind === 'not_found') return undefined;
  throw e;
}
