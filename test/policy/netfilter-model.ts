// A model of netfilter for exactly the iptables/ipset subset the compiler emits, so tests can run packets
// through compiled output without a kernel. Anything it does not understand is an error, never ignored.
import { cidrContainsIp, tryParseCidr, tryParseIp } from '../../src/core/net/ipv4.js';

export interface Packet {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'sctp' | 'icmp';
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  state?: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID';
  iif?: string;
  oif?: string;
}

type Match = (p: Packet, ctx: Ctx) => boolean;
interface ParsedRule { text: string; matches: Match[]; jump?: string; goto?: string; setMark?: [number, number] }
interface Ctx { mark: number; local: Set<number> }

export class Netfilter {
  readonly chains = new Map<string, ParsedRule[]>();
  readonly sets = new Map<string, { type: string; entries: string[] }>();
  /** Every rule that ran, for failing assertions. */
  trace: string[] = [];

  constructor(iptables: string, ipset: string, readonly localAddrs: string[] = []) {
    for (const line of ipset.split('\n')) this.ipsetLine(line);
    let table = '';
    for (const line of iptables.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      if (line.startsWith('*')) { table = line.slice(1); continue; }
      if (line === 'COMMIT') continue;
      if (table !== 'filter') throw new Error(`unexpected table ${table}`);
      if (line.startsWith(':')) { this.chains.set(line.slice(1).split(' ')[0], []); continue; }
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`cannot parse: ${line}`);
      const chain = this.chains.get(m[1]);
      if (!chain) throw new Error(`rule for undeclared chain: ${line}`);
      chain.push(this.parseRule(m[2]));
    }
    for (const [name, rules] of this.chains) {
      for (const r of rules) {
        const t = r.jump ?? r.goto;
        if (t && !['ACCEPT', 'DROP', 'RETURN'].includes(t) && !this.chains.has(t)) throw new Error(`${name}: jump to undeclared chain ${t}`);
      }
    }
  }

  private ipsetLine(line: string): void {
    if (!line || line.startsWith('#')) return;
    const w = line.split(' ');
    if (w[0] === 'create') {
      if (!this.sets.has(w[1])) this.sets.set(w[1], { type: w[2], entries: [] });
    } else if (w[0] === 'flush') this.sets.get(w[1])!.entries = [];
    else if (w[0] === 'add') this.sets.get(w[1])!.entries.push(w[2]);
    else throw new Error(`ipset: cannot parse ${line}`);
  }

  private inSet(name: string, addr: string): boolean {
    const s = this.sets.get(name);
    if (!s) throw new Error(`no set ${name}`);
    const ip = tryParseIp(addr)!;
    return s.entries.some((e) => cidrContainsIp(tryParseCidr(e.includes('/') ? e : `${e}/32`, false)!, ip));
  }

  private parseRule(text: string): ParsedRule {
    const t = text.split(' ');
    const r: ParsedRule = { text, matches: [] };
    const cidrMatch = (v: string, field: 'src' | 'dst'): Match => {
      // iptables also takes a dotted, possibly non-contiguous, mask: (address & mask) == value.
      const dotted = /^([\d.]+)\/(\d+\.\d+\.\d+\.\d+)$/.exec(v);
      if (dotted) {
        const [value, mask] = [tryParseIp(dotted[1]), tryParseIp(dotted[2])];
        if (value === undefined || mask === undefined || ((value & mask) >>> 0) !== value) throw new Error(`bad masked address ${v}`);
        return (p) => ((tryParseIp(p[field])! & mask) >>> 0) === value;
      }
      const c = tryParseCidr(v.includes('/') ? v : `${v}/32`, false);
      if (!c) throw new Error(`bad cidr ${v}`);
      return (p) => cidrContainsIp(c, tryParseIp(p[field])!);
    };
    const ports = (spec: string): [number, number][] => spec.split(',').map((s) => { const [a, b] = s.split(':').map(Number); return [a, b ?? a]; });
    let i = 0;
    const next = () => { const v = t[++i]; if (v === undefined) throw new Error(`truncated: ${text}`); return v; };
    for (; i < t.length; i++) {
      const w = t[i];
      if (w === '-s') r.matches.push(cidrMatch(next(), 'src'));
      else if (w === '-d') r.matches.push(cidrMatch(next(), 'dst'));
      else if (w === '-i') { const v = next(); r.matches.push((p) => ifaceMatches(v, p.iif)); }
      else if (w === '-o') { const v = next(); r.matches.push((p) => ifaceMatches(v, p.oif)); }
      else if (w === '-p') { const v = next(); r.matches.push((p) => p.proto === v); }
      else if (w === '-m') {
        const mod = next();
        if (mod === 'conntrack') { if (next() !== '--ctstate') throw new Error(text); const st = next().split(','); r.matches.push((p) => st.includes(p.state ?? 'NEW')); }
        else if (mod === 'tcp' || mod === 'udp' || mod === 'sctp') { if (next() !== '--dport') throw new Error(text); const ps = ports(next()); r.matches.push((p) => p.proto === mod && ps.some(([a, b]) => p.dport! >= a && p.dport! <= b)); }
        else if (mod === 'multiport') { if (next() !== '--dports') throw new Error(text); const ps = ports(next()); if (ps.reduce((n, [a, b]) => n + (a === b ? 1 : 2), 0) > 15) throw new Error(`multiport over 15: ${text}`); r.matches.push((p) => ps.some(([a, b]) => p.dport! >= a && p.dport! <= b)); }
        else if (mod === 'icmp') { if (next() !== '--icmp-type') throw new Error(text); const [ty, co] = next().split('/').map(Number); r.matches.push((p) => p.proto === 'icmp' && p.icmpType === ty && (co === undefined || p.icmpCode === co)); }
        else if (mod === 'set') { if (next() !== '--match-set') throw new Error(text); const name = next(); const dir = next(); if (dir !== 'src' && dir !== 'dst') throw new Error(text); r.matches.push((p) => this.inSet(name, p[dir])); }
        else if (mod === 'mark') { if (next() !== '--mark') throw new Error(text); const [v, m] = next().split('/').map(Number); r.matches.push((_p, ctx) => (ctx.mark & m) === v); }
        else if (mod === 'addrtype') { const opt = next(); if (next() !== 'LOCAL') throw new Error(text); const field = opt === '--src-type' ? 'src' : opt === '--dst-type' ? 'dst' : undefined; if (!field) throw new Error(text); r.matches.push((p, ctx) => ctx.local.has(tryParseIp(p[field])!)); }
        else if (mod === 'comment') { if (next() !== '--comment') throw new Error(text); next(); }
        else throw new Error(`unknown match module ${mod}: ${text}`);
      } else if (w === '-j') {
        const target = next();
        if (target === 'MARK') { if (next() !== '--set-xmark') throw new Error(text); const [v, m] = next().split('/').map(Number); r.setMark = [v, m]; }
        else r.jump = target;
      } else if (w === '-g') r.goto = next();
      else throw new Error(`unknown token ${w}: ${text}`);
    }
    if (!r.jump && !r.goto && !r.setMark) throw new Error(`rule without target: ${text}`);
    return r;
  }

  /** Runs a packet through `chain` (as if jumped to from a built-in chain): ACCEPT, DROP or RETURN. */
  run(chain: string, p: Packet): 'ACCEPT' | 'DROP' | 'RETURN' {
    this.trace = [];
    const ctx: Ctx = { mark: 0, local: new Set(this.localAddrs.map((a) => tryParseIp(a)!)) };
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
        this.trace.push(`${current}: ${r.text}`);
        if (r.setMark) { ctx.mark = (ctx.mark & ~r.setMark[1]) ^ r.setMark[0]; continue; }
        const target = r.jump ?? r.goto!;
        if (target === 'ACCEPT' || target === 'DROP') return target;
        if (target === 'RETURN') return 'RETURN';
        if (r.goto) { gotoNext = target; break; }
        const v = this.walk(target, p, ctx, depth + 1);
        if (v !== 'RETURN') return v;
      }
      if (!gotoNext) return 'RETURN';
      current = gotoNext; // a goto's RETURN returns from this chain: continue there in place of it
    }
  }
}

/** iptables' `-i name` / `-i prefix+`. */
function ifaceMatches(rule: string, iface?: string): boolean {
  if (iface === undefined) return false;
  return rule.endsWith('+') ? iface.startsWith(rule.slice(0, -1)) : iface === rule;
}
