// How every client (the CLI, the agent, the CNI plugin, the lab) talks to romanad: node:http(s) with a
// bearer token and an optional CA for romanad's TLS certificate. Not fetch: fetch cannot take a CA
// without an extra dispatcher library, and loading it costs a CNI call more than the request itself.
import { readFileSync } from 'node:fs';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { RomanaError, isErrorKind } from '../core/errors.js';

export interface Endpoint {
  /** http://host:port or https://host:port */
  baseUrl: string;
  token?: string;
  /** PEM of the CA that signed romanad's certificate (https only). */
  ca?: string;
  /** A keep-alive agent for long-running clients that make many requests (romana-listener). */
  agent?: import('node:http').Agent;
}

/** Where a client finds its token and CA: flags first, then the environment. Files are read here. */
export interface EndpointSources { baseUrl: string; token?: string; tokenFile?: string; caFile?: string }

export function endpointOf(s: EndpointSources): Endpoint {
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new RomanaError('invalid', `${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  let url: URL;
  try {
    url = new URL(s.baseUrl);
  } catch {
    throw new RomanaError('invalid', `api: '${s.baseUrl}' is not a URL (http://host:port or https://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RomanaError('invalid', `api: '${s.baseUrl}' must be http:// or https://`);
  const token = s.token ?? (s.tokenFile ? read('token file', s.tokenFile).trim() : undefined);
  if (token !== undefined && (!token || /[\s]/.test(token))) throw new RomanaError('invalid', 'token: must be non-empty and hold no whitespace');
  return { baseUrl: s.baseUrl.replace(/\/+$/, ''), token, ca: s.caFile ? read('CA file', s.caFile) : undefined };
}

export interface CallOptions {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra request headers (e.g. Idempotency-Key). */
  headers?: Record<string, string>;
  /** Called once the request has been handed to the OS (the CNI plugin starts its processes then). */
  onSent?: () => void;
}

async function open(ep: Endpoint, o: CallOptions): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  const url = new URL(ep.baseUrl + o.path);
  const https = url.protocol === 'https:';
  // Synchronous where Node has it (>= 20.16): import() would start Node's ESM loader in a CommonJS
  // bundle (romana-cni), a few ms of a per-pod process, and the request would leave a tick later.
  const mod = process.getBuiltinModule?.(https ? 'node:https' : 'node:http') ?? (https ? await import('node:https') : await import('node:http'));
  const headers: Record<string, string> = { ...o.headers };
  if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  // agent: false: no keep-alive socket holds a short-lived process (CNI, CLI) open after the answer.
  const opts: RequestOptions & { ca?: string } = { method: o.method, headers, agent: ep.agent ?? false, signal: o.signal, ...(https && ep.ca ? { ca: ep.ca } : {}) };
  const where = `${o.method} ${ep.baseUrl}${o.path.split('?')[0]}`;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, opts, (res) => resolve({ req, res }));
    if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no answer in ${o.timeoutMs} ms`)));
    req.on('error', (e) => reject(new RomanaError('unavailable', `cannot reach romanad (${where}): ${tlsHint(e)}`)));
    if (o.onSent) req.once('finish', o.onSent);
    req.end(o.body);
  });
}

function tlsHint(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `${e.message} (is --ca the CA that signed romanad's certificate?)`;
  if (code === 'EPROTO' || /wrong version number/.test(e.message)) return `${e.message} (http:// vs https:// mismatch?)`;
  return e.message;
}

export interface Answer<T> { status: number; headers: IncomingMessage['headers']; body: T }

/** romanad's refusal, with the HTTP status and, for 429/503, how long it asked to wait (Retry-After). */
export class RefusedError extends RomanaError {
  constructor(e: RomanaError, readonly status: number, readonly retryAfterMs?: number) {
    super(e.kind, e.message);
  }
}

function retryAfter(h: IncomingMessage['headers']): number | undefined {
  const v = String(h['retry-after'] ?? '');
  if (/^\d{1,6}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** One request; the answer's JSON, or a RomanaError whose kind is the API's `error`. */
export async function call<T>(ep: Endpoint, o: CallOptions): Promise<T> {
  return (await callFull<T>(ep, o)).body;
}

/**
 * One request, with the answer's status and headers. Whatever answers that is not romanad (an HTML
 * page, a proxy's error, a body that is not JSON) is a one-line error saying so, not its text.
 */
export async function callFull<T>(ep: Endpoint, o: CallOptions): Promise<Answer<T>> {
  const { res } = await open(ep, o);
  const text = await new Promise<string>((resolve, reject) => {
    let t = '';
    res.setEncoding('utf8').on('data', (d: string) => (t += d)).on('end', () => resolve(t)).on('error', reject);
  }).catch((e: Error) => {
    throw new RomanaError('unavailable', `${o.method} ${o.path}: the answer was cut off: ${e.message}`);
  });
  const status = res.statusCode ?? 0;
  const where = `${o.method} ${ep.baseUrl}${o.path.split('?')[0]}`;
  const type = String(res.headers['content-type'] ?? '').split(';')[0].trim();
  let json: unknown;
  let isJson = false;
  try {
    json = text ? JSON.parse(text) : undefined;
    isJson = text !== '' && (type === 'application/json' || type === '');
  } catch {
    /* not JSON: reported below */
  }
  if (status >= 200 && status < 300) {
    if (text !== '' && !isJson) throw new RomanaError('unavailable', `${where}: HTTP ${status} answered ${type || 'something'} that is not JSON: is this romanad?`);
    return { status, headers: res.headers, body: json as T };
  }
  const err = (isJson ? json : undefined) as { error?: unknown; message?: unknown } | undefined;
  const fallback = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : status === 429 ? 'rate_limited' : status >= 502 ? 'unavailable' : status >= 500 ? 'internal' : 'invalid';
  const after = status === 429 || status === 503 ? retryAfter(res.headers) : undefined;
  if (isErrorKind(err?.error) && err.error !== 'usage' && typeof err.message === 'string') throw new RefusedError(new RomanaError(err.error, err.message), status, after);
  // Not romanad's {error, message}: say what came back, in one line.
  throw new RefusedError(new RomanaError(fallback, `${where}: HTTP ${status}${type ? ` (${type})` : ''}, not an answer from romanad: is the URL right?`), status, after);
}

/** A streaming GET: the response body as it arrives. Errors before the first byte are thrown. */
export async function stream(ep: Endpoint, path: string, signal: AbortSignal): Promise<IncomingMessage> {
  const { res } = await open(ep, { method: 'GET', path, signal });
  if ((res.statusCode ?? 0) >= 300) {
    res.resume();
    throw new RomanaError(res.statusCode === 401 ? 'unauthorized' : res.statusCode === 403 ? 'forbidden' : 'unavailable', `GET ${path.split('?')[0]}: HTTP ${res.statusCode}`);
  }
  return res;
}
