// Topology and hosts: replacing the topology document, adding, relabelling and removing hosts.
import { RomanaError, conflict, invalid, notFound } from '../core/errors.js';
import { cidrContains, formatCidr, parseCidr, parseIp } from '../core/net/ipv4.js';
import { type BlockState, type GroupState, emptyGroupState, rebuildGroupState } from '../core/ipam/ipam.js';
import { chooseHostId } from '../core/ipam/address-layout.js';
import { insideNetwork, networkHolding, parseHostIp } from '../core/topology/host-ip.js';
import { hostLayoutNetworks, parseTopology, withoutHosts } from '../core/topology/layout.js';
import { assignHostIds, checkLayoutsKept, placeHost, stillEligible } from '../core/topology/placement.js';
import { renderTopology } from '../core/topology/render.js';
import { type TopologyChange, planReplacement } from '../core/topology/replace.js';
import type { Labels, TopologyDocument } from '../core/topology/schema.js';
import type { Compare, KeyValue, Op } from '../store/store.js';
import type { Ipam } from './ipam.js';
import {
  ADDRESSES, BLACKOUTS, BLOCKS, GROUPS, HOSTS, HOST_IDS, IPAM_RETIRED, TOPOLOGY, blackoutKey, blockKey, groupKey, hostBlocksPrefix, hostIdKey,
  hostIpKey, hostKey, ipIndexKey,
} from './keys.js';
import type { AddressRecord, HostRecord } from './records.js';
import { type ControlState, type TopologyRecord, Retry, del, parseJson, put, unchanged } from './state.js';

export const DEFAULT_AGENT_PORT = 9604;

/** What a replacement answers: what changed (or would), and the topology after it. */
export interface ReplaceResult { dry_run: boolean; changes: TopologyChange[]; topology: TopologyDocument }

export class Topology {
  constructor(private readonly s: ControlState) {}

  /** `GET /topology`: the document with computed CIDRs and placed hosts. */
  async show(): Promise<TopologyDocument> {
    const t = await this.s.topology();
    if (!t) return { networks: [], topologies: [] };
    const hosts = (await this.s.store.list(HOSTS)).items.map((kv) => JSON.parse(kv.value) as HostRecord);
    return renderTopology(t.layout, hosts, t.placements);
  }

  /** The networks, with the revision of the topology they come from (0: there is none). */
  async networks(): Promise<{ revision: number; networks: { name: string; cidr: string; block_mask: number; tenants?: string[]; layout?: object }[] }> {
    const t = await this.s.topology();
    return {
      revision: t?.revision ?? 0,
      networks: (t?.layout.networks ?? []).map((n) => ({
        name: n.name, cidr: formatCidr(n.cidr), block_mask: n.blockMask, ...(n.tenants ? { tenants: n.tenants } : {}), ...(n.layout ? { layout: n.layout } : {}),
      })),
    };
  }

  /**
   * Replaces the topology (see core/topology/replace.ts for who owns what). Every existing block keeps
   * its IP, host and owner, re-homed by containment under the new network and group names, or nothing
   * changes and the answer names the block that cannot be placed. With `dryRun` nothing is written:
   * the answer says what would change and shows the topology as it would be.
   */
  async replace(input: unknown, opts: { dryRun?: boolean } = {}): Promise<ReplaceResult> {
    const layout = parseTopology(input);
    const decided = await this.s.cas('topology', async () => {
      const [current, topoKv, hostList, blockList, groupList, blackoutList, retiredKv, idList] = await Promise.all([
        this.s.topology(), this.s.store.get(TOPOLOGY), this.s.store.list(HOSTS), this.s.store.list(BLOCKS), this.s.store.list(GROUPS),
        this.s.store.list(BLACKOUTS), this.s.store.get(IPAM_RETIRED), this.s.store.list(HOST_IDS),
      ]);
      if ((current?.revision ?? 0) !== (topoKv?.modRevision ?? 0)) throw new Retry(); // read apart: again
      const compares: Compare[] = [unchanged(TOPOLOGY, topoKv), unchanged(IPAM_RETIRED, retiredKv)];
      const ops: Op[] = [];
      // Hosts in the order they were added.
      const stored = hostList.items.sort((a, b) => a.createRevision - b.createRevision);
      for (const kv of stored) compares.push(unchanged(kv.key, kv));
      const hosts = stored.map((kv) => JSON.parse(kv.value) as HostRecord);
      const blocks = blockList.items.map((kv) => ({ kv, b: JSON.parse(kv.value) as BlockState }));
      const blackouts = blackoutList.items.flatMap((kv) => {
        const network = decodeURIComponent(kv.key.slice(BLACKOUTS.length));
        return (JSON.parse(kv.value) as string[]).map((c) => ({ network, cidr: parseCidr(c) }));
      });
      checkLayoutsKept(current?.layout.networks ?? [], layout.networks, blocks.map(({ b }) => ({ network: b.network, cidr: parseCidr(b.cidr), host: b.host })));
      const plan = planReplacement({
        layout, hosts, blackouts,
        current: current ? { layout: current.layout, placements: current.placements } : undefined,
        blocks: blocks.map(({ b }) => ({ network: b.network, cidr: parseCidr(b.cidr), host: b.host, tenant: b.tenant, segment: b.segment, addresses: b.used.length })),
      });
      const added: HostRecord[] = plan.added.map((h) => ({ name: h.name, ip: h.ip, labels: h.labels, agent_port: DEFAULT_AGENT_PORT }));
      const everyHost: HostRecord[] = [...hosts, ...added];
      // Host IDs (layout networks), from the blocks as they will be named.
      const ids = assignHostIds(layout, plan.placements, everyHost, blocks.map(({ b }, n) => ({ network: plan.blocks[n].network, cidr: parseCidr(b.cidr), host: b.host })));
      const withIds = everyHost.map((h) => (ids[h.name] !== h.id ? { ...h, id: ids[h.name] } : h));
      for (const h of added) {
        const held = await this.s.store.get(ipIndexKey(parseIp(h.ip)));
        if (held) throw new RomanaError('exists', `listed host '${h.name}': ${h.ip} is held by address '${held.value}' (an endpoint); a host needs an IP of its own`);
      }
      const result = { changes: plan.changes, topology: renderTopology(layout, withIds, plan.placements) };
      if (opts.dryRun) return { compares: [], ops: [], result };

      for (const h of added) compares.push({ key: hostKey(h.name), modRevision: 0 }, { key: hostIpKey(parseIp(h.ip)), modRevision: 0 }, { key: ipIndexKey(parseIp(h.ip)), modRevision: 0 });
      for (const h of plan.added) ops.push(put(hostIpKey(parseIp(h.ip)), h.name));
      withIds.forEach((h, n) => {
        if (n >= hosts.length || h !== hosts[n]) ops.push(put(hostKey(h.name), h));
      });
      ops.push(...hostIdIndexOps(ids, idList.items, compares));
      // Blocks (and their addresses) under their network and group in the new topology.
      const renamed = new Map<string, string>(); // old block key -> new network
      blocks.forEach(({ kv, b }, n) => {
        const to = plan.blocks[n];
        if (to.network === b.network && to.leaf === b.group) return;
        compares.push(unchanged(kv.key, kv));
        const next: BlockState = { ...b, network: to.network, group: to.leaf };
        const key = blockKey(b.host, b.tenant, b.segment, to.network, parseCidr(b.cidr));
        if (key !== kv.key) {
          ops.push(del(kv.key));
          compares.push({ key, modRevision: 0 });
          renamed.set(kv.key, to.network);
        }
        ops.push(put(key, next));
      });
      if (renamed.size > 0) {
        const inBlock = new Map(blocks.filter(({ kv }) => renamed.has(kv.key)).map(({ kv, b }) => [`${b.host}\0${b.tenant}\0${b.segment}\0${b.network}\0${b.cidr}`, renamed.get(kv.key)!]));
        for (const kv of (await this.s.store.list(ADDRESSES)).items) {
          const a = JSON.parse(kv.value) as AddressRecord;
          const to = inBlock.get(`${a.host}\0${a.tenant}\0${a.segment}\0${a.network}\0${a.block}`);
          if (to === undefined) continue;
          compares.push(unchanged(kv.key, kv));
          ops.push(put(kv.key, { ...a, network: to }));
        }
      }
      // Blackouts under their network in the new topology.
      for (const kv of blackoutList.items) {
        compares.push(unchanged(kv.key, kv));
        if (!plan.blackouts.has(decodeURIComponent(kv.key.slice(BLACKOUTS.length)))) ops.push(del(kv.key));
      }
      for (const [network, cidrs] of plan.blackouts) ops.push(put(blackoutKey(network), cidrs.map(formatCidr)));
      // Carving state: one key per leaf x network, rebuilt from the blocks that exist.
      // Old retired counts fold into one key, so the IPAM revision never goes back.
      const fresh = new Map<string, GroupState>();
      for (const leaf of layout.leaves) {
        for (const [network, cidr] of Object.entries(leaf.cidrs)) {
          const inside = blocks.filter(({ b }, n) => plan.blocks[n].network === network && cidrContains(cidr, parseCidr(b.cidr))).map(({ b }) => parseCidr(b.cidr));
          // A layout network is not carved: its one group key only keeps the retired count.
          const isLayout = layout.networks.some((n) => n.name === network && n.layout);
          fresh.set(groupKey(network, cidr), isLayout ? emptyGroupState() : rebuildGroupState(cidr, inside));
        }
      }
      let retired = Number(retiredKv?.value ?? 0);
      for (const kv of groupList.items) {
        retired += (JSON.parse(kv.value) as GroupState).retired;
        compares.push(unchanged(kv.key, kv));
        if (!fresh.has(kv.key)) ops.push(del(kv.key));
      }
      for (const [key, state] of fresh) ops.push(put(key, state));
      if (retired !== Number(retiredKv?.value ?? 0)) ops.push(put(IPAM_RETIRED, String(retired)));
      const record: TopologyRecord = { document: withoutHosts(layout.document), placements: plan.placements };
      ops.push(put(TOPOLOGY, record));
      return { compares, ops, result };
    });
    if (opts.dryRun) return { dry_run: true, ...decided };
    return { dry_run: false, changes: decided.changes, topology: await this.show() };
  }

  // ---- Hosts -----------------------------------------------------------------------------------

  async listHosts(): Promise<{ revision: number; hosts: HostRecord[] }> {
    const r = await this.s.store.list(HOSTS);
    const hosts = r.items.sort((a, b) => a.createRevision - b.createRevision).map((kv) => JSON.parse(kv.value) as HostRecord);
    return { revision: r.revision, hosts };
  }

  async getHost(name: string): Promise<HostRecord> {
    const rec = parseJson<HostRecord>(await this.s.store.get(hostKey(name)));
    if (!rec) throw notFound(`host '${name}' does not exist`);
    return rec;
  }

  async addHost(req: { name: string; ip: string; labels?: Labels; agent_port?: number; id?: number }): Promise<HostRecord> {
    const ip = parseHostIp(req.ip, 'ip');
    if (!req.name) throw invalid('name: must not be empty');
    const rec: HostRecord = { name: req.name, ip: req.ip, labels: req.labels ?? {}, agent_port: req.agent_port ?? DEFAULT_AGENT_PORT };
    return this.s.cas('add host', async () => {
      const [t, topoKv, existing, ipOwner, endpoint] = await Promise.all([
        this.s.topology(), this.s.store.get(TOPOLOGY), this.s.store.get(hostKey(rec.name)), this.s.store.get(hostIpKey(ip)), this.s.store.get(ipIndexKey(ip)),
      ]);
      if (existing) throw new RomanaError('exists', `host '${rec.name}' already exists`);
      if (ipOwner) throw new RomanaError('exists', `IP ${rec.ip} already belongs to host '${ipOwner.value}'`);
      if (endpoint) throw new RomanaError('exists', `ip: ${rec.ip} is held by address '${endpoint.value}' (an endpoint); a host needs an IP of its own`);
      if (!t || !topoKv) throw new RomanaError('no_suitable_group', 'there is no topology yet: apply one first (romana topology apply -f FILE; POST /topology)');
      const inside = networkHolding(t.layout.networks, ip);
      if (inside) throw invalid(`ip: ${insideNetwork(rec.ip, inside)}`);
      const listed = t.layout.listedHosts.get(rec.name);
      if (listed && listed.host.ip !== rec.ip) throw invalid(`ip: the topology lists host '${rec.name}' with IP ${listed.host.ip}`);
      if (listed?.host.id !== undefined && req.id !== undefined && req.id !== listed.host.id) {
        throw invalid(`id: the topology lists host '${rec.name}' with id ${listed.host.id}`);
      }
      const leaves = placeHost(t.layout, t.placements, rec);
      const record: TopologyRecord = { document: t.layout.document, placements: { ...t.placements, [rec.name]: leaves } };
      const compares: Compare[] = [
        unchanged(TOPOLOGY, topoKv), { key: hostKey(rec.name), modRevision: 0 }, { key: hostIpKey(ip), modRevision: 0 }, { key: ipIndexKey(ip), modRevision: 0 },
      ];
      const ops: Op[] = [put(TOPOLOGY, record), put(hostIpKey(ip), rec.name)];
      const requested = req.id ?? listed?.host.id;
      const nets = hostLayoutNetworks(t.layout, leaves);
      let host = rec;
      if (requested !== undefined || nets.length > 0) {
        // Only hosts in layout networks list the IDs in use; the unique index keeps two from one ID.
        const used = (await this.s.store.list(HOST_IDS)).items;
        const id = chooseHostId(nets, new Map(used.map((kv) => [parseInt(kv.key.slice(HOST_IDS.length), 16), kv.value])), requested);
        if (id !== undefined) {
          host = { ...rec, id };
          compares.push({ key: hostIdKey(id), modRevision: 0 });
          ops.push(put(hostIdKey(id), rec.name));
        }
      }
      ops.push(put(hostKey(rec.name), host));
      return { compares, ops, result: host };
    });
  }

  /** Changes a host's labels (and agent port); it must stay eligible for the groups it sits in. */
  async updateHost(name: string, req: { name?: string; ip?: string; labels?: Labels; agent_port?: number; draining?: boolean }): Promise<HostRecord> {
    return this.changeHost(name, req, (cur) => req.labels ?? cur);
  }

  /**
   * Merges labels into a host's (a JSON merge patch: a null value removes the key), in one
   * compare-and-swap, so concurrent label changes of different keys both land.
   */
  async patchHost(name: string, req: { labels?: Record<string, string | null>; agent_port?: number }): Promise<HostRecord> {
    return this.changeHost(name, { agent_port: req.agent_port }, (cur) => {
      const next = { ...cur };
      for (const [k, v] of Object.entries(req.labels ?? {})) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      return next;
    });
  }

  private async changeHost(name: string, req: { name?: string; ip?: string; agent_port?: number; draining?: boolean }, labelsOf: (cur: Labels) => Labels): Promise<HostRecord> {
    return this.s.cas('update host', async () => {
      const [t, kv] = await Promise.all([this.s.topology(), this.s.store.get(hostKey(name))]);
      const cur = parseJson<HostRecord>(kv);
      if (!cur || !kv) throw notFound(`host '${name}' does not exist`);
      if (req.name !== undefined && req.name !== cur.name) throw invalid(`name: '${req.name}' does not match the host '${cur.name}' (names cannot change)`);
      if (req.ip !== undefined && req.ip !== cur.ip) throw invalid(`ip: '${req.ip}' does not match the host's IP ${cur.ip} (IPs cannot change)`);
      const next: HostRecord = { ...cur, labels: labelsOf(cur.labels), agent_port: req.agent_port ?? cur.agent_port };
      if (req.draining === true) next.draining = true;
      if (req.draining === false) delete next.draining;
      if (t && !stillEligible(t.layout, t.placements[name] ?? [], next.labels)) {
        throw invalid(`labels: host '${name}' would be ineligible for the group it sits in`);
      }
      const compares: Compare[] = [unchanged(kv.key, kv)];
      if (t) compares.push({ key: TOPOLOGY, modRevision: t.revision });
      return { compares, ops: [put(kv.key, next)], result: next };
    });
  }

  /**
   * Removes a host. While it has addresses this is a `conflict`, unless `force`, which first releases
   * them (so no two live names can ever share an IP). The host is first marked as draining, so no new
   * address can land on it while its blocks are checked.
   */
  async removeHost(name: string, force: boolean, ipam: Ipam): Promise<HostRecord> {
    const stillUsed = (blocks: KeyValue[]) => conflict(`host '${name}' still has ${
      blocks.reduce((n, kv) => n + (JSON.parse(kv.value) as { used: number[] }).used.length, 0)} address(es); release them, or remove the host with --force, which releases them (romana host remove ${name} --force; DELETE /hosts/${encodeURIComponent(name)}?force=true)`);
    if (!force) {
      // A refused removal writes nothing: the common refusal is decided before the draining mark (the
      // check after the mark still catches an address that lands in between).
      const [kv, blocks] = await Promise.all([this.s.store.get(hostKey(name)), this.s.store.list(hostBlocksPrefix(name))]);
      if (!kv) throw notFound(`host '${name}' does not exist`);
      if (blocks.items.length > 0) throw stillUsed(blocks.items);
    }
    const drain = await this.s.cas('drain host', async () => {
      const kv = await this.s.store.get(hostKey(name));
      const cur = parseJson<HostRecord & { draining?: boolean }>(kv);
      if (!cur || !kv) throw notFound(`host '${name}' does not exist`);
      return { compares: [unchanged(kv.key, kv)], ops: [put(kv.key, { ...cur, draining: true })], result: cur };
    });
    const blocks = await this.s.store.list(hostBlocksPrefix(name));
    if (blocks.items.length > 0 && !force) {
      // Undo the draining mark, unless it was there before (a host drained on purpose stays so) or
      // someone changed the host meanwhile (then theirs stands).
      const kv = await this.s.store.get(hostKey(name));
      if (kv && !(drain as { draining?: boolean }).draining && (JSON.parse(kv.value) as { draining?: boolean }).draining) {
        await this.s.store.txn([unchanged(kv.key, kv)], [put(kv.key, { ...JSON.parse(kv.value), draining: undefined })]);
      }
      throw stillUsed(blocks.items);
    }
    for (const kv of blocks.items) await ipam.releaseBlock(JSON.parse(kv.value));
    await this.s.cas('remove host', async () => {
      const [t, topoKv, kv] = await Promise.all([this.s.topology(), this.s.store.get(TOPOLOGY), this.s.store.get(hostKey(name))]);
      if (!kv) throw notFound(`host '${name}' does not exist`);
      const left = await this.s.store.list(hostBlocksPrefix(name));
      if (left.items.length > 0) throw conflict(`host '${name}' got new addresses while being removed`);
      const ops: Op[] = [del(kv.key), del(hostIpKey(parseIp(drain.ip)))];
      if (drain.id !== undefined) ops.push(del(hostIdKey(drain.id)));
      const compares: Compare[] = [unchanged(kv.key, kv)];
      if (t && topoKv) {
        const placements = { ...t.placements };
        delete placements[name];
        ops.push(put(TOPOLOGY, { document: t.layout.document, placements } satisfies TopologyRecord));
        compares.push(unchanged(TOPOLOGY, topoKv));
      }
      return { compares, ops, result: undefined };
    });
    const { draining: _, ...rec } = drain as HostRecord & { draining?: boolean };
    return rec;
  }
}

/** Ops that make the host ID index (`/romana/host-ids/`) say `ids`, against the index as read. */
function hostIdIndexOps(ids: Record<string, number>, index: KeyValue[], compares: Compare[]): Op[] {
  const ops: Op[] = [];
  const want = new Map(Object.entries(ids).map(([name, id]) => [hostIdKey(id), name]));
  for (const kv of index) {
    compares.push(unchanged(kv.key, kv));
    if (!want.has(kv.key)) ops.push(del(kv.key));
  }
  for (const [key, name] of want) {
    const have = index.find((kv) => kv.key === key);
    if (!have) compares.push({ key, modRevision: 0 });
    if (have?.value !== name) ops.push(put(key, name));
  }
  return ops;
}
