// The compiled text against the real tools, in scratch network namespaces (never the root namespace):
//   1. every golden case loads: `ipset restore`, `iptables-restore --noflush --test`, then for real; the
//      kernel's `iptables-save` holds exactly our rules (so the agent can diff against it); a reload is
//      idempotent. For nftables: `nft -c -f`, then for real; `nft list` holds exactly the rendered
//      table, spelled as rendered (so the agent's diff finds nothing to do);
//   2. traffic, on each dataplane: a routed host with three pods enforces ingress and egress and lets
//      replies through. On nftables a foreign table and iptables-nft rules that accept everything sit
//      at the same hooks, before and after Romana's chains, and change no verdict.
// Needs root, iproute2, iptables, ipset and nft. Without them this test FAILS: it never skips.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { parseNftTable, planNft } from '../../src/agent/nftables.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { nftRuleKey, nftScript, renderNft, type NftHost } from '../../src/core/policy/render-nft.js';

const here = dirname(fileURLToPath(import.meta.url));
const PREFIX = `rmt-${process.pid}-`;
const created: string[] = [];
const children: ChildProcess[] = [];

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (ns: string, cmd: string, args: string[], input?: string) => run('ip', ['netns', 'exec', ns, cmd, ...args], input);

function netns(suffix: string): string {
  const name = PREFIX + suffix;
  run('ip', ['netns', 'add', name]);
  created.push(name);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}
function delNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
  const i = created.indexOf(name);
  if (i >= 0) created.splice(i, 1);
}

/** Chains and rules of ours in `iptables-save -t filter` (or in our own text), by chain. */
function romanaRules(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const decl = /^:(ROMANA-\S+) /.exec(line);
    if (decl) m.set(decl[1], m.get(decl[1]) ?? []);
    const rule = /^-A (ROMANA-\S+) (.*)$/.exec(line);
    if (rule) m.set(rule[1], [...(m.get(rule[1]) ?? []), rule[2]]);
  }
  return m;
}

before(() => {
  assert.equal(process.getuid?.(), 0, 'the kernel test must run as root (it creates network namespaces)');
  for (const tool of ['ip', 'iptables-restore', 'iptables-save', 'ipset', 'nft']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${tool} is not installed (apt-get install iproute2 iptables ipset nftables)`);
  }
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
  for (const ns of [...created]) delNetns(ns);
});

const CASES = [
  { name: 'example', file: join(here, '../../examples/cluster.yaml'), hosts: ['host1', 'host2'] },
  { name: 'k8s-basics', file: join(here, 'golden/k8s-basics.yaml'), hosts: ['node1', 'node2'] },
  { name: 'romana-host', file: join(here, 'golden/romana-host.yaml'), hosts: ['h1'] },
  { name: 'layout', file: join(here, 'golden/layout.yaml'), hosts: ['h1', 'h2'] },
];

describe('compiled output in the kernel', () => {
  let n = 0;
  for (const c of CASES) {
    for (const host of c.hosts) {
      it(`${c.name} on ${host}: ipset restore, iptables-restore --test, load, iptables-save, reload`, () => {
        const out = compileHost(parseCluster(readFileSync(c.file, 'utf8')), host);
        const ns = netns(`k${n++}`);
        try {
          inNs(ns, 'ipset', ['restore'], out.ipset);
          inNs(ns, 'iptables-restore', ['--noflush', '--test'], out.iptables);
          inNs(ns, 'iptables-restore', ['--noflush'], out.iptables);
          const saved = romanaRules(inNs(ns, 'iptables-save', ['-t', 'filter']));
          assert.deepEqual(saved, romanaRules(out.iptables), 'the kernel holds exactly the compiled rules, in iptables-save form');
          assert.deepEqual([...saved.keys()].sort(), out.chains);
          const sets = inNs(ns, 'ipset', ['list', '-n']).split('\n').filter(Boolean).sort();
          assert.deepEqual(sets, out.sets);
          for (const s of out.tables.sets) {
            const members = inNs(ns, 'ipset', ['list', s.name]).split('Members:\n')[1].split('\n').filter(Boolean).sort();
            assert.deepEqual(members, [...s.entries].sort(), s.name);
          }
          // The agent re-applies the same text on every sync: nothing may duplicate.
          inNs(ns, 'ipset', ['restore'], out.ipset);
          inNs(ns, 'iptables-restore', ['--noflush'], out.iptables);
          assert.deepEqual(romanaRules(inNs(ns, 'iptables-save', ['-t', 'filter'])), saved);
        } finally {
          delNetns(ns);
        }
      });
    }
  }
});

/** Loads a rendered table into a fresh namespace and checks the listing against the rendering. */
function nftRoundTrip(ns: string, want: NftHost): void {
  inNs(ns, 'nft', ['-c', '-f', '-'], nftScript(want));
  inNs(ns, 'nft', ['-f', '-'], nftScript(want));
  assert.deepEqual(inNs(ns, 'nft', ['list', 'tables']).trim().split('\n'), ['table inet romana'], 'one table, nothing else');
  const got = parseNftTable(inNs(ns, 'nft', ['-s', 'list', 'table', 'inet', 'romana']));
  // Rules as listed, but for the order of an anonymous set's elements (a hashed set lists in its own order).
  const chain = (c: { comment?: string; base?: string; rules: string[] }) => ({ ...(c.comment !== undefined ? { comment: c.comment } : {}), ...(c.base ? { base: c.base } : {}), rules: c.rules.map(nftRuleKey) });
  assert.deepEqual([...got.chains].map(([k, v]) => [k, chain(v)]).sort(), want.chains.map((c) => [c.name, chain(c)]).sort());
  assert.deepEqual([...got.sets].sort(), want.sets.map((x) => [x.name, { kind: x.kind, type: x.type, interval: x.interval, elements: new Set(x.elements) }] as const).sort());
  assert.deepEqual([...got.counters].sort(), want.counters);
  assert.equal(planNft(want, got).script, '', 'the agent would change nothing');
}

describe('rendered nftables table in the kernel', () => {
  let n = 0;
  for (const c of CASES) {
    for (const host of c.hosts) {
      it(`${c.name} on ${host}: nft -c -f, load, nft list is exactly the rendering, nothing left to change`, () => {
        const ns = netns(`n${n++}`);
        try {
          nftRoundTrip(ns, renderNft(compileHost(parseCluster(readFileSync(c.file, 'utf8')), host).ir));
        } finally {
          delNetns(ns);
        }
      });
    }
  }

  it('ports of several protocols (a hashed concatenation, listed in its own order) and every ICMP name', () => {
    const ns = netns(`n${n++}`);
    try {
      const c = parseCluster({
        namespaces: [{ name: 'x' }],
        pods: [{ namespace: 'x', name: 'a', ip: '10.1.0.10', host: 'h', labels: {}, ports: [] }],
        policies: [{ id: 'many', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ cidr: '10.0.0.0/8' }], rules: [
          { protocol: 'tcp', ports: Array.from({ length: 40 }, (_, i) => 1000 + i * 7) }, { protocol: 'udp', ports: [53, 2000, 2001, 9999] }, { protocol: 'sctp', port_ranges: [[5, 9]] },
          ...Array.from({ length: 20 }, (_, t) => ({ protocol: 'icmp', icmp_type: t })), { protocol: 'icmp', icmp_type: 3, icmp_code: 13 }, { protocol: 'icmp', icmp_type: 5, icmp_code: 1 },
        ] }] }],
      });
      nftRoundTrip(ns, renderNft(compileHost(c, 'h').ir));
    } finally {
      delNetns(ns);
    }
  });
});

/** A foreign nft table whose base chains accept everything, before (-20) and after (0) Romana's -10. */
const FOREIGN_NFT = ['add table inet foreign', ...['forward', 'input', 'output'].flatMap((hook) => [-20, 0].flatMap((prio) => [
  `add chain inet foreign ${hook}${-prio} { type filter hook ${hook} priority ${prio}; policy accept; }`, `add rule inet foreign ${hook}${-prio} counter accept`,
]))].join('\n') + '\n';
/** iptables-nft rules that accept everything, as a permissive kube-proxy-era host has them. */
const FOREIGN_IPT = '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ACCEPT\n-A INPUT -j ACCEPT\n-A OUTPUT -j ACCEPT\nCOMMIT\n';
const foreignRules = (ns: string) => inNs(ns, 'nft', ['-s', 'list', 'table', 'inet', 'foreign']) + inNs(ns, 'iptables-nft-save', ['-t', 'filter']).replace(/^#.*\n/gm, '');

for (const dataplane of ['iptables', 'nftables'] as const) describe(`compiled policy enforces traffic in a routed host (${dataplane})`, () => {
  // Pods a, b, c of namespace x on one host. c accepts only b on 8080; b accepts nothing (replies to its
  // own connections must still come back); a may only talk to c on 8080.
  const cluster = parseCluster({
    namespaces: [{ name: 'x' }],
    pods: ['a', 'b', 'c'].map((p, i) => ({ namespace: 'x', name: p, labels: { pod: p }, ip: `10.1.0.${10 + i}`, host: 'h', ports: [{ port: 8080, protocol: 'TCP' }, { port: 8081, protocol: 'TCP' }] })),
    policies: [
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'c-from-b', namespace: 'x' }, spec: { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 8080 }] }] } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'b-closed', namespace: 'x' }, spec: { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress'] } },
      { id: 'a-only-to-c', direction: 'egress', applied_to: [{ tenant: 'x' }, { cidr: '10.1.0.10/32' }], egress: [{ peers: [{ cidr: '10.1.0.12/32' }, { tenant: 'x' }], rules: [{ protocol: 'tcp', ports: [8080] }] }] },
    ],
  });
  const ip = (p: string) => cluster.pods.find((x) => x.name === p)!.ip;
  const pods: Record<string, string> = {};
  let host = '';
  let foreignBefore = '';

  before(async () => {
    host = netns(`th${dataplane[0]}`);
    run('ip', ['netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const [i, p] of ['a', 'b', 'c'].entries()) {
      const ns = netns(`t${p}${dataplane[0]}`);
      pods[p] = ns;
      const veth = `veth${i}`;
      run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', veth, 'netns', host]);
      run('ip', ['-n', ns, 'addr', 'add', `${ip(p)}/32`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      // Romana style: the host veth carries the gateway /32; the pod routes everything through it.
      run('ip', ['-n', host, 'addr', 'add', '10.1.0.1/32', 'dev', veth]);
      run('ip', ['-n', host, 'link', 'set', veth, 'up']);
      run('ip', ['-n', host, 'route', 'add', `${ip(p)}/32`, 'dev', veth, 'scope', 'link']);
      run('ip', ['-n', ns, 'route', 'add', '10.1.0.1', 'dev', 'eth0', 'scope', 'link']);
      run('ip', ['-n', ns, 'route', 'add', 'default', 'via', '10.1.0.1']);
      const srv = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e',
        "for (const p of [8080, 8081]) require('net').createServer((s) => s.end('ok')).listen(p)"], { stdio: 'ignore' });
      children.push(srv);
    }
    const out = compileHost(cluster, 'h');
    if (dataplane === 'iptables') {
      inNs(host, 'ipset', ['restore'], out.ipset);
      inNs(host, 'iptables-restore', ['--noflush'], out.iptables);
      // The agent's hooks: one jump from each built-in chain.
      for (const [builtin, ours] of [['FORWARD', 'ROMANA-FORWARD'], ['INPUT', 'ROMANA-INPUT'], ['OUTPUT', 'ROMANA-OUTPUT']]) {
        inNs(host, 'iptables', ['-A', builtin, '-j', ours]);
      }
    } else {
      inNs(host, 'nft', ['-f', '-'], FOREIGN_NFT);
      inNs(host, 'iptables-nft-restore', ['--noflush'], FOREIGN_IPT);
      foreignBefore = foreignRules(host);
      inNs(host, 'nft', ['-f', '-'], nftScript(renderNft(out.ir)));
    }
    // Servers up? The host reaches its pods through OUTPUT, which pod policies leave alone.
    for (const p of ['a', 'b', 'c']) {
      const deadline = Date.now() + 10_000;
      while (!(await connects(host, ip(p), 8080, 500))) {
        if (Date.now() > deadline) throw new Error(`server in pod ${p} did not come up`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  /** Whether a TCP connection from netns `ns` to ip:port completes within `ms`. */
  function connects(ns: string, to: string, port: number, ms = 1000): Promise<boolean> {
    return new Promise((resolve) => {
      const script = `const s = require('net').connect({ host: '${to}', port: ${port} });
        s.setTimeout(${ms}, () => process.exit(3)); s.on('data', () => process.exit(0)); s.on('error', () => process.exit(4));`;
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'ignore' });
      children.push(c);
      const kill = setTimeout(() => c.kill('SIGKILL'), ms + 3000);
      c.on('exit', (code) => { clearTimeout(kill); resolve(code === 0); });
    });
  }

  it('allows and denies exactly as simulate says, both directions checked, replies let through', async () => {
    const probes: [string, string, number, boolean][] = [
      ['b', 'c', 8080, true], // c's ingress allows b; b's egress is isolated (tenant x) and allows x on 8080
      ['a', 'c', 8080, false], // a's egress allows c, but c's ingress admits only b
      ['a', 'b', 8080, false], // b admits nobody
      ['c', 'b', 8080, false],
      ['b', 'c', 8081, false], // port
      ['c', 'a', 8080, true], // a not isolated for ingress; c's egress allows tenant x on 8080
      ['c', 'a', 8081, false], // c's egress only allows 8080
    ];
    const sim = simulate(cluster, probes.map(([f, t, port]) => ({ from: `x/${f}`, to: `x/${t}`, port, protocol: 'TCP' as const })));
    assert.deepEqual(sim.map((r) => r.allowed), probes.map((p) => p[3]), 'simulate agrees with the expectations');
    const got = await Promise.all(probes.map(([f, t, port]) => connects(pods[f], ip(t), port)));
    assert.deepEqual(got.map((ok, i) => `${probes[i][0]}->${probes[i][1]}:${probes[i][2]} ${ok ? 'open' : 'blocked'}`),
      probes.map((p) => `${p[0]}->${p[1]}:${p[2]} ${p[3] ? 'open' : 'blocked'}`));
    if (dataplane === 'iptables') {
      // The replies to b's connection came back only through the ESTABLISHED rule (b admits nobody).
      const counters = inNs(host, 'iptables', ['-L', 'ROMANA-FORWARD', '-v', '-n', '-x']).split('\n').find((l) => l.includes('RELATED,ESTABLISHED'))!;
      assert.ok(Number(counters.trim().split(/\s+/)[0]) > 0, counters);
    } else {
      // The foreign accept-everything chains saw the traffic on both sides of Romana's and are as they were.
      const seen = inNs(host, 'nft', ['list', 'table', 'inet', 'foreign']);
      for (const chain of ['forward20', 'forward0']) {
        const m = new RegExp(`chain ${chain} \\{[^}]*counter packets (\\d+)`).exec(seen);
        assert.ok(m && Number(m[1]) > 0, `${chain} saw packets:\n${seen}`);
      }
      assert.equal(foreignRules(host), foreignBefore);
      // Replies to b's connection came back through Romana's established rule; b's policy dropped the rest.
      const counters = JSON.parse(inNs(host, 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'romana'])).nftables.filter((o: { counter?: unknown }) => o.counter).map((o: { counter: { name: string; packets: number } }) => o.counter);
      const bDrops = counters.filter((c: { name: string }) => c.name.startsWith('ROMANA-EPI-'));
      assert.ok(bDrops.some((c: { packets: number }) => c.packets > 0), JSON.stringify(counters));
      const allowedByCFromB = counters.filter((c: { name: string; packets: number }) => c.name.startsWith('ROMANA-PI-') && c.packets > 0);
      assert.ok(allowedByCFromB.length > 0, `a policy counter counted: ${JSON.stringify(counters)}`);
    }
  });
});
