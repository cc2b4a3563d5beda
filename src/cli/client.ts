// The REST client the CLI (and the lab, agent and tests) use to talk to romanad.
import { RomanaError, isErrorKind } from '../core/errors.js';

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token?: string;
  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { method, headers, body: payload });
    } catch (e) {
      throw new RomanaError('unavailable', `cannot reach romanad at ${this.baseUrl}: ${(e as Error).cause ?? (e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const err = json as { error?: string; message?: string } | undefined;
      const kind = isErrorKind(err?.error) ? err.error : res.status >= 500 ? 'internal' : 'invalid';
      throw new RomanaError(kind, err?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    return json as T;
  }
  get<T = unknown>(path: string) { return this.request<T>('GET', path); }
  post<T = unknown>(path: string, body: unknown, contentType?: string) { return this.request<T>('POST', path, body, contentType); }
  put<T = unknown>(path: string, body: unknown) { return this.request<T>('PUT', path, body); }
  del<T = unknown>(path: string) { return this.request<T>('DELETE', path); }
}
