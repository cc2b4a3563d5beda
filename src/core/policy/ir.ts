// The compiled policy of one host in a form that belongs to no dataplane: chains of rules with typed
// matches and verdicts, the sets they use and the address maps that dispatch to endpoint chains. The
// compiler (compile.ts) decides everything here; render-iptables.ts and render-nft.ts only spell it, so
// the two backends cannot mean different things.
//
// How a packet runs through it (each renderer must keep exactly this):
//  - A hook chain (`hook`) is entered for every IPv4 packet at that hook. Rules run in order; a rule
//    applies when all of its matches do.
//  - `accept`/`drop` end Romana's judgement of the packet (accept: Romana allows it; the host's other
//    rules may still drop it). `return` leaves the chain; leaving a hook chain means Romana has no
//    objection. `jump` runs a chain and comes back; `goto` runs it in place of the rest of this chain.
//  - `mark` sets the allow bit (`markBit`) and goes on; `unmark` clears it and goes on; `marked`
//    matches while it is set. Other bits of the packet mark are never touched.
//  - `vmap` looks the packet's source or destination address up in a map: an entry's `goto` is taken,
//    no entry goes on with the next rule.
//  - `l4` is a list of alternatives (any may match); no `l4` means all traffic. Port ranges are
//    inclusive, sorted and never overlap or touch.
//  - `counter` names a counter of packets and bytes that this rule's matches add to (several rules may
//    share one). A policy's counter (named as its chain) is on the endpoint chains' "allowed: return"
//    rules after the jump to it, so it counts each packet the policy allowed; an endpoint chain's own
//    counter is on its final drop.
// Addresses are IPv4; `cidr` strings are as the policy wrote them (canonical, host bits clear).
import type { Direction } from './model.js';

export type Hook = 'forward' | 'input' | 'output';

export type AddrMatch =
  | { kind: 'cidr'; cidr: string }
  /** addr & mask == addr, for masks that are not a prefix (e.g. 255.0.255.0). */
  | { kind: 'masked'; addr: string; mask: string }
  | { kind: 'set'; set: string }
  /** An address of this host (iptables addrtype LOCAL, nft fib type local). */
  | { kind: 'local' };

export type L4Match =
  | { proto: 'tcp' | 'udp' | 'sctp'; ports?: [number, number][] }
  | { proto: 'icmp'; type?: number; code?: number };

export interface IrMatch {
  ct?: 'established' | 'invalid';
  /** Interface names; one ending in `*` matches every name with that prefix. */
  iif?: string;
  oif?: string;
  marked?: true;
  src?: AddrMatch;
  dst?: AddrMatch;
  l4?: L4Match[];
}

export type Verdict =
  | { kind: 'accept' } | { kind: 'drop' } | { kind: 'return' }
  | { kind: 'jump'; chain: string } | { kind: 'goto'; chain: string }
  | { kind: 'mark' } | { kind: 'unmark' }
  | { kind: 'vmap'; key: 'src' | 'dst'; map: string };

export interface IrRule { match: IrMatch; verdict: Verdict; counter?: string }

export interface IrChain {
  name: string;
  /** Entered from this hook (a base chain in nftables, a jump from the built-in chain in iptables). */
  hook?: Hook;
  comment?: string;
  /** The policy whose rules this chain holds (its counter bears the chain's name). */
  policy?: { id: string; direction: Direction };
  rules: IrRule[];
}

export interface IrSet {
  name: string;
  /** ip: single addresses; net: CIDRs (never overlapping). */
  type: 'ip' | 'net';
  /** Sorted: addresses for ip, "a.b.c.d/len" for net. */
  entries: string[];
  /** What the set stands for, canonical JSON: its name is a hash of it. */
  definition: string;
  comment: string;
}

/** Address → chain to go to; entries in address order. */
export interface IrMap { name: string; entries: { ip: string; chain: string }[]; comment: string }

export interface IrHost {
  /** The single packet-mark bit that carries "a policy allowed it". */
  markBit: number;
  /** Hook chains first, then endpoint chains, then policy chains, each group by name. */
  chains: IrChain[];
  sets: IrSet[];
  maps: IrMap[];
  /** Rules a naive expansion (one rule per target pod × peer member × port) would need on this host. */
  naiveRules: number;
}

const PROTO_ORDER: Record<string, number> = { tcp: 0, udp: 1, sctp: 2, icmp: 3 };
export const protoOrder = (p: L4Match['proto']): number => PROTO_ORDER[p];

/** Inclusive ranges, merged where they overlap or touch, in order. */
export function mergeRanges(rs: [number, number][]): [number, number][] {
  const s = [...rs].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
