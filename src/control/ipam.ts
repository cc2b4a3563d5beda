// Address allocation and release, and blackouts, on the store. An allocation decides on a handful of
// records (host, blackouts, the owner's blocks on the host, the group's carving state) and commits one
// compare-and-swap transaction, so its cost does not grow with the cluster. Those records are kept in
// romanad's cache behind compares (records-cache.ts): the usual allocation's one round trip is its
// transaction, and a failed one reads the current records back in the same round trip.
import { RomanaError, invalid, notFound } from '../core/errors.js';
import {
  type BlockState, type GroupState, blockIndex, candidateNetworks, emptyGroupState, lowestFree, nextBlock,
  planBlackout, planBlackoutRemoval, returnBlock, takeBlock,
} from '../core/ipam/ipam.js';
import { type Cidr, cidrContains, cidrKey, cidrsOverlap, formatCidr, formatIp, isIp, parseCidr, parseIp } from '../core/net/ipv4.js';
import { type Network, groupPath } from '../core/topology/layout.js';
import type { Compare, KeyValue, Op, Read } from '../store/store.js';
import {
  ADDRESSES, BLACKOUTS, BLOCKS, GROUPS, HOSTS, IPAM_RETIRED, TOPOLOGY, addressKey, blackoutKey, blockKey, groupKey, hostKey,
  ipIndexKey, ownerBlocksPrefix,
} from './keys.js';
import { asLayoutNetwork } from '../core/topology/layout.js';
import { pickLayoutAddress, releaseLayoutBlock } from './layout.js';
import type { AddressRecord, BlockView, HostRecord } from './records.js';
import { allocateRequested } from './requested.js';
import { type ControlState, type Failed, type TopologyState, KeyedQueue, Retry, del, parseJson, put, unchanged } from './state.js';

export interface AllocateRequest {
  name: string;
  host: string;
  tenant: string;
  segment?: string;
  /** Allocate in this network only (else: the tenant's networks in order). */
  network?: string;
  attributes?: Record<string, string>;
  /** This address or a refusal naming why not (control/requested.ts). */
  ip?: string;
  /**
   * A retry-safe request: should the name already exist on the same host for the same owner, that
   * record is the answer (created: false) instead of `exists`.
   */
  idempotent?: boolean;
}

export interface ReleaseOptions {
  /** Release only if the address still has this IP and allocation time. */
  expect?: { ip: string; created_at?: string };
  /** Release only while the address's host does not exist. */
  hostGone?: boolean;
  /** Throws to refuse the release of this record (checked on the record as read for the release). */
  authorize?: (rec: AddressRecord) => void;
  /** What the reference is: a name, an IP, or (default) either: an IP if an address holds it, else a name. */
  by?: AddressBy;
}

export type AddressBy = 'name' | 'ip' | 'either';

/** What the allocation cache keeps: hosts, blackouts, groups (single keys) and owners' block directories. */
const cacheable = (r: Read): boolean => ('key' in r ? r.key.startsWith(HOSTS) || r.key.startsWith(BLACKOUTS) || r.key.startsWith(GROUPS) : r.prefix.startsWith(BLOCKS));

export const NO_IP = 'No available IP.';

export interface AddressFilter { host?: string; tenant?: string; segment?: string; network?: string }

const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

/** An allocation's answer: the record, and whether this request made it (else it existed already). */
export interface Allocation { record: AddressRecord; created: boolean }

/** One candidate network of an allocation, with the records its decision reads. */
interface NetView {
  net: Network;
  leafKey: string;
  groupCidr: Cidr;
  boKv: KeyValue | undefined;
  blocks: KeyValue[];
  /** The group's carving state: read only by an attempt that may carve. */
  gKv?: KeyValue;
}

/** Everything an allocation for one name on one host x owner decides on, each with its KeyValue. */
interface AllocationView {
  t: TopologyState;
  hostKv: KeyValue | undefined;
  /** The name's record, when it is known to exist (else the transaction compares that it is absent). */
  existing: KeyValue | undefined;
  /** The candidate networks (a network the host has no group in is named in `tried`). */
  nets: NetView[];
  tried: string[];
  /** The reads that bring every record of this view up to date (the transaction's failure reads). */
  reads: Read[];
}

export class Ipam {
  private readonly queue = new KeyedQueue();
  constructor(private readonly s: ControlState) {}

  /**
   * Allocates an address. A name that exists already is `exists`, unless the request is `idempotent`
   * and the name is on the same host for the same owner (and the same address, when one is asked
   * for): that is the same request again (a retry after a lost answer), and it gets the record it
   * made (created: false).
   */
  allocate(req: AllocateRequest): Promise<Allocation> {
    const segment = req.segment === undefined || req.segment === '' ? 'default' : req.segment;
    if (!req.name) throw invalid('name: must not be empty');
    // A name that reads as an IP would make "release 10.1.2.3" mean two things.
    if (isIp(req.name)) throw invalid(`name: '${req.name}' reads as an IP address; an address name must not (name it after its endpoint instead)`);
    if (!req.tenant) throw invalid('tenant: is required');
    for (const [f, v] of [['tenant', req.tenant], ['segment', segment]] as const) {
      if (!NAME_RE.test(v) || v.length > 253) throw invalid(`${f}: '${v}' may hold only letters, digits and _ . : -`);
    }
    // Callers in this process that want the same owner's blocks on the same host take turns; other
    // processes are kept honest by the compare-and-swap.
    // Carving a new block writes the group's key, which every host of the group shares: carvings
    // take turns per group too, so they do not all fail their compare at once.
    const r = { ...req, segment };
    if (req.ip !== undefined) {
      return this.queue.run(`${req.host}\0${req.tenant}\0${segment}`, () => allocateRequested(this.s, { ...r, ip: req.ip! }).then(
        (record) => ({ record, created: true }),
        async (e) => {
          const same = req.idempotent && e instanceof RomanaError && e.kind === 'exists' ? await this.sameRequest(r) : undefined;
          if (same && same.ip === req.ip) return { record: same, created: false };
          throw e;
        },
      ));
    }
    return this.queue.run(`${req.host}\0${req.tenant}\0${segment}`, async () => {
      const first = await this.allocateOnce(r, false);
      return 'carveIn' in first ? this.queue.run(first.carveIn, () => this.allocateOnce(r, true) as Promise<Allocation>) : first;
    });
  }

  /** The stored record of this name, when it is on the request's host for its owner. */
  private async sameRequest(r: AllocateRequest & { segment: string }): Promise<AddressRecord | undefined> {
    const rec = parseJson<AddressRecord>(await this.s.store.get(addressKey(r.name)));
    return rec && rec.host === r.host && rec.tenant === r.tenant && rec.segment === r.segment ? rec : undefined;
  }

  /**
   * One allocation of the lowest free address. Without `mayCarve` it stops where a new block is
   * needed and says in which group.
   */
  private allocateOnce(req: AllocateRequest & { segment: string }, mayCarve: boolean): Promise<Allocation | { carveIn: string }> {
    const { name, host, tenant, segment } = req;
    let fresh = false; // a refusal decided on cached records is only believed after reading them again
    return this.s.cas<Allocation | { carveIn: string }>('allocate', async (_n, failed) => {
      const v = await this.allocationView(req, mayCarve, fresh, failed);
      const refuse = (e: RomanaError): never => {
        if (fresh) throw e;
        fresh = true;
        throw new Retry();
      };
      if (v.existing) {
        const rec = JSON.parse(v.existing.value) as AddressRecord;
        if (req.idempotent && rec.host === host && rec.tenant === tenant && rec.segment === segment) return { compares: [], ops: [], result: { record: rec, created: false } };
        throw new RomanaError('exists', `address '${name}' already exists (${rec.ip} on host '${rec.host}' for ${rec.tenant}:${rec.segment})`);
      }
      const hostRec = parseJson<HostRecord & { draining?: boolean }>(v.hostKv);
      if (!hostRec || !v.hostKv || hostRec.draining) return refuse(notFound(`host '${host}' does not exist`));
      const base: Compare[] = [
        { key: TOPOLOGY, modRevision: v.t.revision }, unchanged(v.hostKv.key, v.hostKv), { key: addressKey(name), modRevision: 0 },
      ];
      let full: RomanaError | undefined; // why a layout network had no room
      const tried = [...v.tried];
      for (const nv of v.nets) {
        const { net, leafKey, groupCidr } = nv;
        const blackouts = (parseJson<string[]>(nv.boKv) ?? []).map((c) => parseCidr(c));
        const lnet = asLayoutNetwork(net);
        if (lnet) {
          // A layout network's blocks are found by its own records (read here, not kept).
          const pick = await pickLayoutAddress(this.s, lnet, { host, hostId: hostRec.id, tenant, segment, group: leafKey }, blackouts, mayCarve);
          if ('carveIn' in pick) return { compares: [], ops: [], result: pick };
          if ('full' in pick) {
            full ??= pick.full;
            continue;
          }
          return this.addressTxn(req, net.name, pick.ip, pick.block, [...base, unchanged(blackoutKey(net.name), nv.boKv), ...pick.compares], pick.ops, v.reads);
        }
        // Every block of the owner is compared, not only the one used: "the lowest free address" is
        // then exact, also when another romanad released an address in one of them.
        const compares = [...base, unchanged(blackoutKey(net.name), nv.boKv), ...nv.blocks.map((kv) => unchanged(kv.key, kv))];
        const blocks = nv.blocks.map((kv) => ({ kv, state: JSON.parse(kv.value) as BlockState }));
        const free = lowestFree(blocks.map((b) => ({ cidr: parseCidr(b.state.cidr), used: b.state.used })), blackouts);
        let blockOps: Op[];
        let ip: number;
        let blockCidr: string;
        if (free) {
          const b = blocks[free.index];
          ip = free.ip;
          blockCidr = b.state.cidr;
          const used = [...b.state.used, free.offset].sort((x, y) => x - y);
          blockOps = [put(b.kv.key, { ...b.state, used, ops: b.state.ops + 1 } satisfies BlockState)];
        } else {
          const gKey = groupKey(net.name, groupCidr);
          if (!mayCarve) return { compares: [], ops: [], result: { carveIn: gKey } };
          const gState = parseJson<GroupState>(nv.gKv) ?? emptyGroupState();
          const nb = nextBlock(groupCidr, net.blockMask, gState, blackouts);
          if (!nb) { // this group is full in this network: try the next network
            tried.push(`network '${net.name}', group ${groupPath(v.t.layout.groupsByKey.get(leafKey)!) || '(the whole network)'} (${formatCidr(groupCidr)}): full`);
            continue;
          }
          const first = lowestFree([{ cidr: nb.cidr, used: [] }], blackouts)!;
          ip = first.ip;
          blockCidr = formatCidr(nb.cidr);
          const bKey = blockKey(host, tenant, segment, net.name, nb.cidr);
          compares.push(unchanged(gKey, nv.gKv), { key: bKey, modRevision: 0 });
          const state: BlockState = { cidr: blockCidr, network: net.name, host, tenant, segment, group: leafKey, used: [first.offset], ops: 1 };
          blockOps = [put(gKey, takeBlock(gState, nb.index)), put(bKey, state)];
        }
        return this.addressTxn(req, net.name, ip, blockCidr, compares, blockOps, v.reads);
      }
      if (v.nets.length === 0 && tried.length === 0) {
        // No network is open to the tenant (or the one asked for is not): that "no" names itself.
        try {
          candidateNetworks(v.t.layout.networks, tenant, req.network);
        } catch (e) {
          return refuse(e as RomanaError);
        }
      }
      if (full && tried.length === 0) return refuse(full);
      return refuse(new RomanaError('no_available_ip', `${NO_IP} Host '${host}', tenant '${tenant}', segment '${segment}': ${[...tried, ...(full ? [full.message] : [])].join('; ')}`));
    });
  }

  /** The transaction that records an address (and its IP index entry) on top of its block's ops. */
  private addressTxn(req: AllocateRequest & { segment: string }, network: string, ip: number, block: string, compares: Compare[], blockOps: Op[], reads: Read[]) {
    const { name, host, tenant, segment } = req;
    const rec: AddressRecord = {
      name, ip: formatIp(ip), host, tenant, segment, network, block,
      ...(req.attributes ? { attributes: req.attributes } : {}), created_at: new Date().toISOString(),
    };
    compares.push({ key: ipIndexKey(ip), modRevision: 0 });
    return { compares, ops: [...blockOps, put(addressKey(name), rec), put(ipIndexKey(ip), name)], result: { record: rec, created: true }, reads };
  }

  /**
   * The records an allocation decides on. Known records come from the cache and the rest are read in
   * one round trip, the name's record with them. After a failed transaction everything comes from its
   * failure reads; after a refusal (`fresh`) everything is read again, the topology first.
   */
  private async allocationView(req: AllocateRequest & { segment: string }, mayCarve: boolean, fresh: boolean, failed?: Failed): Promise<AllocationView> {
    const { name, host, tenant, segment } = req;
    const cache = this.s.records;
    const addrKey = addressKey(name);
    let existing: KeyValue | undefined;
    let addrKnown = false;
    const take = (f: Failed) => {
      cache.learn(f.reads.filter(cacheable), f.results.filter((_, i) => cacheable(f.reads[i])));
      f.reads.forEach((r, i) => {
        if ('key' in r && r.key === TOPOLOGY) this.s.learnTopology(f.results[i][0]);
        if ('key' in r && r.key === addrKey) [existing, addrKnown] = [f.results[i][0], true];
      });
    };
    if (failed) take(failed);
    const t = await this.s.topology(fresh && !failed);
    if (!t) throw new RomanaError('no_available_ip', `${NO_IP} There is no topology.`);
    const leaves = t.placements[host] ?? [];
    let networks: Network[] = [];
    try {
      networks = candidateNetworks(t.layout.networks, tenant, req.network);
    } catch {
      /* none: the caller says so */
    }
    const tried: string[] = [];
    const nets = networks.flatMap((net) => {
      const leafKey = leaves.find((k) => t.layout.groupsByKey.get(k)?.cidrs[net.name] !== undefined);
      if (!leafKey) tried.push(`network '${net.name}': the host is in no group of it`);
      return leafKey ? [{ net, leafKey, groupCidr: t.layout.groupsByKey.get(leafKey)!.cidrs[net.name] }] : [];
    });
    const reads: Read[] = [{ key: TOPOLOGY }, { key: hostKey(host) }, { key: addrKey }];
    for (const { net, groupCidr } of nets) {
      reads.push({ key: blackoutKey(net.name) });
      if (asLayoutNetwork(net)) continue;
      reads.push({ prefix: ownerBlocksPrefix(host, tenant, segment, net.name) });
      if (mayCarve) reads.push({ key: groupKey(net.name, groupCidr) });
    }
    // With nothing missing, the transaction alone checks that the name is still free (and reads it back if not).
    const missing = reads.slice(1).filter((r) => fresh || ('key' in r ? r.key !== addrKey && cache.get(r.key) === undefined : cache.list(r.prefix) === undefined));
    if (missing.length > 0) {
      if (!fresh && !addrKnown) missing.push({ key: addrKey });
      take({ reads: missing, results: (await this.s.store.read(missing)).results });
    }
    const one = (key: string) => cache.get(key) ?? undefined;
    return {
      t, hostKv: one(hostKey(host)), existing, reads, tried,
      nets: nets.map(({ net, leafKey, groupCidr }) => ({
        net, leafKey, groupCidr, boKv: one(blackoutKey(net.name)), blocks: cache.list(ownerBlocksPrefix(host, tenant, segment, net.name)) ?? [],
        ...(mayCarve ? { gKv: one(groupKey(net.name, groupCidr)) } : {}),
      })),
    };
  }

  /**
   * Releases an address by name or by IP: the one release every caller goes through (DELETE /address,
   * CNI GC, `ipam check --repair`). `expect` makes it conditional on the record being the one the
   * caller saw; `hostGone` on its host not existing; `authorize` may refuse on the record as read (a
   * host-bound token), so the address is read once.
   */
  async release(nameOrIp: string, opts: ReleaseOptions = {}): Promise<AddressRecord> {
    if (!nameOrIp) throw invalid('addressName: is required');
    const by = opts.by ?? 'either';
    const name = await this.nameOf(nameOrIp, by);
    const read = await this.s.store.get(addressKey(name));
    const rec = parseJson<AddressRecord>(read);
    if (!rec) throw this.missing(nameOrIp, by);
    // Like allocations, releases of one owner's addresses on one host take turns, and so do the
    // releases that empty a block with the carvings of its group.
    return this.queue.run(`${rec.host}\0${rec.tenant}\0${rec.segment}`, async () => {
      const first = await this.releaseOnce(nameOrIp, name, opts, read, false);
      return 'freeIn' in first ? this.queue.run(first.freeIn, () => this.releaseOnce(nameOrIp, name, opts, read, true) as Promise<AddressRecord>) : first;
    });
  }

  /** One release, from the record as first read. Without `mayFree` it stops where the block would empty. */
  private releaseOnce(nameOrIp: string, name: string, opts: ReleaseOptions, read: KeyValue | undefined, mayFree: boolean): Promise<AddressRecord | { freeIn: string }> {
    const cache = this.s.records;
    return this.s.cas<AddressRecord | { freeIn: string }>('release', async (n, failed) => {
      const got = new Map<string, KeyValue | undefined>([[addressKey(name), read]]);
      if (failed) {
        cache.learn(failed.reads.filter(cacheable), failed.results.filter((_, i) => cacheable(failed.reads[i])));
        failed.reads.forEach((r, i) => 'key' in r && got.set(r.key, failed.results[i][0]));
      } else if (n > 0) got.set(addressKey(name), await this.s.store.get(addressKey(name)));
      const addrKv = got.get(addressKey(name));
      const rec = parseJson<AddressRecord>(addrKv);
      if (!rec || !addrKv) throw this.missing(nameOrIp, opts.by ?? 'either');
      opts.authorize?.(rec);
      const e = opts.expect;
      if (e && (rec.ip !== e.ip || rec.created_at !== e.created_at)) {
        throw new RomanaError('conflict', `address '${name}' changed since it was read (it is ${rec.ip} allocated ${rec.created_at ?? 'before allocation times were kept'}); not released`);
      }
      if (opts.hostGone && got.get(hostKey(rec.host))) throw new RomanaError('conflict', `host '${rec.host}' exists again; address '${name}' not released`);
      const ip = parseIp(rec.ip);
      const dir = ownerBlocksPrefix(rec.host, rec.tenant, rec.segment, rec.network);
      const bKey = dir + cidrKey(parseCidr(rec.block));
      if (cache.list(dir) === undefined) cache.learn([{ prefix: dir }], (await this.s.store.read([{ prefix: dir }])).results);
      const bKv = cache.list(dir)?.find((kv) => kv.key === bKey);
      // The index entry is expected to name this address; should it not, the transaction reads it back.
      const idxKnown = got.has(ipIndexKey(ip));
      const idxKv = idxKnown ? got.get(ipIndexKey(ip)) : { value: name };
      const compares: Compare[] = [unchanged(addrKv.key, addrKv), idxKnown ? unchanged(ipIndexKey(ip), got.get(ipIndexKey(ip))) : { key: ipIndexKey(ip), value: name }, unchanged(bKey, bKv)];
      const reads: Read[] = [{ key: addressKey(name) }, { key: ipIndexKey(ip) }, { prefix: dir }];
      if (opts.hostGone) {
        compares.push({ key: hostKey(rec.host), modRevision: 0 });
        reads.push({ key: hostKey(rec.host) });
      }
      const ops: Op[] = [del(addrKv.key)];
      // Another record holds this IP (a duplicate): the index entry and the block's slot are its own.
      if (idxKv && idxKv.value !== name) return { compares, ops, result: rec, reads };
      if (idxKv) ops.push(del(ipIndexKey(ip)));
      const block = parseJson<BlockState>(bKv);
      if (!block || !bKv) return { compares, ops, result: rec, reads }; // its block is gone: nothing else holds the IP
      const offset = ip - parseCidr(block.cidr).base;
      const used = block.used.filter((o) => o !== offset);
      if (used.length > 0) ops.push(put(bKey, { ...block, used, ops: block.ops + 1 } satisfies BlockState));
      else {
        const g = this.groupOf(await this.s.topology(n > 0), block);
        if (!mayFree && g) return { compares: [], ops: [], result: { freeIn: g.key } };
        ops.push(del(bKey), ...(await this.freeBlock(n, block, block.ops + 1, compares, reads)));
      }
      return { compares, ops, result: rec, reads };
    });
  }

  /**
   * An emptied block is released at once and becomes its group's first choice for reuse. Returns the
   * ops (its deletion excluded) and adds the compares they need (and the reads that refresh them).
   */
  private async freeBlock(n: number, block: BlockState, ops: number, compares: Compare[], reads: Read[] = []): Promise<Op[]> {
    const g = this.groupOf(await this.s.topology(n > 0), block);
    if (g) {
      const cache = this.s.records;
      if (cache.get(g.key) === undefined) cache.learn([{ key: g.key }], (await this.s.store.read([{ key: g.key }])).results);
      const gKv = cache.get(g.key) ?? undefined;
      const gState = parseJson<GroupState>(gKv) ?? emptyGroupState();
      compares.push(unchanged(g.key, gKv));
      reads.push({ key: g.key });
      if (g.layout) {
        // A layout network is not carved: its group key keeps only the count; the IDs may go back.
        return [put(g.key, { ...gState, retired: gState.retired + ops }), ...(await releaseLayoutBlock(this.s, block, compares))];
      }
      return [put(g.key, returnBlock(gState, blockIndex(g.cidr, parseCidr(block.cidr)), ops))];
    }
    if (n === 0) throw new Retry(); // the cached topology may be stale: look again
    // No group holds it any more (cannot happen after a checked topology change); keep the count.
    const rKv = await this.s.store.get(IPAM_RETIRED);
    compares.push(unchanged(IPAM_RETIRED, rKv));
    return [put(IPAM_RETIRED, String(Number(rKv?.value ?? 0) + ops))];
  }

  /**
   * Repair: sets a block's used offsets, provided the block is still at `modRevision` and `compares`
   * hold (the addresses the count was made from). A block left empty is freed.
   */
  async recountBlock(key: string, modRevision: number, used: number[], compares: Compare[]): Promise<void> {
    await this.s.cas('recount', async (n) => {
      const kv = await this.s.store.get(key);
      const block = parseJson<BlockState>(kv);
      if (!kv || !block || kv.modRevision !== modRevision || n > 1) throw new RomanaError('conflict', `block ${key} changed since it was read; not recounted`);
      const c = [unchanged(key, kv), ...compares];
      if (used.length) return { compares: c, ops: [put(key, { ...block, used } satisfies BlockState)], result: undefined };
      return { compares: c, ops: [del(key), ...(await this.freeBlock(n, block, block.ops, c))], result: undefined };
    });
  }

  /** Releases every address of one block (forced host removal). */
  async releaseBlock(block: BlockState): Promise<void> {
    const base = parseCidr(block.cidr).base;
    for (const off of block.used) {
      try {
        await this.release(formatIp(base + off), { by: 'ip' });
      } catch (e) {
        if (!(e instanceof RomanaError && e.kind === 'not_found')) throw e;
      }
    }
  }

  private groupOf(t: TopologyState | undefined, block: BlockState): { key: string; cidr: Cidr; layout: boolean } | undefined {
    const cidr = parseCidr(block.cidr);
    const layout = t?.layout.networks.some((n) => n.name === block.network && n.layout) ?? false;
    for (const leaf of t?.layout.leaves ?? []) {
      const g = leaf.cidrs[block.network];
      if (g && cidrContains(g, cidr)) return { key: groupKey(block.network, g), cidr: g, layout };
    }
    return undefined;
  }

  async addresses(filter: AddressFilter = {}): Promise<AddressRecord[]> {
    return (await this.listAddresses(filter)).addresses;
  }

  /** Addresses (all, or those matching every given field of `filter`) with the revision they were read at. */
  async listAddresses(filter: AddressFilter = {}): Promise<{ revision: number; addresses: AddressRecord[] }> {
    const r = await this.s.store.list(ADDRESSES);
    const want = Object.entries(filter).filter(([, v]) => v !== undefined) as [keyof AddressFilter, string][];
    const addresses = r.items.map((kv) => JSON.parse(kv.value) as AddressRecord).filter((a) => want.every(([k, v]) => a[k] === v));
    return { revision: r.revision, addresses };
  }

  async getAddress(nameOrIp: string, by: AddressBy = 'either'): Promise<AddressRecord> {
    const rec = parseJson<AddressRecord>(await this.s.store.get(addressKey(await this.nameOf(nameOrIp, by))));
    if (!rec) throw this.missing(nameOrIp, by);
    return rec;
  }

  /** The name a reference means: by IP through the IP index (when it is an IP), else the name itself. */
  private async nameOf(ref: string, by: AddressBy): Promise<string> {
    if (by === 'name') return ref;
    if (by === 'ip') parseIp(ref, 'ip');
    if (by === 'ip' || isIp(ref)) {
      const byIp = await this.s.store.get(ipIndexKey(parseIp(ref)));
      if (byIp) return byIp.value;
      if (by === 'ip') throw this.missing(ref, by);
    }
    return ref;
  }

  private missing(ref: string, by: AddressBy) {
    return notFound(by === 'ip' ? `no address holds IP ${ref}` : by === 'name' ? `no address is named '${ref}'` : `address '${ref}' does not exist`);
  }

  /**
   * `GET /blocks`. The revision counts successful allocations and releases: each block counts its own,
   * and an emptied block hands its count to its group, so no key is written by every allocation.
   */
  async blocks(): Promise<{ revision: number; blocks: BlockView[] }> {
    const [blocks, groups, retired] = await Promise.all([
      this.s.store.list(BLOCKS), this.s.store.list(GROUPS), this.s.store.get(IPAM_RETIRED),
    ]);
    let revision = Number(retired?.value ?? 0);
    for (const kv of groups.items) revision += (JSON.parse(kv.value) as GroupState).retired;
    const views = blocks.items.map((kv) => {
      const b = JSON.parse(kv.value) as BlockState;
      revision += b.ops;
      return { cidr: b.cidr, network: b.network, host: b.host, tenant: b.tenant, segment: b.segment, allocated_ip_count: b.used.length };
    });
    views.sort((a, b) => parseCidr(a.cidr).base - parseCidr(b.cidr).base || a.network.localeCompare(b.network));
    return { revision, blocks: views };
  }

  // ---- Blackouts -------------------------------------------------------------------------------

  async blackouts(): Promise<{ network: string; cidr: string }[]> {
    return (await this.listBlackouts()).blackouts;
  }

  async listBlackouts(): Promise<{ revision: number; blackouts: { network: string; cidr: string }[] }> {
    const r = await this.s.store.list(BLACKOUTS);
    const blackouts = r.items.flatMap((kv) => {
      const network = decodeURIComponent(kv.key.slice(BLACKOUTS.length));
      return (JSON.parse(kv.value) as string[]).map((cidr) => ({ network, cidr }));
    });
    return { revision: r.revision, blackouts };
  }

  async addBlackout(cidrText: string): Promise<{ network: string; cidr: string }> {
    const cidr = parseCidr(cidrText, 'cidr');
    return this.s.cas('blackout', async () => {
      const t = await this.s.topology();
      if (!t) throw notFound(`cidr: ${cidrText} is not inside any network (there is no topology)`);
      const [boList, blockList, groupList] = await Promise.all([
        this.s.store.list(BLACKOUTS), this.s.store.list(BLOCKS), this.s.store.list(GROUPS),
      ]);
      const current = new Map(boList.items.map((kv) => [decodeURIComponent(kv.key.slice(BLACKOUTS.length)), (JSON.parse(kv.value) as string[]).map((c) => parseCidr(c))]));
      const blocks = blockList.items.map((kv) => ({ kv, b: JSON.parse(kv.value) as BlockState }));
      const plan = planBlackout(t.layout.networks, current, cidr, (network) =>
        blocks.filter(({ b }) => b.network === network).flatMap(({ b }) => b.used.map((o) => parseCidr(b.cidr).base + o)));
      const key = blackoutKey(plan.network);
      const compares: Compare[] = [{ key: TOPOLOGY, modRevision: t.revision }, unchanged(key, boList.items.find((kv) => kv.key === key))];
      // Any block or group the blackout touches must not move under us.
      for (const { kv, b } of blocks) if (b.network === plan.network && cidrsOverlap(parseCidr(b.cidr), cidr)) compares.push(unchanged(kv.key, kv));
      for (const kv of groupList.items) compares.push(unchanged(kv.key, kv));
      return { compares, ops: [put(key, plan.blackouts.map(formatCidr))], result: { network: plan.network, cidr: formatCidr(cidr) } };
    });
  }

  async removeBlackout(cidrText: string): Promise<{ network: string; cidr: string }> {
    const cidr = parseCidr(cidrText, 'cidr');
    return this.s.cas('blackout removal', async () => {
      const boList = await this.s.store.list(BLACKOUTS);
      const current = new Map(boList.items.map((kv) => [decodeURIComponent(kv.key.slice(BLACKOUTS.length)), (JSON.parse(kv.value) as string[]).map((c) => parseCidr(c))]));
      const plan = planBlackoutRemoval(current, cidr);
      const key = blackoutKey(plan.network);
      const kv = boList.items.find((i) => i.key === key) as KeyValue;
      return { compares: [unchanged(key, kv)], ops: [plan.blackouts.length ? put(key, plan.blackouts.map(formatCidr)) : del(key)], result: { network: plan.network, cidr: formatCidr(cidr) } };
    });
  }
}


