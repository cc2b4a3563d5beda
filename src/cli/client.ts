// The REST client the CLI (and the lab and tests) use to talk to romanad. Answers can be checked
// against the API's schemas, so a server that is not romanad is named as such instead of breaking a
// command halfway; refusals for load (429, and 503 for requests safe to repeat) are retried with
// backoff, honouring Retry-After.
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type Answer, type Endpoint, RefusedError, callFull } from '../client/transport.js';
import { RomanaError } from '../core/errors.js';
import { fieldPath } from '../core/schema/check.js';

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  /** PEM of the CA for an https:// romanad. */
  ca?: string;
  timeoutMs?: number;
  /** How long one request may keep retrying 429/503 answers, in ms (default 0: no retries; the CLI's are 120 s). */
  retryForMs?: number;
}

export interface RequestOptions {
  contentType?: string;
  /** Check the answer's body against this schema (the API's own). */
  answer?: TSchema;
  /** Safe to repeat after a 503 (the request may have happened): GET, PUT, DELETE, and POSTs that replace. */
  idempotent?: boolean;
  /** Told about every retry (bulk commands count them). */
  onRetry?: (status: number, waitMs: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ApiClient {
  readonly baseUrl: string;
  private readonly ep: Endpoint;
  constructor(private readonly opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.ep = { baseUrl: this.baseUrl, token: opts.token, ca: opts.ca };
  }

  async requestFull<T = unknown>(method: string, path: string, body?: unknown, o: RequestOptions = {}): Promise<Answer<T>> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const idempotent = o.idempotent ?? method !== 'POST';
    const deadline = Date.now() + (this.opts.retryForMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      try {
        const a = await callFull<T>(this.ep, { method, path, body: payload, contentType: o.contentType ?? 'application/json', timeoutMs: this.opts.timeoutMs ?? 60000 });
        if (o.answer) checkAnswer(o.answer, a.body, `${method} ${this.baseUrl}${path.split('?')[0]}`);
        return a;
      } catch (e) {
        // Only romanad's own refusals for load: an unreachable or foreign server is reported at once.
        if (!(e instanceof RefusedError) || !(e.status === 429 || (e.status === 503 && idempotent))) throw e;
        const wait = e.retryAfterMs ?? Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (Date.now() + wait > deadline) throw e;
        o.onRetry?.(e.status, wait);
        await sleep(wait);
      }
    }
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, o: RequestOptions | string = {}): Promise<T> {
    return (await this.requestFull<T>(method, path, body, typeof o === 'string' ? { contentType: o } : o)).body;
  }
  get<T = unknown>(path: string, answer?: TSchema) { return this.request<T>('GET', path, undefined, { answer }); }
  post<T = unknown>(path: string, body: unknown, contentType?: string) { return this.request<T>('POST', path, body, { contentType }); }
  put<T = unknown>(path: string, body: unknown) { return this.request<T>('PUT', path, body); }
  del<T = unknown>(path: string) { return this.request<T>('DELETE', path); }

  /** GET, with the answer checked against `schema`, typed by it. */
  fetch<S extends TSchema>(path: string, schema: S): Promise<Static<S>> {
    return this.request<Static<S>>('GET', path, undefined, { answer: schema });
  }
}

function checkAnswer(schema: TSchema, body: unknown, where: string): void {
  if (Value.Check(schema, body)) return;
  const first = Value.Errors(schema, body).First();
  const what = first ? `${fieldPath(first.path, 'answer')}: ${first.message}` : 'unexpected shape';
  throw new RomanaError('unavailable', `${where}: the answer is not romanad's (${what}): is the URL right?`);
}
