// The compiler and the evaluator must mean the same thing. For random clusters and policies (NetworkPolicy
// and Romana), every probe is run through the compiled FORWARD chains of the hosts it crosses (source host,
// then destination host) using the netfilter model, and the verdict must equal `simulate`'s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCluster, type Cluster } from '../../src/core/policy/cluster.js';
import { compileHost, type CompiledHost } from '../../src/core/policy/compile.js';
import { defaultProbes, simulate, type Probe } from '../../src/core/policy/evaluate.js';
import { nftScript, renderNft } from '../../src/core/policy/render-nft.js';
import { renderIptables } from '../../src/core/policy/render-iptables.js';
import { Netfilter } from './netfilter-model.js';
import { NftModel } from './nft-model.js';
import { layoutAddress, segmentCidr } from '../../src/core/ipam/address-layout.js';
import { formatCidr, formatIp, parseCidr } from '../../src/core/net/ipv4.js';

const NS = ['x', 'y', 'z'];
const HOSTS = ['h1', 'h2'];
const SEGMENTS = ['web', 'db'];

const podSelector = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.record({ app: fc.constantFrom('a', 'b', 'c') }) }),
  fc.record({ matchLabels: fc.record({ 'romana.io/segment': fc.constantFrom(...SEGMENTS) }) }),
  fc.record({ matchExpressions: fc.tuple(fc.constantFrom('In', 'NotIn'), fc.subarray(['a', 'b', 'c'], { minLength: 1 })).map(([operator, values]) => [{ key: 'app', operator, values }]) }),
  fc.record({ matchExpressions: fc.constantFrom('Exists', 'DoesNotExist').map((operator) => [{ key: 'tier', operator }]) }),
);
const nsSelector = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.record({ env: fc.constantFrom('prod', 'dev') }) }),
  fc.record({ matchLabels: fc.record({ 'kubernetes.io/metadata.name': fc.constantFrom(...NS) }) }),
  fc.constantFrom(...NS).map((n) => ({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [n] }] })),
);
const ipBlock = fc.constantFrom(
  { cidr: '10.0.0.0/8' },
  { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] },
  { cidr: '0.0.0.0/0', except: ['10.2.0.0/16', '203.0.113.10/32'] },
  { cidr: '203.0.113.0/24' },
  { cidr: '10.1.0.0/16', except: ['10.1.0.0/28', '10.1.1.0/24'] },
  { cidr: '::/0' },
);
const k8sPeer = fc.oneof(
  fc.record({ podSelector }),
  fc.record({ namespaceSelector: nsSelector }),
  fc.record({ namespaceSelector: nsSelector, podSelector }),
  fc.record({ ipBlock }),
);
const k8sPort = fc.constantFrom<Record<string, unknown>>(
  {}, { port: 80 }, { port: 81, protocol: 'TCP' }, { port: 'http' }, { port: 'dns', protocol: 'UDP' }, { protocol: 'UDP' },
  { port: 80, endPort: 8080 }, { port: 9, protocol: 'SCTP' }, { port: 'sctp', protocol: 'SCTP' }, { port: 53, protocol: 'UDP' },
);
const k8sRule = (key: 'from' | 'to') => fc.record({ [key]: fc.array(k8sPeer, { maxLength: 2 }), ports: fc.array(k8sPort, { maxLength: 3 }) }, { requiredKeys: [] });
const networkPolicy = fc.record({
  ns: fc.constantFrom(...NS),
  podSelector,
  policyTypes: fc.constantFrom(undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
  ingress: fc.option(fc.array(k8sRule('from'), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(k8sRule('to'), { maxLength: 2 }), { nil: undefined }),
}).map((r) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: r.ns },
  spec: { podSelector: r.podSelector, ...(r.policyTypes ? { policyTypes: r.policyTypes } : {}), ...(r.ingress ? { ingress: r.ingress } : {}), ...(r.egress ? { egress: r.egress } : {}) },
}));

const romanaEndpoint = fc.oneof(
  fc.record({ tenant: fc.constantFrom(...NS) }),
  fc.record({ tenant: fc.constantFrom(...NS), segment: fc.constantFrom(...SEGMENTS) }),
  fc.constantFrom({ cidr: '10.1.0.0/16' }, { cidr: '203.0.113.0/24' }, { peer: 'any' }, { peer: 'host' }),
);
const romanaRule = fc.constantFrom<Record<string, unknown>>(
  { protocol: 'tcp', ports: [80] }, { protocol: 'udp' }, { protocol: 'tcp', port_ranges: [[80, 81]] }, { protocol: 'tcp', ports: [81, 8080], port_ranges: [[1000, 2000]] },
  { protocol: 'icmp', icmp_type: 8 }, { protocol: 'icmp', icmp_type: 3, icmp_code: 1 }, { protocol: 'icmp' }, { protocol: 'any' }, { protocol: 'sctp', ports: [9] },
);
const romanaPolicy = fc.record({
  direction: fc.constantFrom('ingress', 'egress'),
  applied_to: fc.array(fc.oneof(fc.record({ tenant: fc.constantFrom(...NS) }), fc.record({ tenant: fc.constantFrom(...NS), segment: fc.constantFrom(...SEGMENTS) }), fc.constant({ cidr: '10.2.0.0/16' })), { minLength: 1, maxLength: 2 }),
  ingress: fc.array(fc.record({ peers: fc.array(romanaEndpoint, { minLength: 1, maxLength: 2 }), rules: fc.array(romanaRule, { minLength: 1, maxLength: 2 }) }), { maxLength: 2 }),
}).map((r) => ({ id: 'r', ...r }));

const PORT_CHOICES = [
  { name: 'http', port: 80, protocol: 'TCP' }, { name: 'http', port: 8080, protocol: 'TCP' }, { port: 81, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'sctp', port: 9, protocol: 'SCTP' }, { port: 80, protocol: 'UDP' },
];
const pod = fc.record({
  ns: fc.constantFrom(...NS),
  host: fc.constantFrom(...HOSTS),
  app: fc.constantFrom('a', 'b', 'c'),
  segment: fc.constantFrom(...SEGMENTS),
  tier: fc.boolean(),
  ports: fc.subarray([0, 1, 2, 3, 4, 5], { minLength: 1 }).map((ix) => ix.filter((i) => i !== 1 || !ix.includes(0)).map((i) => PORT_CHOICES[i])),
});

/** Pods get addresses from a /28 block per (host, tenant, segment), so IPAM blocks describe owners exactly. */
const clusterArb = fc.record({
  env: fc.tuple(fc.constantFrom('prod', 'dev'), fc.constantFrom('prod', 'dev'), fc.constantFrom('prod', 'dev')),
  pods: fc.array(pod, { minLength: 1, maxLength: 7 }),
  policies: fc.array(fc.oneof(networkPolicy, romanaPolicy), { maxLength: 4 }),
  withBlocks: fc.boolean(),
}).map(({ env, pods, policies, withBlocks }) => {
  const used = new Map<string, number>();
  const blocks = new Map<string, { cidr: string; host: string; tenant: string; segment: string }>();
  const podObjs = pods.map((p, i) => {
    const hi = HOSTS.indexOf(p.host) + 1, ni = NS.indexOf(p.ns), si = SEGMENTS.indexOf(p.segment);
    const third = ni * 2 + si;
    const k = `${hi}.${third}`;
    const n = (used.get(k) ?? 0) + 1;
    used.set(k, n);
    blocks.set(k, { cidr: `10.${hi}.${third}.0/28`, host: p.host, tenant: p.ns, segment: p.segment });
    return {
      namespace: p.ns, name: `p${i}`, host: p.host, ip: `10.${hi}.${third}.${n}`, ports: p.ports,
      labels: { app: p.app, 'romana.io/segment': p.segment, ...(p.tier ? { tier: '1' } : {}) },
    };
  });
  return {
    namespaces: NS.map((n, i) => ({ name: n, labels: { env: env[i] } })),
    pods: podObjs,
    externals: [{ name: 'world', ip: '203.0.113.10' }, { name: 'near', ip: '10.1.1.7' }],
    policies: policies.map((p, i) => ('metadata' in p ? { ...p, metadata: { ...p.metadata, name: `p${i}` } } : { ...p, id: `r${i}` })),
    ...(withBlocks ? { blocks: [...blocks.values()] } : {}),
  };
});

/** The verdict of the compiled rules: FORWARD of the source's host, then of the destination's host. */
function kernelVerdict(c: Cluster, compiled: Map<string, { run: Netfilter['run'] }>, p: Probe): boolean {
  const ep = (k: string) => c.pods.find((x) => x.key === k) ?? c.externals.find((x) => x.key === k)!;
  const from = ep(p.from), to = ep(p.to);
  const hosts = [...new Set([('host' in from ? from.host : undefined), ('host' in to ? to.host : undefined)].filter((h): h is string => !!h))];
  const proto = p.protocol.toLowerCase() as 'tcp';
  const pkt = p.protocol === 'ICMP' ? { src: from.ip, dst: to.ip, proto: 'icmp' as const, icmpType: p.port, icmpCode: 0 } : { src: from.ip, dst: to.ip, proto, dport: p.port };
  return hosts.every((h) => compiled.get(h)!.run('ROMANA-FORWARD', pkt) !== 'DROP');
}

function probesOf(c: Cluster): Probe[] {
  const extra: Probe[] = [];
  for (const from of [...c.pods.map((p) => p.key), 'ext/world']) {
    for (const to of ['ext/world', 'ext/near']) extra.push({ from, to, port: 80, protocol: 'TCP' }, { from, to, port: 53, protocol: 'UDP' });
    for (const to of c.pods.map((p) => p.key)) extra.push({ from, to, port: 8, protocol: 'ICMP' }, { from, to, port: 3, protocol: 'ICMP' }, { from, to, port: 1500, protocol: 'TCP' });
  }
  return [...defaultProbes(c), ...extra];
}

/** Each dataplane: a model of its rendering of one host, and the text to show when a verdict is wrong. */
const DATAPLANES: { name: string; model: (o: CompiledHost) => { run: Netfilter['run'] }; text: (o: CompiledHost) => string }[] = [
  { name: 'iptables', model: (o) => new Netfilter(o.iptables, o.ipset), text: (o) => `${o.ipset}\n${o.iptables}` },
  { name: 'nftables', model: (o) => new NftModel(renderNft(o.ir)), text: (o) => nftScript(renderNft(o.ir)) },
  // A host past the ipset limit: all but its largest set written into the rules.
  { name: 'iptables with one ipset', model: (o) => oneSet(o, (r) => new Netfilter(r.iptables, r.ipset)), text: (o) => oneSet(o, (r) => `${r.ipset}\n${r.iptables}`) },
];
function oneSet<T>(o: CompiledHost, f: (r: CompiledHost) => T): T {
  const r = renderIptables(o.ir, { maxSets: 1 });
  assert.ok(r.stats.sets <= 1);
  return f(r);
}

describe('compiled rules ≡ simulate', () => {
  for (const dp of DATAPLANES) {
    it(`${dp.name}, property: on random clusters and policies, every probe gets the same verdict`, () => {
      let probesChecked = 0;
      fc.assert(fc.property(clusterArb, (raw) => {
        const c = parseCluster(raw);
        const out = new Map<string, CompiledHost>(HOSTS.map((h) => [h, compileHost(c, h)]));
        const nf = new Map([...out].map(([h, o]) => [h, dp.model(o)]));
        for (const r of simulate(c, probesOf(c))) {
          probesChecked++;
          const k = kernelVerdict(c, nf, r);
          if (k !== r.allowed) {
            const hosts = [...out].map(([h, o]) => `--- ${h}\n${dp.text(o)}`).join('\n');
            assert.fail(`${r.from} -> ${r.to} ${r.port}/${r.protocol}: simulate ${r.allowed}, compiled ${k}\n${JSON.stringify(raw.policies)}\n${hosts}`);
          }
        }
      }), { numRuns: 300, seed: 20261123 });
      assert.ok(probesChecked > 10000, `only ${probesChecked} probes`);
    });

    it(`${dp.name}, property: random seeds too (not pinned)`, () => {
      fc.assert(fc.property(clusterArb, (raw) => {
        const c = parseCluster(raw);
        const nf = new Map(HOSTS.map((h) => [h, dp.model(compileHost(c, h))]));
        for (const r of simulate(c, probesOf(c))) assert.equal(kernelVerdict(c, nf, r), r.allowed, `${r.from} -> ${r.to} ${r.port}/${r.protocol}`);
      }), { numRuns: 100 });
    });
  }
});

// Layout networks: pods get addresses made of host, tenant and segment IDs (10.0.0.0/9, 7+8+4+4 bits),
// tenant and segment IDs shuffled; some pods' segment label disagrees with their address, some pods
// of z live outside the layout network, and ext/near (10.1.1.7) carries tenant ID 1: each of these
// must make the compiler fall back to sets, and the masked rules must agree with simulate otherwise.
const LAYOUT_NET = { name: 'classic', cidr: '10.0.0.0/9', layout: { host_bits: 7, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } };
const layoutClusterArb = fc.record({
  base: clusterArb,
  tenantIds: fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 3, maxLength: 3 }),
  segmentIds: fc.shuffledSubarray([1, 2, 3], { minLength: 2, maxLength: 2 }),
  relabel: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
  zOutside: fc.boolean(),
}).map(({ base, tenantIds, segmentIds, relabel, zOutside }) => {
  const net = { name: 'classic', cidr: parseCidr(LAYOUT_NET.cidr), layout: LAYOUT_NET.layout };
  const used = new Map<string, number>();
  const blocks = new Map<string, { cidr: string; host: string; tenant: string; segment: string }>();
  const pods = base.pods.map((p, i) => {
    const seg = p.labels['romana.io/segment'];
    // A pod whose segment label is not its address's segment (pod metadata can say so).
    const addrSeg = relabel[i] && i % 3 === 0 ? SEGMENTS.find((x) => x !== seg)! : seg;
    const host = HOSTS.indexOf(p.host) + 1, tenant = tenantIds[NS.indexOf(p.namespace)], segment = segmentIds[SEGMENTS.indexOf(addrSeg)];
    const k = `${host}.${tenant}.${segment}`;
    const n = (used.get(k) ?? 0) + 1;
    used.set(k, n);
    if (zOutside && p.namespace === 'z') return { ...p, ip: `10.200.${host}.${i + 1}` };
    blocks.set(k, { cidr: formatCidr(segmentCidr(net, host, tenant, segment)), host: p.host, tenant: p.namespace, segment: addrSeg });
    return { ...p, ip: formatIp(layoutAddress(net, { host, tenant, segment, endpoint: n })) };
  });
  return { ...base, pods, networks: [LAYOUT_NET], ...(base.blocks ? { blocks: [...blocks.values()] } : {}) };
});

describe('compiled rules ≡ simulate, on layout networks', () => {
  for (const dp of DATAPLANES) {
    it(`${dp.name}, property: tenant and segment peers as masked matches, or sets where those would not be exact`, () => {
      let masked = 0;
      fc.assert(fc.property(layoutClusterArb, (raw) => {
        const c = parseCluster(raw);
        const out = new Map<string, CompiledHost>(HOSTS.map((h) => [h, compileHost(c, h)]));
        for (const o of out.values()) masked += (o.iptables.match(/ -[sd] 10\.\d+\.\d+\.\d+\/255\.128\.255\.\d+ /g) ?? []).length;
        const nf = new Map([...out].map(([h, o]) => [h, dp.model(o)]));
        for (const r of simulate(c, probesOf(c))) {
          const k = kernelVerdict(c, nf, r);
          if (k !== r.allowed) {
            const hosts = [...out].map(([h, o]) => `--- ${h}\n${dp.text(o)}`).join('\n');
            assert.fail(`${r.from} -> ${r.to} ${r.port}/${r.protocol}: simulate ${r.allowed}, compiled ${k}\n${JSON.stringify(raw)}\n${hosts}`);
          }
        }
      }), { numRuns: 300, seed: 20261124 });
      assert.ok(masked > 50, `only ${masked} masked rules: the layout path was hardly exercised`);
    });
  }
});
