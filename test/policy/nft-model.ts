// A model of nftables for exactly the subset render-nft.ts emits, so tests can run packets through the
// rendered table without a kernel (as netfilter-model.ts does for iptables). Every rule is parsed from
// its text; anything the model does not understand is an error, never ignored. Packets are IPv4.
import { cidrContainsIp, tryParseCidr, tryParseIp } from '../../src/core/net/ipv4.js';
import type { NftHost } from '../../src/core/policy/render-nft.js';
import type { Packet } from './netfilter-model.js';

interface Ctx { mark: number; local: Set<number>; counters: Map<string, number> }
type Match = (p: Packet, c: Ctx) => boolean;
type Stmt = { mark: [and: number, or: number] } | { counter: string };
type Final = { v: 'accept' | 'drop' | 'return' } | { v: 'jump' | 'goto'; chain: string } | { v: 'vmap'; field: 'src' | 'dst'; map: string };
interface Rule { text: string; matches: Match[]; stmts: Stmt[]; final?: Final }

const PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };
const ICMP_TYPES: Record<string, number> = {
  'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, redirect: 5, 'echo-request': 8, 'router-advertisement': 9,
  'router-solicitation': 10, 'time-exceeded': 11, 'parameter-problem': 12, 'timestamp-request': 13, 'timestamp-reply': 14,
  'info-request': 15, 'info-reply': 16, 'address-mask-request': 17, 'address-mask-reply': 18,
};
const ICMP_CODES: Record<string, number> = {
  'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'frag-needed': 4,
  'net-prohibited': 9, 'host-prohibited': 10, 'admin-prohibited': 13,
};
const num = (s: string, names: Record<string, number> = {}) => {
  const v = names[s] ?? (/^\d+$/.test(s) ? Number(s) : undefined);
  if (v === undefined) throw new Error(`not a number: ${s}`);
  return v;
};
const rangeOf = (s: string): [number, number] => { const [a, b] = s.split('-').map((x) => num(x)); return [a, b ?? a]; };
const inRange = (v: number | undefined, [a, b]: [number, number]) => v !== undefined && v >= a && v <= b;
const protoNum = (p: Packet) => PROTO[p.proto];

/** Splits a rule into words, keeping `{ ... }` groups and quoted strings as one word each. */
function words(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') { i++; continue; }
    if (text[i] === '{') { const j = text.indexOf('}', i); out.push(text.slice(i, j + 1)); i = j + 1; continue; }
    if (text[i] === '"') { const j = text.indexOf('"', i + 1); out.push(text.slice(i, j + 1)); i = j + 1; continue; }
    let j = text.indexOf(' ', i);
    if (j < 0) j = text.length;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}
/** `{ a, b }` or a single value → its items. */
const items = (w: string) => (w.startsWith('{') ? w.slice(1, -1).split(',').map((x) => x.trim()).filter(Boolean) : [w]);

export class NftModel {
  private readonly chains = new Map<string, Rule[]>();
  private readonly sets = new Map<string, string[]>();
  private readonly maps = new Map<string, Map<number, string>>();
  readonly counters = new Map<string, number>();
  trace: string[] = [];

  constructor(h: NftHost, readonly localAddrs: string[] = []) {
    for (const s of h.sets) {
      if (s.kind === 'set') this.sets.set(s.name, s.elements);
      else this.maps.set(s.name, new Map(s.elements.map((e) => { const m = /^(\S+) : goto (\S+)$/.exec(e); if (!m) throw new Error(`map element ${e}`); return [tryParseIp(m[1])!, m[2]]; })));
    }
    for (const c of h.chains) this.chains.set(c.name, c.rules.map((r) => this.parse(r)));
    for (const c of h.counters) this.counters.set(c, 0);
    for (const [name, rules] of this.chains) {
      for (const r of rules) {
        if (r.final && (r.final.v === 'jump' || r.final.v === 'goto') && !this.chains.has(r.final.chain)) throw new Error(`${name}: to undeclared chain ${r.final.chain}`);
        for (const s of r.stmts) if ('counter' in s && !this.counters.has(s.counter)) throw new Error(`${name}: undeclared counter ${s.counter}`);
      }
    }
  }

  private inSet(name: string, addr: string): boolean {
    const s = this.sets.get(name);
    if (!s) throw new Error(`no set ${name}`);
    const ip = tryParseIp(addr)!;
    return s.some((e) => cidrContainsIp(tryParseCidr(e.includes('/') ? e : `${e}/32`, false)!, ip));
  }

  private parse(text: string): Rule {
    const w = words(text);
    const r: Rule = { text, matches: [], stmts: [] };
    let i = 0;
    const next = () => { const v = w[i++]; if (v === undefined) throw new Error(`truncated: ${text}`); return v; };
    const expect = (s: string) => { const v = next(); if (v !== s) throw new Error(`expected ${s}, got ${v}: ${text}`); };
    while (i < w.length) {
      const t = next();
      if (r.final) throw new Error(`words after the verdict: ${text}`);
      if (t === 'accept' || t === 'drop' || t === 'return') r.final = { v: t };
      else if (t === 'jump' || t === 'goto') r.final = { v: t, chain: next() };
      else if (t === 'iifname' || t === 'oifname') { const v = JSON.parse(next()); const f = t === 'iifname' ? 'iif' : 'oif'; r.matches.push((p) => (v.endsWith('*') ? p[f]?.startsWith(v.slice(0, -1)) === true : p[f] === v)); }
      else if (t === 'ct') { expect('state'); const st = next().split(','); const want = st.map((x) => x.toUpperCase()); r.matches.push((p) => want.includes(p.state ?? 'NEW')); }
      else if (t === 'counter') { expect('name'); r.stmts.push({ counter: JSON.parse(next()) }); }
      else if (t === 'fib') { const side = next(); expect('type'); expect('local'); const f = side === 'saddr' ? 'src' : 'dst'; r.matches.push((p, c) => c.local.has(tryParseIp(p[f])!)); }
      else if (t === 'ip') {
        const side = next();
        const f = side === 'saddr' ? 'src' : side === 'daddr' ? 'dst' : undefined;
        if (!f) throw new Error(`ip ${side}: ${text}`);
        const v = next();
        if (v === 'vmap') { const m = next(); if (!m.startsWith('@')) throw new Error(text); r.final = { v: 'vmap', field: f, map: m.slice(1) }; }
        else if (v.startsWith('@')) { const set = v.slice(1); r.matches.push((p) => this.inSet(set, p[f])); }
        else if (v === '&') { const mask = tryParseIp(next())!; expect('=='); const addr = tryParseIp(next())!; r.matches.push((p) => ((tryParseIp(p[f])! & mask) >>> 0) === addr); }
        else { const c = tryParseCidr(v.includes('/') ? v : `${v}/32`, false); if (!c) throw new Error(`bad address ${v}: ${text}`); r.matches.push((p) => cidrContainsIp(c, tryParseIp(p[f])!)); }
      } else if (t === 'tcp' || t === 'udp' || t === 'sctp') {
        expect('dport');
        const rs = items(next()).map(rangeOf);
        r.matches.push((p) => p.proto === t && rs.some((x) => inRange(p.dport, x)));
      } else if (t === 'icmp') {
        const what = next();
        if (what === 'type') { const ts = items(next()).map((x) => num(x, ICMP_TYPES)); r.matches.push((p) => p.proto === 'icmp' && ts.includes(p.icmpType!)); }
        else if (what === 'code') { const cs = items(next()).map((x) => num(x, ICMP_CODES)); r.matches.push((p) => p.proto === 'icmp' && cs.includes(p.icmpCode ?? 0)); }
        else throw new Error(`icmp ${what}: ${text}`);
      } else if (t === 'meta') {
        const key = next();
        if (key === 'nfproto') { const v = next(); r.matches.push(() => v === 'ipv4'); }
        else if (key === 'l4proto') {
          const v = next();
          if (v === '.') {
            expect('th'); expect('dport');
            const elems = items(next()).map((e) => { const [pr, port] = e.split(' . '); return { proto: PROTO[pr], range: rangeOf(port) }; });
            r.matches.push((p) => elems.some((e) => e.proto === protoNum(p) && inRange(p.dport, e.range)));
          } else { const ps = items(v).map((x) => PROTO[x]); r.matches.push((p) => ps.includes(protoNum(p))); }
        } else if (key === 'mark') {
          const v = next();
          if (v === 'set') { expect('meta'); expect('mark'); const op = next(); const n = Number(next()); r.stmts.push({ mark: op === '|' ? [0xffffffff, n] : op === '&' ? [n, 0] : (() => { throw new Error(text); })() }); }
          else if (v === '&') { const m = Number(next()); expect('=='); const val = Number(next()); r.matches.push((_p, c) => ((c.mark & m) >>> 0) === val); }
          else if (/^0x[0-9a-f]+\/1$/.test(v)) { const bit = Number(v.split('/')[0]); r.matches.push((_p, c) => ((c.mark & bit) >>> 0) === bit); }
          else throw new Error(`meta mark ${v}: ${text}`);
        } else throw new Error(`meta ${key}: ${text}`);
      } else throw new Error(`unknown word ${t}: ${text}`);
    }
    if (!r.final && r.stmts.every((s) => 'counter' in s)) throw new Error(`rule without verdict or statement: ${text}`);
    return r;
  }

  /** Runs a packet through a base chain: ACCEPT, DROP, or RETURN (the chain's end or a `return`: policy accept). */
  run(chain: string, p: Packet, mark = 0): 'ACCEPT' | 'DROP' | 'RETURN' {
    this.trace = [];
    const ctx: Ctx = { mark, local: new Set(this.localAddrs.map((a) => tryParseIp(a)!)), counters: this.counters };
    return this.walk(chain, p, ctx, 0);
  }

  private walk(chain: string, p: Packet, ctx: Ctx, depth: number): 'ACCEPT' | 'DROP' | 'RETURN' {
    if (depth > 32) throw new Error('chain loop');
    let current = chain;
    for (;;) {
      const rules = this.chains.get(current);
      if (!rules) throw new Error(`no chain ${current}`);
      let gotoNext: string | undefined;
      for (const r of rules) {
        if (!r.matches.every((m) => m(p, ctx))) continue;
        let f = r.final;
        if (f?.v === 'vmap') {
          const target = this.maps.get(f.map)!.get(tryParseIp(p[f.field])!);
          if (!target) continue; // no entry: the rule does not apply
          f = { v: 'goto', chain: target };
        }
        this.trace.push(`${current}: ${r.text}`);
        for (const s of r.stmts) {
          if ('counter' in s) ctx.counters.set(s.counter, ctx.counters.get(s.counter)! + 1);
          else ctx.mark = (((ctx.mark & s.mark[0]) >>> 0) | s.mark[1]) >>> 0;
        }
        if (!f) continue;
        if (f.v === 'accept') return 'ACCEPT';
        if (f.v === 'drop') return 'DROP';
        if (f.v === 'return') return 'RETURN';
        if (f.v === 'goto') { gotoNext = f.chain; break; }
        const v = this.walk((f as { chain: string }).chain, p, ctx, depth + 1);
        if (v !== 'RETURN') return v;
      }
      if (!gotoNext) return 'RETURN';
      current = gotoNext; // a goto's return returns from this chain: continue there in place of it
    }
  }
}
