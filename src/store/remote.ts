// A StoreReader over romanad's /store/list and /store/watch, for host agents that talk to romanad
// rather than to etcd directly. Reads go through the same keys either way.
import { type Endpoint, call, stream } from '../client/transport.js';
import { RomanaError } from '../core/errors.js';
import type { KeyValue, ListResult, StoreReader, Watch, WatchEvent, WatchHandlers } from './store.js';

export interface RemoteStoreOptions extends Endpoint {
  /** A watch that hears nothing (not even a heartbeat) for this long is taken as dead. */
  idleTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export class RemoteStore implements StoreReader {
  constructor(private readonly opts: RemoteStoreOptions) {}

  private async fetchJson<T>(path: string): Promise<T> {
    try {
      return await call<T>(this.opts, { method: 'GET', path, timeoutMs: this.opts.requestTimeoutMs ?? 5000 });
    } catch (e) {
      // A refused token or role is the operator's to fix; everything else is worth retrying.
      const kind = (e as RomanaError).kind;
      if (kind === 'unauthorized' || kind === 'forbidden' || kind === 'invalid') throw e;
      throw new RomanaError('unavailable', `romanad at ${this.opts.baseUrl}: ${(e as Error).message}`);
    }
  }

  list(prefix: string): Promise<ListResult> {
    return this.fetchJson<ListResult>(`/store/list?prefix=${encodeURIComponent(prefix)}`);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.list(key);
    return r.items.find((kv) => kv.key === key);
  }

  async revision(): Promise<number> {
    return (await this.list('/romana/meta/none')).revision;
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    const ctl = new AbortController();
    // The idle timer below starts with the answer; until then only this bounds a romanad (or a link)
    // gone silent between the agent's listing and its watch, which would otherwise hold it for good.
    const startMs = this.opts.requestTimeoutMs ?? 5000;
    const startTimer = setTimeout(() => ctl.abort(), startMs);
    let res: Awaited<ReturnType<typeof stream>>;
    try {
      res = await stream(this.opts, `/store/watch?prefix=${encodeURIComponent(prefix)}&from=${fromRevision}`, ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) throw new RomanaError('unavailable', `watch: romanad at ${this.opts.baseUrl} did not answer within ${startMs} ms`);
      throw e;
    } finally {
      clearTimeout(startTimer);
    }
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      ctl.abort();
      handlers.onError?.(err);
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(new RomanaError('unavailable', 'watch: no heartbeat from romanad')), this.opts.idleTimeoutMs ?? 15000);
    };
    touch();
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res as AsyncIterable<Uint8Array>) {
          touch();
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const msg = JSON.parse(line) as { events?: WatchEvent[]; error?: string; message?: string };
            if (msg.error) return fail(new RomanaError(msg.error === 'conflict' ? 'conflict' : 'unavailable', `watch: ${msg.message}`));
            if (msg.events && !done) handlers.onEvents(msg.events);
          }
        }
        fail(new RomanaError('unavailable', 'watch: romanad closed the stream'));
      } catch (e) {
        fail(new RomanaError('unavailable', `watch: ${(e as Error).message}`));
      } finally {
        clearTimeout(idle);
      }
    })();
    return {
      close: async () => {
        done = true;
        clearTimeout(idle);
        ctl.abort();
      },
    };
  }

  async close(): Promise<void> {}
}
