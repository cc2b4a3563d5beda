// `romana ipam check`: reads one consistent snapshot of the IPAM keys, asks the core what is wrong
// (leaks judged by the host agents' reports), and repairs what is safe, each repair a compare-and-swap
// against the snapshot, so nothing that moved since the check is touched. Agents' reports land here too.
import {
  type CheckAddress, type CheckBlock, type CheckResult, type Finding, type HostReport, type RepairAction, checkIpam, reportLiveness,
} from '../core/ipam/check.js';
import { RomanaError, notFound } from '../core/errors.js';
import { formatIp, parseIp } from '../core/net/ipv4.js';
import type { Compare } from '../store/store.js';
import { ADDRESSES, BLOCKS, HOSTS, HOST_STATUS, IPS, ROOT, addressKey, hostKey, hostStatusKey, ipIndexKey } from './keys.js';
import type { Ipam } from './ipam.js';
import type { HostStatusRecord, PendingReleaseView } from './records.js';
import { type ControlState, del, put, unchanged } from './state.js';

export interface CheckOptions {
  /** A host report older than this leaves its host's addresses unjudged. */
  staleSeconds?: number;
  /** Addresses younger than this at report time are not judged (an ADD may be in progress). */
  graceSeconds?: number;
}
export const DEFAULT_STALE_SECONDS = 120;
export const DEFAULT_GRACE_SECONDS = 60;

export interface HostLiveness {
  host: string; report: 'fresh' | 'stale' | 'none'; received_at?: string; age_seconds?: number; addresses: number; last_applied_revision?: number;
  /** Releases waiting on the host (romanad was unreachable at DEL), as its last report listed them. */
  pending_releases?: PendingReleaseView[];
}

export interface CheckReport extends CheckResult {
  checked_at: string;
  /** The store revision of the snapshot. */
  revision: number;
  summary: { addresses: number; blocks: number; hosts: number; problems: number; repairable: number; unjudged: number };
  hosts: HostLiveness[];
}

export interface RepairOutcome { kind: string; subject: string; action: RepairAction; result: 'repaired' | 'skipped'; detail?: string }
export interface RepairReport extends CheckReport { repaired: RepairOutcome[] }

interface Snapshot { revision: number; mods: Map<string, number>; input: Parameters<typeof checkIpam>[0]; reports: HostReport[] }

const key = (prefix: string, k: string) => decodeURIComponent(k.slice(prefix.length));

export class IpamCheck {
  constructor(private readonly s: ControlState, private readonly ipam: Ipam) {}

  /** PUT /hosts/:name/status: the report is stamped with this romanad's clock. */
  async report(host: string, body: Omit<HostStatusRecord, 'host' | 'received_at'>): Promise<HostStatusRecord> {
    if (!(await this.s.store.get(hostKey(host)))) throw notFound(`host '${host}' does not exist`);
    const { pending_releases, ...rest } = body;
    const rec: HostStatusRecord = {
      ...rest, host, received_at: new Date().toISOString(), interfaces: [...new Set(body.interfaces)].sort(),
      ...(pending_releases?.length ? { pending_releases } : {}),
    };
    await this.s.store.put(hostStatusKey(host), JSON.stringify(rec));
    return rec;
  }

  async hostStatus(host: string): Promise<HostStatusRecord> {
    const kv = await this.s.store.get(hostStatusKey(host));
    if (!kv) throw notFound(`host '${host}' has not reported its status`);
    return JSON.parse(kv.value) as HostStatusRecord;
  }

  private async snapshot(): Promise<Snapshot> {
    // One listing of the whole state is one revision: addresses, blocks and index agree with each other.
    const all = await this.s.store.list(ROOT);
    const mods = new Map<string, number>();
    const reports: HostReport[] = [];
    const input: Snapshot['input'] = { addresses: [], ipIndex: [], blocks: [], hosts: [], reportingHosts: [], hostIps: [], unreadable: [] };
    const json = <T>(k: string, v: string): T | undefined => {
      try {
        return JSON.parse(v) as T;
      } catch {
        input.unreadable!.push({ id: k, why: 'not JSON' });
        return undefined;
      }
    };
    for (const kv of all.items) {
      mods.set(kv.key, kv.modRevision);
      if (kv.key.startsWith(ADDRESSES)) {
        const a = json<CheckAddress>(kv.key, kv.value);
        if (a) input.addresses.push(a);
      } else if (kv.key.startsWith(IPS)) {
        const name = kv.value;
        const hex = kv.key.slice(IPS.length);
        if (/^[0-9a-f]{8}$/.test(hex)) input.ipIndex.push({ ip: formatIp(parseInt(hex, 16)), address: name });
        else input.unreadable!.push({ id: kv.key, why: 'not an IP index key' });
      } else if (kv.key.startsWith(BLOCKS)) {
        const b = json<Omit<CheckBlock, 'id'>>(kv.key, kv.value);
        if (b) input.blocks.push({ ...b, id: kv.key });
      } else if (kv.key.startsWith(HOSTS)) {
        input.hosts.push(key(HOSTS, kv.key));
        const h = json<{ name: string; ip: string }>(kv.key, kv.value);
        if (h && typeof h.ip === 'string') input.hostIps!.push({ host: h.name, ip: h.ip });
      } else if (kv.key.startsWith(HOST_STATUS)) {
        input.reportingHosts!.push(key(HOST_STATUS, kv.key));
        const r = json<HostReport>(kv.key, kv.value);
        if (r) reports.push(r);
      }
    }
    return { revision: all.revision, mods, input, reports };
  }

  async check(o: CheckOptions = {}): Promise<CheckReport> {
    return (await this.run(o)).report;
  }

  private async run(o: CheckOptions): Promise<{ report: CheckReport; snap: Snapshot }> {
    const snap = await this.snapshot();
    const now = Date.now();
    const staleMs = (o.staleSeconds ?? DEFAULT_STALE_SECONDS) * 1000;
    const result = checkIpam(snap.input, reportLiveness(snap.reports, now, { staleMs, graceMs: (o.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000 }));
    const byHost = new Map(snap.reports.map((r) => [r.host, r]));
    const hosts: HostLiveness[] = snap.input.hosts.map((host) => {
      const r = byHost.get(host);
      const addresses = snap.input.addresses.filter((a) => a.host === host).length;
      if (!r) return { host, report: 'none', addresses };
      const age = (now - Date.parse(r.received_at)) / 1000;
      const pending = (r as HostStatusRecord).pending_releases;
      return {
        host, report: age * 1000 > staleMs ? 'stale' : 'fresh', received_at: r.received_at, age_seconds: Math.round(age), addresses, last_applied_revision: r.last_applied_revision,
        ...(pending?.length ? { pending_releases: pending } : {}),
      };
    });
    const f = result.findings;
    return {
      snap,
      report: {
        checked_at: new Date(now).toISOString(), revision: snap.revision, ...result, hosts,
        summary: {
          addresses: snap.input.addresses.length, blocks: snap.input.blocks.length, hosts: hosts.length, problems: f.length,
          repairable: f.filter((x) => x.safe).length, unjudged: result.unjudged.reduce((n, u) => n + u.count, 0),
        },
      },
    };
  }

  /** Repairs what is safe, in passes (a released address may leave a block to recount), then checks again. */
  async repair(o: CheckOptions = {}): Promise<RepairReport> {
    const repaired: RepairOutcome[] = [];
    for (let pass = 0; pass < 3; pass++) {
      const { report, snap } = await this.run(o);
      const todo = report.findings.filter((f) => f.safe);
      if (todo.length === 0) return { ...report, repaired };
      const before = repaired.filter((r) => r.result === 'repaired').length;
      for (const f of todo) for (const action of f.repair) repaired.push(await this.apply(f, action, snap));
      if (repaired.filter((r) => r.result === 'repaired').length === before) break;
    }
    return { ...(await this.check(o)), repaired };
  }

  private async apply(f: Finding, a: RepairAction, snap: Snapshot): Promise<RepairOutcome> {
    const out = (result: RepairOutcome['result'], detail?: string): RepairOutcome => ({ kind: f.kind, subject: f.subject, action: a, result, ...(detail ? { detail } : {}) });
    const at = (k: string): Compare => ({ key: k, modRevision: snap.mods.get(k) ?? 0 });
    const txn = async (compares: Compare[], ops: Parameters<typeof this.s.store.txn>[1]) =>
      (await this.s.store.txn(compares, ops)).succeeded ? out('repaired') : out('skipped', 'changed since the check');
    try {
      switch (a.action) {
        case 'release':
          await this.ipam.release(a.address, { expect: { ip: a.ip, created_at: a.created_at }, hostGone: a.host_gone, by: 'name' });
          return out('repaired');
        case 'recount': {
          // The count is made from these addresses: none may have moved.
          const b = snap.input.blocks.find((x) => x.id === a.block)!;
          const members = snap.input.addresses.filter((x) => b.host === x.host && b.tenant === x.tenant && b.segment === x.segment && b.network === x.network && b.cidr === x.block);
          await this.ipam.recountBlock(a.block, snap.mods.get(a.block) ?? -1, a.used, members.map((x) => at(addressKey(x.name))));
          return out('repaired');
        }
        case 'index':
          return txn([at(ipIndexKey(parseIp(a.ip))), at(addressKey(a.address))], [put(ipIndexKey(parseIp(a.ip)), a.address)]);
        case 'unindex':
          return txn([at(ipIndexKey(parseIp(a.ip))), at(addressKey(a.address))], [del(ipIndexKey(parseIp(a.ip)))]);
        case 'drop_status':
          return txn([at(hostStatusKey(a.host)), unchanged(hostKey(a.host), undefined)], [del(hostStatusKey(a.host))]);
      }
    } catch (e) {
      if (e instanceof RomanaError && (e.kind === 'conflict' || e.kind === 'not_found')) return out('skipped', e.message);
      throw e;
    }
  }
}
