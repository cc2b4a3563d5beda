// The firewall manager: keeps the filter table's ROMANA* chains and the ROMANA* ipsets equal to what
// the policy compiler produced for this host, touching nothing else.
//
// One sync reads the kernel (`iptables-save -t filter`, `ipset save`), diffs, and applies in an order
// that never leaves a rule pointing at a missing set or a packet at a half-written chain:
//   1. ipset restore: create new sets; for a set whose members changed, fill a temporary set and
//      `swap` it in (the set is never empty in between), then destroy the temporary;
//   2. iptables-restore --noflush: only the chains whose body differs (declaring `:CHAIN - [0:0]`
//      flushes and refills just that chain, atomically), plus a missing hook `-I FORWARD 1 -j
//      ROMANA-FORWARD` (and INPUT, OUTPUT); the built-in chains' other rules are never touched;
//   3. iptables-restore --noflush: flush and delete stale ROMANA chains (nothing of ours refers to
//      them any more after step 2);
//   4. ipset restore: destroy stale ROMANA sets (no rule of ours uses them after steps 2 and 3).
// Between drift checks, a sync caused by a store event may diff against what the previous successful
// sync left instead of reading every rule back (felix does the same); start-up, resyncs, retries and the
// drift check always read the kernel.
// Chain bodies are compared in iptables-save's form, which the compiler renders. Should the kernel
// print a chain differently from the text that created it, the kernel's rendering is remembered after
// the write and accepted as equal later (no rewrite on every sync). Written chains are read back after the
// sync has returned, since the kernel already holds them (a few with `iptables -S`, many with one save).
// A sync that reads the kernel waits for the read-backs, since it compares in the kernel's rendering; a
// sync from the cache does not, since it compares with what was written. A read-back counts only for
// chains that no sync has written since it began (so a late answer never stands for a newer write).
import { hash16 } from '../core/policy/model.js';
import type { CompiledChain, CompiledSet } from '../core/policy/compile.js';
import { ipsetRestore, ipsetSave } from './kernel/ipset.js';
import { iptablesListChain, iptablesRestore, iptablesSave } from './kernel/iptables.js';

export const PREFIX = 'ROMANA';
/** Built-in chain → the top chain it jumps to (one rule each). */
export const HOOKS: readonly [string, string][] = [['FORWARD', 'ROMANA-FORWARD'], ['INPUT', 'ROMANA-INPUT'], ['OUTPUT', 'ROMANA-OUTPUT']];

export interface FirewallDesired { chains: CompiledChain[]; sets: CompiledSet[] }

export interface FilterState {
  /** Our chains (name starts with ROMANA) and their rules without the "-A NAME " prefix. */
  chains: Map<string, string[]>;
  /** Built-in chain → how many `-j <our top chain>` hooks it has. */
  hooks: Map<string, number>;
}

export function parseFilter(save: string): FilterState {
  const chains = new Map<string, string[]>();
  const hooks = new Map<string, number>(HOOKS.map(([b]) => [b, 0]));
  const hookRule = new Map(HOOKS.map(([b, t]) => [b, `-j ${t}`]));
  let inFilter = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inFilter = line === '*filter';
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1, line.indexOf(' '));
      if (name.startsWith(PREFIX) && !chains.has(name)) chains.set(name, []);
    } else if (line.startsWith('-A ')) {
      const sp = line.indexOf(' ', 3);
      const chain = line.slice(3, sp < 0 ? undefined : sp);
      const rule = sp < 0 ? '' : line.slice(sp + 1);
      if (chain.startsWith(PREFIX)) {
        const rules = chains.get(chain);
        if (rules) rules.push(rule);
        else chains.set(chain, [rule]);
      } else if (hookRule.get(chain) === rule) hooks.set(chain, hooks.get(chain)! + 1);
    }
  }
  return { chains, hooks };
}

export interface SetState { type: string; maxelem: number; entries: Set<string> }

/** Our sets (name starts with ROMANA) from `ipset save`. */
export function parseSets(save: string): Map<string, SetState> {
  const sets = new Map<string, SetState>();
  for (const line of save.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'create' && f[1]?.startsWith(PREFIX)) {
      const mi = f.indexOf('maxelem');
      sets.set(f[1], { type: f[2], maxelem: mi > 0 ? Number(f[mi + 1]) : 65536, entries: new Set() });
    } else if (f[0] === 'add' && f[1]?.startsWith(PREFIX)) {
      sets.get(f[1])?.entries.add(normEntry(f[2]));
    }
  }
  return sets;
}

/** ipset prints a /32 in a hash:net set as the bare address. */
const normEntry = (e: string) => (e.endsWith('/32') ? e.slice(0, -3) : e);
const maxelemFor = (n: number) => (n > 65536 ? 2 ** Math.ceil(Math.log2(n)) : 65536);
/** The temporary set a changed set is built in before the swap (ipset names: at most 31 characters). */
export const tempSetName = (name: string) => (name.length <= 29 ? `${name}-T` : `${PREFIX}-T-${hash16(name)}`);

/** Kernel renderings of chain bodies that differ from the text that wrote them (see the header). */
export type Canonical = Map<string, { desired: string; kernel: string }>;

export interface FirewallPlan {
  /** ipset restore text run before the rules change ('' when nothing). */
  setsBefore: string;
  /** iptables-restore --noflush text for changed and new chains and missing hooks ('' when nothing). */
  rules: string;
  /** Chains written by `rules`, with their desired bodies. */
  written: Map<string, string[]>;
  /** iptables-restore text that flushes and deletes stale chains ('' when nothing). */
  removeChains: string;
  /** Our chains in the kernel that `desired` no longer has (removed by `removeChains`). */
  staleChains: string[];
  /** Sets to destroy after the rules no longer use them. */
  destroySets: string[];
  counts: { newSets: number; swappedSets: number; changedChains: number; staleChains: number; staleSets: number; hooksAdded: number; hooksRemoved: number };
  problems: string[];
}

/**
 * `applied`: chains and sets (the very objects) that a sync already put into the kernel exactly as they
 * are, and that the kernel still holds (the caller's cache says so): they are not compared again.
 */
export function planFirewall(desired: FirewallDesired, filter: FilterState, sets: Map<string, SetState>, canonical: Canonical = new Map(), applied?: WeakSet<object>): FirewallPlan {
  const problems: string[] = [];
  const counts = { newSets: 0, swappedSets: 0, changedChains: 0, staleChains: 0, staleSets: 0, hooksAdded: 0, hooksRemoved: 0 };

  // --- sets
  const before: string[] = [];
  const wantSets = new Set(desired.sets.map((s) => s.name));
  const handledTemps = new Set<string>();
  for (const s of desired.sets) {
    if (applied?.has(s) && sets.has(s.name)) continue;
    const want = s.entries.map(normEntry);
    const max = maxelemFor(want.length);
    const createArgs = `${s.type} family inet${max > 65536 ? ` maxelem ${max}` : ''}`;
    const cur = sets.get(s.name);
    if (!cur) {
      counts.newSets++;
      before.push(`create ${s.name} ${createArgs}`, ...want.map((e) => `add ${s.name} ${e}`));
      continue;
    }
    if (cur.type !== s.type) {
      problems.push(`ipset ${s.name} is ${cur.type} in the kernel, not ${s.type}: left as it is`);
      continue;
    }
    const same = cur.entries.size === want.length && want.every((e) => cur.entries.has(e)) && cur.maxelem >= want.length;
    if (same) continue;
    counts.swappedSets++;
    const tmp = tempSetName(s.name);
    if (sets.has(tmp)) before.push(`destroy ${tmp}`); // a leftover of a sync that died midway
    handledTemps.add(tmp);
    before.push(`create ${tmp} ${createArgs}`, ...want.map((e) => `add ${tmp} ${e}`), `swap ${tmp} ${s.name}`, `destroy ${tmp}`);
  }
  const destroySets = [...sets.keys()].filter((n) => !wantSets.has(n) && !handledTemps.has(n)).sort();
  counts.staleSets = destroySets.length;

  // --- chains
  const written = new Map<string, string[]>();
  for (const c of desired.chains) {
    if (applied?.has(c) && filter.chains.has(c.name)) continue;
    const cur = filter.chains.get(c.name);
    const want = c.rules.join('\n');
    if (cur) {
      const have = cur.join('\n');
      const canon = canonical.get(c.name);
      if (have === want || (canon && canon.desired === want && canon.kernel === have)) continue;
    }
    written.set(c.name, c.rules);
  }
  counts.changedChains = written.size;
  const hookLines: string[] = [];
  const wantChains = new Set(desired.chains.map((c) => c.name));
  for (const [builtin, target] of HOOKS) {
    if (!wantChains.has(target)) continue;
    const n = filter.hooks.get(builtin) ?? 0;
    if (n === 0) {
      hookLines.push(`-I ${builtin} 1 -j ${target}`);
      counts.hooksAdded++;
    }
    for (let i = 1; i < n; i++) {
      hookLines.push(`-D ${builtin} -j ${target}`);
      counts.hooksRemoved++;
    }
  }
  const rules = written.size || hookLines.length
    ? ['*filter', ...[...written.keys()].map((n) => `:${n} - [0:0]`), ...[...written].flatMap(([n, rs]) => rs.map((r) => `-A ${n} ${r}`)), ...hookLines, 'COMMIT', ''].join('\n')
    : '';
  const stale = [...filter.chains.keys()].filter((n) => !wantChains.has(n)).sort();
  counts.staleChains = stale.length;
  const removeChains = stale.length ? ['*filter', ...stale.map((n) => `-F ${n}`), ...stale.map((n) => `-X ${n}`), 'COMMIT', ''].join('\n') : '';

  return { setsBefore: before.length ? before.join('\n') + '\n' : '', rules, written, removeChains, staleChains: stale, destroySets, counts, problems };
}

export interface FirewallSyncResult {
  changed: boolean;
  rules: number;
  setEntries: number;
  counts: FirewallPlan['counts'];
  errors: string[];
  /** Chains the kernel prints differently from how they were written (accepted from now on). */
  renderedDifferently: string[];
}

export interface SyncOptions {
  /**
   * Read the kernel first (default). With false, and a previous sync that succeeded, the manager diffs
   * against what that sync left (as Calico's felix does between its periodic refreshes): an update then
   * costs its own restore, not a read of every rule. The periodic drift check always reads.
   */
  reread?: boolean;
}

export class FirewallManager {
  private readonly canonical: Canonical = new Map();
  /** What the kernel holds after the last successful sync; dropped after any error. */
  private cache?: { filter: FilterState; sets: Map<string, SetState> };
  /** The chain and set objects that sync wrote (or found) as they are. */
  private applied = new WeakSet<object>();
  /** Read-backs of written chains, still running after their sync returned. */
  private verifying = new Set<Promise<void>>();
  /** Chain → the number of the last write of it (bumped before the write is issued; gone with the chain). */
  private writes = new Map<string, number>();
  private writeCount = 0;
  /** Chains that read-back found printed differently, told in the next result. */
  private lateDifferences: string[] = [];

  async sync(desired: FirewallDesired, opts: SyncOptions = {}): Promise<FirewallSyncResult> {
    // What a read of the kernel finds is compared in the kernel's rendering, so that needs the read-backs.
    if (opts.reread !== false) await this.settled();
    let cur = opts.reread === false ? this.cache : undefined;
    // Objects of the last good sync are known to be in the kernel while the cache is trusted.
    const applied = cur ? this.applied : undefined;
    this.cache = undefined;
    if (!cur) {
      const [filterText, setText] = await Promise.all([iptablesSave(), ipsetSave()]);
      cur = { filter: parseFilter(filterText), sets: parseSets(setText) };
    }
    const plan = planFirewall(desired, cur.filter, cur.sets, this.canonical, applied);
    const errors = [...plan.problems];
    // Steps 1 and 2 must succeed for the later ones to be safe; their errors abort the sync.
    if (plan.setsBefore) await ipsetRestore(plan.setsBefore);
    // Numbers only grow, and a removed chain forgets its own: either way a read-back begun before no longer counts.
    for (const n of plan.written.keys()) this.writes.set(n, ++this.writeCount);
    for (const n of plan.staleChains) this.writes.delete(n);
    const writes = new Map([...plan.written.keys()].map((n) => [n, this.writes.get(n)!]));
    if (plan.rules) await iptablesRestore(plan.rules);
    if (plan.removeChains) {
      await iptablesRestore(plan.removeChains).catch((e: Error) => errors.push(`removing stale chains: ${e.message}`));
    }
    if (plan.destroySets.length) {
      await ipsetRestore(plan.destroySets.map((n) => `destroy ${n}`).join('\n') + '\n').catch(async () => {
        // One by one, to remove what can be removed and name what cannot (still used by a foreign rule).
        for (const n of plan.destroySets) await ipsetRestore(`destroy ${n}\n`).catch((e: Error) => errors.push(`destroying ipset ${n}: ${e.message}`));
      });
    }
    const renderedDifferently = this.lateDifferences.splice(0);
    for (const n of this.canonical.keys()) if (!desired.chains.some((c) => c.name === n)) this.canonical.delete(n);
    if (errors.length === 0) {
      this.cache = this.stateAfter(desired, cur, applied);
      this.applied = new WeakSet([...desired.chains, ...desired.sets]);
    }
    if (plan.written.size) {
      const p: Promise<void> = this.readBack(plan.written, writes).finally(() => this.verifying.delete(p));
      this.verifying.add(p);
    }
    const c = plan.counts;
    return {
      changed: Boolean(plan.setsBefore || plan.rules || plan.removeChains || plan.destroySets.length),
      rules: desired.chains.reduce((n, ch) => n + ch.rules.length, 0) + HOOKS.length,
      setEntries: desired.sets.reduce((n, s) => n + s.entries.length, 0),
      counts: c, errors, renderedDifferently,
    };
  }

  /** Resolves when every read-back still running after its sync returned is done. */
  async settled(): Promise<void> {
    await Promise.all([...this.verifying]);
  }

  /** Records whether the kernel prints a written chain as it was written; true when it does not. */
  private compareWritten(name: string, rules: string[], kernelRules: string[]): boolean {
    const kernel = kernelRules.join('\n');
    if (kernel === rules.join('\n')) {
      this.canonical.delete(name);
      return false;
    }
    this.canonical.set(name, { desired: rules.join('\n'), kernel });
    return true;
  }

  /**
   * Written chains, read back (a few one by one, many with one save); what the kernel prints differently
   * goes into the cache, and into the next result. A chain written again since (by a sync that did not
   * wait for this one) is left to that sync's own read-back.
   */
  private async readBack(written: Map<string, string[]>, writes: Map<string, number>): Promise<void> {
    try {
      const few = written.size <= 16;
      const after = few ? undefined : parseFilter(await iptablesSave());
      const bodies = few ? await Promise.all([...written.keys()].map((n) => iptablesListChain(n))) : [];
      for (const [i, [name, rules]] of [...written].entries()) {
        if (this.writes.get(name) !== writes.get(name)) continue;
        const kernel = (few ? bodies[i] : after!.chains.get(name)) ?? [];
        if (!this.compareWritten(name, rules, kernel)) continue;
        this.lateDifferences.push(name);
        this.cache?.filter.chains.set(name, kernel);
      }
    } catch {
      this.cache = undefined; // the next sync reads the kernel
    }
  }

  /**
   * The kernel as a fully successful sync of `desired` leaves it (in the kernel's own rendering). What
   * `prev` held for objects applied before as they are is taken over, not built again.
   */
  private stateAfter(desired: FirewallDesired, prev?: { filter: FilterState; sets: Map<string, SetState> }, applied?: WeakSet<object>): { filter: FilterState; sets: Map<string, SetState> } {
    const chains = new Map<string, string[]>();
    for (const ch of desired.chains) {
      const had = applied?.has(ch) ? prev?.filter.chains.get(ch.name) : undefined;
      if (had) {
        chains.set(ch.name, had);
        continue;
      }
      const canon = this.canonical.get(ch.name);
      chains.set(ch.name, canon && canon.desired === ch.rules.join('\n') ? (canon.kernel === '' ? [] : canon.kernel.split('\n')) : [...ch.rules]);
    }
    const hooks = new Map(HOOKS.map(([b, t]) => [b, chains.has(t) ? 1 : 0]));
    const sets = new Map(desired.sets.map((x) => {
      const had = applied?.has(x) ? prev?.sets.get(x.name) : undefined;
      return [x.name, had ?? { type: x.type, maxelem: maxelemFor(x.entries.length), entries: new Set(x.entries.map(normEntry)) }];
    }));
    return { filter: { chains, hooks }, sets };
  }
}
