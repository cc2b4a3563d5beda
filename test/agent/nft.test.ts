// The agent's nftables backend against the real kernel, in scratch network namespaces (the manager runs
// in a child process started with `ip netns exec`, see sync-child.ts): what it writes, that a second
// sync changes nothing, that a one-policy update rewrites only that policy's chain, that a pod coming or
// going changes only set and map elements, that drift is repaired, that switching backends removes the
// other backend's state and only Romana's, and that foreign tables, iptables-nft rules and ipsets are
// left alone. Needs root, iproute2, nft, iptables and ipset: without them this test FAILS, never skips.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import type { RemovedOther, PolicyCounter } from '../../src/agent/backends.js';
import type { FirewallSyncResult } from '../../src/agent/firewall.js';
import { parseNftTable } from '../../src/agent/nftables.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';
import type { IrHost } from '../../src/core/policy/ir.js';
import { nftRuleKey, renderNft, type NftHost } from '../../src/core/policy/render-nft.js';
import { ROOT, Scratch, inNs, requireKernelTools, romanaChains, romanaSets, shAsync } from './helpers.js';

const s = new Scratch();
before(() => requireKernelTools(['ip', 'nft', 'iptables', 'iptables-save', 'iptables-restore', 'ipset']));
after(() => s.cleanup());

async function child<T>(ns: string, input: object): Promise<T[]> {
  const r = await shAsync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', `${ROOT}/test/agent/sync-child.ts`], JSON.stringify(input));
  if (r.code !== 0) throw new Error(`sync-child exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

const doc = YAML.parse(readFileSync(`${ROOT}/examples/cluster.yaml`, 'utf8')) as { policies: Record<string, unknown>[]; pods: Record<string, unknown>[] };
const compiled = (mutate: (d: typeof doc) => void = () => undefined) => {
  const d = structuredClone(doc);
  mutate(d);
  return compileHost(parseCluster(d), 'host1');
};
const irOf = (mutate?: (d: typeof doc) => void): IrHost => compiled(mutate).ir;
const changePort = (d: typeof doc) => {
  (d.policies.find((x) => x.id === 'acme-db') as { ingress: { rules: { ports: number[] }[] }[] }).ingress[0].rules[0].ports = [5433];
};

/** The table as listed, in the manager's terms. */
const table = (ns: string) => parseNftTable(inNs(ns, 'nft', ['-s', 'list', 'table', 'inet', 'romana']));
function assertMatches(ns: string, want: NftHost): void {
  const got = table(ns);
  assert.deepEqual(new Map([...got.chains].map(([k, v]) => [k, v.rules.map(nftRuleKey)])), new Map(want.chains.map((c) => [c.name, c.rules.map(nftRuleKey)])));
  assert.deepEqual(new Map([...got.sets].map(([k, v]) => [k, [...v.elements].sort()])), new Map(want.sets.map((x) => [x.name, [...x.elements].sort()])));
  assert.deepEqual([...got.counters].sort(), want.counters);
}
/** Rule handles by chain: a chain that is rewritten gets new handles. */
function handles(ns: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let chain = '';
  for (const l of inNs(ns, 'nft', ['-a', '-s', 'list', 'table', 'inet', 'romana']).split('\n')) {
    const c = /^\tchain (\S+) \{/.exec(l);
    if (c) { chain = c[1]; m.set(chain, []); continue; }
    const h = /^\t\t.* # handle (\d+)$/.exec(l);
    if (h && chain && !/^\t\t(type|comment) /.test(l)) m.get(chain)!.push(h[1]);
  }
  return m;
}

/** Someone else's nft table (accepting everything at every hook), iptables-nft rules and an ipset. */
const FOREIGN = {
  nft: 'add table inet foreign\nadd chain inet foreign fwd0 { type filter hook forward priority 0; policy accept; }\nadd rule inet foreign fwd0 counter accept\nadd set inet foreign s { type ipv4_addr; elements = { 10.99.0.1 } }\n',
  ipt: '*filter\n:FOREIGN - [0:0]\n-A FOREIGN -j ACCEPT\n-A FORWARD -j FOREIGN\n-A INPUT -j ACCEPT\nCOMMIT\n',
  ipset: 'create foreign hash:ip\nadd foreign 10.99.0.1\n',
};
const foreignState = (ns: string) => [
  inNs(ns, 'nft', ['-s', 'list', 'table', 'inet', 'foreign']),
  inNs(ns, 'iptables-nft-save', ['-t', 'filter']).split('\n').filter((l) => !l.startsWith('#') && !l.includes('ROMANA')).join('\n'),
  inNs(ns, 'ipset', ['list', 'foreign']).replace(/^(Size in memory|References): .*$/gm, ''),
].join('\n----\n');
function withForeign(ns: string): string {
  inNs(ns, 'nft', ['-f', '-'], FOREIGN.nft);
  inNs(ns, 'iptables-nft-restore', ['--noflush'], FOREIGN.ipt);
  inNs(ns, 'ipset', ['restore'], FOREIGN.ipset);
  return foreignState(ns);
}

describe('nftables firewall manager', () => {
  let ns = '';
  let foreign = '';
  before(() => {
    ns = s.netns('nft');
    foreign = withForeign(ns);
  });

  it('loads the rendered table in one transaction; a second sync changes nothing; foreign objects untouched', async () => {
    const ir = irOf();
    const want = renderNft(ir);
    const [first, second] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir, runs: 2 });
    assertMatches(ns, want);
    assert.deepEqual(first.errors, []);
    assert.equal(first.counts.changedChains, want.chains.length);
    assert.equal(first.counts.hooksAdded, 3, 'three base chains');
    assert.equal(second.changed, false);
    assert.deepEqual(second.renderedDifferently, []);
    assert.deepEqual(inNs(ns, 'nft', ['list', 'tables']).trim().split('\n').sort(), ['table inet foreign', 'table inet romana', 'table ip filter']);
    assert.equal(foreignState(ns), foreign);
  });

  it('a one-policy update rewrites only that policy\'s chain: every other rule keeps its handle', async () => {
    const before = handles(ns);
    const ir = irOf(changePort);
    const [r] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir });
    assertMatches(ns, renderNft(ir));
    assert.equal(r.counts.changedChains, 1);
    const after = handles(ns);
    const rewritten = [...after].filter(([c, h]) => JSON.stringify(h) !== JSON.stringify(before.get(c))).map(([c]) => c);
    assert.equal(rewritten.length, 1, `rewritten: ${rewritten.join(', ')}`);
    assert.match(rewritten[0], /^ROMANA-PI-/);
  });

  it('a pod coming and going changes set and map elements only, never a rule', async () => {
    const before = handles(ns);
    const more = irOf((d) => {
      changePort(d);
      d.pods.push({ namespace: 'acme', name: 'db2', host: 'host1', ip: '10.1.0.20', labels: { 'romana.io/segment': 'db' }, ports: [{ port: 5432, protocol: 'TCP' }] });
    });
    const [added] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir: more });
    assertMatches(ns, renderNft(more));
    assert.equal(added.counts.changedChains, 0);
    assert.ok(added.counts.swappedSets >= 1, JSON.stringify(added.counts));
    assert.match([...table(ns).sets.get('ROMANA-INGRESS-MAP')!.elements].join(), /10\.1\.0\.20 : goto ROMANA-EPI-/);
    const [gone] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir: irOf(changePort) });
    assert.equal(gone.counts.changedChains, 0);
    assert.deepEqual(handles(ns), before);
  });

  it('between drift checks an update may diff against the last sync instead of reading the kernel: same result', async () => {
    const a = irOf((d) => void d.policies.splice(0, 1));
    const b = irOf((d) => {
      (d.policies.find((x) => x.id === 'globex-db') as { ingress: { rules: { ports: number[] }[] }[] } | undefined)!.ingress[0].rules[0].ports = [6000];
    });
    const results = await child<FirewallSyncResult>(ns, { kind: 'nft', ir: a, then: [{ ir: b, reread: false }, { ir: b, reread: true }] });
    assertMatches(ns, renderNft(b));
    assert.ok(results[1].changed);
    assert.equal(results[2].changed, false, 'a full read finds nothing left to do');
  });

  it('repairs drift: a flushed chain, a deleted base chain, a lost set element, a stray rule, an extra chain', async () => {
    const ir = irOf();
    await child(ns, { kind: 'nft', ir });
    const want = renderNft(ir);
    const set = want.sets.find((x) => x.kind === 'set' && x.elements.length)!;
    const policyChain = want.chains.find((c) => c.name.startsWith('ROMANA-PI-'))!.name;
    inNs(ns, 'nft', ['-f', '-'], [
      `flush chain inet romana ${policyChain}`,
      'delete chain inet romana ROMANA-OUTPUT',
      `delete element inet romana ${set.name} { ${set.elements[0]} }`,
      'add rule inet romana ROMANA-FORWARD accept',
      'add chain inet romana ROMANA-STRAY',
    ].join('\n') + '\n');
    const [r] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir });
    assert.ok(r.changed);
    assertMatches(ns, want);
    assert.equal(r.counts.staleChains, 1);
    assert.equal(foreignState(ns), foreign);
  });

  it('remembers a chain nft spells differently after writing it twice, instead of rewriting it on every sync', async () => {
    const base = renderNft(irOf((d) => void (d.policies = [])));
    const odd: NftHost = { ...base, chains: [...base.chains, { name: 'ROMANA-ODD', rules: ['ip saddr 10.0.0.1/32 tcp dport { 80 } accept'] }], counterPolicies: new Map() };
    const rs = await child<FirewallSyncResult>(ns, { kind: 'nft-host', host: { ...odd, counterPolicies: [] }, runs: 4 });
    assert.deepEqual(rs.map((r) => r.changed), [true, true, false, false], 'written, written again, then accepted');
    assert.deepEqual(rs[2].renderedDifferently, ['ROMANA-ODD']);
    assert.deepEqual(table(ns).chains.get('ROMANA-ODD')!.rules, ['ip saddr 10.0.0.1 tcp dport 80 accept']);
  });

  it('removing every policy removes their chains, sets, maps and counters; the foreign table is untouched', async () => {
    const ir = irOf((d) => void (d.policies = []));
    const [, r] = await child<FirewallSyncResult>(ns, { kind: 'nft', ir: irOf(), then: [{ ir, reread: true }] });
    assertMatches(ns, renderNft(ir));
    assert.deepEqual(r.errors, []);
    assert.ok(r.counts.staleChains > 0 && r.counts.staleSets > 0);
    assert.deepEqual([...table(ns).sets.keys()], []);
    assert.deepEqual([...table(ns).counters], []);
    assert.equal(foreignState(ns), foreign);
  });
});

describe('switching backends', () => {
  it('iptables → nftables: every ROMANA chain, hook and ipset goes, in both iptables flavours; foreign ones stay', async () => {
    const ns = s.netns('sw1');
    const foreign = withForeign(ns);
    const c = compiled();
    await child(ns, { kind: 'backend', backend: 'iptables', compiled: c });
    // A leftover of an agent that once ran with --iptables legacy, too.
    inNs(ns, 'iptables-legacy-restore', ['--noflush'], '*filter\n:ROMANA-FORWARD - [0:0]\n-A ROMANA-FORWARD -j RETURN\n-A FORWARD -j ROMANA-FORWARD\nCOMMIT\n');
    assert.ok(romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])).size > 5);
    assert.ok(romanaSets(inNs(ns, 'ipset', ['save'])).size > 0);
    const [sync, removed] = await child<FirewallSyncResult | RemovedOther>(ns, { kind: 'backend', backend: 'nftables', compiled: c });
    assert.deepEqual((sync as FirewallSyncResult).errors, []);
    assert.deepEqual((removed as RemovedOther).removed.map((x) => x.split(':')[0].replace(/^\d+ /, '')), ['iptables-nft', 'iptables-legacy', 'ROMANA ipsets']);
    assert.deepEqual([...romanaChains(inNs(ns, 'iptables-nft-save', ['-t', 'filter']))], []);
    assert.deepEqual([...romanaChains(inNs(ns, 'iptables-legacy-save', ['-t', 'filter']))], []);
    assert.doesNotMatch(inNs(ns, 'iptables-nft-save', ['-t', 'filter']) + inNs(ns, 'iptables-legacy-save', ['-t', 'filter']), /ROMANA/);
    assert.deepEqual([...romanaSets(inNs(ns, 'ipset', ['save']))], []);
    assertMatches(ns, renderNft(c.ir));
    assert.equal(foreignState(ns), foreign);
  });

  it('nftables → iptables: the table inet romana goes; the foreign table stays; per-policy counters on both', async () => {
    const ns = s.netns('sw2');
    const foreign = withForeign(ns);
    const c = compiled();
    const [, , nftCounters] = await child<unknown>(ns, { kind: 'backend', backend: 'nftables', compiled: c });
    assert.deepEqual((nftCounters as PolicyCounter[]).map((x) => `${x.policy} ${x.direction}`).sort(), ['acme-db ingress', 'acme/web-isolation ingress', 'globex/web-isolation ingress']);
    const [sync, removed, iptCounters] = await child<unknown>(ns, { kind: 'backend', backend: 'iptables', compiled: c });
    assert.deepEqual((sync as FirewallSyncResult).errors, []);
    assert.deepEqual(removed, { removed: ['nftables table inet romana'], leftAlone: [] });
    assert.doesNotMatch(inNs(ns, 'nft', ['list', 'tables']), /romana/);
    assert.ok(romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])).size > 5);
    assert.deepEqual((iptCounters as PolicyCounter[]).map((x) => `${x.policy} ${x.direction}`).sort(), ['acme-db ingress', 'acme/web-isolation ingress', 'globex/web-isolation ingress']);
    assert.equal(foreignState(ns), foreign);
  });
});
