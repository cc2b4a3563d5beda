// Renders a host's compiled policy (ir.ts) as `iptables-restore --noflush` text for the filter table and
// `ipset restore` text. Rules are written the way iptables-save prints them, so the agent can diff its
// chains against the kernel. Pure.
//
// Spelling of the neutral form: a hook chain is a plain chain the agent jumps to from the built-in
// chain; `mark`/`unmark` are MARK --set-xmark on the one bit; a `vmap` is one `-s|-d IP/32 -g CHAIN`
// rule per entry; port alternatives become one rule per protocol, multiport taking at most 15 ports;
// sets are ipsets (hash:ip, hash:net). Counters are iptables' own per-rule counters.
//
// A network namespace holds at most 65,534 ipsets: its set table starts at 256 (the ip_set module's
// max_sets) and the kernel grows it in steps of 64 up to IPSET_INVALID_ID - 1. Past `maxSets`, the
// smallest sets are written into the rules instead: a rule that matches such a set becomes one rule per
// entry (entries never overlap, so at most one of them matches a packet, and the verdict is the same).
// A host then needs rules, not sets, beyond the limit.
import type { AddrMatch, IrChain, IrHost, IrRule, IrSet, L4Match } from './ir.js';

export type SetType = 'hash:ip' | 'hash:net';
export interface CompiledSet { name: string; type: SetType; entries: string[]; definition: string }
export interface CompiledChain { name: string; rules: string[] } // rules without the "-A NAME " prefix

export interface CompiledHost {
  /** For `iptables-restore --noflush`: declares (and so flushes) every chain below, then fills them. */
  iptables: string;
  /** For `ipset restore`: creates each set if missing, flushes and fills it. */
  ipset: string;
  chains: string[];
  sets: string[];
  tables: { chains: CompiledChain[]; sets: CompiledSet[] };
  stats: {
    rules: number;
    setEntries: number;
    chains: number;
    sets: number;
    /** Rules a naive expansion (one rule per target pod × peer member × port) would need on this host. */
    naiveRules: number;
  };
  /** The neutral form this was rendered from (render-nft.ts renders it for nftables). */
  ir: IrHost;
}

/** A rule in parts, rendered in iptables-save's canonical order so the agent can diff against the kernel. */
interface Parts { s?: string; d?: string; i?: string; o?: string; p?: string; m: string[]; j?: string; g?: string }
const render = (r: Parts): string =>
  [r.s && `-s ${r.s}`, r.d && `-d ${r.d}`, r.i && `-i ${r.i}`, r.o && `-o ${r.o}`, r.p && `-p ${r.p}`, ...r.m, r.g ? `-g ${r.g}` : `-j ${r.j}`].filter(Boolean).join(' ');

const MULTIPORT_SLOTS = 15;

/** Port alternatives → protocol and match fragments, one per protocol (more when multiport overflows). */
function l4Fragments(l4: L4Match[] | undefined): { p?: string; m: string[] }[] {
  if (!l4) return [{ m: [] }];
  const out: { p?: string; m: string[] }[] = [];
  for (const x of l4) {
    const p = x.proto;
    if (x.proto === 'icmp') {
      out.push({ p, m: x.type === undefined ? [] : [`-m icmp --icmp-type ${x.code === undefined ? x.type : `${x.type}/${x.code}`}`] });
      continue;
    }
    if (!x.ports) { out.push({ p, m: [] }); continue; }
    // multiport takes at most 15 ports, a range counting as two.
    let chunk: [number, number][] = [], used = 0;
    const flush = () => {
      if (chunk.length === 0) return;
      const text = chunk.map(([a, b]) => (a === b ? `${a}` : `${a}:${b}`)).join(',');
      out.push({ p, m: [chunk.length === 1 ? `-m ${p} --dport ${text}` : `-m multiport --dports ${text}`] });
      chunk = [];
      used = 0;
    };
    for (const r of x.ports) {
      const w = r[0] === r[1] ? 1 : 2;
      if (used + w > MULTIPORT_SLOTS) flush();
      chunk.push(r);
      used += w;
    }
    flush();
  }
  return out;
}

/** An address match: positional (`-s`/`-d`) or a match module. */
function addr(a: AddrMatch | undefined, side: 'src' | 'dst'): { pos?: string; m?: string } {
  if (!a) return {};
  switch (a.kind) {
    case 'cidr': return { pos: a.cidr };
    case 'masked': return { pos: `${a.addr}/${a.mask}` };
    case 'set': return { m: `-m set --match-set ${a.set} ${side}` };
    case 'local': return { m: `-m addrtype --${side}-type LOCAL` };
  }
}

/** Sets left out of the ipsets on a dense host, by name (their entries go into the rules). */
type Inlined = Map<string, IrSet>;
/** iptables-save prints a single address as /32. */
const asCidr = (e: string) => (e.includes('/') ? e : `${e}/32`);

/** An address match's alternatives: one, or one per entry of an inlined set (none for an empty set). */
function addrs(a: AddrMatch | undefined, inlined: Inlined): (AddrMatch | undefined)[] {
  const set = a?.kind === 'set' ? inlined.get(a.set) : undefined;
  return set ? set.entries.map((e) => ({ kind: 'cidr' as const, cidr: asCidr(e) })) : [a];
}

function rulesOf(r: IrRule, ir: IrHost, maps: Map<string, IrHost['maps'][number]>, inlined: Inlined): string[] {
  if (inlined.size) {
    const srcs = addrs(r.match.src, inlined), dsts = addrs(r.match.dst, inlined);
    if (srcs.length !== 1 || dsts.length !== 1 || srcs[0] !== r.match.src || dsts[0] !== r.match.dst) {
      return srcs.flatMap((src) => dsts.flatMap((dst) => rulesOf({ ...r, match: { ...r.match, src, dst } }, ir, maps, new Map())));
    }
  }
  const mark = `0x${ir.markBit.toString(16)}`;
  const m = r.match;
  const v = r.verdict;
  if (v.kind === 'vmap') {
    // One goto per entry; the vmap rule has no other matches (the compiler never gives it any).
    return maps.get(v.map)!.entries.map((e) => render(v.key === 'src' ? { s: `${e.ip}/32`, m: [], g: e.chain } : { d: `${e.ip}/32`, m: [], g: e.chain }));
  }
  const target: Pick<Parts, 'j' | 'g'> =
    v.kind === 'accept' ? { j: 'ACCEPT' } : v.kind === 'drop' ? { j: 'DROP' } : v.kind === 'return' ? { j: 'RETURN' }
      : v.kind === 'jump' ? { j: v.chain } : v.kind === 'goto' ? { g: v.chain }
        : v.kind === 'mark' ? { j: `MARK --set-xmark ${mark}/${mark}` } : { j: `MARK --set-xmark 0x0/${mark}` };
  const src = addr(m.src, 'src');
  const dst = addr(m.dst, 'dst');
  const modules = [
    ...(m.ct === 'established' ? ['-m conntrack --ctstate RELATED,ESTABLISHED'] : m.ct === 'invalid' ? ['-m conntrack --ctstate INVALID'] : []),
    ...(m.marked ? [`-m mark --mark ${mark}/${mark}`] : []),
    ...(src.m ? [src.m] : []),
    ...(dst.m ? [dst.m] : []),
  ];
  return l4Fragments(m.l4).map((f) => render({ s: src.pos, d: dst.pos, i: iface(m.iif), o: iface(m.oif), p: f.p, m: [...f.m, ...modules], ...target }));
}

/** iptables writes an interface prefix as `name+`. */
const iface = (n?: string) => n?.replace(/\*$/, '+');

/**
 * A chain's rules are rendered once per chain object: the incremental compiler hands the same object
 * back while the chain stays the same, so an update renders only what changed. (A dispatch chain reads
 * its map, which changes on its own: it is always rendered.)
 */
const renderedChains = new WeakMap<IrChain, { markBit: number; chain: CompiledChain }>();
const renderedSets = new WeakMap<IrSet, CompiledSet>();

function compiledChain(ch: IrChain, ir: IrHost, maps: Map<string, IrHost['maps'][number]>, inlined: Inlined): CompiledChain {
  const uses = (a?: AddrMatch) => a?.kind === 'set' && inlined.has(a.set);
  const readsInlined = () => inlined.size > 0 && ch.rules.some((r) => uses(r.match.src) || uses(r.match.dst));
  // Only chains rendered before are kept, and a dispatch chain never is: a kept chain needs no scan.
  const kept = renderedChains.get(ch);
  if (kept && kept.markBit === ir.markBit && !readsInlined()) return kept.chain;
  // A chain that reads an inlined set is rendered each time, as a dispatch chain is (rare: dense hosts only).
  const dispatch = ch.rules.some((r) => r.verdict.kind === 'vmap') || readsInlined();
  const chain = { name: ch.name, rules: ch.rules.flatMap((r) => rulesOf(r, ir, maps, inlined)) };
  if (!dispatch) renderedChains.set(ch, { markBit: ir.markBit, chain });
  return chain;
}

function compiledSet(s: IrSet): CompiledSet {
  let c = renderedSets.get(s);
  if (!c) renderedSets.set(s, (c = { name: s.name, type: s.type === 'ip' ? 'hash:ip' : 'hash:net', entries: s.entries, definition: s.definition }));
  return c;
}

/** The kernel's ceiling (65,534 sets per network namespace), less room for other users of ipset. */
export const MAX_IPSETS = 65_000;

export interface RenderOptions {
  /** At most this many ipsets (default MAX_IPSETS); the smallest of the others go into the rules. */
  maxSets?: number;
}

export function renderIptables(ir: IrHost, opts: RenderOptions = {}): CompiledHost {
  const maps = new Map(ir.maps.map((x) => [x.name, x]));
  const over = ir.sets.length - (opts.maxSets ?? MAX_IPSETS);
  const inlined: Inlined = new Map(over > 0
    ? [...ir.sets].sort((a, b) => a.entries.length - b.entries.length || (a.name < b.name ? -1 : 1)).slice(0, over).map((x) => [x.name, x])
    : []);
  const chains = ir.chains.map((ch) => compiledChain(ch, ir, maps, inlined));
  const kept = ir.sets.filter((x) => !inlined.has(x.name));
  const sets = kept.map(compiledSet);
  const rules = chains.reduce((n, ch) => n + ch.rules.length, 0);
  const setEntries = sets.reduce((n, s) => n + s.entries.length, 0);
  const out = {
    chains: chains.map((c) => c.name).sort(),
    sets: sets.map((s) => s.name),
    tables: { chains, sets },
    stats: { rules, setEntries, chains: chains.length, sets: sets.length, naiveRules: ir.naiveRules },
    ir,
  } as Omit<CompiledHost, 'iptables' | 'ipset'> as CompiledHost;
  // The texts are for `iptables-restore`/`ipset restore` by hand, the CLI and the benchmarks; the
  // agent diffs `tables`. They are made when first read.
  lazy(out, 'iptables', () => {
    const ipt: string[] = ['*filter'];
    for (const ch of chains) ipt.push(`:${ch.name} - [0:0]`);
    for (const [i, ch] of chains.entries()) {
      const note = ir.chains[i].comment;
      if (note) ipt.push(`# ${ch.name}: ${note}`);
      for (const r of ch.rules) ipt.push(`-A ${ch.name} ${r}`);
    }
    ipt.push('COMMIT', '');
    return ipt.join('\n');
  });
  lazy(out, 'ipset', () => {
    const ips: string[] = [];
    for (const [i, s] of sets.entries()) {
      const max = s.entries.length > 65536 ? ` maxelem ${2 ** Math.ceil(Math.log2(s.entries.length))}` : '';
      ips.push(`# ${s.name}: ${kept[i].comment}`);
      ips.push(`create ${s.name} ${s.type} family inet${max} -exist`, `flush ${s.name}`);
      for (const e of s.entries) ips.push(`add ${s.name} ${e} -exist`);
    }
    return ips.length ? ips.join('\n') + '\n' : '';
  });
  return out;
}

/** An enumerable property computed on first read (so copies and deep comparisons see it). */
function lazy<T extends object, K extends keyof T>(o: T, key: K, make: () => T[K]): void {
  let v: T[K] | undefined;
  Object.defineProperty(o, key, { enumerable: true, configurable: true, get: () => (v ??= make()) });
}
