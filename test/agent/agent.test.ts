// romana-agent end to end, on the real kernel: a fabric namespace with two host namespaces and pods
// (Recipe A without the routes: making them is the agent's job), a real romanad backed by a real etcd,
// and one real agent process per host. h1's agent reads through romanad (--api), h2's watches etcd
// directly (--etcd-endpoints), so both store paths are exercised by every step.
//
// How agents reach the store: romanad and etcd listen on the root namespace's loopback, which a host
// namespace cannot reach. A unix socket is a file, so it crosses namespaces: test/agent/forward.mjs
// pipes bytes from 192.168.200.254:{9600,2379} inside the fabric namespace to a unix socket, and a
// second forwarder in the root namespace pipes that socket to 127.0.0.1. Nothing is faked: the bytes are
// romanad's HTTP stream and etcd's gRPC. Killing the fabric-side forwarders makes the store unreachable.
//
// Every step checks the kernel against desiredState() of the store's current contents (exact chain
// bodies, set members and routes) and, where it matters, real traffic between pods.
// The firewall backend is iptables here; agent-nft.test.ts runs this same file on nftables
// (ROMANA_TEST_DATAPLANE, see dataplane-view.ts). Foreign objects, an nft table and iptables rules that
// accept everything among them, are in place before the agents start, on either backend.
// Needs root, iproute2, iptables, ipset, nft, ping, curl, etcd and a build (node scripts/build.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { desiredState } from '../../src/agent/desired.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startRomanad, type Romanad } from '../helpers/romanad.js';
import { TEST_DATAPLANE as DP, addForeign, agentFlags, expectedFirewall, firewallCounts, foreignSnapshot, inflictDrift, readFirewall } from './dataplane-view.js';
import { ROOT, Scratch, type Proc, fabric, inNs, pod, requireBuilt, requireKernelTools, sh, shAsync, sleep, waitFor } from './helpers.js';

const s = new Scratch();
let etcd: EtcdServer | undefined;
let romanad: Romanad | undefined;
const PREFIX = `/rag-${process.pid}`;
let fab = '';
const hosts: { name: string; ns: string; ip: string; agent?: Proc }[] = [];
const fwd: Record<string, Proc> = {};
const pods: Record<string, { ns: string; ip: string; host: number }> = {};
let foreignBefore = '';

const NP = (name: string, spec: object) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 't1' }, spec });
/** b (role=server) accepts only role=client pods, on TCP 8080 (so no ping). */
const SERVER_TCP = NP('server-in', { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }] });
/** The same policy changed: role=client pods, any protocol. */
const SERVER_ANY = NP('server-in', { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] });

async function storeList(): Promise<{ items: { key: string; value: string }[]; revision: number }> {
  const res = await fetch(`${romanad!.url}/store/list?prefix=${encodeURIComponent('/romana/')}`);
  assert.equal(res.status, 200);
  return (await res.json()) as { items: { key: string; value: string }[]; revision: number };
}

async function status(h: number): Promise<Record<string, unknown>> {
  const r = await shAsync('ip', ['netns', 'exec', hosts[h].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/status']);
  if (r.code !== 0) throw new Error(`status of ${hosts[h].name}: curl exit ${r.code}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

interface KernelView { chains: Record<string, string[]>; sets: Record<string, string[]>; routes: string[]; hooks: number; rule: boolean }

async function kernel(h: number): Promise<KernelView> {
  const ns = hosts[h].ns;
  const [fw, routes, rules] = await Promise.all([
    readFirewall(DP, ns),
    shAsync('ip', ['-n', ns, 'route', 'show', 'table', '82', 'proto', '82']),
    shAsync('ip', ['-n', ns, 'rule', 'show', 'pref', '82']),
  ]);
  return { chains: fw.chains, sets: fw.sets, routes: routes.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort(), hooks: fw.hooks, rule: /lookup 82/.test(rules.stdout) };
}

/** What the kernel of host h should hold for the store's current contents. */
async function expected(h: number): Promise<{ revision: number; view: KernelView }> {
  const l = await storeList();
  const d = desiredState(new Map(l.items.map((kv) => [kv.key, kv.value])), hosts[h].name);
  const other = hosts[1 - h];
  const fw = expectedFirewall(DP, d);
  return {
    revision: l.revision,
    view: {
      chains: fw.chains,
      sets: fw.sets,
      routes: [
        ...d.routes.local.map((r) => `${r.dst.replace(/\/32$/, '')} dev ${r.dev} scope link`),
        ...d.routes.remote.map((r) => `${r.dst} via ${other.ip} dev eth0`),
      ].sort(),
      hooks: fw.hooks,
      rule: true,
    },
  };
}

/** Waits until host h's agent has applied the store's current revision and its kernel matches, then asserts it. */
async function converged(h: number, timeoutMs = 10_000): Promise<KernelView> {
  let last: { want: KernelView; got: KernelView } | undefined;
  try {
    await waitFor(`${hosts[h].name} to converge`, async () => {
      const [e, st] = await Promise.all([expected(h), status(h)]);
      if ((st.last_applied_revision as number) < e.revision) return false;
      const got = await kernel(h);
      last = { want: e.view, got };
      return JSON.stringify(got) === JSON.stringify(e.view);
    }, timeoutMs, 100);
  } catch (err) {
    if (last) assert.deepEqual(last.got, last.want, `${hosts[h].name}: kernel differs from the desired state`);
    throw new Error(`${(err as Error).message}\n--- agent log:\n${hosts[h].agent?.logs().slice(-4000)}`);
  }
  return last!.got;
}
const bothConverged = () => Promise.all([converged(0), converged(1)]);

const ping = async (from: string, to: string, wait = '0.5') => (await shAsync('ip', ['netns', 'exec', pods[from].ns, 'ping', '-c', '1', '-W', wait, pods[to].ip])).code === 0;
async function reachable(from: string, to: string, want: boolean): Promise<void> {
  // A freshly allowed or denied path shows at once; retry only against ARP warming up.
  for (let i = 0; i < 3; i++) if ((await ping(from, to)) === want) return;
  assert.fail(`${from} → ${to}: expected ${want ? 'reachable' : 'blocked'}`);
}

async function startAgent(h: number): Promise<Proc> {
  const store = h === 0 ? ['--api', 'http://192.168.200.254:9600'] : ['--etcd-endpoints', 'http://192.168.200.254:2379', '--etcd-prefix', PREFIX];
  const p = await s.spawn(`agent-${hosts[h].name}`, [process.execPath, `${ROOT}/bin/romana-agent`, '--host', hosts[h].name, ...store, '--drift-interval', '1', ...agentFlags(DP)], { netns: hosts[h].ns, ready: 'romana-agent ready' });
  hosts[h].agent = p;
  return p;
}

async function startFabricForwarders(): Promise<void> {
  fwd.apiFab = await s.spawn('fwd-api-fab', [process.execPath, `${ROOT}/test/agent/forward.mjs`, 'tcp:192.168.200.254:9600', `unix:${s.dir}/api.sock`], { netns: fab, ready: 'ready' });
  fwd.etcdFab = await s.spawn('fwd-etcd-fab', [process.execPath, `${ROOT}/test/agent/forward.mjs`, 'tcp:192.168.200.254:2379', `unix:${s.dir}/etcd.sock`], { netns: fab, ready: 'ready' });
}

/** Objects of someone else in h1's namespace: the agent must never touch them. */
function foreign(ns: string): string {
  return [
    foreignSnapshot(ns),
    sh('ip', ['-n', ns, 'route', 'show', 'table', 'main']),
    sh('ip', ['-n', ns, 'route', 'show', 'table', '82', 'proto', 'static']),
    sh('ip', ['-n', ns, 'rule', 'show', 'pref', '100']),
  ].join('\n----\n');
}

before(async () => {
  requireKernelTools();
  requireBuilt();
  etcd = await startEtcd();
  romanad = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: PREFIX });
  const f = fabric(s, 2);
  fab = f.fab;
  f.hosts.forEach((h, i) => hosts.push({ name: `h${i + 1}`, ...h }));
  await s.spawn('fwd-api-root', [process.execPath, `${ROOT}/test/agent/forward.mjs`, `unix:${s.dir}/api.sock`, `tcp:127.0.0.1:${new URL(romanad.url).port}`], { ready: 'ready' });
  await s.spawn('fwd-etcd-root', [process.execPath, `${ROOT}/test/agent/forward.mjs`, `unix:${s.dir}/etcd.sock`, `tcp:127.0.0.1:${new URL(etcd.endpoint).port}`], { ready: 'ready' });
  await startFabricForwarders();

  const api = romanad.api;
  await api.post('/topology', { networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }], topologies: [{ networks: ['pods'], map: [{ name: 'g1', groups: [] }, { name: 'g2', groups: [] }] }] });
  for (const h of hosts) await api.post('/hosts', { name: h.name, ip: h.ip });
  await api.put('/namespaces/t1', { labels: { team: 'one' } });
  const mk = async (name: string, host: number, segment: string, role: string) => {
    const rec = await api.post<{ ip: string }>('/address', { name, host: hosts[host].name, tenant: 't1', segment, attributes: { host_ifname: `r-${name}` } });
    await api.put(`/pods/t1/${name}`, { labels: { role }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] });
    pods[name] = { ns: pod(s, hosts[host].ns, `p-${name}`, rec.ip, `r-${name}`), ip: rec.ip, host };
  };
  await mk('a', 0, 'web', 'client');
  await mk('c', 0, 'web', 'other');
  await mk('b', 1, 'db', 'server');

  // Someone else's chains (hooked from FORWARD, and accepting everything), ipset, nft table (accepting
  // everything around Romana's priority), routes (main table, and our table with another protocol) and
  // rule, all in place before the agent first starts. The nft table and the accept-all rules are on
  // both hosts: no verdict below may depend on them.
  const h1 = hosts[0].ns;
  for (const h of hosts) addForeign(h.ns);
  sh('ip', ['-n', h1, 'route', 'add', '10.9.0.0/16', 'via', '192.168.200.254']);
  sh('ip', ['-n', h1, 'route', 'add', '10.8.0.0/16', 'via', '192.168.200.254', 'table', '82', 'proto', 'static']);
  sh('ip', ['-n', h1, 'rule', 'add', 'pref', '100', 'from', '10.9.9.9', 'lookup', 'main']);
  foreignBefore = foreign(h1);

  await Promise.all([startAgent(0), startAgent(1)]);
});

after(async () => {
  await s.cleanup();
  await romanad?.stop();
  await etcd?.stop();
});

describe(`romana-agent on the real kernel (${DP})`, { timeout: 80_000 }, () => {
  it('programs routes, the rule, hooks and proxy ARP at start; pods on different hosts reach each other', async () => {
    await bothConverged();
    assert.equal(inNs(hosts[0].ns, 'cat', ['/proc/sys/net/ipv4/conf/r-a/proxy_arp']).trim(), '1');
    assert.equal(inNs(hosts[0].ns, 'cat', ['/proc/sys/net/ipv4/neigh/r-a/proxy_delay']).trim(), '0');
    assert.equal(inNs(hosts[0].ns, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1');
    assert.match(sh('ip', ['-n', hosts[0].ns, 'addr', 'show', 'dev', 'lo']), /inet 169\.254\.1\.1\/32 scope link/);
    if (DP === 'iptables') {
      // The first hook is ours, at the top, above the foreign ones that were there before.
      assert.deepEqual(inNs(hosts[0].ns, 'iptables', ['-S', 'FORWARD']).split('\n').slice(1, 4), ['-A FORWARD -j ROMANA-FORWARD', '-A FORWARD -j FOREIGN-CHAIN', '-A FORWARD -j ACCEPT']);
    } else {
      // Romana's own base chains at filter - 10; nothing of Romana's in iptables or ipset.
      const listing = inNs(hosts[0].ns, 'nft', ['-s', 'list', 'table', 'inet', 'romana']);
      for (const hook of ['forward', 'input', 'output']) assert.match(listing, new RegExp(`type filter hook ${hook} priority filter - 10; policy accept;`));
      assert.doesNotMatch(inNs(hosts[0].ns, 'iptables-save', []) + inNs(hosts[0].ns, 'ipset', ['list', '-n']), /ROMANA/);
    }
    await reachable('a', 'b', true);
    await reachable('c', 'b', true);
    const st = await status(0);
    assert.equal(st.store_connected, true);
    assert.equal(st.local_endpoints, 2);
    assert.equal(st.endpoints_without_interface, 0);
    assert.equal(st.last_error, null);
  });

  it('adding, changing and deleting a policy converges: kernel rules and sets follow, and traffic with them', async () => {
    await romanad!.api.post('/policies', SERVER_TCP);
    const [, k2] = await bothConverged();
    assert.ok(Object.keys(k2.chains).some((c) => c.startsWith('ROMANA-PI-')), 'a policy chain on h2');
    assert.ok(Object.values(k2.sets).some((e) => e.includes(pods.a.ip) && !e.includes(pods.c.ip)), 'a set with the client pod only');
    await reachable('a', 'b', false); // TCP 8080 only
    await reachable('c', 'b', false);

    await romanad!.api.post('/policies', SERVER_ANY);
    await bothConverged();
    await reachable('a', 'b', true);
    await reachable('c', 'b', false);
    // h2's /metrics counts what the policy let in: one new connection per ping (the replies are established).
    const hits = async () => {
      await sleep(600); // a scrape reuses a kernel read for 500 ms
      const text = (await shAsync('ip', ['netns', 'exec', hosts[1].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/metrics'])).stdout;
      const m = /^romana_agent_policy_packets\{policy="t1\/server-in",direction="ingress"\} (\d+)$/m.exec(text);
      assert.ok(m, `no packet counter for t1/server-in in:\n${text.split('\n').filter((l) => l.includes('policy_')).join('\n')}`);
      return Number(m[1]);
    };
    const before = await hits();
    for (let i = 0; i < 3; i++) assert.ok(await ping('a', 'b'), 'a → b');
    assert.ok(!(await ping('c', 'b')), 'c → b stays blocked');
    assert.equal(await hits(), before + 3, 'three pings allowed, three counted');

    await romanad!.api.del(`/policies/${encodeURIComponent('t1/server-in')}`);
    const [, k2b] = await bothConverged();
    assert.ok(!Object.keys(k2b.chains).some((c) => c.startsWith('ROMANA-PI-') || c.startsWith('ROMANA-EPI-')), 'stale chains removed');
    assert.deepEqual(k2b.sets, {}, 'stale sets removed');
    await reachable('c', 'b', true);
  });

  it('kill -9 and restart: converges without touching anything; routes and rules never absent; a continuous ping loses nothing', async (t) => {
    await romanad!.api.post('/policies', SERVER_ANY);
    await bothConverged();
    const baseline = await Promise.all([kernel(0), kernel(1)]);
    // Poll both hosts' dataplanes (as counts) every ~20 ms across the kill and the restart.
    const sample = `echo "S $(ip route show table 82 proto 82 | wc -l) ${firewallCounts(DP)} $(ip rule show pref 82 | wc -l)"`;
    const wanted = await Promise.all(hosts.map(async (h) => (await shAsync('ip', ['netns', 'exec', h.ns, 'bash', '-c', sample])).stdout.trim()));
    const poller = (ns: string) => s.spawn(`poll-${ns}`, ['ip', 'netns', 'exec', ns, 'bash', '-c', `while :; do ${sample}; sleep 0.02; done`]);
    const polls = await Promise.all(hosts.map((h) => poller(h.ns)));
    const pinger = await s.spawn('ping', ['ip', 'netns', 'exec', pods.a.ns, 'ping', '-i', '0.01', '-W', '1', pods.b.ip]);
    await sleep(300);
    await Promise.all(hosts.map((h) => s.kill(h.agent!, 'SIGKILL')));
    await sleep(300);
    await Promise.all([startAgent(0), startAgent(1)]);
    await bothConverged();
    await sleep(300);
    await s.kill(pinger, 'SIGINT'); // ping prints its statistics and exits
    await Promise.all(polls.map((p) => s.kill(p)));

    const stats = /^(\d+) packets transmitted, (\d+) received/m.exec(pinger.logs());
    assert.ok(stats, pinger.logs().slice(-300));
    assert.ok(Number(stats[1]) >= 20, `enough pings (${stats[1]})`); // sent from before the kill to after convergence
    assert.equal(stats[2], stats[1], `no ping lost: ${stats[0]}`);
    t.diagnostic(`ping across the restart: ${stats[0]}`);
    for (const [h, p] of polls.entries()) {
      const b = baseline[h];
      const want = wanted[h];
      assert.equal(want.split(' ')[1], String(b.routes.length));
      const samples = p.logs().split('\n').filter((l) => l.startsWith('S '));
      assert.ok(samples.length >= 20, `enough samples on ${hosts[h].name} (${samples.length})`);
      assert.deepEqual([...new Set(samples)], [want], `${hosts[h].name}: routes/rules/hooks/sets/rule counts never changed`);
      t.diagnostic(`${hosts[h].name}: ${samples.length} samples of (routes rules hooks sets ip-rule), all "${want.slice(2)}"`);
    }
    for (const h of [0, 1]) {
      const st = await status(h);
      assert.equal(st.syncs_with_changes, 0, `${hosts[h].name}: the restarted agent found everything in place`);
    }
  });

  it('rules, sets, routes, hooks, the ip rule and sysctls removed by hand are restored by the drift check', async () => {
    const ns = hosts[1].ns;
    const before = await status(1);
    const set = Object.keys((await kernel(1)).sets).find((n) => /^ROMANA-(IP|NET)-/.test(n))!;
    inflictDrift(DP, ns, set);
    sh('ip', ['-n', ns, 'route', 'del', `${pods.b.ip}/32`, 'table', '82']);
    sh('ip', ['-n', ns, 'route', 'del', (await expected(1)).view.routes.find((r) => r.includes(' via '))!.split(' ')[0], 'table', '82']);
    sh('ip', ['-n', ns, 'rule', 'del', 'pref', '82']);
    inNs(ns, 'sh', ['-c', 'echo 0 > /proc/sys/net/ipv4/conf/r-b/proxy_arp']);
    await converged(1, 5000);
    // The kernel view above has no sysctls; the same drift pass restores them, possibly a moment later.
    await waitFor('proxy_arp on r-b restored', () => inNs(ns, 'cat', ['/proc/sys/net/ipv4/conf/r-b/proxy_arp']).trim() === '1', 5000, 50);
    const after = await status(1);
    assert.ok((after.drift_repairs as number) > (before.drift_repairs as number), 'counted as a drift repair');
    assert.ok(typeof after.last_drift_check_ms === 'number' && after.last_drift_check_ms >= 0, `the drift check says how long it took: ${after.last_drift_check_ms}`);
    await reachable('a', 'b', true);
  });

  it('an agent whose host is not in the store (say, a wrong prefix) leaves the dataplane alone', async () => {
    const before = await kernel(0);
    const ghost = await s.spawn('agent-ghost', [process.execPath, `${ROOT}/bin/romana-agent`, '--host', 'ghost', '--api', 'http://192.168.200.254:9600', '--port', '9605', '--drift-interval', '1', ...agentFlags(DP)], { netns: hosts[0].ns, ready: 'romana-agent ready' });
    const st = await waitFor('the ghost agent to sync', async () => {
      const r = await shAsync('ip', ['netns', 'exec', hosts[0].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9605/status']);
      const j = r.code === 0 ? (JSON.parse(r.stdout) as { syncs: number; problems: string[] }) : undefined;
      return j && j.syncs >= 2 ? j : undefined;
    });
    await s.kill(ghost, 'SIGTERM');
    assert.match(st.problems[0], /host ghost is not registered in the store: the dataplane is left as it is/);
    assert.deepEqual(await kernel(0), before);
  });

  it('store unreachable: the dataplane stays exactly as it is; the agents retry, resume and catch up', async () => {
    const before = await Promise.all([kernel(0), kernel(1)]);
    await Promise.all([s.kill(fwd.apiFab), s.kill(fwd.etcdFab)]);
    await waitFor('both agents to notice', async () => (await status(0)).store_connected === false && (await status(1)).store_connected === false, 10_000, 100);
    await romanad!.api.post('/policies', SERVER_TCP); // they cannot see this yet
    await sleep(2500); // more than two drift intervals
    assert.deepEqual(await Promise.all([kernel(0), kernel(1)]), before, 'nothing changed while the store was unreachable');
    await reachable('a', 'b', true);
    await startFabricForwarders();
    await bothConverged();
    await reachable('a', 'b', false);
    assert.equal((await status(0)).store_connected, true);
    assert.equal((await status(1)).store_connected, true);
  });

  it('deleting an endpoint removes its route and its set entries', async () => {
    await romanad!.api.post('/policies', SERVER_ANY);
    let [k1, k2] = await bothConverged();
    assert.ok(k1.routes.some((r) => r.startsWith(`${pods.a.ip} dev r-a `)));
    assert.ok(Object.values(k2.sets).some((e) => e.includes(pods.a.ip)));
    await romanad!.api.del('/address?addressName=a');
    [k1, k2] = await bothConverged();
    assert.ok(!k1.routes.some((r) => r.includes('r-a')), 'the /32 route is gone');
    assert.ok(!Object.values(k2.sets).some((e) => e.includes(pods.a.ip)), 'the set entry is gone');
    assert.ok(k1.routes.some((r) => r.includes('r-c')), 'the other endpoint keeps its route');
  });

  it('leaves a foreign chain, ipset, routes and rule in the same namespace untouched', async () => {
    assert.equal(foreign(hosts[0].ns), foreignBefore);
    assert.match(foreignBefore, /-A FOREIGN-CHAIN -s 10\.9\.9\.9\/32 -j ACCEPT/);
    assert.match(foreignBefore, /chain forward20 \{\n\t\ttype filter hook forward priority -20; policy accept;\n\t\taccept\n/, 'the foreign nft table is there');
    assert.match(foreignBefore, /----\n10\.8\.0\.0\/16 via 192\.168\.200\.254 dev eth0 \n/, 'the foreign route in table 82 is there');
  });

  it('other hosts\' status reports do not make an agent recompute, yet it stays caught up', async () => {
    await bothConverged();
    const watchSyncs = async () => {
      const r = await shAsync('ip', ['netns', 'exec', hosts[0].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/metrics']);
      return Number(/^romana_agent_reconcile_duration_seconds_count\{trigger="watch"\} (\d+)/m.exec(r.stdout)?.[1] ?? 0);
    };
    // Start from a quiet agent: a sync still owed to the previous test's changes is not the reports'.
    let before = await watchSyncs();
    for (const end = Date.now() + 5000; Date.now() < end;) {
      await sleep(500);
      const now = await watchSyncs();
      if (now === before) break;
      before = now;
    }
    for (let i = 0; i < 5; i++) await romanad!.api.put(`/hosts/${hosts[1].name}/status`, { interfaces: [`x${i}`], last_applied_revision: 1 });
    const { revision } = await storeList();
    await waitFor('host-1 to count the reports as applied', async () => ((await status(0)).last_applied_revision as number) >= revision, 5000, 50);
    assert.equal(await watchSyncs(), before, 'no sync was run for the status reports');
    await romanad!.api.put('/namespaces/t1', { labels: { team: 'one', touched: 'yes' } });
    await converged(0);
    assert.ok((await watchSyncs()) > before, 'a real change still syncs');
  });

  it('serves Prometheus metrics', async () => {
    const r = await shAsync('ip', ['netns', 'exec', hosts[0].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/metrics']);
    assert.equal(r.code, 0);
    for (const m of ['romana_agent_reconcile_duration_seconds_bucket', 'romana_agent_rules_programmed', 'romana_agent_set_entries_programmed', 'romana_agent_errors_total', 'romana_agent_routes_programmed']) {
      assert.match(r.stdout, new RegExp(`^${m}`, 'm'), m);
    }
    const h = await shAsync('ip', ['netns', 'exec', hosts[0].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/healthz']);
    assert.equal(h.stdout, 'ok\n');
  });
});
