// Dataplane benchmark: the agent's firewall and route managers on a host with ~10,000 iptables rules
// (and 10,000 routes), next to raw `iptables-restore` / `ip -batch` of the same text in the same run;
// and the nftables backend on the same host next to a raw `nft -f` of its table (nftables.ts).
//
//   sudo node --import tsx bench/dataplane/main.ts [--reps N] [--json]
//
// It creates a scratch network namespace (ragb-<pid>), re-runs itself inside it with --child (the
// managers act on the namespace they run in; the child is bundled as the agent is, bench/lib/bundle.ts),
// prints a markdown table and deletes the namespace.
// Needs root, iproute2, iptables, ipset and nft.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../src/agent/node-flags.js';
import { desiredState, type PolicyCache } from '../../src/agent/desired.js';
import { FirewallManager } from '../../src/agent/firewall.js';
import { ipsetRestore, ipsetSave } from '../../src/agent/kernel/ipset.js';
import { iptablesRestore, iptablesSave } from '../../src/agent/kernel/iptables.js';
import { ipBatch } from '../../src/agent/kernel/ip.js';
import { RouteManager, renderRoutePlan } from '../../src/agent/routes.js';
import { policyKey } from '../../src/control/keys.js';
import { bundleForBench } from '../lib/bundle.js';
import { percentile } from '../lib/stats.js';
import { hostsFor, nftRows, nftStats } from './nftables.js';
import { incrementalRows } from './incremental.js';
import { policy, snapshot } from './snap.js';

const J = JSON.stringify;
const REPS = Number(process.argv[process.argv.indexOf('--reps') + 1] || 5) || 5;

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
/** Empties this (scratch) namespace's filter table, ipsets and table 82. */
function clean(): void {
  sh('iptables', ['-F']);
  sh('iptables', ['-X']);
  sh('ipset', ['destroy']);
  spawnSync('ip', ['route', 'flush', 'table', '82']);
}
async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}

type Figures = Record<string, number[]>;

async function child(): Promise<void> {
  if (spawnSync('ip', ['link', 'show', 'eth0']).status !== 0) sh('ip', ['-batch', '-'], 'link set lo up\nlink add name eth0 type veth peer name eth0p\nlink set eth0 up\nlink set eth0p up\naddr add 192.168.5.1/24 dev eth0\n');
  const f: Figures = {};
  const add = (k: string, v: number) => (f[k] ??= []).push(v);
  const snap = snapshot();
  const changed = new Map(snap);
  changed.set(policyKey('ns7/p3'), policy('ns7', 3, 7, 5000)); // one policy: other ports
  if (process.argv.includes('--agent')) {
    // The agent as it runs, in a process of its own: it holds its tracker and firewall manager, not the
    // other rows' desired states, whose heap would make every collection dearer than the agent's.
    for (let rep = 0; rep < REPS; rep++) await incrementalRows(snap, [policyKey('ns7/p3'), changed.get(policyKey('ns7/p3'))!], add, clean, rep);
    clean();
    return void process.stdout.write(J({ figures: f }));
  }
  if (process.argv.includes('--nft')) {
    // The nftables rows, likewise in a process of their own: the host's desired states and the managers.
    const backends = hostsFor(snap, changed, new Map());
    for (let rep = 0; rep < REPS; rep++) await nftRows(backends, add, clean);
    clean();
    return void process.stdout.write(J({ figures: f, nft: nftStats(backends) }));
  }

  const cache: PolicyCache = new Map();
  let [ms, d] = await time(async () => desiredState(snap, 'h', { policyCache: cache }));
  const stats = d.firewall!.stats;
  add('desired state from store keys, cold', ms);
  [ms] = await time(async () => desiredState(changed, 'h', { policyCache: cache }));
  add('desired state after one policy changed (warm cache)', ms);
  const d2 = desiredState(changed, 'h', { policyCache: cache });
  d = desiredState(snap, 'h', { policyCache: cache });
  const fw1 = d.firewall!, fw2 = d2.firewall!;

  const remote = Array.from({ length: 10_000 }, (_, i) => ({ dst: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) << 4}/28`, host: `h${2 + (i % 2)}`, hostIp: `192.168.5.${2 + (i % 2)}` }));
  const routesMoved = remote.map((r, i) => (i === 1234 ? { ...r, host: 'h9', hostIp: '192.168.5.9' } : r));

  for (let rep = 0; rep < REPS; rep++) {
    clean();
    const fw = new FirewallManager();
    let [t, r] = await time(() => fw.sync(fw1.tables));
    if (r.errors.length) throw new Error(r.errors.join('; '));
    add('agent: full apply (empty host)', t);
    [t] = await time(() => fw.settled());
    add('agent: its read-back, after the full apply returned', t);
    [t, r] = await time(() => fw.sync(fw1.tables));
    if (r.changed) throw new Error('a second sync changed something');
    add('agent: sync with nothing to change (the drift check)', t);
    [t, r] = await time(() => fw.sync(fw2.tables, { reread: false }));
    if (r.counts.changedChains !== 1) throw new Error(`one-policy update rewrote ${r.counts.changedChains} chains`);
    add('agent: one-policy update, from a store event (diff against the last sync)', t);
    [t, r] = await time(() => fw.sync(fw1.tables, { reread: true }));
    if (r.counts.changedChains !== 1) throw new Error(`one-policy update rewrote ${r.counts.changedChains} chains`);
    add('agent: one-policy update with a full read of the kernel first', t);
    [t] = await time(() => iptablesSave());
    add('read: iptables-save -t filter', t);
    [t] = await time(() => ipsetSave());
    add('read: ipset save', t);

    clean();
    [t] = await time(() => ipsetRestore(fw1.ipset));
    add('raw: ipset restore of the compiled sets', t);
    [t] = await time(() => iptablesRestore(fw1.iptables));
    add('raw: iptables-restore --noflush, full text', t);
    [t] = await time(() => iptablesRestore(fw2.iptables));
    add('raw: iptables-restore --noflush, full text after the one-policy change', t);
    // The floor of a one-policy update: the restore of that one chain alone, into the loaded table.
    const before = new Map(fw1.tables.chains.map((c) => [c.name, c.rules.join('\n')]));
    const one = fw2.tables.chains.filter((c) => before.get(c.name) !== c.rules.join('\n'));
    if (one.length !== 1) throw new Error(`one-policy change: ${one.length} chains differ`);
    [t] = await time(() => iptablesRestore(['*filter', `:${one[0].name} - [0:0]`, ...one[0].rules.map((r) => `-A ${one[0].name} ${r}`), 'COMMIT', ''].join('\n')));
    add('raw: iptables-restore --noflush of the one changed chain (into the loaded table)', t);
    clean();
    await ipsetRestore(fw2.ipset); // the sets it names
    [t] = await time(() => iptablesRestore(['*filter', `:${one[0].name} - [0:0]`, ...one[0].rules.map((r) => `-A ${one[0].name} ${r}`), 'COMMIT', ''].join('\n')));
    add('raw: iptables-restore --noflush of the one changed chain (into an empty table)', t);

    clean();
    const rm = new RouteManager();
    let [tr, rr] = await time(() => rm.sync({ local: [], remote }));
    if (rr.errors.length || rr.replaced !== 10_000) throw new Error(`routes: ${rr.errors.join('; ')}`);
    add('agent routes: 10,000 remote blocks, full apply', tr);
    [tr, rr] = await time(() => rm.sync({ local: [], remote }));
    if (rr.replaced || rr.deleted) throw new Error('a second route sync changed something');
    add('agent routes: sync with nothing to change', tr);
    [tr, rr] = await time(() => rm.sync({ local: [], remote: routesMoved }));
    if (rr.replaced !== 1) throw new Error(`one route moved, ${rr.replaced} replaced`);
    add('agent routes: one block moved to another host', tr);
    clean();
    const lines = renderRoutePlan({ replace: remote.map((x) => ({ dst: x.dst, dev: 'eth0', via: x.hostIp })), del: [] }, rm.opts);
    [tr] = await time(() => ipBatch(lines));
    add('raw routes: ip -batch of 10,000 route replace', tr);


    // The ipset ceiling: a namespace's set table grows past its initial 256 (up to 65,534).
    clean();
    [t] = await time(() => ipsetRestore(Array.from({ length: 5000 }, (_, i) => `create ROMANA-CEIL-${i} hash:ip family inet\nadd ROMANA-CEIL-${i} 10.0.${i >> 8}.${i & 255}`).join('\n') + '\n'));
    if (sh('ipset', ['list', '-n']).split('\n').filter((n) => n.startsWith('ROMANA-CEIL-')).length !== 5000) throw new Error('the kernel did not take 5,000 ipsets');
    add('raw: ipset restore of 5,000 sets of 1 entry (one namespace takes them all)', t);
  }
  clean();
  process.stdout.write(J({ stats, figures: f, reps: REPS }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates a network namespace');
  const ns = `ragb-${process.pid}`;
  const bundle = await bundleForBench(fileURLToPath(import.meta.url), 'dataplane');
  sh('ip', ['netns', 'add', ns]);
  let out: { stats: Record<string, number>; nft: string; figures: Figures; reps: number };
  try {
    // The agent's node flags and environment, as it runs (BENCH_AGENT_NODE_FLAGS='' measures without them).
    const flags = process.env.BENCH_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? AGENT_NODE_FLAGS;
    const env = { ...process.env, ...(process.env.BENCH_AGENT_NODE_FLAGS === undefined ? AGENT_ENV : {}) };
    const run = (...extra: string[]) => {
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...flags, bundle.file, '--child', '--reps', String(REPS), ...extra], { encoding: 'utf8', maxBuffer: 1 << 24, env });
      if (r.status !== 0) throw new Error(`benchmark child failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    out = run();
    const nft = run('--nft');
    out.nft = nft.nft;
    Object.assign(out.figures, nft.figures, run('--agent').figures);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    bundle.remove();
  }
  if (process.argv.includes('--json')) return void console.log(J(out, null, 2));
  const s = out.stats;
  console.log(`Dataplane: one host, ${s.rules.toLocaleString('en')} iptables rules in ${s.chains.toLocaleString('en')} chains, ${s.sets} ipsets with ${s.setEntries.toLocaleString('en')} entries; ${out.nft}; ${out.reps} runs each (median, min–max)`);
  console.log('| step | median ms | min–max ms |\n|---|---|---|');
  for (const [k, v] of Object.entries(out.figures)) {
    const sorted = [...v].sort((a, b) => a - b);
    console.log(`| ${k} | ${percentile(sorted, 50).toFixed(0)} | ${sorted[0].toFixed(0)}–${sorted[sorted.length - 1].toFixed(0)} |`);
  }
}

await (process.argv.includes('--child') ? child() : main());
