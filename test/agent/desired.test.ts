// The agent's pure parts: desired state from store keys, the route diff and the firewall diff.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Snapshot, buildCluster, desiredState, type PolicyCache } from '../../src/agent/desired.js';
import { type FilterState, parseFilter, parseSets, planFirewall, type SetState, tempSetName } from '../../src/agent/firewall.js';
import { planRoutes, renderRoutePlan } from '../../src/agent/routes.js';
import { addressKey, blockKey, hostKey, namespaceKey, podKey, policyKey } from '../../src/control/keys.js';
import { parseCidr } from '../../src/core/net/ipv4.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';

const J = JSON.stringify;
function snapshot(): Map<string, string> {
  const m = new Map<string, string>();
  m.set(hostKey('h1'), J({ name: 'h1', ip: '192.168.200.1', labels: {}, agent_port: 9604 }));
  m.set(hostKey('h2'), J({ name: 'h2', ip: '192.168.200.2', labels: {}, agent_port: 9604 }));
  const block = (host: string, tenant: string, segment: string, cidr: string) =>
    m.set(blockKey(host, tenant, segment, 'pods', parseCidr(cidr)), J({ cidr, network: 'pods', host, tenant, segment, group: '0:0', used: [0], ops: 1 }));
  block('h1', 'acme', 'web', '10.1.0.0/28');
  block('h2', 'acme', 'web', '10.2.0.0/28');
  block('h2', 'acme', 'db', '10.2.0.16/28');
  block('h3', 'acme', 'db', '10.3.0.0/28'); // a host without a record
  const addr = (name: string, ip: string, host: string, segment: string, block: string, attributes?: Record<string, string>) =>
    m.set(addressKey(name), J({ name, ip, host, tenant: 'acme', segment, network: 'pods', block, ...(attributes ? { attributes } : {}) }));
  addr('a1', '10.1.0.1', 'h1', 'web', '10.1.0.0/28', { host_ifname: 'rmn1', namespace: 'shop', pod: 'web-1' });
  addr('a2', '10.1.0.2', 'h1', 'web', '10.1.0.0/28'); // no interface recorded
  addr('b1', '10.2.0.1', 'h2', 'web', '10.2.0.0/28', { host_ifname: 'rmn2' });
  addr('b2', '10.2.0.17', 'h2', 'db', '10.2.0.16/28', { host_ifname: 'rmn3' });
  m.set(namespaceKey('shop'), J({ name: 'shop', labels: { team: 'x' } }));
  m.set(podKey('shop', 'web-1'), J({ namespace: 'shop', name: 'web-1', labels: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
  m.set(podKey('acme', 'b2'), J({ namespace: 'acme', name: 'b2', labels: { app: 'db', 'romana.io/segment': 'custom' }, ports: [] }));
  return m;
}
const NP = (ns: string, name: string, spec: object) => ({ id: `${ns}/${name}`, kind: 'NetworkPolicy', object: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec } });

describe('desiredState', () => {
  it('routes: a /32 per local endpoint with an interface, and each other host\'s blocks via that host', () => {
    const d = desiredState(snapshot(), 'h1');
    assert.equal(d.registered, true);
    assert.deepEqual(d.routes.local, [{ dst: '10.1.0.1/32', dev: 'rmn1' }]);
    assert.deepEqual(d.routes.remote, [
      { dst: '10.2.0.0/28', host: 'h2', hostIp: '192.168.200.2' },
      { dst: '10.2.0.16/28', host: 'h2', hostIp: '192.168.200.2' },
    ]);
    assert.deepEqual(d.interfaces, ['rmn1']);
    assert.deepEqual(d.endpoints, { total: 4, local: 2, withoutInterface: ['a2'] });
    assert.ok(d.problems.some((p) => /host h3 has no address/.test(p)), d.problems.join('\n'));
    const d2 = desiredState(snapshot(), 'h2');
    assert.deepEqual(d2.routes.local.map((r) => r.dev), ['rmn2', 'rmn3']);
    assert.deepEqual(d2.routes.remote.map((r) => r.dst), ['10.1.0.0/28']);
  });

  it('pod identity: attributes name the pod, metadata gives labels and ports, the segment label defaults to the address segment', () => {
    const { cluster } = buildCluster(snapshot());
    const pod = (k: string) => cluster.pods.find((p) => p.key === k)!;
    assert.deepEqual(pod('shop/web-1').labels, { app: 'web', 'romana.io/segment': 'web' });
    assert.deepEqual(pod('shop/web-1').ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
    assert.equal(pod('shop/web-1').host, 'h1');
    assert.deepEqual(pod('acme/a2').labels, { 'romana.io/segment': 'web' });
    assert.deepEqual(pod('acme/b2').labels, { app: 'db', 'romana.io/segment': 'custom' }, 'metadata wins over the address segment');
    assert.deepEqual(cluster.namespaces, [
      { name: 'acme', labels: { 'kubernetes.io/metadata.name': 'acme' } }, // seen only on addresses
      { name: 'shop', labels: { team: 'x', 'kubernetes.io/metadata.name': 'shop' } },
    ]);
    assert.equal(buildCluster(snapshot(), { segmentLabel: 'seg' }).cluster.pods.find((p) => p.key === 'acme/a2')!.labels.seg, 'web');
  });

  it('firewall: the compiler output for this host, from store records', () => {
    const m = snapshot();
    m.set(policyKey('acme/db'), J(NP('acme', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] })));
    const d = desiredState(m, 'h2');
    const direct = compileHost(parseCluster({
      namespaces: [{ name: 'acme' }, { name: 'shop', labels: { team: 'x' } }],
      pods: [
        { namespace: 'shop', name: 'web-1', ip: '10.1.0.1', host: 'h1', labels: { app: 'web', 'romana.io/segment': 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
        { namespace: 'acme', name: 'a2', ip: '10.1.0.2', host: 'h1', labels: { 'romana.io/segment': 'web' } },
        { namespace: 'acme', name: 'b1', ip: '10.2.0.1', host: 'h2', labels: { 'romana.io/segment': 'web' } },
        { namespace: 'acme', name: 'b2', ip: '10.2.0.17', host: 'h2', labels: { app: 'db', 'romana.io/segment': 'custom' } },
      ],
      blocks: [
        { cidr: '10.1.0.0/28', host: 'h1', tenant: 'acme', segment: 'web' }, { cidr: '10.2.0.0/28', host: 'h2', tenant: 'acme', segment: 'web' },
        { cidr: '10.2.0.16/28', host: 'h2', tenant: 'acme', segment: 'db' }, { cidr: '10.3.0.0/28', host: 'h3', tenant: 'acme', segment: 'db' },
      ],
      hosts: [{ name: 'h1', ip: '192.168.200.1' }, { name: 'h2', ip: '192.168.200.2' }],
      policies: [NP('acme', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] }).object],
    }), 'h2');
    assert.equal(d.firewall!.iptables, direct.iptables);
    assert.equal(d.firewall!.ipset, direct.ipset);
    assert.deepEqual(d.firewall!.tables.sets.map((s) => s.entries), [['10.1.0.1']]);
  });

  it('a bad record is skipped and named; the rest still applies', () => {
    const m = snapshot();
    m.set(policyKey('bad'), J({ id: 'bad', kind: 'RomanaPolicy', object: { id: 'bad', direction: 'sideways' } }));
    m.set(policyKey('junk'), '{not json');
    m.set(addressKey('x'), J({ name: 'x', ip: '10.1.0.300', host: 'h1', tenant: 'acme', segment: 'web' }));
    m.set(addressKey('y'), J({ name: 'y', ip: '10.1.0.9', host: 'h1', tenant: 'acme', segment: 'web', attributes: { host_ifname: 'eth0 down; x' } }));
    m.set(policyKey('acme/ok'), J(NP('acme', 'ok', { podSelector: {}, policyTypes: ['Ingress'] })));
    const d = desiredState(m, 'h1');
    for (const re of [/policies\/bad/, /policies\/junk/, /10\.1\.0\.300/, /host_ifname 'eth0 down; x'/]) assert.ok(d.problems.some((p) => re.test(p)), `${re}: ${d.problems.join('\n')}`);
    assert.ok(!d.routes.local.some((r) => r.dev.includes(' ')));
    assert.ok(d.firewall!.tables.chains.some((c) => c.name.startsWith('ROMANA-PI-')), 'the valid policy compiled');
  });

  it('an unregistered host gets nothing local and says so; a policy cache is reused', () => {
    const cache: PolicyCache = new Map();
    const m = snapshot();
    m.set(policyKey('acme/ok'), J(NP('acme', 'ok', { podSelector: {}, policyTypes: ['Ingress'] })));
    const d = desiredState(m, 'nohost', { policyCache: cache });
    assert.equal(d.registered, false);
    assert.ok(d.problems.some((p) => /nohost is not registered/.test(p)));
    assert.equal(cache.size, 1);
    const cached = [...cache.values()][0];
    desiredState(m as Snapshot, 'h1', { policyCache: cache });
    assert.equal([...cache.values()][0], cached, 'not normalized again');
  });
});

describe('planRoutes', () => {
  it('replaces what is missing or different, deletes what is stale, keeps what it was told to keep', () => {
    const plan = planRoutes(
      [{ dst: '10.1.0.1/32', dev: 'v1' }, { dst: '10.1.0.2/32', dev: 'v2' }, { dst: '10.2.0.0/24', dev: 'eth0', via: '192.168.1.2' }, { dst: '10.3.0.0/24', dev: 'eth0', via: '192.168.1.3' }],
      [
        { dst: '10.1.0.1/32', dev: 'v1', scope: 'link' }, // same
        { dst: '10.1.0.2/32', dev: 'old', scope: 'link' }, // other interface
        { dst: '10.2.0.0/24', dev: 'eth0', gateway: '192.168.1.2' }, // same
        { dst: '10.3.0.0/24', dev: 'eth0', gateway: '192.168.1.9' }, // other next hop
        { dst: '10.3.0.0/24', dev: 'eth0', gateway: '192.168.1.3', metric: 5 }, // a leftover with a metric
        { dst: '10.4.0.0/24', dev: 'eth0', gateway: '192.168.1.4' }, // stale
        { dst: '10.5.0.0/24', dev: 'eth0', gateway: '192.168.1.5' }, // stale but kept (host unresolved)
      ],
      new Set(['10.5.0.0/24']),
    );
    assert.deepEqual(plan.replace.map((r) => r.dst), ['10.1.0.2/32', '10.3.0.0/24']);
    assert.deepEqual(plan.del.map((r) => `${r.dst}${r.metric ? ` metric ${r.metric}` : ''}`), ['10.3.0.0/24 metric 5', '10.4.0.0/24']);
    assert.deepEqual(renderRoutePlan(plan, { table: 82, proto: 82, rulePriority: 82 }), [
      'route del 10.3.0.0/24 table 82 proto 82 metric 5',
      'route del 10.4.0.0/24 table 82 proto 82',
      'route replace 10.1.0.2/32 dev v2 scope link table 82 proto 82',
      'route replace 10.3.0.0/24 via 192.168.1.3 dev eth0 table 82 proto 82',
    ]);
  });
  it('nothing to do when the kernel already matches', () => {
    const want = [{ dst: '10.1.0.1/32', dev: 'v1' }, { dst: '10.2.0.0/24', dev: 'eth0', via: '192.168.1.2' }];
    assert.deepEqual(planRoutes(want, [{ dst: '10.1.0.1/32', dev: 'v1', scope: 'link' }, { dst: '10.2.0.0/24', dev: 'eth0', gateway: '192.168.1.2' }]), { replace: [], del: [] });
  });
});

const SAVE = `# Generated by iptables-save
*nat
:ROMANA-NAT - [0:0]
-A ROMANA-NAT -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FOREIGN - [0:0]
:ROMANA-FORWARD - [0:0]
:ROMANA-EMPTY - [0:0]
:ROMANA-OLD - [0:0]
-A INPUT -j ROMANA-INPUT
-A FORWARD -j ROMANA-FORWARD
-A FORWARD -j ROMANA-FORWARD
-A FORWARD -j FOREIGN
-A FOREIGN -j ACCEPT
-A ROMANA-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ROMANA-FORWARD -j ROMANA-OLD
-A ROMANA-OLD -m set --match-set ROMANA-IP-OLD src -j ACCEPT
COMMIT
`;

describe('parseFilter and parseSets', () => {
  it('sees only ROMANA chains of the filter table, and counts the hooks', () => {
    const f = parseFilter(SAVE);
    assert.deepEqual([...f.chains.keys()], ['ROMANA-FORWARD', 'ROMANA-EMPTY', 'ROMANA-OLD']);
    assert.deepEqual(f.chains.get('ROMANA-FORWARD'), ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-j ROMANA-OLD']);
    assert.deepEqual(f.chains.get('ROMANA-EMPTY'), []);
    assert.deepEqual(Object.fromEntries(f.hooks), { FORWARD: 2, INPUT: 1, OUTPUT: 0 });
  });
  it('reads ROMANA sets with their type, maxelem and members (a /32 as a bare address)', () => {
    const s = parseSets([
      'create foreign hash:ip family inet hashsize 1024 maxelem 65536', 'add foreign 1.2.3.4',
      'create ROMANA-NET-A hash:net family inet hashsize 1024 maxelem 131072 bucketsize 12 initval 0x1', 'add ROMANA-NET-A 10.0.0.0/24', 'add ROMANA-NET-A 10.1.0.5',
    ].join('\n'));
    assert.deepEqual([...s.keys()], ['ROMANA-NET-A']);
    assert.deepEqual(s.get('ROMANA-NET-A'), { type: 'hash:net', maxelem: 131072, entries: new Set(['10.0.0.0/24', '10.1.0.5']) });
  });
});

describe('planFirewall', () => {
  const chains = [
    { name: 'ROMANA-FORWARD', rules: ['-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-j ROMANA-NEW'] },
    { name: 'ROMANA-INPUT', rules: [] },
    { name: 'ROMANA-OUTPUT', rules: [] },
    { name: 'ROMANA-EMPTY', rules: [] },
    { name: 'ROMANA-NEW', rules: ['-m set --match-set ROMANA-IP-NEW src -j ACCEPT', '-m set --match-set ROMANA-NET-CHG dst -j ACCEPT'] },
  ];
  const sets = [
    { name: 'ROMANA-IP-NEW', type: 'hash:ip' as const, entries: ['10.0.0.1', '10.0.0.2'], definition: '' },
    { name: 'ROMANA-NET-CHG', type: 'hash:net' as const, entries: ['10.1.0.0/24', '10.9.0.1/32'], definition: '' },
    { name: 'ROMANA-NET-SAME', type: 'hash:net' as const, entries: ['10.5.0.0/24'], definition: '' },
  ];
  const kernelSets = (): Map<string, SetState> => new Map([
    ['ROMANA-IP-OLD', { type: 'hash:ip', maxelem: 65536, entries: new Set(['1.1.1.1']) }],
    ['ROMANA-NET-CHG', { type: 'hash:net', maxelem: 65536, entries: new Set(['10.1.0.0/24']) }],
    ['ROMANA-NET-CHG-T', { type: 'hash:net', maxelem: 65536, entries: new Set() }], // leftover of a crash
    ['ROMANA-NET-SAME', { type: 'hash:net', maxelem: 65536, entries: new Set(['10.5.0.0/24']) }],
  ]);

  it('creates new sets, swaps changed ones in through a temporary set, rewrites only changed chains, hooks once, then removes stale ones', () => {
    const p = planFirewall({ chains, sets }, parseFilter(SAVE), kernelSets());
    assert.equal(p.setsBefore, [
      'create ROMANA-IP-NEW hash:ip family inet', 'add ROMANA-IP-NEW 10.0.0.1', 'add ROMANA-IP-NEW 10.0.0.2',
      'destroy ROMANA-NET-CHG-T', 'create ROMANA-NET-CHG-T hash:net family inet', 'add ROMANA-NET-CHG-T 10.1.0.0/24', 'add ROMANA-NET-CHG-T 10.9.0.1',
      'swap ROMANA-NET-CHG-T ROMANA-NET-CHG', 'destroy ROMANA-NET-CHG-T', '',
    ].join('\n'));
    assert.ok(!/flush ROMANA-NET-CHG\b/.test(p.setsBefore), 'a set in use is never flushed');
    assert.equal(p.rules, [
      '*filter', ':ROMANA-FORWARD - [0:0]', ':ROMANA-INPUT - [0:0]', ':ROMANA-OUTPUT - [0:0]', ':ROMANA-NEW - [0:0]',
      '-A ROMANA-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A ROMANA-FORWARD -j ROMANA-NEW',
      '-A ROMANA-NEW -m set --match-set ROMANA-IP-NEW src -j ACCEPT', '-A ROMANA-NEW -m set --match-set ROMANA-NET-CHG dst -j ACCEPT',
      '-D FORWARD -j ROMANA-FORWARD', '-I OUTPUT 1 -j ROMANA-OUTPUT', 'COMMIT', '',
    ].join('\n'), 'ROMANA-EMPTY is unchanged: not declared, so not flushed');
    assert.equal(p.removeChains, '*filter\n-F ROMANA-OLD\n-X ROMANA-OLD\nCOMMIT\n');
    assert.deepEqual(p.destroySets, ['ROMANA-IP-OLD']);
    assert.deepEqual(p.counts, { newSets: 1, swappedSets: 1, changedChains: 4, staleChains: 1, staleSets: 1, hooksAdded: 1, hooksRemoved: 1 });
  });

  it('does nothing when the kernel matches', () => {
    const save = ['*filter', ...chains.map((c) => `:${c.name} - [0:0]`), '-A INPUT -j ROMANA-INPUT', '-A FORWARD -j ROMANA-FORWARD', '-A OUTPUT -j ROMANA-OUTPUT',
      ...chains.flatMap((c) => c.rules.map((r) => `-A ${c.name} ${r}`)), 'COMMIT'].join('\n');
    const k = new Map(sets.map((s) => [s.name, { type: s.type, maxelem: 65536, entries: new Set(s.entries.map((e) => e.replace(/\/32$/, ''))) }]));
    const p = planFirewall({ chains, sets }, parseFilter(save), k);
    assert.deepEqual([p.setsBefore, p.rules, p.removeChains, p.destroySets], ['', '', '', []]);
  });

  it('accepts the kernel\'s own rendering of a chain it wrote, and refuses to swap a set of another type', () => {
    const filter: FilterState = { chains: new Map([['ROMANA-X', ['-p tcp -m tcp --dport 80 -j ACCEPT']]]), hooks: new Map([['FORWARD', 1], ['INPUT', 1], ['OUTPUT', 1]]) };
    const want = { chains: [{ name: 'ROMANA-X', rules: ['-p tcp --dport 80 -j ACCEPT'] }], sets: [{ name: 'ROMANA-IP-Y', type: 'hash:ip' as const, entries: ['1.2.3.4'], definition: '' }] };
    const kset = new Map([['ROMANA-IP-Y', { type: 'hash:net', maxelem: 65536, entries: new Set<string>() }]]);
    assert.equal(planFirewall(want, filter, kset).written.size, 1);
    const canon = new Map([['ROMANA-X', { desired: '-p tcp --dport 80 -j ACCEPT', kernel: '-p tcp -m tcp --dport 80 -j ACCEPT' }]]);
    const p = planFirewall(want, filter, kset, canon);
    assert.equal(p.written.size, 0);
    assert.equal(p.setsBefore, '');
    assert.match(p.problems.join(), /ROMANA-IP-Y is hash:net in the kernel/);
  });

  it('sizes big sets and keeps temporary set names within ipset\'s 31 characters', () => {
    const entries = Array.from({ length: 70_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    const p = planFirewall({ chains: [], sets: [{ name: 'ROMANA-IP-BIG', type: 'hash:ip', entries, definition: '' }] }, parseFilter(''), new Map());
    assert.match(p.setsBefore, /^create ROMANA-IP-BIG hash:ip family inet maxelem 131072\n/);
    assert.equal(tempSetName('ROMANA-NET-0123456789ABCDEF'), 'ROMANA-NET-0123456789ABCDEF-T');
    assert.ok(tempSetName('ROMANA-' + 'X'.repeat(24)).length <= 31);
  });
});

describe('desiredState on a layout network', () => {
  it('one route per remote host (its host CIDR), however many blocks it has; masked tenant peers in the firewall', async () => {
    const { Control } = await import('../../src/control/control.js');
    const { openStore } = await import('../../src/store/open.js');
    const store = await openStore({});
    try {
      const control = new Control(store);
      await control.topology.replace({
        networks: [
          { name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } },
          { name: 'other', cidr: '172.16.0.0/16', block_mask: 28, tenants: ['legacy'] },
        ],
        topologies: [{ networks: ['classic', 'other'], map: ['h1', 'h2', 'h3'].map((name, i) => ({ name: `r${i}`, groups: [{ name, ip: `192.168.200.${i + 1}` }] })) }],
      });
      let n = 0;
      for (const host of ['h1', 'h2', 'h3']) {
        for (const tenant of ['blue', 'red']) for (const segment of ['web', 'db']) await control.ipam.allocate({ name: `x${n++}`, host, tenant, segment });
      }
      await control.ipam.allocate({ name: 'old', host: 'h2', tenant: 'legacy' });
      await control.policies.apply({ id: 'db', direction: 'ingress', applied_to: [{ tenant: 'blue', segment: 'db' }], ingress: [{ peers: [{ tenant: 'red' }], rules: [{ protocol: 'tcp', ports: [5432] }] }] });
      const snap = new Map((await store.list('/romana/')).items.map((kv) => [kv.key, kv.value]));
      assert.equal((await control.ipam.blocks()).blocks.filter((b) => b.network === 'classic').length, 12, '4 blocks on each host');
      const d = desiredState(snap, 'h1');
      assert.deepEqual(d.problems, []);
      assert.deepEqual(d.routes.remote, [
        { dst: '10.2.0.0/16', host: 'h2', hostIp: '192.168.200.2' },
        { dst: '10.3.0.0/16', host: 'h3', hostIp: '192.168.200.3' },
        { dst: '172.16.64.0/28', host: 'h2', hostIp: '192.168.200.2' }, // a classic network keeps its block routes
      ]);
      const rules = d.firewall!.tables.chains.flatMap((c) => c.rules).filter((r) => r.includes('--dport 5432'));
      assert.deepEqual(rules, ['-s 10.0.2.0/255.0.255.0 -p tcp -m tcp --dport 5432 -j MARK --set-xmark 0x10000/0x10000']);
      // A host added through the API gets the next ID and a route on the others at once, before any pod.
      await control.topology.addHost({ name: 'h4', ip: '192.168.200.4' });
      const snap2 = new Map((await store.list('/romana/')).items.map((kv) => [kv.key, kv.value]));
      assert.deepEqual(desiredState(snap2, 'h1').routes.remote.map((r) => r.dst), ['10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16', '172.16.64.0/28']);
      assert.deepEqual(desiredState(snap2, 'h4').routes.remote.map((r) => r.dst), ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '172.16.64.0/28']);
    } finally {
      await store.close();
    }
  });
});
