// Renders a host's compiled policy (ir.ts) for nftables: everything in one table, `inet romana`, written
// as `nft -f` commands. Rules are spelled the way `nft list` prints them, so the agent can diff the
// kernel's listing against them. Pure.
//
// Spelling of the neutral form:
//  - A hook chain is a base chain: `type filter hook <hook> priority filter - 10; policy accept;`.
//    Its first rule lets IPv6 through untouched (the neutral form is IPv4, as iptables is).
//    Priority filter - 10 (-10): after conntrack (-200), so `ct state` is known; after DNAT (-100 at
//    prerouting and output), so Romana sees the real destination; and before the `filter` priority (0)
//    of iptables-nft and of most hand-written tables, so the order against them is fixed, not left to
//    registration order. What comes before or after does not change Romana's verdicts: in nftables
//    every base chain of every table at a hook sees the packet unless one drops it, so an accept
//    elsewhere never skips Romana's chains, and Romana's `accept`/`return` never skips anybody else's.
//  - `return` from a base chain is its policy, accept: Romana has no objection.
//  - Port alternatives: one rule per protocol with ports (`tcp dport 80`, `tcp dport {...}`), or, when two
//    or more protocols have several ports each, one rule with the concatenation `meta l4proto . th dport
//    {...}`; one rule for the protocols without ports (`meta l4proto {...}`), one for ICMP types, one per
//    ICMP type with a code. Every `{...}` is an anonymous set, a kernel object that costs more to load
//    and to list than a rule comparing one value, so a set is used only where it saves rules: the
//    concatenation only where it stands for two sets or more.
//  - Sets: `ip` sets are `type ipv4_addr`, `net` sets add `flags interval`. The address maps that
//    dispatch to endpoint chains are verdict maps, so a pod coming or going changes map elements, never
//    a rule. Counters are named counter objects, one per policy chain and per endpoint chain.
import { formatIp, tryParseCidr } from '../net/ipv4.js';
import { protoOrder, type AddrMatch, type IrHost, type IrRule, type L4Match } from './ir.js';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'romana';
/** The table as nft commands name it. */
export const NFT_TABLE_REF = `${NFT_FAMILY} ${NFT_TABLE}`;
export const NFT_PRIORITY = 'filter - 10';

export interface NftChain {
  name: string;
  /** A base chain's declaration, as listed: `type filter hook forward priority filter - 10; policy accept;`. */
  base?: string;
  comment?: string;
  rules: string[];
}

export interface NftSet {
  name: string;
  kind: 'set' | 'map';
  /** `ipv4_addr`, or `ipv4_addr : verdict` for a map. */
  type: string;
  interval: boolean;
  comment?: string;
  /** As listed: `10.0.0.1`, `10.1.0.0/24`, `10.0.0.1 : goto CHAIN`. */
  elements: string[];
}

export interface NftHost {
  chains: NftChain[];
  sets: NftSet[];
  /** Named counters: one per policy chain (hits: packets it allowed) and per endpoint chain (drops). */
  counters: string[];
  /** Counter name → the policy it counts (endpoint chains' counters count drops and are absent). */
  counterPolicies: Map<string, { id: string; direction: 'ingress' | 'egress' }>;
  stats: { rules: number; setEntries: number; chains: number; sets: number };
}

const PROTO_NUMBER: Record<L4Match['proto'], number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };
const ICMP_TYPES: Record<number, string> = {
  0: 'echo-reply', 3: 'destination-unreachable', 4: 'source-quench', 5: 'redirect', 8: 'echo-request', 9: 'router-advertisement',
  10: 'router-solicitation', 11: 'time-exceeded', 12: 'parameter-problem', 13: 'timestamp-request', 14: 'timestamp-reply',
  15: 'info-request', 16: 'info-reply', 17: 'address-mask-request', 18: 'address-mask-reply',
};
const ICMP_CODES: Record<number, string> = {
  0: 'net-unreachable', 1: 'host-unreachable', 2: 'prot-unreachable', 3: 'port-unreachable', 4: 'frag-needed',
  9: 'net-prohibited', 10: 'host-prohibited', 13: 'admin-prohibited',
};
const icmpType = (t: number) => ICMP_TYPES[t] ?? String(t);
const icmpCode = (c: number) => ICMP_CODES[c] ?? String(c);
const hex32 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** A comment nft accepts and prints back unchanged: no quotes or backslashes, printable ASCII, bounded. */
export function nftComment(s: string): string {
  const clean = s.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}

/** A /32 is listed as the bare address. */
function addrText(cidr: string): string {
  const c = tryParseCidr(cidr, false);
  if (!c) throw new Error(`not a CIDR: ${cidr}`);
  return c.prefix === 32 ? formatIp(c.base) : `${formatIp(c.base)}/${c.prefix}`;
}

function addrMatch(a: AddrMatch, side: 'saddr' | 'daddr'): string {
  switch (a.kind) {
    case 'cidr': return `ip ${side} ${addrText(a.cidr)}`;
    case 'masked': return `ip ${side} & ${a.mask} == ${a.addr}`;
    case 'set': return `ip ${side} @${a.set}`;
    case 'local': return `fib ${side} type local`;
  }
}

const range = ([a, b]: [number, number]) => (a === b ? `${a}` : `${a}-${b}`);
const braces = (items: string[]) => (items.length === 1 ? items[0] : `{ ${items.join(', ')} }`);

/** Port alternatives → one match text per nft rule needed (see the header). */
function l4Matches(l4: L4Match[] | undefined): string[] {
  if (!l4) return [''];
  const ported = l4.filter((x): x is Extract<L4Match, { proto: 'tcp' | 'udp' | 'sctp' }> => x.proto !== 'icmp' && x.ports !== undefined);
  const bare = l4.filter((x) => (x.proto === 'icmp' ? x.type === undefined : x.ports === undefined)).map((x) => x.proto);
  const icmp = l4.filter((x): x is Extract<L4Match, { proto: 'icmp' }> => x.proto === 'icmp' && x.type !== undefined);
  const out: string[] = [];
  const byProto = [...ported].sort((a, b) => protoOrder(a.proto) - protoOrder(b.proto));
  if (byProto.filter((x) => x.ports!.length > 1).length >= 2) {
    out.push(`meta l4proto . th dport { ${byProto.flatMap((x) => x.ports!.map((r) => `${x.proto} . ${range(r)}`)).join(', ')} }`);
  } else for (const x of byProto) out.push(`${x.proto} dport ${braces(x.ports!.map(range))}`);
  if (bare.length) out.push(`meta l4proto ${braces([...new Set(bare)].sort((a, b) => PROTO_NUMBER[a] - PROTO_NUMBER[b]))}`);
  const typesOnly = [...new Set(icmp.filter((x) => x.code === undefined).map((x) => x.type!))].sort((a, b) => a - b);
  if (typesOnly.length) out.push(`icmp type ${braces(typesOnly.map(icmpType))}`);
  for (const x of icmp) if (x.code !== undefined) out.push(`icmp type ${icmpType(x.type!)} icmp code ${icmpCode(x.code)}`);
  return out;
}

function rulesOf(r: IrRule, markBit: number): string[] {
  const m = r.match;
  const v = r.verdict;
  // A single-bit mask is printed as a prefix only when it is the top bit.
  const markTest = markBit === 0x80000000 ? `meta mark ${hex32(markBit)}/1` : `meta mark & ${hex32(markBit)} == ${hex32(markBit)}`;
  const pre = [
    m.iif !== undefined ? `iifname "${m.iif}"` : '',
    m.oif !== undefined ? `oifname "${m.oif}"` : '',
    m.ct === 'established' ? 'ct state established,related' : m.ct === 'invalid' ? 'ct state invalid' : '',
    m.marked ? markTest : '',
    m.src ? addrMatch(m.src, 'saddr') : '',
    m.dst ? addrMatch(m.dst, 'daddr') : '',
  ];
  const verdict =
    v.kind === 'accept' || v.kind === 'drop' || v.kind === 'return' ? v.kind
      : v.kind === 'jump' || v.kind === 'goto' ? `${v.kind} ${v.chain}`
        : v.kind === 'mark' ? `meta mark set meta mark | ${hex32(markBit)}`
          : v.kind === 'unmark' ? `meta mark set meta mark & ${hex32(~markBit >>> 0)}`
            : `ip ${v.key === 'src' ? 'saddr' : 'daddr'} vmap @${v.map}`;
  const post = [r.counter ? `counter name "${r.counter}"` : '', verdict];
  return l4Matches(m.l4).map((l4) => [...pre, l4, ...post].filter(Boolean).join(' '));
}

export function renderNft(ir: IrHost): NftHost {
  const counters = new Set<string>();
  const counterPolicies = new Map<string, { id: string; direction: 'ingress' | 'egress' }>();
  for (const ch of ir.chains) for (const r of ch.rules) if (r.counter) counters.add(r.counter);
  for (const ch of ir.chains) if (ch.policy && counters.has(ch.name)) counterPolicies.set(ch.name, ch.policy);
  const chains: NftChain[] = ir.chains.map((ch) => {
    const rules = ch.rules.flatMap((r) => rulesOf(r, ir.markBit));
    return {
      name: ch.name,
      ...(ch.hook ? { base: `type filter hook ${ch.hook} priority ${NFT_PRIORITY}; policy accept;` } : {}),
      ...(ch.comment ? { comment: nftComment(ch.comment) } : {}),
      rules: ch.hook ? ['meta nfproto ipv6 accept', ...rules] : rules,
    };
  });
  const sets: NftSet[] = [
    ...ir.sets.map((s): NftSet => ({
      name: s.name, kind: 'set', type: 'ipv4_addr', interval: s.type === 'net', comment: nftComment(s.comment),
      elements: s.type === 'net' ? s.entries.map(addrText) : s.entries,
    })),
    ...ir.maps.map((m): NftSet => ({
      name: m.name, kind: 'map', type: 'ipv4_addr : verdict', interval: false, comment: nftComment(m.comment),
      elements: m.entries.map((e) => `${e.ip} : goto ${e.chain}`),
    })),
  ];
  return {
    chains, sets, counters: [...counters].sort(), counterPolicies,
    stats: {
      rules: chains.reduce((n, c) => n + c.rules.length, 0),
      setEntries: sets.reduce((n, s) => n + s.elements.length, 0),
      chains: chains.length,
      sets: sets.length,
    },
  };
}

/**
 * A rule as it is compared with a listing: nft lists the elements of an anonymous set in an order of its
 * own (a hashed set's order depends on its elements), so each `{ ... }` is put in one order here.
 */
export const nftRuleKey = (rule: string): string => rule.replace(/\{ ([^{}]*) \}/g, (_, inner: string) => `{ ${inner.split(', ').sort().join(', ')} }`);

// ---- nft commands (used for a full load and, piece by piece, by the agent's diff) ----

export const declareChain = (c: Pick<NftChain, 'name' | 'base' | 'comment'>): string => {
  const body = [c.base, c.comment !== undefined ? `comment "${c.comment}";` : ''].filter(Boolean).join(' ');
  return `add chain ${NFT_TABLE_REF} ${c.name}${body ? ` { ${body} }` : ''}`;
};
export const declareSet = (s: Omit<NftSet, 'elements'>): string =>
  `add ${s.kind} ${NFT_TABLE_REF} ${s.name} { type ${s.type};${s.interval ? ' flags interval;' : ''}${s.comment !== undefined ? ` comment "${s.comment}";` : ''} }`;
/** `add element` (or `delete element`) commands, a few thousand elements per command. */
export function elementCommands(verb: 'add' | 'delete', set: string, elements: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += 4096) out.push(`${verb} element ${NFT_TABLE_REF} ${set} { ${elements.slice(i, i + 4096).join(', ')} }`);
  return out;
}
export const ruleCommand = (chain: string, rule: string): string => `add rule ${NFT_TABLE_REF} ${chain} ${rule}`;

/**
 * The whole table as one `nft -f` script for a namespace that has no `inet romana` table yet: counters,
 * chains (declared before any rule or map element refers to them), sets and maps, then rules.
 */
export function nftScript(h: NftHost): string {
  return [
    `add table ${NFT_TABLE_REF}`,
    ...h.counters.map((c) => `add counter ${NFT_TABLE_REF} ${c}`),
    ...h.chains.map(declareChain),
    ...h.sets.flatMap((s) => [declareSet(s), ...elementCommands('add', s.name, s.elements)]),
    ...h.chains.flatMap((c) => c.rules.map((r) => ruleCommand(c.name, r))),
    '',
  ].join('\n');
}
