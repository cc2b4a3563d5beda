// Store on etcd v3 (npm `etcd3`), for multi-node installs. Keys are stored as `<namespace><key>`.
//
// Things about etcd (3.4) and etcd3 (1.1.2) this file relies on, checked against a real server:
// - A compare `mod_revision == 0` on a missing key holds (etcd compares against an empty KeyValue), so
//   `modRevision: 0` means "absent" with no special casing. A *value* compare on a missing key always
//   fails, even against ''.
// - Revisions are the cluster's: a fresh etcd is at revision 1 (not 0), and every namespace on one
//   cluster shares the counter. A txn that changes nothing (no ops, or deleting missing keys) does not
//   bump it.
// - A txn may not touch a key twice, and by default holds at most 128 ops (`--max-txn-ops`).
// - etcd3's `dialTimeout` option is not used by the library; a deadline per call is what bounds a call
//   when etcd is down or hung. Its default fault handling retries calls (ambiguous for writes: a
//   lost response to a txn that did commit turns into a failed compare) and opens a circuit breaker
//   that keeps failing calls for 5 s after etcd is back; we replace both (see `failover`).
// - A watch whose start revision is compacted is created, then canceled with an empty cancel reason;
//   etcd3 reports that as an 'error' ("Watcher canceled: "). A broken stream is a 'disconnected' event,
//   after which etcd3 would silently reconnect; we end the watch instead, as the Store contract says.

import { createRequire } from 'node:module';
import type * as Etcd3Lib from 'etcd3';
import type { IKeyValue, IOptions, IWatchResponse, Watcher } from 'etcd3';
import { setTimeout as sleep } from 'node:timers/promises';
import { RomanaError } from '../core/errors.js';
import type { Compare, KeyValue, ListResult, Op, Read, ReadResult, Store, TxnResult, Watch, WatchEvent, WatchHandlers } from './store.js';
import { checkFromRevision, checkKey, compactedError, groupByRevision, validateReads, validateTxn, WatchDelivery } from './shared.js';

// etcd3 and gRPC under it take ~30 MiB when loaded: only processes that use etcd load them.
let lib: typeof Etcd3Lib | undefined;
const etcd3 = (): typeof Etcd3Lib => (lib ??= createRequire(import.meta.url)('etcd3') as typeof Etcd3Lib);

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /**
   * Prepended to every key, so several users (test runs, clusters) can share one etcd. Default ''.
   * Namespaces sharing an etcd must not be prefixes of one another: '/a' would see '/ab''s keys.
   */
  namespace?: string;
  /** Deadline for each call and for starting a watch, in ms (default 3000). */
  requestTimeoutMs?: number;
  /** TLS to etcd (https:// endpoints): the CA (PEM), and a client certificate and key for mutual TLS. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

const DEFAULT_REQUEST_TIMEOUT_MS = 3000;
const WATCH_CANCEL_TIMEOUT_MS = 2000;

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

export class EtcdStore implements Store {
  readonly backend = 'etcd' as const;
  private readonly client: Etcd3Lib.Etcd3;
  private readonly ns: Buffer;
  private readonly timeoutMs: number;
  private readonly where: string;
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new RomanaError('invalid', 'etcd store: no endpoints given');
    this.ns = Buffer.from(opts.namespace ?? '');
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.where = opts.endpoints.join(',');
    this.client = new (etcd3().Etcd3)({
      hosts: opts.endpoints,
      ...(opts.tls ? { credentials: { rootCertificate: opts.tls.ca as Buffer /* none: the system's CAs */, ...(opts.tls.cert ? { certChain: opts.tls.cert } : {}), ...(opts.tls.key ? { privateKey: opts.tls.key } : {}) } } : {}),
      // Streams (watches) live indefinitely; every other call gets a deadline.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      faultHandling: { global: failover(opts.endpoints.length), host: () => failover(1) },
      grpcOptions: {
        'grpc.max_receive_message_length': -1, // large listings; grpc's default cap is 4 MiB
        // Notice a silently dead server on watch streams. etcd refuses pings more often than every 5 s.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.call('get', () => this.client.kv.range({ key: this.full(key) }));
    return res.kvs.length > 0 ? this.toKeyValue(res.kvs[0]) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    const range = etcd3().Range.prefix(this.full(prefix));
    // etcd returns a range sorted by key bytes, at one revision: exactly the contract.
    const res = await this.call('list', () => this.client.kv.range({ key: range.start, range_end: range.end }));
    return { items: res.kvs.map((kv) => this.toKeyValue(kv)), revision: Number(res.header.revision) };
  }

  async put(key: string, value: string): Promise<number> {
    return (await this.txn([], [{ type: 'put', key, value }])).revision;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const res = await this.call('delete', () => this.client.kv.deleteRange({ key: this.full(key) }));
    return Number(res.deleted) > 0;
  }

  async read(reads: Read[]): Promise<ReadResult> {
    validateReads(reads);
    if (reads.length === 1) {
      // One range call is what a txn of one read would cost, minus the txn's wrapping.
      const res = await this.call('read', () => this.client.kv.range(this.rangeOf(reads[0])));
      return { results: [res.kvs.map((kv) => this.toKeyValue(kv))], revision: Number(res.header.revision) };
    }
    // A txn of range requests only is a read-only txn: served at one revision, never through raft.
    const res = await this.call('read', () => this.client.kv.txn({ compare: [], success: reads.map((r) => ({ request_range: this.rangeOf(r) })), failure: [] }));
    return { results: res.responses.map((r) => r.response_range.kvs.map((kv) => this.toKeyValue(kv))), revision: Number(res.header.revision) };
  }

  async txn(compares: Compare[], success: Op[], failureReads: Read[] = []): Promise<TxnResult> {
    validateTxn(compares, success);
    validateReads(failureReads);
    const res = await this.call('txn', () =>
      this.client.kv.txn({
        compare: compares.map((c) =>
          'modRevision' in c
            ? { key: this.full(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision }
            : { key: this.full(c.key), target: 'Value', result: 'Equal', value: Buffer.from(c.value) },
        ),
        success: success.map((op) =>
          op.type === 'put'
            ? { request_put: { key: this.full(op.key), value: Buffer.from(op.value) } }
            : { request_delete_range: { key: this.full(op.key) } },
        ),
        failure: failureReads.map((r) => ({ request_range: this.rangeOf(r) })),
      }),
    );
    const revision = Number(res.header.revision);
    if (res.succeeded || failureReads.length === 0) return { succeeded: res.succeeded, revision };
    return { succeeded: false, revision, reads: res.responses.map((r) => r.response_range.kvs.map((kv) => this.toKeyValue(kv))) };
  }

  private rangeOf(r: Read): { key: Buffer; range_end?: Buffer } {
    if ('key' in r) return { key: this.full(r.key) };
    const range = etcd3().Range.prefix(this.full(r.prefix));
    return { key: range.start, range_end: range.end };
  }

  async revision(): Promise<number> {
    // Any read carries the current revision in its header; count_only keeps it tiny.
    const res = await this.call('revision', () => this.client.kv.range({ key: this.full('\0'), count_only: true }));
    return Number(res.header.revision);
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    this.checkOpen();
    // etcd reads start_revision 0 as "from now"; the contract means "all retained history".
    const from = checkFromRevision(fromRevision);
    const range = etcd3().Range.prefix(this.full(prefix));
    const watcher = this.client.watch().inRange(range).startRevision(String(from)).watcher();
    const watch = new EtcdWatch(this, watcher, prefix, from, handlers);
    this.watches.add(watch);
    await watch.started(this.timeoutMs, this.where);
    return watch;
  }

  /** Compacts etcd's history before `revision` (cluster-wide). Watches from earlier revisions then fail. */
  async compact(revision: number): Promise<void> {
    try {
      await this.call('compact', () => this.client.kv.compact({ revision: String(revision), physical: true }));
    } catch (err) {
      if (!/compacted/.test((err as Error).message)) throw err; // already compacted past it: fine
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    this.client.close();
  }

  /** @internal EtcdWatch calls this when it ends. */
  detach(w: EtcdWatch): void {
    this.watches.delete(w);
  }

  /** @internal */
  toStoreKey(key: Buffer): string {
    return key.subarray(this.ns.length).toString('utf8');
  }

  private full(key: string): Buffer {
    return Buffer.concat([this.ns, Buffer.from(key)]);
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.toStoreKey(kv.key),
      value: kv.value.toString('utf8'),
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new RomanaError('unavailable', 'the etcd store is closed');
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      return await fn();
    } catch (err) {
      throw toRomanaError(err, `etcd ${what} (${this.where})`);
    }
  }
}

class EtcdWatch implements Watch {
  private readonly delivery: WatchDelivery;
  private connected = false;
  private startFailed: ((err: Error) => void) | undefined;
  private released: Promise<unknown> | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly watcher: Watcher,
    private readonly prefix: string,
    from: number,
    handlers: WatchHandlers,
  ) {
    this.delivery = new WatchDelivery(`watch '${prefix}'`, handlers, () => void this.release());
    // Listeners go on before anything can be emitted: etcd3 throws on an 'error' with no listener.
    watcher.on('data', (res) => this.onData(res));
    watcher.on('disconnected', (err) => this.end(new RomanaError('unavailable', `etcd watch '${prefix}' disconnected: ${err.message}`)));
    watcher.on('error', (err) => {
      const reason = err.message.replace(/^.*Watcher canceled:\s*/s, '');
      // etcd cancels with an empty reason exactly when the start revision has been compacted.
      this.end(reason === '' ? compactedError(prefix, from, 'etcd has compacted that history') : toRomanaError(err, `etcd watch '${prefix}'`));
    });
  }

  /** Resolves once etcd has accepted the watch; rejects (and ends the watch) on failure or timeout. */
  started(timeoutMs: number, where: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.end(new RomanaError('unavailable', `etcd watch '${this.prefix}' (${where}): not started within ${timeoutMs} ms`));
      }, timeoutMs);
      this.watcher.once('connected', () => {
        clearTimeout(timer);
        this.connected = true;
        resolve();
      });
      this.startFailed = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }

  private onData(res: IWatchResponse): void {
    if (!this.delivery.active) return;
    const events: WatchEvent[] = res.events.map((ev) =>
      ev.type === 'Put'
        ? { type: 'put', key: this.store.toStoreKey(ev.kv.key), value: ev.kv.value.toString('utf8'), revision: Number(ev.kv.mod_revision) }
        : { type: 'delete', key: this.store.toStoreKey(ev.kv.key), revision: Number(ev.kv.mod_revision) },
    );
    // etcd sends a whole txn in one response, but one response may hold several revisions (replay).
    for (const batch of groupByRevision(events)) this.delivery.push(batch);
  }

  private end(err: Error): void {
    if (!this.connected && this.startFailed) {
      this.delivery.stop(); // the caller gets the rejection instead of onError
      this.startFailed(err);
    } else {
      this.delivery.fail(err);
    }
    void this.release(); // stop listening now, even while the error waits for delivery
  }

  /** Detaches from etcd3's watch manager (so it will not resubscribe this watcher); bounded, idempotent. */
  private release(): Promise<unknown> {
    if (!this.released) {
      this.store.detach(this);
      this.released = withTimeout(this.watcher.cancel(), WATCH_CANCEL_TIMEOUT_MS).catch(() => undefined);
    }
    return this.released;
  }

  async close(): Promise<void> {
    this.delivery.stop();
    await this.release();
  }
}

/**
 * A fault-handling policy for etcd3 that retries only calls that were never sent (no connection could be
 * made), on the next host, and never anything that may have reached etcd. No circuit breaker: the
 * first call after etcd comes back goes through.
 */
function failover(maxAttempts: number): Policy {
  const policy = {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({ signal: new AbortController().signal });
        } catch (err) {
          const neverSent = err instanceof etcd3().GRPCUnavailableError && /No connection established|ECONNREFUSED/.test(err.message);
          if (!neverSent || attempt >= maxAttempts) throw err;
        }
      }
    },
  };
  // etcd3 only ever calls `execute`; the rest of cockatiel's IPolicy (events, ...) is unused.
  return policy as unknown as Policy;
}

function toRomanaError(err: unknown, what: string): RomanaError {
  if (err instanceof RomanaError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/too many operations|request is too large|larger than max/i.test(msg) || err instanceof etcd3().GRPCResourceExhastedError) {
    return new RomanaError('too_large', `${what}: ${msg} (etcd's limits: raise etcd's --max-txn-ops, default 128 operations, or --max-request-bytes, default 1.5 MiB)`);
  }
  if (err instanceof etcd3().GRPCInvalidArgumentError) return new RomanaError('invalid', `${what}: ${msg}`);
  const unavailable =
    err instanceof etcd3().GRPCUnavailableError ||
    err instanceof etcd3().GRPCDeadlineExceededError ||
    err instanceof etcd3().GRPCCancelledError ||
    err instanceof etcd3().ClientClosedError ||
    err instanceof etcd3().EtcdWatchStreamEnded ||
    /etcdserver: (request timed out|no leader|leader changed|too many requests)|Deadline exceeded|circuit/i.test(msg);
  return new RomanaError(unavailable ? 'unavailable' : 'internal', `${what}: ${unavailable ? 'etcd unavailable: ' : ''}${msg}`);
}

/** Waits for `p`, but at most `ms` (then resolves undefined); does not keep the process alive. */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { ref: false, signal: ac.signal }).catch(() => undefined);
  try {
    return await Promise.race([p, timeout]);
  } finally {
    ac.abort();
  }
}
