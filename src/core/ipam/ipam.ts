// IPAM decisions over a snapshot of state. Pure: the caller reads the state, asks here what to do,
// and writes the answer with compare-and-swap (a lost race simply asks again).
//
// Addresses come in blocks of 2^(32-block_mask) addresses, one block per host x owner (tenant:segment)
// at a time, carved in order from the host's leaf group. Every address of a block is usable (endpoints
// are routed as /32s) except blacked-out ones.
import { RomanaError, invalid } from '../errors.js';
import { type Cidr, type Ip, cidrContains, cidrContainsIp, cidrsOverlap, formatCidr, sizeOf } from '../net/ipv4.js';
import type { Network } from '../topology/layout.js';

/** A block as stored: which addresses of it are in use (offsets from its base, ascending). */
export interface BlockState {
  cidr: string;
  network: string;
  host: string;
  tenant: string;
  segment: string;
  /** Key of the leaf group it was carved from. */
  group: string;
  used: number[];
  /** Allocations and releases that happened in this block (for the IPAM revision). */
  ops: number;
}

/** Carving state of one leaf group in one network. Block i of the group starts at base + i * blockSize. */
export interface GroupState {
  /** Index of the next never-used block. */
  next: number;
  /** Indexes of emptied blocks, reused (lowest first) before a new block is carved. */
  free: number[];
  /** Ops of blocks that emptied and were released (for the IPAM revision). */
  retired: number;
}

export const emptyGroupState = (): GroupState => ({ next: 0, free: [], retired: 0 });

/** Networks to try for a tenant: those listing it (in order), then the wildcard ones; or just `only`. */
export function candidateNetworks(networks: Network[], tenant: string, only?: string): Network[] {
  const listing = networks.filter((n) => n.tenants?.includes(tenant));
  const wildcard = networks.filter((n) => n.tenants === undefined);
  const out = [...listing, ...wildcard];
  if (only !== undefined) {
    if (!networks.some((n) => n.name === only)) throw new RomanaError('not_found', `network: there is no network '${only}'`);
    const net = out.filter((n) => n.name === only);
    if (net.length === 0) throw new RomanaError('no_network', `network: '${only}' is not available to tenant '${tenant}'`);
    return net;
  }
  if (out.length === 0) throw new RomanaError('no_network', `no network is available to tenant '${tenant}'`);
  return out;
}

export const blackedOut = (ip: Ip, blackouts: Cidr[]): boolean => blackouts.some((b) => cidrContainsIp(b, ip));

/** The lowest free, not blacked-out address over the given blocks (any order). */
export function lowestFree(blocks: { cidr: Cidr; used: number[] }[], blackouts: Cidr[]): { index: number; ip: Ip; offset: number } | undefined {
  let best: { index: number; ip: Ip; offset: number } | undefined;
  blocks.forEach((b, index) => {
    const used = new Set(b.used);
    const size = sizeOf(b.cidr.prefix);
    for (let off = 0; off < size; off++) {
      const ip = b.cidr.base + off;
      if (best && ip >= best.ip) return;
      if (used.has(off) || blackedOut(ip, blackouts)) continue;
      best = { index, ip, offset: off };
      return;
    }
  });
  return best;
}

const fullyBlackedOut = (c: Cidr, blackouts: Cidr[]): boolean => blackouts.some((b) => cidrContains(b, c));

export function blockCidr(group: Cidr, blockMask: number, index: number): Cidr {
  return { base: group.base + index * sizeOf(blockMask), prefix: blockMask };
}

/**
 * The block a group hands out next: an emptied one (lowest first), else the next never-used one.
 * Blocks that lie wholly inside a blackout are passed over. Undefined when the group is full.
 */
export function nextBlock(group: Cidr, blockMask: number, state: GroupState, blackouts: Cidr[]): { index: number; cidr: Cidr; reused: boolean } | undefined {
  for (const index of [...state.free].sort((a, b) => a - b)) {
    const cidr = blockCidr(group, blockMask, index);
    if (!fullyBlackedOut(cidr, blackouts)) return { index, cidr, reused: true };
  }
  const count = sizeOf(group.prefix) / sizeOf(blockMask);
  for (let index = state.next; index < count; index++) {
    const cidr = blockCidr(group, blockMask, index);
    if (!fullyBlackedOut(cidr, blackouts)) return { index, cidr, reused: false };
  }
  return undefined;
}

/** Group state after handing out block `index`. */
export function takeBlock(state: GroupState, index: number): GroupState {
  return { next: Math.max(state.next, index + 1), free: state.free.filter((i) => i !== index), retired: state.retired };
}

/** Group state after block `index` emptied (its `ops` move to the group's retired count). */
export function returnBlock(state: GroupState, index: number, ops: number): GroupState {
  return { next: state.next, free: [...new Set([...state.free, index])].sort((a, b) => a - b), retired: state.retired + ops };
}

export const blockIndex = (group: Cidr, block: Cidr): number => (block.base - group.base) / sizeOf(block.prefix);

/**
 * Group states rebuilt for a new topology from the blocks that exist: next = after the last block;
 * unused slots below it are free for reuse. `retired` counts are carried by the caller.
 */
export function rebuildGroupState(group: Cidr, blocks: Cidr[]): GroupState {
  const idx = blocks.map((b) => blockIndex(group, b)).sort((a, b) => a - b);
  const next = idx.length ? idx[idx.length - 1] + 1 : 0;
  const taken = new Set(idx);
  const free: number[] = [];
  for (let i = 0; i < next; i++) if (!taken.has(i)) free.push(i);
  return { next, free, retired: 0 };
}

// ---- Blackouts -------------------------------------------------------------------------------------

export interface BlackoutPlan {
  network: string;
  /** The network's blackout list after the change. */
  blackouts: Cidr[];
}

/**
 * Adding a blackout: it must lie inside a network and not be the whole network; a larger blackout
 * replaces the ones it contains. `allocated` are the addresses in use inside it (must be none).
 */
export function planBlackout(networks: Network[], current: Map<string, Cidr[]>, cidr: Cidr, allocatedInside: (network: string) => Ip[]): BlackoutPlan {
  const net = networks.find((n) => cidrContains(n.cidr, cidr));
  if (!net) {
    if (networks.some((n) => cidrsOverlap(n.cidr, cidr))) throw invalid(`cidr: ${formatCidr(cidr)} is larger than the network it overlaps`);
    throw new RomanaError('not_found', `cidr: ${formatCidr(cidr)} is not inside any network`);
  }
  if (net.cidr.prefix === cidr.prefix) throw invalid(`cidr: ${formatCidr(cidr)} is the whole network '${net.name}'`);
  const list = current.get(net.name) ?? [];
  const cover = list.find((b) => cidrContains(b, cidr));
  if (cover) throw new RomanaError('exists', `cidr: ${formatCidr(cidr)} is already blacked out by ${formatCidr(cover)}`);
  const used = allocatedInside(net.name).filter((ip) => cidrContainsIp(cidr, ip));
  if (used.length > 0) {
    throw new RomanaError('conflict', `cidr: ${formatCidr(cidr)} covers ${used.length} allocated address(es), e.g. ${formatIpList(used)}`);
  }
  const kept = list.filter((b) => !cidrContains(cidr, b));
  return { network: net.name, blackouts: [...kept, cidr].sort((a, b) => a.base - b.base || a.prefix - b.prefix) };
}

export function planBlackoutRemoval(current: Map<string, Cidr[]>, cidr: Cidr): BlackoutPlan {
  for (const [network, list] of current) {
    if (list.some((b) => b.base === cidr.base && b.prefix === cidr.prefix)) {
      return { network, blackouts: list.filter((b) => !(b.base === cidr.base && b.prefix === cidr.prefix)) };
    }
  }
  throw new RomanaError('not_found', `cidr: no blackout ${formatCidr(cidr)} (removal needs the exact CIDR)`);
}

function formatIpList(ips: Ip[]): string {
  return ips.slice(0, 3).map((ip) => formatCidr({ base: ip, prefix: 32 }).replace('/32', '')).join(', ');
}
