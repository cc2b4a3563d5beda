// Host protection on the real kernel: Romana policies applied to {peer: host}, enforced by real
// romana-agent processes in two host namespaces, with their fail-safe ports. h1's agent runs with the
// default fail-safes, h2's with `--failsafe-inbound 9604/tcp,5000/tcp --failsafe-outbound 9600/tcp`, so
// one policy shows both the defaults and the flags. Real TCP connects (nc) from the fabric namespace to
// the hosts and back; small listeners in each namespace stand for sshd, etcd and other services.
// romanad (embedded store) listens on the root namespace's loopback; the agents reach it at
// 192.168.200.254:9600 through test/agent/forward.mjs (see agent.test.ts), so port 9600 is real.
// The firewall backend is iptables here; host-protection-nft.test.ts runs this file on nftables
// (ROMANA_TEST_DATAPLANE, see dataplane-view.ts): the same connections must get the same verdicts. Foreign
// objects (an nft table and iptables rules accepting everything) are present on both.
// Needs root, iproute2, iptables, ipset, nft, nc, curl and a build (node scripts/build.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { desiredState } from '../../src/agent/desired.js';
import { type Failsafe, parseFailsafePorts } from '../../src/core/policy/failsafe.js';
import { startRomanad, type Romanad } from '../helpers/romanad.js';
import { TEST_DATAPLANE as DP, addForeign, agentFlags, expectedFirewall, foreignSnapshot, readFirewall } from './dataplane-view.js';
import { ROOT, Scratch, type Proc, fabric, inNs, requireBuilt, requireKernelTools, shAsync, waitFor } from './helpers.js';

const s = new Scratch(); // namespaces rag-<pid>-*
let romanad: Romanad | undefined;
let fab = '';
const FAB_IP = '192.168.200.254';
const H2_FLAGS = ['--failsafe-inbound', '9604/tcp,5000/tcp', '--failsafe-outbound', '9600/tcp'];
const hosts: { name: string; ns: string; ip: string; flags: string[]; failsafe?: Partial<Failsafe>; agent?: Proc }[] = [];

/** Listens on each port (all addresses) and prints "listening" once all are bound; nc -z resets, which must not kill it. */
const LISTENER = "const net=require('net');const ps=process.argv.slice(1);let n=0;for(const p of ps)net.createServer((c)=>{c.on('error',()=>{});c.end('hi\\n')}).listen(+p,()=>{if(++n===ps.length)console.log('listening')})";

const HOST_IN = { id: 'host-in', direction: 'ingress', applied_to: [{ peer: 'host' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [7000] }] }] };
const HOST_OUT = { id: 'host-out', direction: 'egress', applied_to: [{ peer: 'host' }], ingress: [] };

/** How each backend spells the rules these tests look at. */
const SPELLING = {
  iptables: { inputRules: 3, h1Failsafe: '-p tcp -m multiport --dports 22,2379:2380,9600,9604 -j RETURN', h2Failsafe: '-p tcp -m multiport --dports 5000,9604 -j RETURN', hostJump: /^-j ROMANA-EPI-/, emptyOutput: [] as string[] },
  nftables: { inputRules: 4, h1Failsafe: 'tcp dport { 22, 2379-2380, 9600, 9604 } return', h2Failsafe: 'tcp dport { 5000, 9604 } return', hostJump: /^jump ROMANA-EPI-/, emptyOutput: ['meta nfproto ipv6 accept'] },
}[DP];
/** Everything of the firewall in a namespace, Romana's and everybody else's. */
const wholeFirewall = (ns: string) => inNs(ns, 'iptables-save', []).replace(/^#.*\n/gm, '') + inNs(ns, 'nft', ['-s', 'list', 'ruleset']);

async function status(h: number): Promise<{ last_applied_revision: number; store_connected: boolean; syncs: number; last_error: string | null }> {
  const r = await shAsync('ip', ['netns', 'exec', hosts[h].ns, 'curl', '-sf', '-m', '2', 'http://127.0.0.1:9604/status']);
  if (r.code !== 0) throw new Error(`status of ${hosts[h].name}: curl exit ${r.code}`);
  return JSON.parse(r.stdout);
}

/** Waits until host h's agent applied the store's current revision and its ROMANA chains equal the desired ones. */
async function converged(h: number): Promise<Map<string, string[]>> {
  let last: { want: object; got: object } | undefined;
  try {
    return await waitFor(`${hosts[h].name} to converge`, async () => {
      const res = await fetch(`${romanad!.url}/store/list?prefix=${encodeURIComponent('/romana/')}`);
      const l = (await res.json()) as { items: { key: string; value: string }[]; revision: number };
      if ((await status(h)).last_applied_revision < l.revision) return false;
      const d = desiredState(new Map(l.items.map((kv) => [kv.key, kv.value])), hosts[h].name, { compile: { failsafe: hosts[h].failsafe } });
      const want = new Map(Object.entries(expectedFirewall(DP, d).chains));
      const got = new Map(Object.entries((await readFirewall(DP, hosts[h].ns)).chains));
      last = { want: Object.fromEntries(want), got: Object.fromEntries(got) };
      return JSON.stringify([...want].sort()) === JSON.stringify([...got].sort()) ? got : undefined;
    }, 10_000, 100);
  } catch (err) {
    if (last) assert.deepEqual(last.got, last.want, `${hosts[h].name}: kernel differs from the desired state`);
    throw new Error(`${(err as Error).message}\n--- agent log:\n${hosts[h].agent?.logs().slice(-3000)}`);
  }
}
const bothConverged = () => Promise.all([converged(0), converged(1)]);

/** Real TCP connects, all at once; asserts every verdict together (a blocked one times out in 1 s). */
async function connects(cases: [from: string, to: string, port: number, want: boolean][]): Promise<void> {
  const got = await Promise.all(cases.map(async ([from, to, port]) => (await shAsync('ip', ['netns', 'exec', from, 'nc', '-z', '-w', '1', to, String(port)])).code === 0));
  const show = (v: boolean[]) => cases.map(([from, to, port], i) => `${from.slice(s.prefix.length)} → ${to}:${port} ${v[i] ? 'open' : 'closed'}`);
  assert.deepEqual(show(got), show(cases.map((c) => c[3])));
}

async function startAgent(h: number): Promise<Proc> {
  const p = await s.spawn(`agent-${hosts[h].name}`, [process.execPath, `${ROOT}/bin/romana-agent`, '--host', hosts[h].name, '--api', `http://${FAB_IP}:9600`, '--drift-interval', '2', ...agentFlags(DP), ...hosts[h].flags], { netns: hosts[h].ns, ready: 'romana-agent ready' });
  hosts[h].agent = p;
  return p;
}

before(async () => {
  requireKernelTools(['ip', 'iptables', 'iptables-save', 'iptables-restore', 'ipset', 'nft', 'nc', 'curl']);
  requireBuilt();
  romanad = await startRomanad();
  const f = fabric(s, 2);
  fab = f.fab;
  f.hosts.forEach((h, i) => hosts.push({ name: `h${i + 1}`, ...h, flags: i === 0 ? [] : H2_FLAGS }));
  hosts[1].failsafe = { inbound: parseFailsafePorts(H2_FLAGS[1], H2_FLAGS[0]), outbound: parseFailsafePorts(H2_FLAGS[3], H2_FLAGS[2]) };
  await s.spawn('fwd-api-root', [process.execPath, `${ROOT}/test/agent/forward.mjs`, `unix:${s.dir}/api.sock`, `tcp:127.0.0.1:${new URL(romanad.url).port}`], { ready: 'ready' });
  await s.spawn('fwd-api-fab', [process.execPath, `${ROOT}/test/agent/forward.mjs`, `tcp:${FAB_IP}:9600`, `unix:${s.dir}/api.sock`], { netns: fab, ready: 'ready' });
  await s.spawn('listen-fab', [process.execPath, '-e', LISTENER, '8080', '2379'], { netns: fab, ready: 'listening' });
  for (const h of hosts) addForeign(h.ns);
  for (const h of hosts) await s.spawn(`listen-${h.name}`, [process.execPath, '-e', LISTENER, '22', '5000', '7000', '8080'], { netns: h.ns, ready: 'listening' });

  const api = romanad.api;
  await api.post('/topology', { networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }], topologies: [{ networks: ['pods'], map: [{ name: 'g1', groups: [] }, { name: 'g2', groups: [] }] }] });
  for (const h of hosts) await api.post('/hosts', { name: h.name, ip: h.ip });
  await Promise.all([startAgent(0), startAgent(1)]);
});

after(async () => {
  await s.cleanup();
  await romanad?.stop();
});

describe(`host protection on the real kernel (${DP})`, { timeout: 90_000 }, () => {
  let foreignBefore: string[] = [];
  it('without host policies every listening port of the hosts is reachable, and the hosts reach out', async () => {
    const [k1] = await bothConverged();
    foreignBefore = hosts.map((h) => foreignSnapshot(h.ns));
    assert.equal(k1.get('ROMANA-INPUT')!.length, SPELLING.inputRules, 'no fail-safe rules without a host policy');
    const [h1, h2] = hosts;
    await connects([
      ...[22, 5000, 7000, 8080, 9604].flatMap((p) => [[fab, h1.ip, p, true], [fab, h2.ip, p, true]] as [string, string, number, boolean][]),
      [h1.ns, FAB_IP, 8080, true], [h1.ns, FAB_IP, 2379, true], [h2.ns, FAB_IP, 8080, true], [h2.ns, FAB_IP, 2379, true],
    ]);
  });

  it('a host ingress policy allowing one port closes the others; fail-safe ports stay open (defaults on h1, --failsafe-inbound on h2)', async () => {
    await romanad!.api.post('/policies', HOST_IN);
    const [k1, k2] = await bothConverged();
    // The flags reached the kernel: each host's fail-safe RETURN sits right before its host policy jump.
    const tail = (k: Map<string, string[]>) => k.get('ROMANA-INPUT')!.slice(-2);
    assert.equal(tail(k1)[0], SPELLING.h1Failsafe);
    assert.equal(tail(k2)[0], SPELLING.h2Failsafe);
    for (const k of [k1, k2]) assert.match(tail(k)[1], SPELLING.hostJump);
    const [h1, h2] = hosts;
    await connects([
      [fab, h1.ip, 7000, true], [fab, h1.ip, 8080, false], [fab, h1.ip, 5000, false], [fab, h1.ip, 22, true], [fab, h1.ip, 9604, true],
      [fab, h2.ip, 7000, true], [fab, h2.ip, 8080, false], [fab, h2.ip, 22, false], [fab, h2.ip, 5000, true], [fab, h2.ip, 9604, true],
      // Replies to the hosts' own connections pass: ESTABLISHED is accepted before any host policy.
      [h1.ns, FAB_IP, 8080, true], [h2.ns, FAB_IP, 8080, true],
    ]);
    const health = await shAsync('ip', ['netns', 'exec', fab, 'curl', '-sf', '-m', '2', `http://${hosts[0].ip}:9604/healthz`]);
    assert.equal(health.stdout, 'ok\n', 'the agent\'s own port answers through the fail-safe');
  });

  it('deleting the host ingress policy restores access', async () => {
    await romanad!.api.del('/policies/host-in');
    const [k1, k2] = await bothConverged();
    for (const k of [k1, k2]) assert.equal(k.get('ROMANA-INPUT')!.length, SPELLING.inputRules);
    await connects([[fab, hosts[0].ip, 8080, true], [fab, hosts[0].ip, 5000, true], [fab, hosts[1].ip, 22, true], [fab, hosts[1].ip, 8080, true]]);
  });

  it('a host egress deny policy: no connection out except to fail-safe ports; inbound and replies still work; a restarted agent reaches romanad', async () => {
    await romanad!.api.post('/policies', HOST_OUT);
    await bothConverged();
    const [h1, h2] = hosts;
    await connects([
      [h1.ns, FAB_IP, 8080, false], [h1.ns, FAB_IP, 9600, true], [h1.ns, FAB_IP, 2379, true],
      [h2.ns, FAB_IP, 8080, false], [h2.ns, FAB_IP, 9600, true], [h2.ns, FAB_IP, 2379, false], // h2's outbound fail-safe is 9600 only
      [fab, h1.ip, 8080, true], [fab, h2.ip, 8080, true], // egress policies leave inbound connections alone, replies included
    ]);
    // A new agent must open new connections to romanad: the outbound fail-safe is what lets it.
    await s.kill(h1.agent!);
    await startAgent(0);
    const st = await waitFor('the restarted agent to list the store and sync', async () => {
      const x = await status(0);
      return x.store_connected && x.syncs >= 1 ? x : undefined;
    });
    assert.equal(st.last_error, null);
    await converged(0);
  });

  it('deleting the host egress policy restores access', async () => {
    await romanad!.api.del('/policies/host-out');
    const [k1, k2] = await bothConverged();
    for (const k of [k1, k2]) assert.deepEqual(k.get('ROMANA-OUTPUT'), SPELLING.emptyOutput);
    await connects([[hosts[0].ns, FAB_IP, 8080, true], [hosts[1].ns, FAB_IP, 8080, true], [hosts[1].ns, FAB_IP, 2379, true]]);
  });

  it('a bad fail-safe flag: the agent refuses to start, names the flag, and touches nothing', async () => {
    const ns = hosts[0].ns;
    const before = wholeFirewall(ns);
    for (const [flag, value, re] of [
      ['--failsafe-inbound', '22/icmp', /--failsafe-inbound: '22\/icmp': the protocol must be tcp, udp or sctp/],
      ['--failsafe-outbound', '9600/tcp,', /--failsafe-outbound: '9600\/tcp,' has an empty entry/],
    ] as const) {
      const r = await shAsync('ip', ['netns', 'exec', ns, process.execPath, `${ROOT}/bin/romana-agent`, '--host', 'h1', '--api', `http://${FAB_IP}:9600`, '--port', '9606', flag, value]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
    }
    assert.equal(wholeFirewall(ns), before);
  });

  it('left the foreign objects as they were', () => {
    assert.deepEqual(hosts.map((h) => foreignSnapshot(h.ns)), foreignBefore);
  });
});
