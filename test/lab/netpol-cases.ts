// The public NetworkPolicy cases in a lab, shared by the plain lab (policies through romanad's API) and
// the Kubernetes lab (policies through kubectl, romana-listener carrying them to romanad): for every
// case, real connections (`romana lab probe`) agree with `romana policy simulate` of the realized
// cluster (`romana lab export`), on every TCP and UDP probe, the cases' external probes included. One
// lab serves all cases: they share namespaces and pods, so only the policies are swapped between cases.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../helpers/romanad.js';
import { TestLab, requireRootAndTools } from './helpers.js';

const DIR = join(ROOT, '..', 'shared', 'conformance', 'netpol');
interface Probe { from: string; to: string; port: number; protocol: string; allowed: boolean }
interface Case { id: string; title: string; cluster: { namespaces: unknown[]; pods: unknown[]; externals: { name: string; ip: string }[]; policies: unknown[] }; expected: Probe[] }
const cases = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case);
const key = (p: Probe) => `${p.from} -> ${p.to} ${p.port}/${p.protocol}`;

/** How a case's policies reach the lab, and how they are taken away again. */
interface Mode {
  upArgs: string[];
  swap(lab: TestLab, previous: Case | undefined, next: Case): void;
}

export const THROUGH_ROMANAD: Mode = {
  upArgs: [],
  swap(lab, _previous, c) {
    const stored = JSON.parse(lab.api('-o', 'json', 'policy', 'list')).policies as { id: string }[];
    for (const p of stored) lab.api('policy', 'delete', p.id);
    if (c.cluster.policies.length) {
      writeFileSync(join(lab.dir, 'policies.json'), JSON.stringify(c.cluster.policies));
      lab.api('policy', 'apply', '-f', join(lab.dir, 'policies.json'));
    }
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

export function netpolConformance(title: string, mode: Mode): void {
  describe(title, () => {
    const lab = new TestLab();
    before(() => {
      requireRootAndTools();
      const externals = new Map<string, { name: string; ip: string }>();
      for (const c of cases) for (const e of c.cluster.externals) externals.set(e.name, e);
      const base = { ...cases[0].cluster, externals: [...externals.values()], policies: [] };
      writeFileSync(join(lab.dir, 'cluster.json'), JSON.stringify(base));
      lab.lab('up', '-f', join(lab.dir, 'cluster.json'), '--hosts', '3', ...mode.upArgs);
    });
    after(() => lab.down());

    it('has cases to run', () => assert.ok(cases.length >= 10));
    cases.forEach((c, i) => {
      it(`${c.id}: ${c.title}`, () => {
        mode.swap(lab, cases[i - 1], c);
        writeFileSync(join(lab.dir, 'export.json'), lab.lab('export', '-o', 'json'));
        const exported = JSON.parse(readFileSync(join(lab.dir, 'export.json'), 'utf8')) as { policies: unknown[] };
        assert.equal(exported.policies.length, c.cluster.policies.length, 'romanad holds the case\'s policies');
        const extProbes = c.expected.filter((p) => p.to.startsWith('ext/')).map((p) => `${p.from},${p.to},${p.port}/${p.protocol}`);
        for (const extra of [[], extProbes.flatMap((p) => ['--probe', p])]) {
          const real = JSON.parse(lab.lab('probe', '-o', 'json', ...extra)).results as Probe[];
          const predicted = JSON.parse(lab.ok(['policy', 'simulate', '-f', join(lab.dir, 'export.json'), '-o', 'json', ...extra])).results as Probe[];
          assert.ok(real.length > 0);
          assert.deepEqual(real.map(key), predicted.map(key), 'the same probes');
          const wrong = real.filter((r, j) => r.allowed !== predicted[j].allowed).map((r) => `${key(r)}: kernel ${r.allowed ? 'allowed' : 'denied'}, simulate ${r.allowed ? 'denied' : 'allowed'}`);
          assert.deepEqual(wrong, [], `${wrong.length} of ${real.length} probes disagree`);
          if (extProbes.length === 0) break;
        }
      });
    });
  });
}
