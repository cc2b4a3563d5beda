// A requested address ("this address, for this owner on this host"): the shell around
// core/ipam/requested.ts. One compare-and-swap transaction, over the same keys as an ordinary
// allocation, so the two never hand out one address twice.
import { RomanaError, notFound } from '../core/errors.js';
import { type BlockState, type GroupState, emptyGroupState } from '../core/ipam/ipam.js';
import { locateRequested, planRequested, planRequestedInLayout } from '../core/ipam/requested.js';
import { asLayoutNetwork } from '../core/topology/layout.js';
import { cidrKey, formatCidr, formatIp, parseCidr, parseIp } from '../core/net/ipv4.js';
import type { Compare, Op } from '../store/store.js';
import { BLOCKS, TOPOLOGY, addressKey, blackoutKey, blockKey, groupKey, hostKey, ipIndexKey, ownerBlocksPrefix } from './keys.js';
import type { AddressRecord, HostRecord } from './records.js';
import { type ControlState, Retry, parseJson, put, unchanged } from './state.js';

export interface RequestedAllocation {
  name: string; host: string; tenant: string; segment: string; ip: string; attributes?: Record<string, string>;
}

export function allocateRequested(s: ControlState, req: RequestedAllocation): Promise<AddressRecord> {
  const { name, host, tenant, segment } = req;
  const ip = parseIp(req.ip, 'ip');
  return s.cas('allocate', async (n) => {
    const [t, hostKv, existing, idxKv] = await Promise.all([
      s.topology(n > 0), s.store.get(hostKey(host)), s.store.get(addressKey(name)), s.store.get(ipIndexKey(ip)),
    ]);
    const hostRec = parseJson<HostRecord & { draining?: boolean }>(hostKv);
    if (!hostRec || !hostKv || hostRec.draining) throw notFound(`host '${host}' does not exist`);
    if (existing) throw new RomanaError('exists', `address '${name}' already exists (${parseJson<AddressRecord>(existing)!.ip})`);
    if (idxKv) throw new RomanaError('exists', `ip: ${req.ip} is already allocated (to '${idxKv.value}')`);
    if (!t) throw notFound('ip: there is no topology');
    const leaves = t.placements[host] ?? [];
    const leafOf = (net: string) => leaves.find((k) => t.layout.groupsByKey.get(k)?.cidrs[net] !== undefined);
    let where: ReturnType<typeof locateRequested>;
    try {
      where = locateRequested(ip, tenant, host, t.layout.networks, (net) => {
        const k = leafOf(net);
        return k === undefined ? undefined : t.layout.groupsByKey.get(k)!.cidrs[net];
      });
    } catch (e) {
      if (n === 0) throw new Retry(); // decided on the cached topology: look at the current one first
      throw e;
    }
    const { network: net, group } = where;
    const gKey = groupKey(net.name, group);
    const [boKv, owned, gKv] = await Promise.all([
      s.store.get(blackoutKey(net.name)), s.store.list(ownerBlocksPrefix(host, tenant, segment, net.name)), s.store.get(gKey),
    ]);
    const blackouts = (parseJson<string[]>(boKv) ?? []).map((c) => parseCidr(c));
    const blocks = owned.items.map((kv) => ({ kv, state: JSON.parse(kv.value) as BlockState }));
    const gState = parseJson<GroupState>(gKv) ?? emptyGroupState();
    const ownedBlocks = blocks.map((b) => ({ cidr: parseCidr(b.state.cidr), used: b.state.used }));
    // A layout network's group key holds a count, not carving state: never carve there.
    const plan = asLayoutNetwork(net)
      ? planRequestedInLayout(ip, net.name, ownedBlocks, blackouts)
      : planRequested(ip, group, net.blockMask, ownedBlocks, blackouts, gState);
    const compares: Compare[] = [
      { key: TOPOLOGY, modRevision: t.revision }, unchanged(hostKv.key, hostKv), { key: addressKey(name), modRevision: 0 },
      { key: ipIndexKey(ip), modRevision: 0 }, unchanged(blackoutKey(net.name), boKv),
    ];
    let ops: Op[];
    let blockText: string;
    if (plan.kind === 'held') throw await heldBy(s, formatCidr(plan.cidr), net.name, req.ip);
    if (plan.kind === 'owned') {
      const b = blocks[plan.index];
      blockText = b.state.cidr;
      compares.push(unchanged(b.kv.key, b.kv));
      ops = [put(b.kv.key, { ...b.state, used: [...b.state.used, plan.offset].sort((x, y) => x - y), ops: b.state.ops + 1 } satisfies BlockState)];
    } else {
      blockText = formatCidr(plan.cidr);
      const bKey = blockKey(host, tenant, segment, net.name, plan.cidr);
      compares.push(unchanged(gKey, gKv), { key: bKey, modRevision: 0 });
      const state: BlockState = { cidr: blockText, network: net.name, host, tenant, segment, group: leafOf(net.name)!, used: [plan.offset], ops: 1 };
      ops = [put(gKey, plan.group), put(bKey, state)];
    }
    const rec: AddressRecord = {
      name, ip: formatIp(ip), host, tenant, segment, network: net.name, block: blockText,
      ...(req.attributes ? { attributes: req.attributes } : {}), created_at: new Date().toISOString(),
    };
    return { compares, ops: [...ops, put(addressKey(name), rec), put(ipIndexKey(ip), name)], result: rec };
  });
}

/** The refusal for an address whose block another host or owner holds, naming the holder (a scan, on this error path only). */
async function heldBy(s: ControlState, cidr: string, network: string, ip: string): Promise<RomanaError> {
  const tail = `/${encodeURIComponent(network)}/${cidrKey(parseCidr(cidr))}`;
  const kv = (await s.store.list(BLOCKS)).items.find((i) => i.key.endsWith(tail));
  const b = parseJson<BlockState>(kv);
  const who = b ? `host '${b.host}' holds it for ${b.tenant}:${b.segment}` : 'another host or owner holds it';
  return new RomanaError('exists', `ip: ${ip} is in block ${cidr}, and ${who}`);
}
