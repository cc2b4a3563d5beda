// The console's only way out: romanad's public API on this page's own origin, with the token the user
// typed in (kept in session storage: gone when the tab closes).
const TOKEN_KEY = 'romana.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The API's error body {error, message}, with the HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly kind: string, message: string) {
    super(message);
  }
}

/** Called when the token stops working (401), so the app can ask for a new one. */
let onUnauthorized: (e: ApiError) => void = () => undefined;
export const setUnauthorizedHandler = (f: (e: ApiError) => void) => void (onUnauthorized = f);

function headers(extra: Record<string, string> = {}, t = token.get()): Record<string, string> {
  return { accept: 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}), ...extra };
}

async function failure(r: Response): Promise<ApiError> {
  let body: { error?: string; message?: string } = {};
  try {
    body = await r.json();
  } catch {
    // not the API's JSON (a proxy's page): the status says enough
  }
  return new ApiError(r.status, body.error ?? `http_${r.status}`, body.message ?? `${r.status} ${r.statusText}`);
}

export interface RequestOptions { body?: unknown; text?: string; contentType?: string; token?: string; signal?: AbortSignal }

export async function request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
  const body = o.text ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const ct = o.text !== undefined ? (o.contentType ?? 'application/yaml') : 'application/json';
  const r = await fetch(path, {
    method, body, signal: o.signal, credentials: 'omit', cache: 'no-store',
    headers: headers(body !== undefined ? { 'content-type': ct } : {}, o.token ?? token.get()),
  });
  if (!r.ok) {
    const e = await failure(r);
    if (e.status === 401 && o.token === undefined) onUnauthorized(e);
    throw e;
  }
  return (r.status === 204 ? undefined : await r.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, { signal });

/** Lists are `{key: [...], revision}` (older romanads answered some with a bare array). */
export function listOf<T>(r: unknown, key: string): T[] {
  if (Array.isArray(r)) return r as T[];
  const v = (r as Record<string, unknown> | null)?.[key];
  return Array.isArray(v) ? (v as T[]) : [];
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'refused';

/**
 * Reads a server-sent event stream with fetch (EventSource cannot send the Authorization header) and
 * calls `onEvent` per event; reconnects after a drop. Returns a function that stops it.
 */
export function subscribe(path: string, onEvent: (type: string, data: string) => void, onState: (s: StreamState, err?: ApiError) => void): () => void {
  const ctrl = new AbortController();
  let retryMs = 2000;
  const run = async () => {
    while (!ctrl.signal.aborted) {
      try {
        onState('connecting');
        const r = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal: ctrl.signal, credentials: 'omit', cache: 'no-store' });
        if (!r.ok || !r.body) {
          const e = await failure(r);
          if (e.status === 401) onUnauthorized(e);
          if (e.status === 401 || e.status === 403) return onState('refused', e);
          throw e;
        }
        onState('live');
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let at: number;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, at);
            buf = buf.slice(at + 2);
            let type = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
              else if (line.startsWith('retry:')) retryMs = Number(line.slice(6)) || retryMs;
            }
            if (data.length) onEvent(type, data.join('\n'));
          }
        }
      } catch (e) {
        if (ctrl.signal.aborted) return;
        void e;
      }
      onState('reconnecting');
      await new Promise((ok) => setTimeout(ok, retryMs));
    }
  };
  void run();
  return () => ctrl.abort();
}
