// The agent's managers against the real kernel, each in a scratch network namespace (the manager runs in
// a child process started with `ip netns exec`, see sync-child.ts): what they write, that a second sync
// changes nothing, that an update rewrites only what changed, and that they leave everything that is
// not theirs alone. Needs root, iproute2, iptables and ipset: without them this test FAILS, never skips.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import type { DesiredRoutes } from '../../src/agent/desired.js';
import type { FirewallDesired, FirewallSyncResult } from '../../src/agent/firewall.js';
import type { RouteSyncResult } from '../../src/agent/routes.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { ROOT, Scratch, inNs, requireKernelTools, romanaChains, romanaSets, sh, syncChild } from './helpers.js';

const s = new Scratch();
before(() => requireKernelTools(['ip', 'iptables', 'iptables-save', 'iptables-restore', 'ipset']));
after(() => s.cleanup());

const child = syncChild;
const routes = (ns: string) => sh('ip', ['-n', ns, 'route', 'show', 'table', '82']).split('\n').map((l) => l.trim()).filter(Boolean);

describe('route manager', () => {
  let ns = '';
  before(() => {
    ns = s.netns('routes');
    sh('ip', ['-n', ns, '-batch', '-'], [
      'link add name eth0 type veth peer name eth0p', 'link set eth0 up', 'link set eth0p up', 'addr add 192.168.5.1/24 dev eth0',
      'route add 192.168.6.0/24 via 192.168.5.254', // host 192.168.6.3 sits behind a router
      'link add name pod1 type veth peer name pod1p', 'link set pod1 up', 'link set pod1p up',
      'link add name pod2 type veth peer name pod2p', 'link set pod2 up', 'link set pod2p up',
      // Not ours: main-table routes, and another protocol's route in our very table.
      'route add 10.50.0.0/16 via 192.168.5.254', 'route add 10.51.0.0/16 via 192.168.5.254 table 82 proto static',
      // Ours from an earlier life: one stale, one for a host that will be unreachable.
      'route add 10.9.0.0/24 via 192.168.5.9 table 82 proto 82', 'route add 10.4.0.0/24 via 192.168.5.4 table 82 proto 82',
    ].join('\n') + '\n');
  });

  const desired: DesiredRoutes = {
    local: [{ dst: '10.1.0.5/32', dev: 'pod1' }, { dst: '10.1.0.6/32', dev: 'pod2' }, { dst: '10.1.0.7/32', dev: 'notyet' }],
    remote: [
      { dst: '10.2.0.0/24', host: 'h2', hostIp: '192.168.5.2' },
      { dst: '10.3.0.0/24', host: 'h3', hostIp: '192.168.6.3' },
      { dst: '10.4.0.0/24', host: 'h4', hostIp: '172.16.0.4' }, // no route to it
    ],
  };

  it('programs /32s, blocks via their host (or the kernel\'s next hop towards it) and one rule; a second sync changes nothing', async () => {
    const mainBefore = sh('ip', ['-n', ns, 'route', 'show', 'table', 'main']);
    const [first, second] = await child<RouteSyncResult>(ns, { kind: 'routes', desired, runs: 2 });
    assert.deepEqual(routes(ns), [
      '10.1.0.5 dev pod1 proto 82 scope link',
      '10.1.0.6 dev pod2 proto 82 scope link',
      '10.2.0.0/24 via 192.168.5.2 dev eth0 proto 82',
      '10.3.0.0/24 via 192.168.5.254 dev eth0 proto 82', // not on a connected subnet: via the kernel's own next hop
      '10.4.0.0/24 via 192.168.5.4 dev eth0 proto 82', // its host cannot be routed to now: kept as it was
      '10.51.0.0/16 via 192.168.5.254 dev eth0 proto static', // not ours
    ]);
    assert.equal(sh('ip', ['-n', ns, 'route', 'show', 'table', 'main']), mainBefore);
    assert.match(sh('ip', ['-n', ns, 'rule', 'show']), /^82:\s+from all lookup 82 proto 82$/m);
    assert.deepEqual({ replaced: first.replaced, deleted: first.deleted, ruleAdded: first.ruleAdded, missing: first.missingInterfaces }, { replaced: 4, deleted: 1, ruleAdded: true, missing: ['notyet'] });
    assert.match(first.unresolved.join(), /10\.4\.0\.0\/24/);
    assert.deepEqual({ replaced: second.replaced, deleted: second.deleted, ruleAdded: second.ruleAdded, errors: second.errors }, { replaced: 0, deleted: 0, ruleAdded: false, errors: [] });
  });

  it('follows changes with replace and del only (the table is never flushed), and adds no second rule', async () => {
    const next: DesiredRoutes = { local: [{ dst: '10.1.0.5/32', dev: 'pod2' }], remote: [{ dst: '10.2.0.0/24', host: 'h2', hostIp: '192.168.5.22' }] };
    // Watch the route that stays (under another next hop) while the sync runs: it must never be absent.
    const watcher = s.spawn('route-watch', ['ip', 'netns', 'exec', ns, 'bash', '-c', 'for i in $(seq 400); do ip route show table 82 10.2.0.0/24 proto 82 | wc -l; done']);
    const [r] = await child<RouteSyncResult>(ns, { kind: 'routes', desired: next });
    const w = await watcher;
    await w.exited;
    assert.ok(!w.logs().split('\n').includes('0'), 'the route was never missing');
    assert.deepEqual({ replaced: r.replaced, deleted: r.deleted }, { replaced: 2, deleted: 3 });
    assert.deepEqual(routes(ns), ['10.1.0.5 dev pod2 proto 82 scope link', '10.2.0.0/24 via 192.168.5.22 dev eth0 proto 82', '10.51.0.0/16 via 192.168.5.254 dev eth0 proto static']);
    assert.equal(sh('ip', ['-n', ns, 'rule', 'show', 'pref', '82']).trim().split('\n').length, 1);
  });
});

describe('firewall manager', () => {
  const doc = YAML.parse(readFileSync(`${ROOT}/examples/cluster.yaml`, 'utf8')) as { policies: Record<string, unknown>[]; pods: Record<string, unknown>[] };
  const compiled = (mutate: (d: typeof doc) => void = () => undefined): FirewallDesired => {
    const d = structuredClone(doc);
    mutate(d);
    return compileHost(parseCluster(d), 'host1').tables;
  };
  const inKernel = (ns: string) => ({ chains: romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])), sets: romanaSets(inNs(ns, 'ipset', ['save'])) });
  const asDesired = (f: FirewallDesired) => ({
    chains: new Map(f.chains.map((c) => [c.name, c.rules])),
    sets: new Map(f.sets.map((x) => [x.name, x.entries.map((e) => e.replace(/\/32$/, '')).sort()])),
  });
  const sorted = <V>(m: Map<string, V>) => new Map([...m].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  const assertMatches = (ns: string, f: FirewallDesired) => {
    const k = inKernel(ns);
    const d = asDesired(f);
    assert.deepEqual(sorted(k.chains), sorted(d.chains));
    assert.deepEqual(sorted(k.sets), sorted(d.sets));
  };
  let ns = '';
  let foreign = '';
  before(() => {
    ns = s.netns('fw');
    inNs(ns, 'ipset', ['restore'], 'create foreign hash:ip\nadd foreign 10.99.0.1\ncreate ROMANA-IP-LEFTOVER-T hash:ip\n');
    inNs(ns, 'iptables-restore', ['--noflush'], '*filter\n:FOREIGN - [0:0]\n-A FOREIGN -m set --match-set foreign src -j ACCEPT\n-A FORWARD -j FOREIGN\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n');
    foreign = inNs(ns, 'iptables-save', ['-t', 'filter']).split('\n').filter((l) => !l.startsWith('#') && !l.includes('ROMANA')).join('\n');
  });
  const foreignNow = () => inNs(ns, 'iptables-save', ['-t', 'filter']).split('\n').filter((l) => !l.startsWith('#') && !l.includes('ROMANA')).join('\n');

  it('loads the compiled chains and sets, hooks each top chain once at the top, and a second sync changes nothing', async () => {
    const want = compiled();
    const [first, second] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want, runs: 2 });
    assertMatches(ns, want);
    assert.deepEqual(first.errors, []);
    assert.deepEqual([...first.renderedDifferently, ...second.renderedDifferently], [], 'the compiler renders every rule as iptables-save prints it');
    assert.equal(first.counts.changedChains, want.chains.length);
    assert.equal(first.counts.staleSets, 1, 'a leftover temporary set is removed');
    assert.equal(second.changed, false);
    for (const b of ['INPUT', 'FORWARD', 'OUTPUT']) assert.equal(inNs(ns, 'iptables', ['-S', b]).split('\n')[1], `-A ${b} -j ROMANA-${b}`);
    assert.equal(foreignNow(), foreign);
    assert.match(inNs(ns, 'ipset', ['list', 'foreign']), /10\.99\.0\.1/);
  });

  it('a one-policy update rewrites only the chains that changed (the others keep their counters)', async () => {
    // Give every rule of ours a packet counter; a chain that is rewritten starts again from zero.
    const save = inNs(ns, 'iptables-save', ['-c', '-t', 'filter']);
    const marked = save.split('\n').map((l) => (/^\[\d+:\d+\] -A ROMANA/.test(l) ? l.replace(/^\[\d+:\d+\]/, '[7:700]') : l)).filter((l) => !l.startsWith('#')).join('\n');
    const ours = marked.split('\n').filter((l) => /^(\*filter|:ROMANA|\[7:700\] -A ROMANA|COMMIT)/.test(l)).join('\n') + '\n';
    inNs(ns, 'iptables-restore', ['-c', '--noflush'], ours);
    const before = romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter']));
    const want = compiled((d) => {
      const p = d.policies.find((x) => x.id === 'acme-db') as { ingress: { rules: { ports: number[] }[] }[] };
      p.ingress[0].rules[0].ports = [5433];
    });
    const [r] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want });
    assertMatches(ns, want);
    assert.equal(r.counts.changedChains, 1);
    const counters = new Map<string, string[]>();
    for (const l of inNs(ns, 'iptables-save', ['-c', '-t', 'filter']).split('\n')) {
      const m = /^\[(\d+):\d+\] -A (ROMANA\S+) /.exec(l);
      if (m) counters.set(m[2], [...(counters.get(m[2]) ?? []), m[1]]);
    }
    const rewritten = [...counters].filter(([, c]) => c.some((x) => x !== '7')).map(([n]) => n);
    assert.equal(rewritten.length, 1, `only one chain rewritten: ${rewritten.join(', ')}`);
    assert.notDeepEqual(before.get(rewritten[0]), romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])).get(rewritten[0]));
  });

  it('a membership change swaps the set\'s contents in without touching any rule', async () => {
    const want = compiled((d) => {
      const p = d.policies.find((x) => x.id === 'acme-db') as { ingress: { rules: { ports: number[] }[] }[] };
      p.ingress[0].rules[0].ports = [5433];
    });
    const set = want.sets.find((x) => x.type === 'hash:ip')!;
    set.entries = [...set.entries, '10.1.0.99'];
    const rulesBefore = inNs(ns, 'iptables-save', ['-c', '-t', 'filter']).split('\n').filter((l) => l.includes('ROMANA'));
    const [r] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want });
    assertMatches(ns, want);
    assert.deepEqual(r.counts, { newSets: 0, swappedSets: 1, changedChains: 0, staleChains: 0, staleSets: 0, hooksAdded: 0, hooksRemoved: 0 });
    assert.deepEqual(inNs(ns, 'iptables-save', ['-c', '-t', 'filter']).split('\n').filter((l) => l.includes('ROMANA')), rulesBefore, 'rules and their counters untouched');
    assert.deepEqual(inNs(ns, 'ipset', ['list', '-n']).split('\n').filter((n) => n.endsWith('-T')), [], 'no temporary set left');
  });

  it('between drift checks an update may diff against the last sync instead of reading the kernel back: same result', async () => {
    const a = compiled((d) => void d.policies.splice(0, 1));
    const b = compiled((d) => {
      const p = d.policies.find((x) => x.id === 'globex-db') as { ingress: { rules: { ports: number[] }[] }[] };
      p.ingress[0].rules[0].ports = [6000];
    });
    const results = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: a, then: [{ desired: b, reread: false }, { desired: b, reread: true }] });
    assertMatches(ns, b);
    assert.ok(results[1].changed);
    assert.equal(results[2].changed, false, 'a full read finds nothing left to do');
  });

  it('removing policies removes their chains and sets; only ours, never the foreign ones', async () => {
    const want = compiled((d) => {
      d.policies = [];
    });
    const [r] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want });
    assertMatches(ns, want);
    assert.deepEqual(r.errors, []);
    assert.ok(r.counts.staleChains > 0 && r.counts.staleSets > 0);
    assert.deepEqual([...inKernel(ns).sets.keys()], []);
    assert.equal(foreignNow(), foreign);
    assert.match(inNs(ns, 'ipset', ['list', 'foreign']), /10\.99\.0\.1/);
  });

  it('remembers a chain the kernel prints differently, instead of rewriting it on every sync', async () => {
    const want: FirewallDesired = { chains: [...compiled((d) => void (d.policies = [])).chains, { name: 'ROMANA-ODD', rules: ['-p tcp --dport 80 -j ACCEPT'] }], sets: [] };
    const [first, second] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want, runs: 2 });
    assert.ok(first.changed);
    assert.deepEqual(second.renderedDifferently, ['ROMANA-ODD'], 'read back after the first sync returned, told by the next');
    assert.equal(second.changed, false);
    assert.deepEqual(romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])).get('ROMANA-ODD'), ['-p tcp -m tcp --dport 80 -j ACCEPT']);
  });

  it('reads many written chains back after the sync returns, and the next sync knows their kernel form', async () => {
    const odd = Array.from({ length: 20 }, (_, i) => ({ name: `ROMANA-ODD${i}`, rules: [`-p tcp --dport ${80 + i} -j ACCEPT`] }));
    const want: FirewallDesired = { chains: [...compiled((d) => void (d.policies = [])).chains, ...odd], sets: [] };
    const [first, second, third] = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: want, runs: 3 });
    assert.deepEqual(first.errors, []);
    assert.ok(first.counts.changedChains > 16);
    assert.deepEqual(first.renderedDifferently, [], 'not yet read back when the sync returned');
    assert.deepEqual(second.renderedDifferently.sort(), odd.map((c) => c.name).sort(), 'told by the next sync');
    assert.equal(second.changed, false, 'the next sync compares with the kernel form: nothing rewritten');
    assert.equal(third.changed, false);
    assert.deepEqual(third.renderedDifferently, []);
  });

  it('event syncs flipping a chain back and forth do not wait for read-backs, and a late read-back never stands for a newer write', async () => {
    const base = compiled((d) => void (d.policies = [])).chains;
    const odd = (port: number): FirewallDesired => ({ chains: [...base, { name: 'ROMANA-ODD', rules: [`-p tcp --dport ${port} -j ACCEPT`] }], sets: [] });
    const flips = [81, 80, 81, 80, 81, 80].map((p) => ({ desired: odd(p), reread: false }));
    const rs = await child<FirewallSyncResult>(ns, { kind: 'firewall', desired: odd(80), runs: 1, then: [...flips, { desired: odd(80), reread: true }] });
    for (const r of rs.slice(1, -1)) {
      assert.deepEqual(r.errors, []);
      assert.equal(r.counts.changedChains, 1, 'each flip rewrites the one chain');
    }
    const last = rs.at(-1)!;
    assert.equal(last.changed, false, 'the drift check finds the kernel as the last flip left it');
    assert.deepEqual(romanaChains(inNs(ns, 'iptables-save', ['-t', 'filter'])).get('ROMANA-ODD'), ['-p tcp -m tcp --dport 80 -j ACCEPT']);
  });
});

describe('host manager', () => {
  it('forwarding, proxy ARP and proxy_delay on pod interfaces, the gateway on lo once', async () => {
    const ns = s.netns('host');
    sh('ip', ['-n', ns, '-batch', '-'], 'link add name pod1 type veth peer name pod1p\n');
    // A new netns copies ip_forward from the root namespace (devconf_inherit_init_net=0): start from 0 whatever the machine has.
    inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    const [first, second] = await child<{ changed: string[]; errors: string[] }>(ns, { kind: 'host', interfaces: ['pod1', 'gone'], gateway: '169.254.1.1', runs: 2 });
    assert.deepEqual(first.errors, []);
    assert.deepEqual(first.changed, ['net.ipv4.ip_forward=1', 'pod1 proxy_arp=1', 'pod1 proxy_delay=0', 'gateway 169.254.1.1 on lo']);
    assert.deepEqual(second.changed, []);
    assert.equal(inNs(ns, 'cat', ['/proc/sys/net/ipv4/conf/pod1/proxy_arp']).trim(), '1');
    assert.equal(inNs(ns, 'cat', ['/proc/sys/net/ipv4/neigh/pod1/proxy_delay']).trim(), '0');
    assert.match(sh('ip', ['-n', ns, 'addr', 'show', 'dev', 'lo']), /inet 169\.254\.1\.1\/32 scope link lo/);
  });
});
