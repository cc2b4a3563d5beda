// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the
// leader renews the lease every retry period; a candidate takes it over only once it has seen the
// lease unchanged for a whole lease duration (by its own clock, so clock skew between machines does
// not matter); the leader stops leading when it could not renew within the renew deadline, which is
// shorter than the lease duration, so two listeners never lead at once. Every write the listener makes
// checks `leading()` first.
import { type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onChange: (leading: boolean) => void;
}

const statusOf = (e: unknown) => (e as { code?: number }).code;
const micro = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  /** Until when (local clock) this listener may act as the leader. */
  private validUntil = 0;
  private observed?: { text: string; at: number };
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private wasLeading = false;
  holder = '';

  constructor(private readonly o: LeaderOptions) {
    if (o.renewDeadlineMs >= o.leaseDurationMs) throw new Error('the renew deadline must be shorter than the lease duration');
  }

  /** True while this listener leads, with `marginMs` to spare (a write must finish before the lease could pass on). */
  leading(marginMs = 0): boolean {
    return Date.now() + marginMs < this.validUntil;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.attempt().catch((e: Error) => this.o.log.warn({ err: e.message }, 'lease: could not acquire or renew'));
      this.changed();
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.retryPeriodMs);
    };
    void tick();
  }

  private changed(): void {
    const now = this.leading();
    if (now !== this.wasLeading) {
      this.wasLeading = now;
      this.o.log.info({ lease: `${this.o.namespace}/${this.o.name}` }, now ? 'became the leader' : 'stopped leading');
      this.o.onChange(now);
    }
  }

  private async attempt(): Promise<void> {
    const { api, namespace, name, identity } = this.o;
    const t0 = Date.now();
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
    const now = new Date();
    const spec = {
      holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      acquireTime: now, renewTime: now, leaseTransitions: 0,
    };
    if (!lease) {
      try {
        await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: spec as never } });
        this.won(t0, identity);
      } catch (e) {
        if (statusOf(e) !== 409) throw e;
      }
      return;
    }
    const s = lease.spec ?? {};
    const text = JSON.stringify([s.holderIdentity, s.renewTime, s.leaseTransitions, s.acquireTime]);
    if (this.observed?.text !== text) this.observed = { text, at: t0 };
    this.holder = s.holderIdentity ?? '';
    const mine = s.holderIdentity === identity;
    const held = !!s.holderIdentity && this.observed.at + this.o.leaseDurationMs > t0;
    if (!mine && held) {
      this.validUntil = 0;
      return;
    }
    const next = {
      ...lease,
      spec: {
        ...s, ...spec,
        acquireTime: mine ? s.acquireTime : now,
        leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      await api.replaceNamespacedLease({ name, namespace, body: next as V1Lease });
      this.won(t0, identity);
    } catch (e) {
      if (statusOf(e) !== 409) throw e; // someone else wrote it first: look again next time
    }
  }

  private won(t0: number, identity: string): void {
    this.validUntil = t0 + this.o.renewDeadlineMs;
    this.holder = identity;
    this.observed = undefined;
  }

  /** Stops; a leader hands the lease back so another takes over at once (client-go's ReleaseOnCancel). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const was = this.leading();
    this.validUntil = 0;
    this.changed();
    if (!was) return;
    const { api, namespace, name } = this.o;
    try {
      const lease = await api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: micro(new Date()) as never } } });
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'lease: could not hand it back');
    }
  }
}
