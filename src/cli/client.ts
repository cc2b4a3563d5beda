// The REST client the CLI (and the lab and tests) use to talk to romanad.
import { type Endpoint, call } from '../client/transport.js';

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  /** PEM of the CA for an https:// romanad. */
  ca?: string;
  timeoutMs?: number;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly ep: Endpoint;
  constructor(private readonly opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.ep = { baseUrl: this.baseUrl, token: opts.token, ca: opts.ca };
  }

  request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return call<T>(this.ep, { method, path, body: payload, contentType, timeoutMs: this.opts.timeoutMs ?? 60000 });
  }
  get<T = unknown>(path: string) { return this.request<T>('GET', path); }
  post<T = unknown>(path: string, body: unknown, contentType?: string) { return this.request<T>('POST', path, body, contentType); }
  put<T = unknown>(path: string, body: unknown) { return this.request<T>('PUT', path, body); }
  del<T = unknown>(path: string) { return this.request<T>('DELETE', path); }
}
