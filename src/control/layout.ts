// Allocation and release in a network with Romana's host/tenant/segment layout. The address is made
// of IDs (src/core/ipam/address-layout.ts): the host's comes from its record, tenant and segment IDs
// are handed out on first use and kept in keys of their own, and each host x tenant x segment has one
// block, its segment CIDR. Tenant and segment records count what uses them, so an ID goes back to the
// pool when its last block is released.
import { RomanaError } from '../core/errors.js';
import {
  type LayoutNetwork, exhausted, lowestFreeId, maxId, segmentCidr,
} from '../core/ipam/address-layout.js';
import { type BlockState, lowestFree } from '../core/ipam/ipam.js';
import { type Cidr, formatCidr, parseCidr } from '../core/net/ipv4.js';
import type { Compare, Op } from '../store/store.js';
import {
  blockKey, ownerBlocksPrefix, segmentIdKey, segmentIdsPrefix, segmentKey, tenantIdKey, tenantIdsPrefix, tenantKey,
} from './keys.js';
import { type ControlState, del, parseJson, put, unchanged } from './state.js';

/** `/romana/layout/<network>/tenants/<tenant>`: its ID and how many segment records it has. */
interface TenantIdRecord { id: number; segments: number }
/** `/romana/layout/<network>/segments/<tenant>/<segment>`: its ID and how many blocks (hosts) use it. */
interface SegmentIdRecord { id: number; blocks: number }

export interface LayoutOwner { host: string; hostId: number | undefined; tenant: string; segment: string; group: string }

export type LayoutPick =
  | { ip: number; block: string; compares: Compare[]; ops: Op[] }
  /** A new block is needed: its (tenant, segment) records are shared by every host, so callers queue. */
  | { carveIn: string }
  /** This network has no room for the owner; the reason names the part that ran out. */
  | { full: RomanaError };

const idOf = (key: string, prefix: string) => parseInt(key.slice(prefix.length), 16);

/** The owner's next address in a layout network, as the compares and ops of one transaction. */
export async function pickLayoutAddress(s: ControlState, net: LayoutNetwork, o: LayoutOwner, blackouts: Cidr[], mayCarve: boolean): Promise<LayoutPick> {
  const { host, tenant, segment } = o;
  if (o.hostId === undefined) {
    return { full: new RomanaError('no_available_ip', `No available IP: host '${host}' has no host ID in network '${net.name}'.`) };
  }
  const owned = await s.store.list(ownerBlocksPrefix(host, tenant, segment, net.name));
  const kv = owned.items[0];
  if (kv) {
    const b = JSON.parse(kv.value) as BlockState;
    // Offset 0 is endpoint ID 0, which is never handed out.
    const free = lowestFree([{ cidr: parseCidr(b.cidr), used: [0, ...b.used] }], blackouts);
    if (!free) return { full: exhausted(net, 'endpoint', `segment '${segment}' of tenant '${tenant}' on host '${host}'`) };
    return {
      ip: free.ip, block: b.cidr, compares: [unchanged(kv.key, kv)],
      ops: [put(kv.key, { ...b, used: [...b.used, free.offset].sort((x, y) => x - y), ops: b.ops + 1 } satisfies BlockState)],
    };
  }
  const tKey = tenantKey(net.name, tenant);
  const sKey = segmentKey(net.name, tenant, segment);
  if (!mayCarve) return { carveIn: sKey };
  const compares: Compare[] = [];
  const ops: Op[] = [];
  const [tKv, sKv] = await Promise.all([s.store.get(tKey), s.store.get(sKey)]);
  compares.push(unchanged(tKey, tKv), unchanged(sKey, sKv));
  let t = parseJson<TenantIdRecord>(tKv);
  let tenantChanged = false;
  if (!t) {
    tenantChanged = true;
    const used = (await s.store.list(tenantIdsPrefix(net.name))).items.map((x) => idOf(x.key, tenantIdsPrefix(net.name)));
    const id = lowestFreeId(used, maxId(net.layout, 'tenant'));
    if (id === undefined) return { full: exhausted(net, 'tenant') };
    t = { id, segments: 0 };
    compares.push({ key: tenantIdKey(net.name, id), modRevision: 0 });
    ops.push(put(tenantIdKey(net.name, id), tenant));
  }
  let seg = parseJson<SegmentIdRecord>(sKv);
  if (!seg) {
    const prefix = segmentIdsPrefix(net.name, tenant);
    const used = tKv ? (await s.store.list(prefix)).items.map((x) => idOf(x.key, prefix)) : [];
    const id = lowestFreeId(used, maxId(net.layout, 'segment'));
    if (id === undefined) return { full: exhausted(net, 'segment', `tenant '${tenant}'`) };
    seg = { id, blocks: 0 };
    t = { ...t, segments: t.segments + 1 };
    tenantChanged = true;
    compares.push({ key: segmentIdKey(net.name, tenant, id), modRevision: 0 });
    ops.push(put(segmentIdKey(net.name, tenant, id), segment));
  }
  if (tenantChanged) ops.push(put(tKey, t));
  ops.push(put(sKey, { ...seg, blocks: seg.blocks + 1 }));
  const cidr = segmentCidr(net, o.hostId, t.id, seg.id);
  const first = lowestFree([{ cidr, used: [0] }], blackouts);
  if (!first) return { full: exhausted(net, 'endpoint', `segment '${segment}' of tenant '${tenant}' on host '${host}'`) };
  const bKey = blockKey(host, tenant, segment, net.name, cidr);
  compares.push({ key: bKey, modRevision: 0 });
  const state: BlockState = { cidr: formatCidr(cidr), network: net.name, host, tenant, segment, group: o.group, used: [first.offset], ops: 1 };
  ops.push(put(bKey, state));
  return { ip: first.ip, block: formatCidr(cidr), compares, ops };
}

/**
 * When a layout block is released: its segment record loses a block, and an unused segment (then an
 * unused tenant) gives its ID back. Adds the compares these ops need.
 */
export async function releaseLayoutBlock(s: ControlState, block: BlockState, compares: Compare[]): Promise<Op[]> {
  const sKey = segmentKey(block.network, block.tenant, block.segment);
  const tKey = tenantKey(block.network, block.tenant);
  const [sKv, tKv] = await Promise.all([s.store.get(sKey), s.store.get(tKey)]);
  compares.push(unchanged(sKey, sKv), unchanged(tKey, tKv));
  const seg = parseJson<SegmentIdRecord>(sKv);
  const t = parseJson<TenantIdRecord>(tKv);
  if (!seg) return [];
  if (seg.blocks > 1) return [put(sKey, { ...seg, blocks: seg.blocks - 1 })];
  const ops: Op[] = [del(sKey), del(segmentIdKey(block.network, block.tenant, seg.id))];
  if (!t) return ops;
  if (t.segments > 1) return [...ops, put(tKey, { ...t, segments: t.segments - 1 })];
  return [...ops, del(tKey), del(tenantIdKey(block.network, t.id))];
}
