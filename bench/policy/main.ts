// Policy compiler benchmark (not a test): `node --import tsx bench/policy/main.ts [--json]`.
// For 1,000 pods / 200 policies and 10,000 pods / 2,000 policies it prints, per host: compile time, rules
// and set entries emitted, and the rules a naive per-pod-pair expansion would need.
import { performance } from 'node:perf_hooks';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { PolicyCompiler } from '../../src/core/policy/compile.js';

interface Scale { pods: number; policies: number; podsPerHost: number; podsPerTenant: number; hostsPerTenant: number }
const SCALES: Scale[] = [
  { pods: 1_000, policies: 200, podsPerHost: 50, podsPerTenant: 50, hostsPerTenant: 4 },
  { pods: 10_000, policies: 2_000, podsPerHost: 100, podsPerTenant: 50, hostsPerTenant: 4 },
];
const SEGMENTS = ['web', 'api', 'db', 'cache'];
const APPS = ['a0', 'a1', 'a2', 'a3', 'a4'];

/** Deterministic PRNG (mulberry32), so every run measures the same cluster. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Tenants (namespaces) of `podsPerTenant` pods, each scheduled on `hostsPerTenant` hosts; every pod gets
 * an address from a /26 IPAM block of its (host, tenant, segment), as Romana's IPAM hands them out.
 * Policies: 20% default-deny, 30% selector ingress with a named port, 20% egress allow-lists (namespace
 * peers and an ipBlock with except), 30% Romana tenant/segment policies.
 */
function synthesize(s: Scale) {
  const rand = rng(s.pods);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const tenants = s.pods / s.podsPerTenant;
  const hosts = s.pods / s.podsPerHost;
  const namespaces = Array.from({ length: tenants }, (_, t) => ({ name: `t${t}`, labels: { tier: pick(['gold', 'silver']) } }));
  const blocks = new Map<string, { cidr: string; host: string; tenant: string; segment: string; used: number; base: number }>();
  let nextBlock = 0;
  const pods = [];
  for (let t = 0; t < tenants; t++) {
    for (let i = 0; i < s.podsPerTenant; i++) {
      const host = `h${(t * s.hostsPerTenant + (i % s.hostsPerTenant)) % hosts}`;
      const segment = SEGMENTS[Math.floor(i / s.hostsPerTenant) % SEGMENTS.length];
      const k = `${host}/${t}/${segment}`;
      let b = blocks.get(k);
      if (!b || b.used === 64) {
        const base = 0x0a000000 + nextBlock++ * 64;
        b = { cidr: `${ipText(base)}/26`, host, tenant: `t${t}`, segment, used: 0, base };
        blocks.set(`${k}#${nextBlock}`, b);
        blocks.set(k, b);
      }
      const ip = ipText(b.base + b.used++);
      pods.push({ namespace: `t${t}`, name: `p${i}`, host, ip, labels: { app: pick(APPS), 'romana.io/segment': segment },
        ports: [{ name: 'http', port: pick([80, 8080]), protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }] });
    }
  }
  const policies: unknown[] = [];
  for (let i = 0; i < s.policies; i++) {
    const t = i % tenants, other = `t${Math.floor(rand() * tenants)}`;
    const ns = `t${t}`, r = rand();
    const meta = { name: `p${i}`, namespace: ns };
    const base = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta };
    if (r < 0.2) policies.push({ ...base, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
    else if (r < 0.5) policies.push({ ...base, spec: { podSelector: { matchLabels: { app: pick(APPS) } }, ingress: [{
      from: [{ podSelector: { matchLabels: { app: pick(APPS) } } }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': other } } }],
      ports: [{ port: 'http' }, { port: 443 }] }] } });
    else if (r < 0.7) policies.push({ ...base, spec: { podSelector: { matchLabels: { app: pick(APPS) } }, policyTypes: ['Egress'], egress: [
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': other } } }, { podSelector: {} }], ports: [{ port: 443 }, { port: 53, protocol: 'UDP' }] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ port: 443 }] }] } });
    else policies.push({ id: `r${i}`, direction: 'ingress', applied_to: [{ tenant: ns, segment: pick(SEGMENTS) }],
      ingress: [{ peers: [{ tenant: ns, segment: pick(SEGMENTS) }, { tenant: other }], rules: [{ protocol: 'tcp', ports: [5432, 6379] }, { protocol: 'icmp', icmp_type: 8 }] }] });
  }
  const blockList = [...new Set(blocks.values())].map(({ cidr, host, tenant, segment }) => ({ cidr, host, tenant, segment }));
  return { namespaces, pods, externals: [], policies, blocks: blockList, hostNames: Array.from({ length: hosts }, (_, h) => `h${h}`) };
}

const ipText = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface ScaleResult {
  pods: number; policies: number; hosts: number; blocks: number; parseMs: number;
  coldHostMs: number; hostMsMean: number; hostMsP95: number; hostMsMax: number;
  rulesMean: number; rulesMax: number; setEntriesMean: number; setEntriesMax: number; setsMax: number;
  naiveMean: number; ratio: number; naiveTotal: number; rulesTotal: number;
}

function measure(s: Scale): ScaleResult {
  const raw = synthesize(s);
  let t0 = performance.now();
  const cluster = parseCluster({ namespaces: raw.namespaces, pods: raw.pods, externals: raw.externals, policies: raw.policies, blocks: raw.blocks });
  const parseMs = performance.now() - t0;

  // Cold: one host from scratch (what an agent does on start: indexes the cluster, compiles its host).
  t0 = performance.now();
  new PolicyCompiler(cluster).compileHost(raw.hostNames[0]);
  const coldHostMs = performance.now() - t0;

  // Warm: every host with one compiler (what a fleet-wide `simulate`/bench or a controller would do).
  const compiler = new PolicyCompiler(cluster);
  compiler.compileHost(raw.hostNames[0]);
  const ms: number[] = [], rules: number[] = [], entries: number[] = [], sets: number[] = [], naive: number[] = [];
  for (const h of raw.hostNames) {
    t0 = performance.now();
    const out = compiler.compileHost(h);
    ms.push(performance.now() - t0);
    rules.push(out.stats.rules);
    entries.push(out.stats.setEntries);
    sets.push(out.stats.sets);
    naive.push(out.stats.naiveRules);
  }
  const rulesTotal = rules.reduce((a, b) => a + b, 0), naiveTotal = naive.reduce((a, b) => a + b, 0);
  return {
    pods: s.pods, policies: s.policies, hosts: raw.hostNames.length, blocks: raw.blocks.length, parseMs,
    coldHostMs, hostMsMean: mean(ms), hostMsP95: pct(ms, 95), hostMsMax: Math.max(...ms),
    rulesMean: mean(rules), rulesMax: Math.max(...rules), setEntriesMean: mean(entries), setEntriesMax: Math.max(...entries), setsMax: Math.max(...sets),
    naiveMean: mean(naive), ratio: naiveTotal / rulesTotal, naiveTotal, rulesTotal,
  };
}

const results = SCALES.map(measure);
if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} else {
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  for (const r of results) {
    process.stdout.write([
      `${f(r.pods)} pods, ${f(r.policies)} policies, ${r.hosts} hosts, ${f(r.blocks)} IPAM blocks (parse + validate ${f(r.parseMs)} ms)`,
      `  compile per host: cold ${f(r.coldHostMs, 1)} ms; warm mean ${f(r.hostMsMean, 1)} ms, p95 ${f(r.hostMsP95, 1)} ms, max ${f(r.hostMsMax, 1)} ms`,
      `  rules per host: mean ${f(r.rulesMean)}, max ${f(r.rulesMax)}; set entries per host: mean ${f(r.setEntriesMean)}, max ${f(r.setEntriesMax)}; sets per host: max ${r.setsMax}`,
      `  naive per-pod-pair rules per host: mean ${f(r.naiveMean)}; naive / emitted = ${f(r.ratio, 1)}x (cluster-wide ${f(r.naiveTotal)} vs ${f(r.rulesTotal)})`,
      '',
    ].join('\n'));
  }
}
