// Which IPs a host may have. A host's IP is where other hosts route its pods' blocks to, so it must be
// a unicast address of a real interface, outside every pod network, and not an endpoint's. Pure.
import { invalid } from '../errors.js';
import { type Ip, cidrContainsIp, formatCidr, parseCidr, parseIp } from '../net/ipv4.js';
import type { Network } from './layout.js';

const SPECIAL: [string, string][] = [
  ['0.0.0.0/8', 'in 0.0.0.0/8 ("this network"), not an address of a host'],
  ['127.0.0.0/8', 'a loopback address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['240.0.0.0/4', 'in the reserved range 240.0.0.0/4'],
];
const RANGES = SPECIAL.map(([c, why]) => ({ cidr: parseCidr(c), why }));

/** Parses a host IP and refuses the unspecified, loopback, multicast, broadcast and reserved ranges. */
export function parseHostIp(text: string, field = 'ip'): Ip {
  const ip = parseIp(text, field);
  const bad = ip === 0 ? { why: 'the unspecified address' } : RANGES.find((r) => cidrContainsIp(r.cidr, ip));
  if (bad) throw invalid(`${field}: ${text} is ${bad.why}; a host needs its own unicast address`);
  return ip;
}

/** The network holding `ip`, if any: a host's IP must lie outside every pod network. */
export function networkHolding(networks: Network[], ip: Ip): Network | undefined {
  return networks.find((n) => cidrContainsIp(n.cidr, ip));
}

export const insideNetwork = (text: string, n: Network) =>
  `${text} is inside pod network '${n.name}' (${formatCidr(n.cidr)}); a host's IP must lie outside every pod network`;
