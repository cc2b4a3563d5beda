// The compiler's contract: ownership, ordering, determinism, locality, incremental stability and scale.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cidrContainsIp, formatCidr, tryParseCidr } from '../../src/core/net/ipv4.js';
import { parseCluster, type Cluster } from '../../src/core/policy/cluster.js';
import { compileHost, PolicyCompiler, subtractCidrs, type CompiledHost } from '../../src/core/policy/compile.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { Netfilter } from './netfilter-model.js';
import { cluster3, np } from './helpers.js';

const chainBodies = (o: CompiledHost) => new Map(o.tables.chains.map((c) => [c.name, c.rules.join('\n')]));
const rulesOf = (o: CompiledHost, name: string) => o.tables.chains.find((c) => c.name === name)?.rules ?? [];

/** Tenants t0..t{n-1}, each with `perTenant` pods split over segments web/db and hosts h1/h2, with blocks. */
function tenants(n: number, perTenant: number, policies: unknown[], withBlocks = true): Cluster {
  const pods = [], blocks = [];
  for (let t = 0; t < n; t++) {
    for (const [si, seg] of ['web', 'db'].entries()) {
      for (const [hi, host] of ['h1', 'h2'].entries()) {
        blocks.push({ cidr: `10.${t}.${si * 2 + hi}.0/24`, host, tenant: `t${t}`, segment: seg });
      }
    }
    for (let i = 0; i < perTenant; i++) {
      const si = i % 2, hi = (i >> 1) % 2;
      pods.push({ namespace: `t${t}`, name: `p${i}`, host: `h${hi + 1}`, ip: `10.${t}.${si * 2 + hi}.${1 + (i >> 2)}`, labels: { 'romana.io/segment': si ? 'db' : 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    }
  }
  return parseCluster({ namespaces: Array.from({ length: n }, (_, t) => ({ name: `t${t}` })), pods, policies, externals: [], ...(withBlocks ? { blocks } : {}) });
}

const tenantPolicy = (t: number, peer: number) => ({
  id: `t${t}-db`, direction: 'ingress', applied_to: [{ tenant: `t${t}`, segment: 'db' }],
  ingress: [{ peers: [{ tenant: `t${t}`, segment: 'web' }, { tenant: `t${peer}` }], rules: [{ protocol: 'tcp', ports: [5432] }, { protocol: 'icmp', icmp_type: 8, icmp_code: 0 }] }],
});

describe('compiler output', () => {
  const c = cluster3([
    np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    np('x', 'web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] }),
    np('y', 'only-z', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] }),
  ]);
  const h1 = compileHost(c, 'h1');

  it('owns only ROMANA chains and sets, within the kernel name limits, and never touches built-in chains', () => {
    for (const name of h1.chains) assert.match(name, /^ROMANA-[A-Z0-9-]+$/), assert.ok(name.length <= 28, name);
    for (const name of h1.sets) assert.match(name, /^ROMANA-(IP|NET)-[0-9A-F]{16}$/), assert.ok(name.length <= 31, name);
    for (const line of h1.iptables.split('\n')) {
      if (line.startsWith('-')) assert.match(line, /^-A ROMANA-/);
      if (line.startsWith(':')) assert.match(line, /^:ROMANA-\S+ - \[0:0\]$/);
      assert.doesNotMatch(line, /^-[FXDIP] /);
    }
    for (const line of h1.ipset.split('\n')) if (line && !line.startsWith('#')) assert.match(line, /^(create|flush|add) ROMANA-/);
    assert.deepEqual(h1.chains.filter((n) => ['ROMANA-FORWARD', 'ROMANA-INPUT', 'ROMANA-OUTPUT', 'ROMANA-EGRESS', 'ROMANA-INGRESS'].includes(n)).length, 5);
  });

  it('accepts established/related first and drops invalid next (forwarded: only to or from a pod)', () => {
    assert.deepEqual(rulesOf(h1, 'ROMANA-INPUT').slice(0, 2), ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-m conntrack --ctstate INVALID -j DROP']);
    assert.deepEqual(rulesOf(h1, 'ROMANA-FORWARD').slice(0, 3), ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-o rmn+ -m conntrack --ctstate INVALID -j DROP', '-i rmn+ -m conntrack --ctstate INVALID -j DROP']);
    const nf = new Netfilter(h1.iptables, h1.ipset);
    assert.equal(nf.run('ROMANA-FORWARD', { src: '10.3.0.10', dst: '10.1.0.11', proto: 'tcp', dport: 80, state: 'ESTABLISHED' }), 'ACCEPT');
    assert.equal(nf.run('ROMANA-FORWARD', { src: '10.3.0.10', dst: '10.1.0.11', proto: 'tcp', dport: 80 }), 'DROP');
    // An untracked packet for a pod is dropped whatever policy says; one crossing the host between two
    // other hosts (asymmetric routes through a VPC route's target) is left to its destination host.
    assert.equal(nf.run('ROMANA-FORWARD', { src: '10.3.0.10', dst: '10.1.0.11', proto: 'tcp', dport: 80, state: 'INVALID', iif: 'eth0', oif: 'rmn0123456789ab' }), 'DROP');
    assert.equal(nf.run('ROMANA-FORWARD', { src: '10.1.0.11', dst: '10.3.0.10', proto: 'tcp', dport: 80, state: 'INVALID', iif: 'rmn0123456789ab', oif: 'eth0' }), 'DROP');
    assert.notEqual(nf.run('ROMANA-FORWARD', { src: '10.9.0.10', dst: '10.8.0.11', proto: 'tcp', dport: 80, state: 'INVALID', iif: 'eth0', oif: 'eth0' }), 'DROP');
  });

  it('is deterministic, whatever the order of pods and policies', () => {
    assert.deepEqual(compileHost(c, 'h1'), h1);
    const shuffled = { ...c, pods: [...c.pods].reverse(), policies: [...c.policies].reverse(), namespaces: [...c.namespaces].reverse() };
    const o = compileHost(shuffled, 'h1');
    assert.equal(o.iptables, h1.iptables);
    assert.equal(o.ipset, h1.ipset);
  });

  it('a policy that selects nothing on this host emits nothing', () => {
    const more = cluster3([...c.policies.map((p) => p.object), np('y', 'only-y-hosts', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'q' } } }] }] })]);
    const o = compileHost(more, 'h1');
    assert.equal(o.iptables, h1.iptables);
    assert.equal(o.ipset, h1.ipset);
    assert.notEqual(compileHost(more, 'h2').iptables, compileHost(c, 'h2').iptables);
    const empty = compileHost(c, 'no-such-host');
    assert.deepEqual(empty.sets, []);
    assert.equal(empty.stats.rules, 8, 'only the fixed skeleton');
  });

  it('a change to one policy changes only its own chains (and the sets it uses)', () => {
    const changed = cluster3([c.policies[0].object, np('x', 'web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }], ports: [{ port: 81 }, { port: 9000, endPort: 9100 }] }], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] }), c.policies[2].object]);
    const a = chainBodies(h1), b = chainBodies(compileHost(changed, 'h1'));
    assert.deepEqual([...a.keys()], [...b.keys()], 'same chains');
    const differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    assert.equal(differing.length, 1);
    const web = c.policies.find((p) => p.id === 'x/web')!;
    assert.match(h1.iptables, new RegExp(`# ${differing[0]}: policy ${web.id} ingress`));
  });

  it('membership changes touch only set entries, never rules', () => {
    const grown = cluster3(c.policies.map((p) => p.object), { externals: [{ name: 'world', ip: '203.0.113.10' }] });
    grown.pods.push({ ...grown.pods.find((p) => p.key === 'y/a')!, key: 'y/d', name: 'd', ip: '10.2.0.99', ipNum: 0x0a020063, host: 'h2' });
    const o = compileHost(grown, 'h1');
    assert.equal(o.iptables, h1.iptables);
    assert.notEqual(o.ipset, h1.ipset);
    assert.deepEqual(o.sets, h1.sets);
  });

  it('checks the egress of the source and the ingress of the destination when both are local', () => {
    const both = cluster3([
      np('x', 'a-out', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      np('x', 'c-in', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ]);
    const nf = (() => { const o = compileHost(both, 'h1'); return new Netfilter(o.iptables, o.ipset); })();
    const v = (src: string, dst: string) => nf.run('ROMANA-FORWARD', { src, dst, proto: 'tcp', dport: 80 });
    assert.equal(v('10.1.0.10', '10.1.0.11'), 'RETURN', 'a → b: egress allows, b not isolated');
    assert.equal(v('10.1.0.10', '10.1.0.12'), 'DROP', 'a → c: egress denies (c would accept only b)');
    assert.equal(v('10.1.0.11', '10.1.0.12'), 'RETURN', 'b → c');
    assert.equal(v('10.1.0.12', '10.1.0.12'), 'DROP', 'c → c: ingress denies');
    assert.equal(v('10.2.0.10', '10.1.0.12'), 'DROP', 'remote → c');
    assert.equal(v('10.1.0.11', '10.2.0.10'), 'RETURN', 'local b → remote: not isolated');
  });

  it('honours ICMP type and code, merges ports with multiport (at most 15 per rule), keeps protocols apart', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i * 2);
    const o = compileHost(cluster3([{ id: 'r', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports }, { protocol: 'tcp', port_ranges: [[5000, 5010], [5005, 5020]] }, { protocol: 'udp', ports: [53] }, { protocol: 'icmp', icmp_type: 8, icmp_code: 0 }, { protocol: 'icmp', icmp_type: 3 }, { protocol: 'sctp' }] }] }]), 'h1');
    const body = rulesOf(o, o.chains.find((n) => n.startsWith('ROMANA-PI-'))!);
    assert.deepEqual(body, [
      `-p tcp -m multiport --dports ${ports.slice(0, 15).join(',')} -j MARK --set-xmark 0x10000/0x10000`,
      `-p tcp -m multiport --dports ${[...ports.slice(15).map(String), '5000:5020'].join(',')} -j MARK --set-xmark 0x10000/0x10000`,
      '-p udp -m udp --dport 53 -j MARK --set-xmark 0x10000/0x10000',
      '-p sctp -j MARK --set-xmark 0x10000/0x10000',
      '-p icmp -m icmp --icmp-type 3 -j MARK --set-xmark 0x10000/0x10000',
      '-p icmp -m icmp --icmp-type 8/0 -j MARK --set-xmark 0x10000/0x10000',
    ]);
  });

  it('ipBlock except becomes a hash:net set of exactly cidr minus the exceptions', () => {
    const o = compileHost(cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } }, { ipBlock: { cidr: '192.168.0.0/16' } }] }] })]), 'h1');
    const set = o.tables.sets.find((s) => s.type === 'hash:net')!;
    // /8 minus a /16 leaves 8 CIDRs (/9../16); the /32 then splits the /15 holding it into 17 (/16../32).
    assert.equal(set.entries.length, 8 - 1 + 17);
    const pi = rulesOf(o, o.chains.find((n) => n.startsWith('ROMANA-PI-'))!);
    assert.deepEqual(pi, [`-m set --match-set ${set.name} src -j MARK --set-xmark 0x10000/0x10000`, '-s 192.168.0.0/16 -j MARK --set-xmark 0x10000/0x10000']);
  });

  it('property: subtractCidrs covers exactly cidr minus except', () => {
    const cidr = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([ip, p]) => ({ base: ip - (ip % 2 ** (32 - p)), prefix: p }));
    fc.assert(fc.property(cidr, fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 32 })), { maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 20 }), (outer, ex, probes) => {
      const except = ex.map(([ip, p]) => ({ base: ip - (ip % 2 ** (32 - p)), prefix: p }));
      const parts = subtractCidrs(outer, except);
      const samples = [...probes, outer.base, outer.base + 2 ** (32 - outer.prefix) - 1, ...except.flatMap((e) => [e.base, e.base - 1, e.base + 2 ** (32 - e.prefix)])].filter((x) => x >= 0 && x < 2 ** 32);
      for (const ip of samples) {
        const want = cidrContainsIp(outer, ip) && !except.some((e) => cidrContainsIp(e, ip));
        assert.equal(parts.filter((p) => cidrContainsIp(p, ip)).length, want ? 1 : 0, `${ip} in ${formatCidr(outer)} - ${except.map(formatCidr)}`);
      }
      assert.ok(parts.every((p) => p.prefix > 0 || except.length === 0));
    }));
    assert.deepEqual(subtractCidrs(tryParseCidr('0.0.0.0/0')!, [tryParseCidr('128.0.0.0/1')!]).map(formatCidr), ['0.0.0.0/1']);
  });

  it('named ports: ingress targets are grouped by the port the name resolves to', () => {
    const cc = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 'web' }] }] })]);
    cc.pods.find((p) => p.key === 'x/a')!.ports = [{ name: 'web', port: 80, protocol: 'TCP' }];
    cc.pods.find((p) => p.key === 'x/b')!.ports = [{ name: 'web', port: 8080, protocol: 'TCP' }];
    cc.pods.find((p) => p.key === 'x/c')!.ports = [{ name: 'web', port: 80, protocol: 'TCP' }];
    const o = compileHost(cc, 'h1');
    const pi = rulesOf(o, o.chains.find((n) => n.startsWith('ROMANA-PI-'))!);
    assert.equal(pi.length, 2);
    assert.match(pi[0], /--dport 80 .*dst/);
    assert.match(pi[1], /--dport 8080 .*dst/);
    const named = o.tables.sets.filter((s) => s.definition.includes('named-target')).map((s) => s.entries);
    assert.deepEqual(named.sort(), [['10.1.0.10', '10.1.0.12'], ['10.1.0.11']].sort());
  });

  it('Romana host protection: applied_to peer host becomes ROMANA-INPUT (ingress) and ROMANA-OUTPUT (egress)', () => {
    const o = compileHost(cluster3([
      { id: 'host-in', direction: 'ingress', applied_to: [{ peer: 'host' }], ingress: [{ peers: [{ cidr: '192.168.0.0/16' }], rules: [{ protocol: 'tcp', ports: [22] }] }] },
      { id: 'host-out', direction: 'egress', applied_to: [{ peer: 'host' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'udp', ports: [53] }] }] },
    ]), 'h1', { failsafe: { inbound: [], outbound: [] } }); // fail-safe ports: test/policy/host-protection.test.ts
    const input = rulesOf(o, 'ROMANA-INPUT');
    assert.deepEqual(input.slice(2, 4), ['-j ROMANA-EGRESS', '-i lo -j RETURN']);
    assert.match(input[4], /^-j ROMANA-EPI-/);
    assert.deepEqual(rulesOf(o, 'ROMANA-OUTPUT').slice(0, 2), ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-o lo -j RETURN']);
    const nf = new Netfilter(o.iptables, o.ipset, ['192.168.200.1']);
    assert.equal(nf.run('ROMANA-INPUT', { src: '192.168.1.5', dst: '192.168.200.1', proto: 'tcp', dport: 22 }), 'RETURN');
    assert.equal(nf.run('ROMANA-INPUT', { src: '10.9.9.9', dst: '192.168.200.1', proto: 'tcp', dport: 22 }), 'DROP');
    assert.equal(nf.run('ROMANA-INPUT', { src: '127.0.0.1', dst: '127.0.0.1', proto: 'tcp', dport: 9, iif: 'lo' }), 'RETURN');
    assert.equal(nf.run('ROMANA-OUTPUT', { src: '192.168.200.1', dst: '1.1.1.1', proto: 'udp', dport: 53 }), 'RETURN');
    assert.equal(nf.run('ROMANA-OUTPUT', { src: '192.168.200.1', dst: '1.1.1.1', proto: 'tcp', dport: 443 }), 'DROP');
  });

  it('Romana peer host in egress lets isolated pods reach their own host (INPUT)', () => {
    const o = compileHost(cluster3([{ id: 'to-host', direction: 'egress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ peer: 'host' }], rules: [{ protocol: 'tcp', ports: [10250] }] }] }]), 'h1');
    const nf = new Netfilter(o.iptables, o.ipset, ['192.168.200.1']);
    assert.equal(nf.run('ROMANA-INPUT', { src: '10.1.0.10', dst: '192.168.200.1', proto: 'tcp', dport: 10250 }), 'RETURN');
    assert.equal(nf.run('ROMANA-INPUT', { src: '10.1.0.10', dst: '192.168.200.1', proto: 'tcp', dport: 22 }), 'DROP');
    assert.equal(nf.run('ROMANA-FORWARD', { src: '10.1.0.10', dst: '10.2.0.10', proto: 'tcp', dport: 10250 }), 'DROP');
  });

  it('the mark bit is configurable', () => {
    const o = new PolicyCompiler(c, { markBit: 0x400000 }).compileHost('h1');
    assert.match(o.iptables, /--set-xmark 0x400000\/0x400000/);
    assert.doesNotMatch(o.iptables, /0x10000/);
    assert.throws(() => new PolicyCompiler(c, { markBit: 3 }));
  });
});

describe('compiler scale: tenant/segment peers use block CIDRs', () => {
  it('rules and set entries do not grow with the number of pods when blocks describe the owners', () => {
    const pols = [tenantPolicy(0, 1), tenantPolicy(1, 0)];
    const small = compileHost(tenants(2, 8, pols), 'h1');
    const big = compileHost(tenants(2, 400, pols), 'h1');
    const policyRules = (o: CompiledHost) => o.tables.chains.filter((ch) => ch.name.startsWith('ROMANA-P')).reduce((n, ch) => n + ch.rules.length, 0);
    assert.equal(policyRules(big), policyRules(small));
    assert.equal(big.stats.setEntries, small.stats.setEntries);
    assert.ok(big.tables.sets.every((s) => s.type === 'hash:net'));
    assert.equal(big.stats.rules - small.stats.rules, 2 * (400 - 8) / 4, 'only one dispatch rule per extra local db pod (2 tenants, 1/4 of each is db on h1)');
    assert.ok(big.stats.naiveRules > 100 * big.stats.rules, `naive ${big.stats.naiveRules} vs ${big.stats.rules}`);
  });

  it('without blocks, peers fall back to member addresses: rules still constant, set entries grow', () => {
    const pols = [tenantPolicy(0, 1)];
    const small = compileHost(tenants(2, 8, pols, false), 'h1');
    const big = compileHost(tenants(2, 400, pols, false), 'h1');
    const policyRules = (o: CompiledHost) => o.tables.chains.filter((ch) => ch.name.startsWith('ROMANA-P')).reduce((n, ch) => n + ch.rules.length, 0);
    assert.equal(policyRules(big), policyRules(small));
    assert.ok(big.tables.sets.every((s) => s.type === 'hash:ip'));
    assert.ok(big.stats.setEntries > small.stats.setEntries);
  });

  it('rule count is policies × peers × ports', () => {
    const mk = (policies: number) => compileHost(tenants(4, 16, Array.from({ length: policies }, (_, i) => ({ ...tenantPolicy(i % 4, (i + 1) % 4), id: `p${i}` }))), 'h1');
    const policyRules = (o: CompiledHost) => o.tables.chains.filter((ch) => ch.name.startsWith('ROMANA-P')).reduce((n, ch) => n + ch.rules.length, 0);
    // each policy: 2 peers × (tcp/5432, icmp 8/0) = 4 rules
    assert.equal(policyRules(mk(4)), 16);
    assert.equal(policyRules(mk(8)), 32);
  });
});

describe('layout networks: a tenant or segment peer is one rule with a non-contiguous mask', () => {
  const LAYOUT = { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 };
  /** Tenants t1..tn with tenant ID = n; segments web (1) and db (2); `per` pods each, spread over h1..h3. */
  function layoutTenants(n: number, per: number, policies: unknown[], extra: object = {}): Cluster {
    const pods = [];
    for (let t = 1; t <= n; t++) {
      for (let i = 0; i < per; i++) {
        const host = (i % 3) + 1, seg = (i % 2) + 1, endpoint = Math.floor(i / 6) + 1;
        pods.push({ namespace: `t${t}`, name: `p${i}`, host: `h${host}`, ip: `10.${host}.${t}.${seg * 16 + endpoint}`, labels: { 'romana.io/segment': seg === 1 ? 'web' : 'db' }, ports: [{ port: 5432, protocol: 'TCP' }] });
      }
    }
    return parseCluster({ namespaces: Array.from({ length: n }, (_, t) => ({ name: `t${t + 1}` })), pods, policies, networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: LAYOUT }], ...extra });
  }
  const pol = { id: 'db', direction: 'ingress', applied_to: [{ tenant: 't1', segment: 'db' }], ingress: [{ peers: [{ tenant: 't1', segment: 'web' }, { tenant: 't2' }], rules: [{ protocol: 'tcp', ports: [5432] }] }] };
  const policyRules = (o: CompiledHost) => o.tables.chains.filter((ch) => ch.name.startsWith('ROMANA-P')).flatMap((ch) => ch.rules);

  it('"tenant t2 on every host" is -s 10.0.2.0/255.0.255.0, "t1 web" -s 10.0.1.16/255.0.255.240; no set, whatever the pod count', () => {
    for (const per of [6, 90]) {
      const o = compileHost(layoutTenants(3, per, [pol]), 'h1');
      assert.deepEqual(policyRules(o), [
        '-s 10.0.1.16/255.0.255.240 -p tcp -m tcp --dport 5432 -j MARK --set-xmark 0x10000/0x10000',
        '-s 10.0.2.0/255.0.255.0 -p tcp -m tcp --dport 5432 -j MARK --set-xmark 0x10000/0x10000',
      ]);
      assert.equal(o.stats.sets, 0);
    }
  });

  it('agrees with simulate on every probe (netfilter model)', () => {
    const c = layoutTenants(3, 12, [pol, { ...pol, id: 'eg', direction: 'egress', applied_to: [{ tenant: 't3' }], ingress: [{ peers: [{ tenant: 't1' }], rules: [{ protocol: 'tcp', ports: [5432] }] }] }]);
    const nf = new Map(['h1', 'h2', 'h3'].map((h) => { const o = compileHost(c, h); return [h, new Netfilter(o.iptables, o.ipset)]; }));
    assert.ok(compileHost(c, 'h1').iptables.includes('-d 10.0.1.0/255.0.255.0'), 'the egress peer is a masked destination');
    let n = 0;
    for (const r of simulate(c)) {
      const from = c.pods.find((p) => p.key === r.from)!, to = c.pods.find((p) => p.key === r.to)!;
      const pkt = { src: from.ip, dst: to.ip, proto: 'tcp' as const, dport: r.port };
      const kernel = [...new Set([from.host!, to.host!])].every((h) => nf.get(h)!.run('ROMANA-FORWARD', pkt) !== 'DROP');
      assert.equal(kernel, r.allowed, `${r.from} -> ${r.to}`);
      n++;
    }
    assert.ok(n > 1000);
  });

  it('falls back to a set where a mask would not be exact: an external, a host or a stray pod carrying the pattern', () => {
    const masked = (c: Cluster) => policyRules(compileHost(c, 'h1')).filter((r) => r.includes('/255.0.255.0')).length;
    assert.equal(masked(layoutTenants(2, 6, [pol])), 1);
    assert.equal(masked(layoutTenants(2, 6, [pol], { externals: [{ name: 'odd', ip: '10.9.2.200' }] })), 0, 'an external with tenant ID 2');
    assert.equal(masked(layoutTenants(2, 6, [pol], { hosts: [{ name: 'h9', ip: '10.250.2.1' }] })), 0, 'a host address with tenant ID 2');
    const c = layoutTenants(2, 6, [pol]);
    c.pods.push({ ...c.pods.find((p) => p.namespace === 't1')!, key: 't1/stray', name: 'stray', ip: '10.3.2.99', ipNum: tryParseCidr('10.3.2.99/32')!.base });
    assert.equal(masked(c), 0, "a t1 pod inside t2's pattern");
  });
});
