// The few romanad calls the plugin makes, over node:http(s) rather than fetch: loading fetch's
// implementation costs a CNI call more than the request itself.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { RomanaError, isErrorKind } from '../core/errors.js';
import { Code, cniError } from './spec.js';

export interface AddressRecord {
  name: string; ip: string; host: string; tenant: string; segment: string; network: string; block: string;
  attributes?: Record<string, string>;
}
export interface AllocateRequest { name: string; host: string; tenant: string; segment?: string; attributes?: Record<string, string> }

export class Romanad {
  private token?: string;
  constructor(private readonly base: string, tokenFile?: string, private readonly timeoutMs = 15000) {
    if (tokenFile) {
      try {
        this.token = readFileSync(tokenFile, 'utf8').trim();
      } catch (e) {
        throw cniError(Code.invalidConfig, `romana_token_file ${tokenFile} cannot be read: ${(e as Error).message}`);
      }
    }
  }

  allocate(req: AllocateRequest) { return this.call<AddressRecord>('POST', '/address', req); }

  /** The record, or undefined when romanad has no address of that name. */
  async get(name: string): Promise<AddressRecord | undefined> {
    return this.call<AddressRecord>('GET', `/address/${encodeURIComponent(name)}`).catch(missingIsUndefined);
  }

  /** Releases by name; already gone is success (undefined). */
  async release(name: string): Promise<AddressRecord | undefined> {
    return this.call<AddressRecord>('DELETE', `/address?addressName=${encodeURIComponent(name)}`).catch(missingIsUndefined);
  }

  async addresses(host: string): Promise<AddressRecord[]> {
    return (await this.call<{ addresses: AddressRecord[] }>('GET', `/addresses?host=${encodeURIComponent(host)}`)).addresses;
  }

  healthz(timeoutMs: number) { return this.call('GET', '/healthz', undefined, timeoutMs); }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const url = new URL(this.base + path);
    const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    // agent: false: no keep-alive socket holding the process open after the answer.
    const opts: RequestOptions = { method, headers, timeout: timeoutMs, agent: false };
    const where = `${method} ${this.base}${path.split('?')[0]}`;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = mod.request(url, opts, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => reject(new RomanaError('unavailable', `cannot reach romanad (${where}): ${e.message}`)));
      req.end(payload);
    });
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: reported below */
    }
    if (status >= 200 && status < 300) return json as T;
    const err = json as { error?: string; message?: string } | undefined;
    const kind = isErrorKind(err?.error) ? err.error : status >= 500 ? 'unavailable' : 'invalid';
    throw new RomanaError(kind, `${where}: ${err?.message ?? `HTTP ${status} ${text.slice(0, 200)}`}`);
  }
}

function missingIsUndefined(e: unknown): undefined {
  if (e instanceof RomanaError && e.kind === 'not_found') return undefined;
  throw e;
}
