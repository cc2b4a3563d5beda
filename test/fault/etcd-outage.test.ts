// Fault test: etcd hangs (SIGSTOP) and then dies (SIGKILL, 30 s) under load. Real etcd, a real romanad on
// it, two real agents in host namespaces (the agent test's fabric: test/agent/helpers.ts) and clients
// allocating, releasing and reading all along.
//
// What must hold: every API answer is a success or a 503 {"error":"unavailable"} (never a 500), and
// comes within a bound (never a hang); each agent's routes, ipsets and ROMANA iptables rules stay byte for
// byte as they were; after etcd is back (same data dir, same port) the API answers, a change made then
// reaches the agents, and no allocation a client saw succeed is lost.
// Needs root, iproute2, iptables, ipset, ping, curl, etcd and a build (node scripts/build.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startRomanad, type Romanad } from '../helpers/romanad.js';
import { ROOT, Scratch, fabric, pod, requireBuilt, requireKernelTools, shAsync, sleep, waitFor } from '../agent/helpers.js';
import { agentStatus as status, dataplane as snapshot } from './helpers.js';

const ETCD_DEADLINE_MS = 3000; // romanad's per-call etcd deadline (src/store/etcd.ts)
const ANSWER_BOUND_MS = ETCD_DEADLINE_MS + 2000;
const HANG_MS = 8000;
const OUTAGE_MS = 30_000;
const PREFIX = `/fault-${process.pid}`;

const s = new Scratch();
let etcd: EtcdServer | undefined;
let romanad: Romanad | undefined;
const hosts: { name: string; ns: string; ip: string }[] = [];
const pods: Record<string, string> = {}; // name -> netns
const agentLogs: (() => string)[] = [];

const NP = (name: string, ingress: object[]) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 't1' },
  spec: { podSelector: { matchLabels: { role: 'server' } }, ingress },
});
/** b (role=server) accepts role=client pods, any protocol: a pings b, c does not. */
const CLIENTS_ANY = NP('server-in', [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }]);
/** The change made after recovery: TCP 8080 only, so a's ping is dropped too. */
const CLIENTS_TCP = NP('server-in', [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }]);

const agentStatus = (h: number) => status(hosts[h].ns);
const dataplane = (h: number) => snapshot(hosts[h].ns);

const podIp: Record<string, string> = {};
/** Whether `from` pings `to`; a path that should pass gets three tries (ARP may still be warming up). */
async function ping(from: string, to: string, want: boolean): Promise<boolean> {
  for (let i = 0; i < (want ? 3 : 1); i++) {
    const ok = (await shAsync('ip', ['netns', 'exec', pods[from], 'ping', '-c', '1', '-W', '1', podIp[to]])).code === 0;
    if (ok === want) return ok;
  }
  return !want;
}

async function storeRevision(): Promise<number> {
  const res = await fetch(`${romanad!.url}/store/list?prefix=${encodeURIComponent('/romana/none')}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { revision: number }).revision;
}

async function converged(timeoutMs = 15_000): Promise<void> {
  const want = await storeRevision();
  await waitFor(`agents to apply revision ${want}`, async () => {
    for (let h = 0; h < hosts.length; h++) if ((await agentStatus(h)).last_applied_revision < want) return false;
    return true;
  }, timeoutMs, 100).catch((e: Error) => assert.fail(`${e.message}\n--- agent log:\n${agentLogs.map((l) => l().slice(-3000)).join('\n')}`));
}

/** Every answer the load saw: what, when, how long, status and error kind. */
interface Answer { what: string; at: number; ms: number; status: number; error?: string; message?: string }

/** Clients allocating (on h2, so h1's routes to new blocks keep changing), releasing and reading. */
class Load {
  readonly answers: Answer[] = [];
  /** Addresses whose allocation a client saw succeed, with their IPs, until a release of theirs succeeded. */
  readonly live = new Map<string, string>();
  /** Releases answered 503: the release may or may not have committed. */
  readonly uncertain = new Set<string>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  start(clients: number): void {
    for (let c = 0; c < clients; c++) this.loops.push(this.client(c));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async call(what: string, method: string, path: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
    const t0 = Date.now();
    let status = 0;
    let json: Record<string, unknown> = {};
    try {
      const res = await fetch(romanad!.url + path, {
        method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(20_000), // far past the bound: a hang shows as a slow answer, not a stuck test
      });
      status = res.status;
      json = (await res.json()) as Record<string, unknown>;
    } catch (e) {
      json = { error: 'client', message: (e as Error).message };
    }
    this.answers.push({ what, at: t0, ms: Date.now() - t0, status, error: json.error as string | undefined, message: json.message as string | undefined });
    return { status, json };
  }

  private async client(c: number): Promise<void> {
    const mine: string[] = [];
    for (let n = 0; !this.stopped; n++) {
      const name = `load-${c}-${n}`;
      // One owner for all: in-process requests for one owner queue up, the case where a hung etcd hurts most.
      const a = await this.call('allocate', 'POST', '/address', { name, host: 'h2', tenant: 'load', segment: 's0' });
      if (a.status === 201) {
        this.live.set(name, a.json.ip as string);
        mine.push(name);
      }
      if (n % 2 === 1 && mine.length > 0) {
        const victim = mine.shift()!;
        const r = await this.call('release', 'DELETE', `/address?addressName=${victim}`);
        if (r.status === 200) this.live.delete(victim);
        else this.uncertain.add(victim);
      }
      const l = await this.call('list', 'GET', n % 2 ? '/addresses?host=h2' : '/policies');
      await sleep(l.status === 200 ? 30 : 100); // load, not a flood (the machine is shared); a client backs off on 503
    }
  }
}

describe('fault: etcd hangs, then is down for 30 s, under load', { timeout: 120_000 }, () => {
  const load = new Load();

  before(async () => {
    requireKernelTools();
    requireBuilt();
    etcd = await startEtcd();
    romanad = await startRomanad({ etcdEndpoints: etcd.endpoint, etcdPrefix: PREFIX });
    const f = fabric(s, 2);
    f.hosts.forEach((h, i) => hosts.push({ name: `h${i + 1}`, ...h }));
    // romanad listens on the root namespace's loopback; the hosts reach it through a unix socket.
    await s.spawn('fwd-root', [process.execPath, `${ROOT}/test/agent/forward.mjs`, `unix:${s.dir}/api.sock`, `tcp:127.0.0.1:${new URL(romanad.url).port}`], { ready: 'ready' });
    await s.spawn('fwd-fab', [process.execPath, `${ROOT}/test/agent/forward.mjs`, 'tcp:192.168.200.254:9600', `unix:${s.dir}/api.sock`], { netns: f.fab, ready: 'ready' });

    const api = romanad.api;
    await api.post('/topology', { networks: [{ name: 'pods', cidr: '10.113.0.0/16', block_mask: 28 }], topologies: [{ networks: ['pods'], map: [{ name: 'g1', groups: [] }, { name: 'g2', groups: [] }] }] });
    for (const h of hosts) await api.post('/hosts', { name: h.name, ip: h.ip });
    await api.put('/namespaces/t1', { labels: {} });
    for (const [name, host, role] of [['a', 0, 'client'], ['c', 0, 'other'], ['b', 1, 'server']] as const) {
      const rec = await api.post<{ ip: string }>('/address', { name, host: hosts[host].name, tenant: 't1', segment: 'web', attributes: { host_ifname: `r-${name}` } });
      await api.put(`/pods/t1/${name}`, { labels: { role }, ports: [{ port: 8080, protocol: 'TCP' }] });
      pods[name] = pod(s, hosts[host].ns, `p-${name}`, rec.ip, `r-${name}`);
      podIp[name] = rec.ip;
    }
    await api.post('/policies', CLIENTS_ANY);
    for (const h of hosts) {
      const p = await s.spawn(`agent-${h.name}`, [process.execPath, `${ROOT}/bin/romana-agent`, '--host', h.name, '--api', 'http://192.168.200.254:9600', '--drift-interval', '1'], { netns: h.ns, ready: 'romana-agent ready' });
      agentLogs.push(() => p.logs());
    }
    await converged();
    assert.equal(await ping('a', 'b', true), true, 'a reaches b before the outage');
    assert.equal(await ping('c', 'b', false), false, 'c is blocked before the outage');
  });

  after(async () => {
    etcd?.resume();
    await load.stop();
    await s.cleanup();
    await romanad?.stop();
    await etcd?.stop();
  });

  /** Waits until both agents applied all they saw (events in flight at the fault), then keeps checking nothing moves. */
  async function holdsStill(forMs: number): Promise<string[]> {
    await waitFor('agents to settle', async () => {
      for (let h = 0; h < hosts.length; h++) {
        const st = await agentStatus(h);
        if (st.last_applied_revision < st.store_revision) return false;
      }
      return true;
    }, 10_000, 100);
    const first = await Promise.all(hosts.map((_, h) => dataplane(h)));
    const end = Date.now() + forMs;
    let checks = 0;
    while (Date.now() < end) {
      await sleep(2000);
      const now = await Promise.all(hosts.map((_, h) => dataplane(h)));
      hosts.forEach((h, i) => assert.equal(now[i], first[i], `${h.name}'s dataplane changed during the outage`));
      checks++;
    }
    assert.ok(checks >= 2, 'the dataplane was checked during the outage');
    return first;
  }

  it('answers 200 or 503 unavailable within the bound, keeps every dataplane as it was, and converges afterwards', async (t) => {
    load.start(4);
    await sleep(2000);
    const allocatedBefore = load.answers.filter((a) => a.what === 'allocate' && a.status === 201).length;
    assert.ok(allocatedBefore > 0, 'the load allocates while etcd is up');

    // 1. etcd hangs: connections stay open, nothing answers.
    const hangAt = Date.now();
    etcd!.pause();
    await holdsStill(HANG_MS - 1000);
    await sleep(Math.max(0, hangAt + HANG_MS - Date.now()));
    etcd!.resume();
    const hangEnd = Date.now();
    assert.ok(load.answers.some((a) => a.at >= hangAt && a.at < hangEnd && a.status === 503), 'some calls failed with 503 during the hang');
    await sleep(2000);

    // 2. etcd is killed and stays down for 30 s.
    const killAt = Date.now();
    await etcd!.kill();
    const duringOutage = await holdsStill(OUTAGE_MS - 3000);
    assert.equal(await ping('a', 'b', true), true, 'a still reaches b while etcd is down');
    assert.equal(await ping('c', 'b', false), false, 'c is still blocked while etcd is down');
    for (let h = 0; h < hosts.length; h++) {
      const st = await agentStatus(h);
      assert.ok(st.last_applied_revision > 0 && st.last_error !== null, `${hosts[h].name}: ${JSON.stringify(st)}`);
    }
    await sleep(Math.max(0, killAt + OUTAGE_MS - Date.now()));
    const outageAnswers = load.answers.filter((a) => a.at >= killAt);
    assert.ok(outageAnswers.length > 20, `the load kept asking during the outage (${outageAnswers.length} answers)`);
    assert.ok(outageAnswers.every((a) => a.status === 503), `every call failed while etcd was down: ${JSON.stringify(outageAnswers.find((a) => a.status !== 503))}`);

    // 3. etcd is back on the same data dir and port.
    await etcd!.restart();
    const back = Date.now();
    await waitFor('the API to answer again', async () => (await fetch(`${romanad!.url}/addresses`, { signal: AbortSignal.timeout(5000) })).status === 200, 15_000, 200);
    t.diagnostic(`the API answered 200 again ${Date.now() - back} ms after etcd was healthy`);
    await sleep(1500);
    assert.ok(load.answers.some((a) => a.at >= back && a.what === 'allocate' && a.status === 201), 'allocations succeed again');
    await load.stop();

    for (const a of load.answers) {
      assert.ok(a.status === 200 || a.status === 201 || (a.status === 503 && a.error === 'unavailable' && typeof a.message === 'string' && a.message.length > 0),
        `an answer that is neither success nor 503 unavailable: ${JSON.stringify(a)}`);
      assert.ok(a.ms <= ANSWER_BOUND_MS, `an answer took ${a.ms} ms (bound ${ANSWER_BOUND_MS} ms): ${JSON.stringify(a)}`);
    }
    const counts = { ok: load.answers.filter((a) => a.status === 200 || a.status === 201).length, unavailable: load.answers.filter((a) => a.status === 503).length };
    assert.ok(counts.unavailable > 0 && counts.ok > 0, JSON.stringify(counts));
    const slowest = (from: number, to: number) => Math.max(0, ...load.answers.filter((a) => a.at >= from && a.at < to).map((a) => a.ms));
    t.diagnostic(`answers: ${counts.ok} ok, ${counts.unavailable} unavailable; slowest while hung ${slowest(hangAt, hangEnd)} ms, while down ${slowest(killAt, back)} ms, after ${slowest(back, Infinity)} ms`);

    // Nothing a client saw succeed is lost; every address has its own IP.
    const { addresses } = await romanad!.api.get<{ addresses: { name: string; ip: string }[] }>('/addresses');
    const stored = new Map(addresses.map((a) => [a.name, a.ip]));
    for (const [name, ip] of load.live) if (!load.uncertain.has(name)) assert.equal(stored.get(name), ip, `address ${name} (${ip}) was lost`);
    assert.equal(new Set(addresses.map((a) => a.ip)).size, addresses.length, 'no IP is handed out twice');

    // A change made after recovery reaches the agents, and the kernel follows it.
    await romanad!.api.post('/policies', CLIENTS_TCP);
    await converged();
    const after = await Promise.all(hosts.map((_, h) => dataplane(h)));
    assert.notEqual(after[1], duringOutage[1], 'h2 applied the new policy');
    assert.equal(await ping('a', 'b', false), false, 'the new policy (TCP 8080 only) drops a\'s ping');
    for (let h = 0; h < hosts.length; h++) assert.equal((await agentStatus(h)).store_connected, true);
  });
});
