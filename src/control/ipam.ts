// Address allocation and release, and blackouts, on the store. Each allocation reads a handful of keys
// and commits one compare-and-swap transaction, so its cost does not grow with the cluster.
import { RomanaError, invalid, notFound } from '../core/errors.js';
import {
  type BlockState, type GroupState, blockIndex, candidateNetworks, emptyGroupState, lowestFree, nextBlock,
  planBlackout, planBlackoutRemoval, returnBlock, takeBlock,
} from '../core/ipam/ipam.js';
import { type Cidr, cidrContains, cidrsOverlap, formatCidr, formatIp, isIp, parseCidr, parseIp } from '../core/net/ipv4.js';
import { groupPath } from '../core/topology/layout.js';
import type { Compare, KeyValue, Op } from '../store/store.js';
import {
  ADDRESSES, BLACKOUTS, BLOCKS, GROUPS, IPAM_RETIRED, TOPOLOGY, addressKey, blackoutKey, blockKey, groupKey, hostKey,
  ipIndexKey, ownerBlocksPrefix,
} from './keys.js';
import { asLayoutNetwork } from '../core/topology/layout.js';
import { pickLayoutAddress, releaseLayoutBlock } from './layout.js';
import type { AddressRecord, BlockView, HostRecord } from './records.js';
import { allocateRequested } from './requested.js';
import { type ControlState, type TopologyState, KeyedQueue, Retry, del, parseJson, put, unchanged } from './state.js';

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
}

export interface ReleaseOptions {
  /** Release only if the address still has this IP and allocation time. */
  expect?: { ip: string; created_at?: string };
  /** Release only while the address's host does not exist. */
  hostGone?: boolean;
}

export const NO_IP = 'No available IP.';

export interface AddressFilter { host?: string; tenant?: string; segment?: string; network?: string }

/** The transaction that records an address (and its IP index entry) on top of its block's ops. */
function addressTxn(req: AllocateRequest & { segment: string }, network: string, ip: number, block: string, compares: Compare[], blockOps: Op[]) {
  const { name, host, tenant, segment } = req;
  const rec: AddressRecord = {
    name, ip: formatIp(ip), host, tenant, segment, network, block,
    ...(req.attributes ? { attributes: req.attributes } : {}), created_at: new Date().toISOString(),
  };
  compares.push({ key: ipIndexKey(ip), modRevision: 0 });
  return { compares, ops: [...blockOps, put(addressKey(name), rec), put(ipIndexKey(ip), name)], result: rec };
}
const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

export class Ipam {
  private readonly queue = new KeyedQueue();
  constructor(private readonly s: ControlState) {}

  allocate(req: AllocateRequest): Promise<AddressRecord> {
    const segment = req.segment === undefined || req.segment === '' ? 'default' : req.segment;
    if (!req.name) throw invalid('name: must not be empty');
    if (!req.tenant) throw invalid('tenant: is required');
    for (const [f, v] of [['tenant', req.tenant], ['segment', segment]] as const) {
      if (!NAME_RE.test(v) || v.length > 253) throw invalid(`${f}: '${v}' may hold only letters, digits and _ . : -`);
    }
    // Callers in this process that want the same owner's blocks on the same host take turns; other
    // processes are kept honest by the compare-and-swap.
    // Carving a new block writes the group's key, which every host of the group shares: carvings
    // take turns per group too, so they do not all fail their compare at once.
    const r = { ...req, segment };
    if (req.ip !== undefined) return this.queue.run(`${req.host}\0${req.tenant}\0${segment}`, () => allocateRequested(this.s, { ...r, ip: req.ip! }));
    return this.queue.run(`${req.host}\0${req.tenant}\0${segment}`, async () => {
      const first = await this.allocateOnce(r, false);
      return 'carveIn' in first ? this.queue.run(first.carveIn, () => this.allocateOnce(r, true) as Promise<AddressRecord>) : first;
    });
  }

  /** One allocation. Without `mayCarve` it stops where a new block is needed and says in which group. */
  private allocateOnce(req: AllocateRequest & { segment: string }, mayCarve: boolean): Promise<AddressRecord | { carveIn: string }> {
    const { name, host, tenant, segment } = req;
    return this.s.cas<AddressRecord | { carveIn: string }>('allocate', async (n) => {
      const [t, hostKv, existing] = await Promise.all([
        this.s.topology(n > 0), this.s.store.get(hostKey(host)), this.s.store.get(addressKey(name)),
      ]);
      const hostRec = parseJson<HostRecord & { draining?: boolean }>(hostKv);
      if (!hostRec || !hostKv || hostRec.draining) throw notFound(`host '${host}' does not exist`);
      if (existing) throw new RomanaError('exists', `address '${name}' already exists (${parseJson<AddressRecord>(existing)!.ip})`);
      if (!t) throw new RomanaError('no_available_ip', `${NO_IP} There is no topology.`);
      const base: Compare[] = [
        { key: TOPOLOGY, modRevision: t.revision }, unchanged(hostKv.key, hostKv),
        { key: addressKey(name), modRevision: 0 },
      ];
      const leaves = t.placements[host] ?? [];
      // The first attempt decides on the cached topology (reading it costs O(hosts)); a "no" from it
      // is only believed after a look at the current one.
      let nets: ReturnType<typeof candidateNetworks>;
      try {
        nets = candidateNetworks(t.layout.networks, tenant, req.network);
      } catch (e) {
        if (n === 0) throw new Retry();
        throw e;
      }
      let full: RomanaError | undefined; // why a layout network had no room
      const tried: string[] = [];
      for (const net of nets) {
        const leafKey = leaves.find((k) => t.layout.groupsByKey.get(k)?.cidrs[net.name] !== undefined);
        if (!leafKey) {
          tried.push(`network '${net.name}': the host is in no group of it`);
          continue;
        }
        const groupCidr = t.layout.groupsByKey.get(leafKey)!.cidrs[net.name];
        const lnet = asLayoutNetwork(net);
        if (lnet) {
          const boKv = await this.s.store.get(blackoutKey(net.name));
          const blackouts = (parseJson<string[]>(boKv) ?? []).map((c) => parseCidr(c));
          const pick = await pickLayoutAddress(this.s, lnet, { host, hostId: hostRec.id, tenant, segment, group: leafKey }, blackouts, mayCarve);
          if ('carveIn' in pick) return { compares: [], ops: [], result: pick };
          if ('full' in pick) {
            full ??= pick.full;
            continue;
          }
          return addressTxn(req, net.name, pick.ip, pick.block, [...base, unchanged(blackoutKey(net.name), boKv), ...pick.compares], pick.ops);
        }
        const [boKv, owned] = await Promise.all([
          this.s.store.get(blackoutKey(net.name)), this.s.store.list(ownerBlocksPrefix(host, tenant, segment, net.name)),
        ]);
        const blackouts = (parseJson<string[]>(boKv) ?? []).map((c) => parseCidr(c));
        const compares = [...base, unchanged(blackoutKey(net.name), boKv)];
        const blocks = owned.items.map((kv) => ({ kv, state: JSON.parse(kv.value) as BlockState }));
        const free = lowestFree(blocks.map((b) => ({ cidr: parseCidr(b.state.cidr), used: b.state.used })), blackouts);
        let blockOps: Op[];
        let ip: number;
        let blockCidr: string;
        if (free) {
          const b = blocks[free.index];
          ip = free.ip;
          blockCidr = b.state.cidr;
          const used = [...b.state.used, free.offset].sort((x, y) => x - y);
          compares.push(unchanged(b.kv.key, b.kv));
          blockOps = [put(b.kv.key, { ...b.state, used, ops: b.state.ops + 1 } satisfies BlockState)];
        } else {
          const gKey = groupKey(net.name, groupCidr);
          if (!mayCarve) return { compares: [], ops: [], result: { carveIn: gKey } };
          const gKv = await this.s.store.get(gKey);
          const gState = parseJson<GroupState>(gKv) ?? emptyGroupState();
          const nb = nextBlock(groupCidr, net.blockMask, gState, blackouts);
          if (!nb) { // this group is full in this network: try the next network
            tried.push(`network '${net.name}', group ${groupPath(t.layout.groupsByKey.get(leafKey)!) || '(the whole network)'} (${formatCidr(groupCidr)}): full`);
            continue;
          }
          const first = lowestFree([{ cidr: nb.cidr, used: [] }], blackouts)!;
          ip = first.ip;
          blockCidr = formatCidr(nb.cidr);
          const bKey = blockKey(host, tenant, segment, net.name, nb.cidr);
          compares.push(unchanged(gKey, gKv), { key: bKey, modRevision: 0 });
          const state: BlockState = { cidr: blockCidr, network: net.name, host, tenant, segment, group: leafKey, used: [first.offset], ops: 1 };
          blockOps = [put(gKey, takeBlock(gState, nb.index)), put(bKey, state)];
        }
        return addressTxn(req, net.name, ip, blockCidr, compares, blockOps);
      }
      if (n === 0) throw new Retry();
      if (full && tried.length === 0) throw full;
      throw new RomanaError('no_available_ip', `${NO_IP} Host '${host}', tenant '${tenant}', segment '${segment}': ${[...tried, ...(full ? [full.message] : [])].join('; ')}`);
    });
  }

  /**
   * Releases an address by name or by IP: the one release every caller goes through (DELETE /address,
   * CNI GC, `ipam check --repair`). `expect` makes it conditional on the record being the one the
   * caller saw; `hostGone` on its host not existing.
   */
  async release(nameOrIp: string, opts: ReleaseOptions = {}): Promise<AddressRecord> {
    if (!nameOrIp) throw invalid('addressName: is required');
    let name = nameOrIp;
    if (isIp(nameOrIp)) {
      const byIp = await this.s.store.get(ipIndexKey(parseIp(nameOrIp)));
      if (byIp) name = byIp.value;
    }
    return this.s.cas('release', async (n) => {
      const addrKv = await this.s.store.get(addressKey(name));
      const rec = parseJson<AddressRecord>(addrKv);
      if (!rec || !addrKv) throw notFound(`address '${nameOrIp}' does not exist`);
      const e = opts.expect;
      if (e && (rec.ip !== e.ip || rec.created_at !== e.created_at)) {
        throw new RomanaError('conflict', `address '${name}' changed since it was read (it is ${rec.ip} allocated ${rec.created_at ?? 'before allocation times were kept'}); not released`);
      }
      const ip = parseIp(rec.ip);
      const bKey = blockKey(rec.host, rec.tenant, rec.segment, rec.network, parseCidr(rec.block));
      const [bKv, idxKv, hostKv] = await Promise.all([
        this.s.store.get(bKey), this.s.store.get(ipIndexKey(ip)), opts.hostGone ? this.s.store.get(hostKey(rec.host)) : undefined,
      ]);
      if (hostKv) throw new RomanaError('conflict', `host '${rec.host}' exists again; address '${name}' not released`);
      const compares: Compare[] = [unchanged(addrKv.key, addrKv), unchanged(ipIndexKey(ip), idxKv), unchanged(bKey, bKv)];
      if (opts.hostGone) compares.push({ key: hostKey(rec.host), modRevision: 0 });
      const ops: Op[] = [del(addrKv.key)];
      // Another record holds this IP (a duplicate): the index entry and the block's slot are its own.
      if (idxKv && idxKv.value !== name) return { compares, ops, result: rec };
      if (idxKv) ops.push(del(ipIndexKey(ip)));
      const block = parseJson<BlockState>(bKv);
      if (!block || !bKv) {
        if (n === 0) throw new Retry();
        return { compares, ops, result: rec }; // its block is gone: nothing else holds the IP
      }
      const offset = ip - parseCidr(block.cidr).base;
      const used = block.used.filter((o) => o !== offset);
      if (used.length > 0) ops.push(put(bKey, { ...block, used, ops: block.ops + 1 } satisfies BlockState));
      else ops.push(del(bKey), ...(await this.freeBlock(n, block, block.ops + 1, compares)));
      return { compares, ops, result: rec };
    });
  }

  /**
   * An emptied block is released at once and becomes its group's first choice for reuse. Returns the
   * ops (its deletion excluded) and adds the compares they need.
   */
  private async freeBlock(n: number, block: BlockState, ops: number, compares: Compare[]): Promise<Op[]> {
    const g = this.groupOf(await this.s.topology(n > 0), block);
    if (g) {
      const gKv = await this.s.store.get(g.key);
      const gState = parseJson<GroupState>(gKv) ?? emptyGroupState();
      compares.push(unchanged(g.key, gKv));
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
        await this.release(formatIp(base + off));
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

  async getAddress(nameOrIp: string): Promise<AddressRecord> {
    let key = addressKey(nameOrIp);
    if (isIp(nameOrIp)) {
      const byIp = await this.s.store.get(ipIndexKey(parseIp(nameOrIp)));
      if (byIp) key = addressKey(byIp.value);
    }
    const rec = parseJson<AddressRecord>(await this.s.store.get(key));
    if (!rec) throw notFound(`address '${nameOrIp}' does not exist`);
    return rec;
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


