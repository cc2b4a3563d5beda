// The agent's two firewall backends behind one face: iptables + ipset (firewall.ts) and nftables
// (nftables.ts). Both program the same compiled form (core/policy/ir.ts), rendered by their own renderer.
// Each can remove every trace of the other, so switching a host's --dataplane leaves nothing behind;
// each can read its per-policy counters for /metrics.
import { existsSync, readFileSync } from 'node:fs';
import type { DataplaneKind } from '../core/dataplane.js';
import type { Direction } from '../core/policy/model.js';
import type { CompiledHost } from '../core/policy/render-iptables.js';
import { renderNft, type NftHost } from '../core/policy/render-nft.js';
import { FirewallManager, HOOKS, PREFIX, parseFilter, type FirewallSyncResult, type SyncOptions } from './firewall.js';
import { KernelError, run } from './kernel/exec.js';
import { ipsetRestore } from './kernel/ipset.js';
import { iptablesRestoreOf, iptablesSaveCounters, iptablesSaveOf } from './kernel/iptables.js';
import { nftCounters, nftDeleteTable, nftTables } from './kernel/nft.js';
import { NftFirewallManager } from './nftables.js';

export { DATAPLANES, DEFAULT_DATAPLANE, type DataplaneKind } from '../core/dataplane.js';

/** What was removed, and what looked like the other backend's but could not be read (left alone). */
export interface RemovedOther { removed: string[]; leftAlone: string[] }

export interface PolicyCounter { policy: string; direction: Direction; packets: number; bytes: number }

export interface FirewallBackend {
  readonly kind: DataplaneKind;
  sync(compiled: CompiledHost, opts?: SyncOptions): Promise<FirewallSyncResult & { chains: number; sets: number }>;
  /** Removes everything the other backend left in this namespace (and nothing else). */
  removeOther(): Promise<RemovedOther>;
  /** Packets and bytes that each policy allowed on this host, by the last synced state. */
  policyCounters(): Promise<PolicyCounter[]>;
}

export function firewallBackend(kind: DataplaneKind): FirewallBackend {
  return kind === 'nftables' ? new NftBackend() : new IptablesBackend();
}

class IptablesBackend implements FirewallBackend {
  readonly kind = 'iptables' as const;
  private readonly m = new FirewallManager();
  private policies = new Map<string, { id: string; direction: Direction }>();

  async sync(compiled: CompiledHost, opts?: SyncOptions) {
    this.policies = new Map(compiled.ir.chains.flatMap((c) => (c.policy ? [[c.name, c.policy] as const] : [])));
    const r = await this.m.sync(compiled.tables, opts);
    return { ...r, chains: compiled.stats.chains, sets: compiled.stats.sets };
  }

  async removeOther(): Promise<RemovedOther> {
    return { removed: (await nftDeleteTable()) ? ['nftables table inet romana'] : [], leftAlone: [] };
  }

  async policyCounters(): Promise<PolicyCounter[]> {
    // As on nftables, a policy's hits are the packets its endpoint chains return as allowed right after
    // jumping to it: the per-rule counters of those "-m mark ... -j RETURN" rules, summed (a rewritten
    // endpoint chain starts again from zero).
    const save = await iptablesSaveCounters();
    const sums = new Map<string, { packets: number; bytes: number }>();
    const lastJump = new Map<string, string>();
    for (const line of save.split('\n')) {
      const m = /^\[(\d+):(\d+)\] -A (ROMANA-EP[IE]-\S+) (.*)$/.exec(line);
      if (!m) continue;
      const [, packets, bytes, chain, rule] = m;
      const jump = /^-j (ROMANA-P[IE]-\S+)$/.exec(rule);
      if (jump) { lastJump.set(chain, jump[1]); continue; }
      const policy = lastJump.get(chain);
      if (!policy || !/^-m mark --mark \S+ -j RETURN$/.test(rule)) continue;
      const s = sums.get(policy) ?? { packets: 0, bytes: 0 };
      s.packets += Number(packets);
      s.bytes += Number(bytes);
      sums.set(policy, s);
    }
    return [...this.policies].map(([chain, p]) => ({ policy: p.id, direction: p.direction, ...(sums.get(chain) ?? { packets: 0, bytes: 0 }) }));
  }
}

class NftBackend implements FirewallBackend {
  readonly kind = 'nftables' as const;
  private readonly m = new NftFirewallManager();
  private last?: NftHost;

  async sync(compiled: CompiledHost, opts?: SyncOptions) {
    const want = renderNft(compiled.ir);
    this.last = want;
    const r = await this.m.sync(want, opts);
    return { ...r, chains: want.stats.chains, sets: want.stats.sets };
  }

  async removeOther(): Promise<RemovedOther> {
    return removeIptablesState();
  }

  async policyCounters(): Promise<PolicyCounter[]> {
    if (!this.last) return [];
    const counters = await nftCounters();
    return [...this.last.counterPolicies].map(([name, p]) => ({ policy: p.id, direction: p.direction, ...(counters.get(name) ?? { packets: 0, bytes: 0 }) }));
  }
}

/**
 * Romana's iptables state, in both flavours: the hooks in FORWARD/INPUT/OUTPUT, the ROMANA chains, then
 * the ROMANA ipsets. Tables that do not exist are not created by looking (legacy's are listed in
 * /proc/net/ip_tables_names; iptables-nft's filter table is the nft table `ip filter`).
 */
async function removeIptablesState(): Promise<RemovedOther> {
  const done: string[] = [];
  const leftAlone: string[] = [];
  const legacy = existsSync('/proc/net/ip_tables_names') && readFileSync('/proc/net/ip_tables_names', 'utf8').split('\n').includes('filter');
  const nft = (await nftTables()).includes('ip filter');
  for (const [flavour, present] of [['nft', nft], ['legacy', legacy]] as const) {
    if (!present) continue;
    let f;
    try {
      f = parseFilter(await iptablesSaveOf(flavour));
    } catch (e) {
      // E.g. an `ip filter` table written with nft that iptables-nft cannot read: not ours, left alone.
      leftAlone.push(`iptables-${flavour}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const chains = [...f.chains.keys()];
    const hooks = HOOKS.flatMap(([b, t]) => Array.from({ length: f.hooks.get(b) ?? 0 }, () => `-D ${b} -j ${t}`));
    if (chains.length === 0 && hooks.length === 0) continue;
    await iptablesRestoreOf(flavour, ['*filter', ...hooks, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'));
    done.push(`iptables-${flavour}: ${hooks.length} hooks and ${chains.length} ROMANA chains`);
  }
  const listed = await run('ipset', ['list', '-n']);
  if (listed.code === 127) return { removed: done, leftAlone }; // no ipset here: no sets of ours either
  if (listed.code !== 0) throw new KernelError('ipset list -n', listed);
  const sets = listed.stdout.split('\n').filter((n) => n.startsWith(PREFIX));
  if (sets.length) {
    await ipsetRestore(sets.map((n) => `destroy ${n}`).join('\n') + '\n');
    done.push(`${sets.length} ROMANA ipsets`);
  }
  return { removed: done, leftAlone };
}
