// Topology and hosts: replacing the topology document, adding, relabelling and removing hosts.
import { RomanaError, conflict, invalid, notFound } from '../core/errors.js';
import { cidrContains, formatCidr, parseCidr, parseIp } from '../core/net/ipv4.js';
import { type GroupState, emptyGroupState, rebuildGroupState } from '../core/ipam/ipam.js';
import { chooseHostId } from '../core/ipam/address-layout.js';
import { hostLayoutNetworks, parseTopology } from '../core/topology/layout.js';
import {
  type HostInfo, assignHostIds, checkLayoutsKept, placeHost, replaceTopology, stillEligible,
} from '../core/topology/placement.js';
import { renderTopology } from '../core/topology/render.js';
import type { Labels } from '../core/topology/schema.js';
import type { Compare, KeyValue, Op } from '../store/store.js';
import type { Ipam } from './ipam.js';
import {
  BLACKOUTS, BLOCKS, GROUPS, HOSTS, HOST_IDS, IPAM_RETIRED, TOPOLOGY, groupKey, hostBlocksPrefix, hostIdKey, hostIpKey, hostKey,
} from './keys.js';
import type { HostRecord } from './records.js';
import { type ControlState, type TopologyRecord, del, parseJson, put, unchanged } from './state.js';

export const DEFAULT_AGENT_PORT = 9604;

interface StoredBlock { cidr: string; network: string; host: string; ops: number }

export class Topology {
  constructor(private readonly s: ControlState) {}

  /** `GET /topology`: the document with computed CIDRs and placed hosts. */
  async show(): Promise<unknown> {
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
   * Replaces the topology. Every host (listed or added through the API) is placed again; every existing
   * block stays at the same IP, host and owner, or nothing changes and the answer is `conflict`.
   */
  async replace(input: unknown): Promise<unknown> {
    const layout = parseTopology(input);
    await this.s.cas('topology', async () => {
      const [topoKv, hostList, blockList, groupList, blackoutList, retiredKv, idList] = await Promise.all([
        this.s.store.get(TOPOLOGY), this.s.store.list(HOSTS), this.s.store.list(BLOCKS), this.s.store.list(GROUPS),
        this.s.store.list(BLACKOUTS), this.s.store.get(IPAM_RETIRED), this.s.store.list(HOST_IDS),
      ]);
      const compares: Compare[] = [unchanged(TOPOLOGY, topoKv), unchanged(IPAM_RETIRED, retiredKv)];
      const ops: Op[] = [];
      // Hosts in the order they were added; listed hosts must agree with the store on name and IP.
      const stored = hostList.items.sort((a, b) => a.createRevision - b.createRevision);
      const byName = new Map<string, { kv: KeyValue; rec: HostRecord }>();
      const byIp = new Map<string, string>();
      for (const kv of stored) {
        const rec = JSON.parse(kv.value) as HostRecord;
        byName.set(rec.name, { kv, rec });
        byIp.set(rec.ip, rec.name);
        compares.push(unchanged(kv.key, kv));
      }
      const hosts: HostInfo[] = stored.map((kv) => JSON.parse(kv.value) as HostRecord);
      const writes = new Map<string, HostRecord>(); // host records to write (one put per key)
      for (const { host } of layout.listedHosts.values()) {
        const have = byName.get(host.name);
        const ipOwner = byIp.get(host.ip);
        if (have && have.rec.ip !== host.ip) throw new RomanaError('exists', `host '${host.name}' already exists with IP ${have.rec.ip}, not ${host.ip}`);
        if (ipOwner && ipOwner !== host.name) throw new RomanaError('exists', `IP ${host.ip} of listed host '${host.name}' belongs to host '${ipOwner}'`);
        if (have) {
          // The document's labels win for a listed host, but must keep it in a leaf that accepts them.
          const rec = { ...have.rec, labels: host.labels };
          writes.set(have.kv.key, rec);
          hosts[hosts.findIndex((h) => h.name === host.name)] = rec;
        } else {
          const rec: HostRecord = { name: host.name, ip: host.ip, labels: host.labels, agent_port: DEFAULT_AGENT_PORT };
          compares.push({ key: hostKey(host.name), modRevision: 0 }, { key: hostIpKey(parseIp(host.ip)), modRevision: 0 });
          writes.set(hostKey(host.name), rec);
          ops.push(put(hostIpKey(parseIp(host.ip)), host.name));
          hosts.push(rec);
        }
      }
      const blocks = blockList.items.map((kv) => JSON.parse(kv.value) as StoredBlock);
      const existing = blocks.map((b) => ({ network: b.network, cidr: parseCidr(b.cidr), host: b.host }));
      const before = topoKv ? parseTopology((JSON.parse(topoKv.value) as TopologyRecord).document).networks : [];
      checkLayoutsKept(before, layout.networks, existing);
      const placements = replaceTopology(layout, hosts, existing);
      const ids = assignHostIds(layout, placements, hosts, existing);
      ops.push(...hostIdIndexOps(ids, idList.items, compares));
      for (const h of hosts) {
        const key = hostKey(h.name);
        if (ids[h.name] !== h.id) writes.set(key, { ...(writes.get(key) ?? (h as HostRecord)), id: ids[h.name] });
      }
      for (const [key, rec] of writes) ops.push(put(key, rec));
      // Blackouts must still lie inside their network.
      for (const kv of blackoutList.items) {
        const network = decodeURIComponent(kv.key.slice(BLACKOUTS.length));
        const net = layout.networks.find((n) => n.name === network);
        for (const c of JSON.parse(kv.value) as string[]) {
          const cidr = parseCidr(c);
          if (!net || net.cidr.prefix >= cidr.prefix || !cidrContains(net.cidr, cidr)) {
            throw conflict(`blackout ${c} would no longer be inside network '${network}'; remove it first`);
          }
        }
      }
      // Carving state: one key per leaf x network, rebuilt from the blocks that exist.
      // Old retired counts fold into one key, so the IPAM revision never goes back.
      const fresh = new Map<string, GroupState>();
      for (const leaf of layout.leaves) {
        for (const [network, cidr] of Object.entries(leaf.cidrs)) {
          const inside = blocks.filter((b) => b.network === network && cidrContains(cidr, parseCidr(b.cidr))).map((b) => parseCidr(b.cidr));
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
      const record: TopologyRecord = { document: layout.document, placements };
      ops.push(put(TOPOLOGY, record));
      return { compares, ops, result: undefined };
    });
    return this.show();
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
    const ip = parseIp(req.ip, 'ip');
    if (!req.name) throw invalid('name: must not be empty');
    const rec: HostRecord = { name: req.name, ip: req.ip, labels: req.labels ?? {}, agent_port: req.agent_port ?? DEFAULT_AGENT_PORT };
    return this.s.cas('add host', async () => {
      const [t, topoKv, existing, ipOwner] = await Promise.all([
        this.s.topology(), this.s.store.get(TOPOLOGY), this.s.store.get(hostKey(rec.name)), this.s.store.get(hostIpKey(ip)),
      ]);
      if (existing) throw new RomanaError('exists', `host '${rec.name}' already exists`);
      if (ipOwner) throw new RomanaError('exists', `IP ${rec.ip} already belongs to host '${ipOwner.value}'`);
      if (!t || !topoKv) throw new RomanaError('no_suitable_group', 'there is no topology yet: POST /topology first');
      const listed = t.layout.listedHosts.get(rec.name);
      if (listed && listed.host.ip !== rec.ip) throw invalid(`ip: the topology lists host '${rec.name}' with IP ${listed.host.ip}`);
      if (listed?.host.id !== undefined && req.id !== undefined && req.id !== listed.host.id) {
        throw invalid(`id: the topology lists host '${rec.name}' with id ${listed.host.id}`);
      }
      const leaves = placeHost(t.layout, t.placements, rec);
      const record: TopologyRecord = { document: t.layout.document, placements: { ...t.placements, [rec.name]: leaves } };
      const compares: Compare[] = [unchanged(TOPOLOGY, topoKv), { key: hostKey(rec.name), modRevision: 0 }, { key: hostIpKey(ip), modRevision: 0 }];
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
    return this.s.cas('update host', async () => {
      const [t, kv] = await Promise.all([this.s.topology(), this.s.store.get(hostKey(name))]);
      const cur = parseJson<HostRecord>(kv);
      if (!cur || !kv) throw notFound(`host '${name}' does not exist`);
      if (req.name !== undefined && req.name !== cur.name) throw invalid(`name: '${req.name}' does not match the host '${cur.name}' (names cannot change)`);
      if (req.ip !== undefined && req.ip !== cur.ip) throw invalid(`ip: '${req.ip}' does not match the host's IP ${cur.ip} (IPs cannot change)`);
      const next: HostRecord = { ...cur, labels: req.labels ?? cur.labels, agent_port: req.agent_port ?? cur.agent_port };
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
      blocks.reduce((n, kv) => n + (JSON.parse(kv.value) as { used: number[] }).used.length, 0)} address(es); release them or remove it with force`);
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
