// The nftables rows of bench/dataplane (one repetition per call, in the benchmark's scratch namespace,
// the same host as the iptables rows): the agent's nftables backend next to a raw `nft -f` of the same
// table, and pod churn on both backends (a pod coming to the host and going again). The one-policy
// update is shown beside its parts: the agent's planning alone, and the very script it commits, sent raw
// through a long-lived `nft -i` of the bench's own (the agent's way) and by `nft -f` in a new process.
import { spawnSync } from 'node:child_process';
import { desiredState, type PolicyCache } from '../../src/agent/desired.js';
import { FirewallManager, type FirewallSyncResult } from '../../src/agent/firewall.js';
import { iptablesRestore } from '../../src/agent/kernel/iptables.js';
import { check } from '../../src/agent/kernel/exec.js';
import { nftListTable } from '../../src/agent/kernel/nft.js';
import { NftSession } from '../../src/agent/kernel/nft-session.js';
import { NftFirewallManager, planNft, type NftState } from '../../src/agent/nftables.js';
import type { CompiledHost } from '../../src/core/policy/render-iptables.js';
import { nftScript, renderNft, type NftHost } from '../../src/core/policy/render-nft.js';
import { addressKey, podKey } from '../../src/control/keys.js';

type Add = (row: string, ms: number) => void;
async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}
const dropTable = () => spawnSync('nft', ['delete', 'table', 'inet', 'romana']);
/** A script by `nft -f` in a process of its own (what the agent did before it kept one nft running). */
const nftF = async (script: string): Promise<void> => void (await check('nft', ['-f', '-'], script));
/** The table as a sync of `h` leaves it. */
const stateOf = (h: NftHost): NftState => ({
  chains: new Map(h.chains.map((c) => [c.name, { ...(c.base ? { base: c.base } : {}), ...(c.comment !== undefined ? { comment: c.comment } : {}), rules: c.rules }])),
  sets: new Map(h.sets.map((x) => [x.name, { kind: x.kind, type: x.type, interval: x.interval, elements: new Set(x.elements) }])),
  counters: new Set(h.counters),
});
const must = (r: FirewallSyncResult, what: string, ok: (r: FirewallSyncResult) => boolean) => {
  if (r.errors.length || !ok(r)) throw new Error(`${what}: ${JSON.stringify({ errors: r.errors, counts: r.counts, changed: r.changed })}`);
};

/** The store with one more local pod (in a namespace whose policies select it, so it is isolated and a peer). */
export function withChurnPod(snap: Map<string, string>): Map<string, string> {
  const m = new Map(snap);
  const name = 'ns7-h-churn';
  m.set(addressKey(name), JSON.stringify({ name, ip: '10.250.0.7', host: 'h', tenant: 'ns7', segment: 'default', network: 'pods', block: '' }));
  m.set(podKey('ns7', name), JSON.stringify({ namespace: 'ns7', name, labels: { app: 'a2' }, ports: [] }));
  return m;
}

export interface Host { fw1: CompiledHost; fw2: CompiledHost; churn: CompiledHost }

export function hostsFor(snap: Map<string, string>, changed: Map<string, string>, cache: PolicyCache): Host {
  return {
    fw1: desiredState(snap, 'h', { policyCache: cache }).firewall!,
    fw2: desiredState(changed, 'h', { policyCache: cache }).firewall!,
    churn: desiredState(withChurnPod(snap), 'h', { policyCache: cache }).firewall!,
  };
}

/** One repetition of every nftables row, and of pod churn on iptables. `clean` empties iptables and ipsets. */
export async function nftRows(h: Host, add: Add, clean: () => void): Promise<void> {
  const n1 = renderNft(h.fw1.ir), n2 = renderNft(h.fw2.ir), nc = renderNft(h.churn.ir);

  // Pod churn on iptables (the same host as the iptables rows).
  clean();
  dropTable();
  const ipt = new FirewallManager();
  must(await ipt.sync(h.fw1.tables), 'iptables full apply', () => true);
  let [t, r] = await time(() => ipt.sync(h.churn.tables, { reread: false }));
  must(r, 'iptables pod added', (x) => x.changed);
  add('agent iptables: pod churn, a pod comes (store event: sets swapped, dispatch chain rewritten)', t);
  [t, r] = await time(() => ipt.sync(h.fw1.tables, { reread: false }));
  must(r, 'iptables pod removed', (x) => x.changed);
  add('agent iptables: pod churn, the pod goes again', t);
  clean();

  // nftables: the agent.
  dropTable();
  const m = new NftFirewallManager();
  [t, r] = await time(() => m.sync(n1));
  must(r, 'nft full apply', (x) => x.counts.changedChains === n1.chains.length);
  add('agent nftables: full apply (empty host)', t);
  [t, r] = await time(() => m.sync(n2, { reread: false }));
  must(r, 'nft one-policy update', (x) => x.counts.changedChains === 1);
  add('agent nftables: one-policy update, from a store event (diff against the last sync)', t);
  [t, r] = await time(() => m.sync(n1, { reread: false }));
  must(r, 'nft one-policy update back', (x) => x.counts.changedChains === 1);
  add('agent nftables: one-policy update, from a store event (diff against the last sync)', t);
  [t, r] = await time(() => m.sync(nc, { reread: false }));
  must(r, 'nft pod added', (x) => x.changed && x.counts.changedChains === 0);
  add('agent nftables: pod churn, a pod comes (store event: set and map elements only)', t);
  [t, r] = await time(() => m.sync(n1, { reread: false }));
  must(r, 'nft pod removed', (x) => x.changed && x.counts.changedChains === 0);
  add('agent nftables: pod churn, the pod goes again', t);
  [t, r] = await time(() => m.sync(n1));
  must(r, 'nft nothing to change', (x) => !x.changed);
  add('agent nftables: sync with nothing to change (the drift check)', t);
  [t, r] = await time(() => m.sync(n2, { reread: true }));
  must(r, 'nft one-policy update with a read', (x) => x.counts.changedChains === 1);
  add('agent nftables: one-policy update with a full read of the kernel first', t);
  m.close();
  await nftF(planNft(n1, stateOf(n2)).script);
  [t] = await time(() => nftListTable());
  add('read: nft -s list table inet romana', t);

  // The one-policy update's parts: the agent's planning alone, and its script committed raw, both ways.
  const [s1, s2] = [stateOf(n1), stateOf(n2)];
  [t] = await time(async () => planNft(n2, s1));
  add('agent nftables: planning the one-policy update alone (the diff, no kernel)', t);
  const [forth, back] = [planNft(n2, s1).script, planNft(n1, s2).script];
  const raw = new NftSession();
  await raw.apply('add table inet romana\n'); // starts its nft (changes nothing)
  for (const [row, apply] of [['a long-lived nft -i (include)', (x: string) => raw.apply(x)], ['nft -f in a new process', nftF]] as const) {
    [t] = await time(() => apply(forth));
    add(`raw: the one-policy update's script (${forth.split('\n').length - 1} lines), by ${row}`, t);
    await apply(back);
  }

  // nftables: raw, the same table as one script into an empty namespace, and the whole new table.
  dropTable();
  [t] = await time(() => nftF(nftScript(n1)));
  add('raw: nft -f, the whole table', t);
  [t] = await time(() => nftF(`flush table inet romana\n${nftScript(n2).replace(/^add table inet romana\n/, '').replace(/^add (counter|chain|set|map) .*\n/gm, '')}`));
  add('raw: nft -f, flush the table and load it whole after the one-policy change', t);
  dropTable();

  // The floor under any update that removes a rule: a table with one chain of one rule, and nothing else.
  for (const [how, apply] of [['nft -f', nftF], ['nft -i', (x: string) => raw.apply(x)]] as const) {
    await apply('add table inet floor\nadd chain inet floor c\nadd rule inet floor c tcp dport 1 accept\n');
    [t] = await time(() => apply('add rule inet floor c tcp dport 2 accept\n'));
    add(`raw floor: ${how} adding one rule to a table of one chain`, t);
    [t] = await time(() => apply('flush chain inet floor c\nadd rule inet floor c tcp dport 1 accept\n'));
    add(`raw floor: ${how} replacing that chain's rules with one rule (the kernel deletes rules)`, t);
    spawnSync('nft', ['delete', 'table', 'inet', 'floor']);
  }
  raw.close();
  clean();
  await iptablesRestore('*filter\n:FLOOR - [0:0]\n-A FLOOR -p tcp --dport 1 -j ACCEPT\nCOMMIT\n');
  [t] = await time(() => iptablesRestore('*filter\n:FLOOR - [0:0]\n-A FLOOR -p tcp --dport 1 -j ACCEPT\nCOMMIT\n'));
  add('raw floor: iptables-restore --noflush replacing the one rule of a chain of its own', t);
  clean();
}

/** Sizes of the nftables table of a host, for the heading. */
export function nftStats(h: Host): string {
  const s = renderNft(h.fw1.ir).stats;
  return `nftables: ${s.rules.toLocaleString('en')} rules in ${s.chains.toLocaleString('en')} chains, ${s.sets} sets and maps with ${s.setEntries.toLocaleString('en')} elements`;
}
