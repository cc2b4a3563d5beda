// The nftables firewall manager: keeps the table `inet romana` equal to what render-nft.ts made of the
// compiled policy for this host. The table is Romana's alone: every object in it is ours, and nothing
// outside it is ever touched (foreign tables, iptables-nft's tables, the ruleset as a whole).
//
// One sync reads the table (`nft -s list table inet romana`), diffs, and applies the difference as ONE
// script, which the kernel commits as one transaction (through a long-lived nft, kernel/nft-session.ts): there is never a moment with a rule
// pointing at a missing set, a half-written chain, or a pod between two dispatch maps. The script:
//   1. declares new counters and chains (a base chain whose hook or priority is wrong is replaced);
//   2. declares new sets and maps, and changes elements by difference (`delete element` of what went,
//      `add element` of what came), so a pod coming or going touches only map and set elements;
//   3. rewrites only the chains whose rules differ (`flush chain` + its rules);
//   4. removes stale chains, sets, maps and counters (nothing of ours refers to them after 3).
// Between drift checks, a sync caused by a store event diffs against what the previous successful sync
// left, as the iptables manager does; start-up, resyncs, retries and the drift check read the kernel.

// Rules are compared in `nft list`'s spelling, which render-nft.ts writes (the elements of anonymous
// sets in any order: nft lists a hashed set in an order of its own). Should this nft print a chain
// differently anyway, the chain is rewritten once; if the same listing comes back for the same desired
// rules, that listing is remembered as their spelling (no rewrite on every check).
import { declareChain, declareSet, elementCommands, NFT_TABLE_REF, nftRuleKey, ruleCommand, type NftHost } from '../core/policy/render-nft.js';
import type { FirewallSyncResult, SyncOptions } from './firewall.js';
import { nftListTable } from './kernel/nft.js';
import { NftSession } from './kernel/nft-session.js';

export interface NftChainState { base?: string; comment?: string; rules: string[] }
export interface NftSetState { kind: 'set' | 'map'; type: string; interval: boolean; elements: Set<string> }
export interface NftState {
  chains: Map<string, NftChainState>;
  sets: Map<string, NftSetState>;
  counters: Set<string>;
}

const unquote = (s: string) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);

/** The objects of `nft -s list table inet romana` output. */
export function parseNftTable(text: string): NftState {
  const st: NftState = { chains: new Map(), sets: new Map(), counters: new Set() };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = /^\t(chain|set|map|counter) (\S+) \{$/.exec(lines[i]);
    if (!head) continue;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== '\t}') body.push(lines[i].trim());
    const [, kind, raw] = head;
    const name = unquote(raw);
    if (kind === 'counter') st.counters.add(name);
    else if (kind === 'chain') {
      const c: NftChainState = { rules: [] };
      for (const l of body) {
        if (l.startsWith('comment "') && c.rules.length === 0 && c.base === undefined) c.comment = l.slice(9, -1);
        else if (l.startsWith('type ') && c.rules.length === 0) c.base = l;
        else if (l) c.rules.push(l);
      }
      st.chains.set(name, c);
    } else {
      const type = body.find((l) => l.startsWith('type '))?.slice(5) ?? '';
      const flags = body.find((l) => l.startsWith('flags '))?.slice(6).split(',').map((f) => f.trim()) ?? [];
      const joined = body.join(' ');
      const at = joined.indexOf('elements = {');
      const elements = new Set<string>();
      if (at >= 0) {
        const inner = joined.slice(at + 12, joined.lastIndexOf('}'));
        for (const e of inner.split(',')) {
          const t = e.trim().replace(/\s+/g, ' ');
          if (t) elements.add(t);
        }
      }
      st.sets.set(name, { kind: kind as 'set' | 'map', type, interval: flags.includes('interval'), elements });
    }
  }
  return st;
}

/** Kernel spellings of chain bodies that differ from the rendered ones (see the header). */
export type NftCanonical = Map<string, { desired: string; kernel: string }>;

export interface NftPlan {
  /** The whole change as one `nft -f` script ('' when nothing is to change). */
  script: string;
  /** Chains whose rules the script writes, with their rendered bodies. */
  written: Map<string, string>;
  /** Chains whose listing is taken as the kernel's spelling of the rendered rules from now on. */
  accepted: Map<string, { desired: string; kernel: string }>;
  counts: FirewallSyncResult['counts'];
  problems: string[];
}

const mapKey = (e: string) => e.split(' : ')[0];
const sameRules = (a: string[], b: string[]) => a.length === b.length && a.every((r, i) => r === b[i]);
/** A chain's rules as compared (see nftRuleKey). */
export const chainKey = (rules: string[]): string => rules.map(nftRuleKey).join('\n');

/**
 * The script that turns `cur` (undefined: there is no table) into `want`. `suspect` holds chains written
 * before whose listing differed from the rendering; the same listing again for the same rules is
 * accepted as the kernel's spelling.
 */
export function planNft(want: NftHost, cur: NftState | undefined, canonical: NftCanonical = new Map(), suspect: NftCanonical = new Map()): NftPlan {
  const T = NFT_TABLE_REF;
  const k = cur ?? { chains: new Map(), sets: new Map(), counters: new Set<string>() };
  const counts = { newSets: 0, swappedSets: 0, changedChains: 0, staleChains: 0, staleSets: 0, hooksAdded: 0, hooksRemoved: 0 };
  const problems: string[] = [];
  const head: string[] = cur ? [] : [`add table ${T}`];
  const sets: string[] = [];
  const rules: string[] = [];
  const written = new Map<string, string>();
  const accepted = new Map<string, { desired: string; kernel: string }>();

  for (const n of want.counters) if (!k.counters.has(n)) head.push(`add counter ${T} ${n}`);
  for (const ch of want.chains) {
    let have = k.chains.get(ch.name);
    if (have && (have.base ?? '') === (ch.base ?? '') && sameRules(have.rules, ch.rules)) continue; // the common case, cheaply
    const body = chainKey(ch.rules);
    if (have && (have.base ?? '') !== (ch.base ?? '')) {
      // A chain's hook, type or priority cannot be changed in place; nothing jumps to a base chain.
      head.push(`flush chain ${T} ${ch.name}`, `delete chain ${T} ${ch.name}`);
      if (have.base) counts.hooksRemoved++;
      have = undefined;
    }
    if (!have) {
      head.push(declareChain(ch));
      if (ch.base) counts.hooksAdded++;
    } else {
      const kernel = chainKey(have.rules);
      if (kernel === body) continue;
      const c = canonical.get(ch.name);
      if (c && c.desired === body && c.kernel === kernel) continue;
      const s = suspect.get(ch.name);
      if (s && s.desired === body && s.kernel === kernel) {
        accepted.set(ch.name, { desired: body, kernel });
        continue;
      }
      rules.push(`flush chain ${T} ${ch.name}`);
    }
    rules.push(...ch.rules.map((r) => ruleCommand(ch.name, r)));
    written.set(ch.name, body);
  }
  counts.changedChains = written.size;

  for (const s of want.sets) {
    const have = k.sets.get(s.name);
    if (!have) {
      counts.newSets++;
      sets.push(declareSet(s), ...elementCommands('add', s.name, s.elements));
      continue;
    }
    if (have.kind !== s.kind || have.type !== s.type || have.interval !== s.interval) {
      problems.push(`nft ${have.kind} ${s.name} is "${have.type}${have.interval ? ', interval' : ''}" in the kernel, not "${s.type}${s.interval ? ', interval' : ''}": left as it is`);
      continue;
    }
    const come = s.elements.filter((e) => !have.elements.has(e));
    if (come.length === 0 && have.elements.size === s.elements.length) continue; // no duplicates: the same elements
    const wanted = new Set(s.elements);
    const gone = [...have.elements].filter((e) => !wanted.has(e));
    counts.swappedSets++;
    // A map element is deleted by its key; a key whose verdict changed is deleted, then added anew.
    sets.push(...elementCommands('delete', s.name, s.kind === 'map' ? gone.map(mapKey) : gone), ...elementCommands('add', s.name, come));
  }

  const wantChains = new Set(want.chains.map((c) => c.name));
  const wantSets = new Set(want.sets.map((s) => s.name));
  const wantCounters = new Set(want.counters);
  const staleChains = [...k.chains.keys()].filter((n) => !wantChains.has(n)).sort();
  const staleSets = [...k.sets.keys()].filter((n) => !wantSets.has(n)).sort();
  const staleCounters = [...k.counters].filter((n) => !wantCounters.has(n)).sort();
  counts.staleChains = staleChains.length;
  counts.staleSets = staleSets.length;
  counts.hooksRemoved += staleChains.filter((n) => k.chains.get(n)!.base).length;
  const tail = [
    ...staleChains.map((n) => `flush chain ${T} ${n}`),
    ...staleSets.map((n) => `delete ${k.sets.get(n)!.kind} ${T} ${n}`),
    ...staleChains.map((n) => `delete chain ${T} ${n}`),
    ...staleCounters.map((n) => `delete counter ${T} ${n}`),
  ];
  const all = [...head, ...sets, ...rules, ...tail];
  return { script: all.length ? all.join('\n') + '\n' : '', written, accepted, counts, problems };
}

export class NftFirewallManager {
  private readonly canonical: NftCanonical = new Map();
  private readonly suspect: NftCanonical = new Map();
  /** The table as the last successful sync left it; dropped after any error. */
  private cache?: NftState;
  /** Commits this manager's scripts (one nft process for the manager's life). */
  readonly nft = new NftSession();

  async sync(want: NftHost, opts: SyncOptions = {}): Promise<FirewallSyncResult> {
    let cur: NftState | undefined = opts.reread === false ? this.cache : undefined;
    const fromCache = cur !== undefined;
    this.cache = undefined;
    this.nft.prepare(); // nft starts while this sync reads and plans
    if (!cur) {
      const text = await nftListTable();
      cur = text === undefined ? undefined : parseNftTable(text);
    }
    if (!fromCache && cur) {
      // A chain listed exactly as rendered needs no suspicion any more.
      for (const ch of want.chains) {
        const have = cur.chains.get(ch.name);
        if (have && chainKey(have.rules) === chainKey(ch.rules)) this.suspect.delete(ch.name);
      }
    }
    const plan = planNft(want, cur, this.canonical, fromCache ? new Map() : this.suspect);
    if (plan.script) await this.nft.apply(plan.script);
    // Remember what was written: a later listing that differs is a rendering difference only if it
    // comes back the same after a second write (see the header).
    for (const [name, body] of plan.written) {
      const before = cur?.chains.get(name);
      const kernel = before && chainKey(before.rules);
      if (!fromCache && kernel !== undefined && before!.rules.length === body.split('\n').filter(Boolean).length && kernel !== body) {
        this.suspect.set(name, { desired: body, kernel });
      } else this.suspect.delete(name);
    }
    for (const [name, c] of plan.accepted) {
      this.canonical.set(name, c);
      this.suspect.delete(name);
    }
    const names = new Set(want.chains.map((c) => c.name));
    for (const m of [this.canonical, this.suspect]) for (const n of m.keys()) if (!names.has(n)) m.delete(n);
    if (plan.problems.length === 0) this.cache = this.stateAfter(want);
    return {
      changed: plan.script !== '',
      rules: want.stats.rules,
      setEntries: want.stats.setEntries,
      counts: plan.counts,
      errors: plan.problems,
      renderedDifferently: [...plan.accepted.keys()],
    };
  }

  /** Ends the manager's nft process. */
  close(): void {
    this.nft.close();
  }

  /** The table as a fully successful sync of `want` leaves it (in the kernel's own spelling). */
  private stateAfter(want: NftHost): NftState {
    const chains = new Map<string, NftChainState>();
    for (const ch of want.chains) {
      const c = this.canonical.get(ch.name);
      const rules = c && c.desired === chainKey(ch.rules) ? (c.kernel === '' ? [] : c.kernel.split('\n')) : [...ch.rules];
      chains.set(ch.name, { ...(ch.base ? { base: ch.base } : {}), ...(ch.comment !== undefined ? { comment: ch.comment } : {}), rules });
    }
    const sets = new Map(want.sets.map((s) => [s.name, { kind: s.kind, type: s.type, interval: s.interval, elements: new Set(s.elements) }]));
    return { chains, sets, counters: new Set(want.counters) };
  }
}
