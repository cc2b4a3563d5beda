// What a test needs to look at either firewall backend in a host namespace the same way: Romana's chains
// and sets as the kernel holds them, what they should be for a desired state, the agent's flag, a shell
// snippet that sums up the dataplane (for polling across an agent restart), drift to inflict, and the
// foreign objects (of other software) that must stay untouched. The agent and lab tests are written
// once against this and run for each backend.
import type { DesiredState } from '../../src/agent/desired.js';
import { parseNftTable } from '../../src/agent/nftables.js';
import { nftRuleKey, renderNft } from '../../src/core/policy/render-nft.js';
import { inNs, romanaChains, romanaSets, sh, shAsync } from './helpers.js';

export type DataplaneName = 'iptables' | 'nftables';

/** The backend a parametrized test file runs on (its nftables twin sets ROMANA_TEST_DATAPLANE). */
export const TEST_DATAPLANE: DataplaneName = process.env.ROMANA_TEST_DATAPLANE === 'nftables' ? 'nftables' : 'iptables';

export interface FirewallView {
  /** nftables: rules with each anonymous set's elements in one order (see nftRuleKey). */
  chains: Record<string, string[]>;
  sets: Record<string, string[]>;
  /** iptables: jumps from FORWARD to ROMANA-FORWARD; nftables: Romana's base chains. */
  hooks: number;
}

const sortedRecord = <V>(entries: [string, V][]) => Object.fromEntries(entries.sort((a, b) => (a[0] < b[0] ? -1 : 1)));

export async function readFirewall(dp: DataplaneName, ns: string): Promise<FirewallView> {
  if (dp === 'iptables') {
    const [ipt, ips, fwd] = await Promise.all([
      shAsync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'filter']),
      shAsync('ip', ['netns', 'exec', ns, 'ipset', 'save']),
      shAsync('ip', ['netns', 'exec', ns, 'iptables', '-S', 'FORWARD']),
    ]);
    return {
      chains: sortedRecord([...romanaChains(ipt.stdout)]),
      sets: sortedRecord([...romanaSets(ips.stdout)]),
      hooks: fwd.stdout.split('\n').filter((l) => l === '-A FORWARD -j ROMANA-FORWARD').length,
    };
  }
  const r = await shAsync('ip', ['netns', 'exec', ns, 'nft', '-s', 'list', 'table', 'inet', 'romana']);
  const t = parseNftTable(r.code === 0 ? r.stdout : '');
  return {
    chains: sortedRecord([...t.chains].map(([k, v]) => [k, v.rules.map(nftRuleKey)])),
    sets: sortedRecord([...t.sets].map(([k, v]) => [k, [...v.elements].sort()])),
    hooks: [...t.chains.values()].filter((c) => c.base?.startsWith('type filter hook ')).length,
  };
}

export function expectedFirewall(dp: DataplaneName, d: DesiredState): FirewallView {
  if (dp === 'iptables') {
    return {
      chains: sortedRecord(d.firewall!.tables.chains.map((c) => [c.name, c.rules])),
      sets: sortedRecord(d.firewall!.tables.sets.map((x) => [x.name, x.entries.map((e) => e.replace(/\/32$/, '')).sort()])),
      hooks: 1,
    };
  }
  const h = renderNft(d.firewall!.ir);
  return {
    chains: sortedRecord(h.chains.map((c) => [c.name, c.rules.map(nftRuleKey)])),
    sets: sortedRecord(h.sets.map((x) => [x.name, [...x.elements].sort()])),
    hooks: 3,
  };
}

export const agentFlags = (dp: DataplaneName): string[] => ['--dataplane', dp];

/** Bash that prints "<rules> <hooks> <sets>" of Romana's firewall in the current namespace. */
export function firewallCounts(dp: DataplaneName): string {
  return dp === 'iptables'
    ? "$(iptables-save -t filter | grep -c '^-A ROMANA') $(iptables -S FORWARD | grep -c -- '-j ROMANA-FORWARD') $(ipset list -n | grep -c '^ROMANA')"
    : "$(nft -s list table inet romana | wc -l) $(nft -s list table inet romana | grep -c 'type filter hook') $(nft -s list table inet romana | grep -cE '^\\s(set|map) ')";
}

/** Drift: a dispatch chain emptied, the FORWARD hook gone, a set emptied. */
export function inflictDrift(dp: DataplaneName, ns: string, set: string): void {
  if (dp === 'iptables') {
    inNs(ns, 'iptables', ['-F', 'ROMANA-INGRESS']);
    inNs(ns, 'iptables', ['-D', 'FORWARD', '-j', 'ROMANA-FORWARD']);
    inNs(ns, 'ipset', ['flush', set]);
  } else {
    inNs(ns, 'nft', ['-f', '-'], `flush chain inet romana ROMANA-INGRESS\nflush chain inet romana ROMANA-FORWARD\ndelete chain inet romana ROMANA-FORWARD\nflush set inet romana ${set}\n`);
  }
}

/**
 * Someone else's objects, in place before the agent starts: an iptables chain hooked from FORWARD and
 * iptables(-nft) rules that accept everything at FORWARD, INPUT and OUTPUT, an ipset, and an nft table
 * whose base chains accept everything before and after Romana's priority (-10) at each hook. None may
 * change a verdict of Romana's, and the agent must leave all of them as they are.
 */
export function addForeign(ns: string): void {
  inNs(ns, 'iptables-restore', ['--noflush'], '*filter\n:FOREIGN-CHAIN - [0:0]\n-A FOREIGN-CHAIN -s 10.9.9.9/32 -j ACCEPT\n-A FORWARD -j FOREIGN-CHAIN\n-A FORWARD -j ACCEPT\n-A INPUT -j ACCEPT\n-A OUTPUT -j ACCEPT\nCOMMIT\n');
  // The accept-all rules must be iptables-nft's (kube-proxy's kind): rules in nftables, at the same hooks as Romana's table.
  for (const c of ['FORWARD', 'INPUT', 'OUTPUT']) {
    if (!/^\s+counter packets \d+ bytes \d+ accept$/m.test(inNs(ns, 'nft', ['list', 'chain', 'ip', 'filter', c]))) {
      throw new Error(`the accept-all ${c} rule is not in nftables (ip filter): this host's iptables must be iptables-nft`);
    }
  }
  inNs(ns, 'ipset', ['restore'], 'create foreign-set hash:ip\nadd foreign-set 10.9.9.9\n');
  inNs(ns, 'nft', ['-f', '-'], ['add table inet foreign', ...['forward', 'input', 'output'].flatMap((hook) => [-20, 0].flatMap((prio) => [
    `add chain inet foreign ${hook}${-prio} { type filter hook ${hook} priority ${prio}; policy accept; }`, `add rule inet foreign ${hook}${-prio} accept`,
  ]))].join('\n') + '\n');
}

/** The foreign objects as they are now (what the agent must never change). */
export function foreignSnapshot(ns: string): string {
  return [
    inNs(ns, 'iptables', ['-S', 'FOREIGN-CHAIN']),
    ...['FORWARD', 'INPUT', 'OUTPUT'].map((c) => inNs(ns, 'iptables', ['-S', c]).split('\n').filter((l) => !l.includes('ROMANA')).join('\n')),
    inNs(ns, 'ipset', ['list', 'foreign-set']).replace(/^(Size in memory|References): .*$/gm, ''),
    sh('ip', ['netns', 'exec', ns, 'nft', '-s', 'list', 'table', 'inet', 'foreign']),
  ].join('\n----\n');
}
