// "This address, for this owner on this host": may it be given, and from which block? Pure, like the
// rest of ipam/: the caller reads the state, asks here, and commits the answer with compare-and-swap.
//
// Topology-aware IPAM routes a host's addresses as the blocks of its leaf group, so a requested address
// must lie in that group's CIDR: an address from another group could not be routed to this host. Inside
// the group it comes from a block this host x owner holds, or from a free block carved for it here.
import { RomanaError, invalid } from '../errors.js';
import { type Cidr, type Ip, cidrContainsIp, formatCidr, formatIp, sizeOf } from '../net/ipv4.js';
import type { Network } from '../topology/layout.js';
import { type GroupState, blockCidr } from './ipam.js';

/** Which network the address belongs to and the host's group CIDR in it; a refusal says why not. */
export function locateRequested(ip: Ip, tenant: string, host: string, networks: Network[], hostGroup: (network: string) => Cidr | undefined): { network: Network; group: Cidr } {
  const at = `ip: ${formatIp(ip)}`;
  const net = networks.find((n) => cidrContainsIp(n.cidr, ip));
  if (!net) {
    const list = networks.map((n) => `'${n.name}' ${formatCidr(n.cidr)}`).join(', ');
    throw invalid(`${at} is not in any network${list ? ` (networks: ${list})` : ''}`);
  }
  if (net.tenants !== undefined && !net.tenants.includes(tenant)) {
    throw invalid(`${at} is in network '${net.name}', which is reserved for tenant(s) ${net.tenants.join(', ')}, not '${tenant}'`);
  }
  const group = hostGroup(net.name);
  if (!group) throw invalid(`${at} is in network '${net.name}', where host '${host}' has no group`);
  if (!cidrContainsIp(group, ip)) {
    throw invalid(`${at} is outside host '${host}''s group ${formatCidr(group)} in network '${net.name}': it could not be routed to this host`);
  }
  return { network: net, group };
}

export type RequestedPlan =
  /** Take it from the owner's block `index` (of the blocks passed in). */
  | { kind: 'owned'; index: number; offset: number }
  /** Carve block `blockIndex` of the group for this owner and take the address from it. */
  | { kind: 'carve'; blockIndex: number; cidr: Cidr; offset: number; group: GroupState }
  /** Its block is held by another host or owner: the caller names the holder in its refusal. */
  | { kind: 'held'; cidr: Cidr };

/**
 * Decides where a located address comes from. `owned` are the blocks this host x owner holds in the
 * network; `group` the carving state of the host's group in it.
 */
export function planRequested(ip: Ip, group: Cidr, blockMask: number, owned: { cidr: Cidr; used: number[] }[], blackouts: Cidr[], state: GroupState): RequestedPlan {
  const mine = fromOwned(ip, owned, blackouts);
  if (mine) return mine;
  const blockIndex = Math.floor((ip - group.base) / sizeOf(blockMask));
  const cidr = blockCidr(group, blockMask, blockIndex);
  const free = blockIndex >= state.next || state.free.includes(blockIndex);
  if (!free) return { kind: 'held', cidr };
  return { kind: 'carve', blockIndex, cidr, offset: ip - cidr.base, group: takeSpecificBlock(state, blockIndex) };
}

/**
 * A network with the host/tenant/segment address layout is not carved: the owner's block is made of
 * its IDs. A requested address there must lie in a block this owner already holds on this host.
 */
export function planRequestedInLayout(ip: Ip, network: string, owned: { cidr: Cidr; used: number[] }[], blackouts: Cidr[]): RequestedPlan {
  const mine = fromOwned(ip, owned, blackouts);
  if (mine) return mine;
  const blocks = owned.length ? `its block${owned.length > 1 ? 's' : ''} ${owned.map((b) => formatCidr(b.cidr)).join(', ')}` : 'no block yet (an ordinary allocation makes it)';
  throw invalid(`ip: ${formatIp(ip)} is in network '${network}', whose addresses follow the host/tenant/segment layout: only this owner's block on this host can give it, and it has ${blocks}`);
}

function fromOwned(ip: Ip, owned: { cidr: Cidr; used: number[] }[], blackouts: Cidr[]): RequestedPlan | undefined {
  const bo = blackouts.find((b) => cidrContainsIp(b, ip));
  if (bo) throw invalid(`ip: ${formatIp(ip)} is blacked out (${formatCidr(bo)})`);
  const index = owned.findIndex((b) => cidrContainsIp(b.cidr, ip));
  if (index < 0) return undefined;
  const offset = ip - owned[index].cidr.base;
  if (owned[index].used.includes(offset)) throw new RomanaError('exists', `ip: ${formatIp(ip)} is already allocated`);
  return { kind: 'owned', index, offset };
}

/** Group state after handing out block `index`, which may lie past `next`: the blocks skipped become free. */
export function takeSpecificBlock(state: GroupState, index: number): GroupState {
  const skipped: number[] = [];
  for (let i = state.next; i < index; i++) skipped.push(i);
  const free = [...state.free, ...skipped].filter((i) => i !== index).sort((a, b) => a - b);
  return { next: Math.max(state.next, index + 1), free, retired: state.retired };
}
