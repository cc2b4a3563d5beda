// The public NetworkPolicy cases in a lab, for every way policies reach it and every firewall backend:
// for every case, real connections in the pods' namespaces agree with `romana policy simulate` of the
// realized cluster, on every TCP and UDP probe, the cases' external probes included. One lab serves all
// cases: they share namespaces and pods, so only the policies are swapped between cases. Run by
// conformance*.test.ts (policies through romanad, on each network layout and firewall backend) and
// kubernetes.test.ts (policies through kubectl, romana-listener carrying them to romanad). On every run,
// each host also has someone else's firewall objects (an nft table and iptables rules that accept
// everything, see test/agent/dataplane-view.ts): no verdict may change, and they stay as they are.
//
// Each case runs in this process what the CLI runs (the policy requests of `romana policy apply`, and
// `romana lab export`, `lab probe` and `policy simulate` through the functions behind them): the
// probes are real connections from probers in the pods' namespaces either way, and a CLI start per
// step cost more than the probes. The last test checks that the CLI itself gives what the cases used.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { type Probe, type ProbeResult, defaultProbes, parseProbe, simulate } from '../../src/core/policy/evaluate.js';
import { converge, exportCluster, labApi, probe } from '../../src/lab/lab.js';
import type { LabState } from '../../src/lab/state.js';
import { type DataplaneName, addForeign, foreignSnapshot } from '../agent/dataplane-view.js';
import { ROOT } from '../helpers/romanad.js';
import { TestLab, requireRootAndTools } from './helpers.js';

const DIR = join(ROOT, '..', 'shared', 'conformance', 'netpol');
interface Case { id: string; title: string; cluster: { namespaces: unknown[]; pods: unknown[]; externals: { name: string; ip: string }[]; policies: unknown[] }; expected: ProbeResult[] }
const cases = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case);
const key = (p: Probe) => `${p.from} -> ${p.to} ${p.port}/${p.protocol}`;
const flag = (p: Probe) => `${p.from},${p.to},${p.port}/${p.protocol}`;
const labState = (lab: TestLab) => lab.state() as unknown as LabState;

/** How a case's policies reach the lab, and how they are taken away again. */
interface Mode {
  upArgs: string[];
  swap(lab: TestLab, previous: Case | undefined, next: Case): void | Promise<void>;
}

/** What `romana policy list`, `policy delete` and `policy apply -f` send to romanad. */
export const THROUGH_ROMANAD: Mode = {
  upArgs: [],
  async swap(lab, _previous, c) {
    const api = labApi(labState(lab));
    const { policies } = await api.get<{ policies: { id: string }[] }>('/policies');
    for (const p of policies) await api.del(`/policies/${encodeURIComponent(p.id)}`);
    for (const p of c.cluster.policies) await api.request('POST', '/policies', p, { idempotent: true });
  },
};

export const THROUGH_KUBECTL: Mode = {
  upArgs: ['--kubernetes'],
  swap(lab, previous, c) {
    const kubectl = (...args: string[]) => {
      const r = spawnSync('kubectl', args, { encoding: 'utf8', env: { ...lab.env, KUBECONFIG: join(lab.dir, 'state', 'kubeconfig') } });
      assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    // A stream of JSON objects, one per policy (JSON, so that no value reads as YAML 1.1's `y` = true). A
    // `kind: List` would make kubectl validate against the OpenAPI v2 document, which the stand-in does
    // not serve.
    const file = (x: Case) => {
      const f = join(lab.dir, `${x.id}.json`);
      writeFileSync(f, x.cluster.policies.map((p) => JSON.stringify(p)).join('\n'));
      return f;
    };
    if (previous?.cluster.policies.length) kubectl('delete', '--ignore-not-found', '-f', file(previous));
    if (c.cluster.policies.length) assert.match(kubectl('apply', '-f', file(c)), /networkpolicy.networking.k8s.io\/\S+ created/);
    const listed = kubectl('get', 'networkpolicies', '-A', '-o', 'json');
    assert.equal((JSON.parse(listed).items as unknown[]).length, c.cluster.policies.length, 'kubectl lists exactly this case\'s policies');
  },
};

/**
 * NetworkPolicy says nothing about connections already established when a policy changes, and the
 * firewall accepts ESTABLISHED packets first (docs/policy.md), so a previous case's UDP probe can leave
 * a conntrack entry that a new probe from the same source port matches (seen on np20). Each case asks
 * about new connections, so it starts from empty conntrack tables where the firewall is: in each host.
 */
function flushConntrack(lab: TestLab): void {
  for (const h of lab.state().hosts) {
    const r = spawnSync('ip', ['netns', 'exec', h.netns, 'conntrack', '-F'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `conntrack -F in ${h.netns}: ${r.stderr}`);
  }
}

export interface NetpolOptions {
  /** Added to the cluster file (e.g. `networks`). */
  clusterExtra?: Record<string, unknown>;
  dataplane?: DataplaneName;
  /** Tests of the caller's own, run on the same lab after the cases. */
  more?: (lab: TestLab) => void;
}

export function netpolConformance(title: string, mode: Mode, o: NetpolOptions = {}): void {
  const dataplane = o.dataplane ?? 'iptables';
  describe(title, () => {
    const lab = new TestLab();
    let foreignBefore: string[] = [];
    // The last case's realized cluster, probes and verdicts, for the CLI check at the end.
    let last: { exported: Record<string, unknown>; probes?: Probe[]; predicted: ProbeResult[]; real: ProbeResult[] } | undefined;
    before(() => {
      requireRootAndTools();
      if (spawnSync('sh', ['-c', 'command -v conntrack']).status !== 0) throw new Error('the lab conformance tests need \'conntrack\' (make test installs it)');
      const externals = new Map<string, { name: string; ip: string }>();
      for (const c of cases) for (const e of c.cluster.externals) externals.set(e.name, e);
      const base = { ...cases[0].cluster, externals: [...externals.values()], policies: [], ...o.clusterExtra };
      writeFileSync(join(lab.dir, 'cluster.json'), JSON.stringify(base));
      lab.lab('up', '-f', join(lab.dir, 'cluster.json'), '--hosts', '3', '--dataplane', dataplane, ...mode.upArgs);
      for (const h of lab.state().hosts) addForeign(h.netns);
      foreignBefore = lab.state().hosts.map((h) => foreignSnapshot(h.netns));
    });
    after(() => lab.down());

    it('has cases to run', () => assert.ok(cases.length >= 10));
    it(`every agent runs on ${dataplane}`, () => {
      for (const h of lab.state().hosts) assert.match(readFileSync(join(lab.dir, 'state', `agent-${h.name}.log`), 'utf8'), new RegExp(`"dataplane":"${dataplane}"`));
    });
    cases.forEach((c, i) => {
      it(`${c.id}: ${c.title}`, async () => {
        await mode.swap(lab, cases[i - 1], c);
        const s = labState(lab);
        await converge(s); // romanad holds what was applied (through the listener too), the agents applied it
        const exported = await exportCluster(s);
        assert.equal((exported.policies as unknown[]).length, c.cluster.policies.length, 'romanad holds the case\'s policies');
        // One probe run: every pod and external to every pod port (the default), plus the case's probes
        // to externals when it has some (then the whole list is given).
        const cluster = parseCluster(exported);
        const ext = c.expected.filter((p) => p.to.startsWith('ext/')).map((p) => parseProbe(flag(p)));
        const probes = ext.length ? [...defaultProbes(cluster), ...ext] : undefined;
        const predicted = simulate(cluster, probes);
        flushConntrack(lab);
        const real = await probe(s, probes);
        last = { exported, probes, predicted, real };
        assert.ok(real.length > 0);
        assert.deepEqual(real.map(key), predicted.map(key), 'the same probes');
        const wrong = real.filter((r, j) => r.allowed !== predicted[j].allowed).map((r) => `${key(r)}: kernel ${r.allowed ? 'allowed' : 'denied'}, simulate ${r.allowed ? 'denied' : 'allowed'}`);
        assert.deepEqual(wrong, [], `${wrong.length} of ${real.length} probes disagree`);
      });
    });
    it('romana lab export, lab probe and policy simulate (the CLI) give what the cases used', () => {
      assert.ok(last, 'the last case ran');
      const file = join(lab.dir, 'export.json');
      writeFileSync(file, lab.lab('export', '-o', 'json'));
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), JSON.parse(JSON.stringify(last.exported)));
      const flags = (last.probes ?? []).flatMap((p) => ['--probe', flag(p)]);
      assert.deepEqual(JSON.parse(lab.ok(['policy', 'simulate', '-f', file, '-o', 'json', ...flags])).results, last.predicted);
      flushConntrack(lab);
      assert.deepEqual(JSON.parse(lab.lab('probe', '-o', 'json', ...flags)).results, last.real);
    });
    o.more?.(lab);
    it('left every foreign firewall object as it was', () => {
      assert.deepEqual(lab.state().hosts.map((h) => foreignSnapshot(h.netns)), foreignBefore);
    });
  });
}
