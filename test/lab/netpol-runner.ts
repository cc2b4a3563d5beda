// For every public NetworkPolicy case, real connections in the lab (`romana lab probe`) agree with
// `romana policy simulate` of the realized cluster (`romana lab export`), on every TCP and UDP probe,
// the cases' external probes included. One lab serves all cases: they share namespaces and pods, so
// only the policies are swapped between cases. Run by conformance*.test.ts, each on its own networks or
// firewall backend. On every run, each host also has someone else's firewall objects (an nft table and
// iptables rules that accept everything, see test/agent/dataplane-view.ts): no verdict may change, and
// they stay as they are.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DataplaneName, addForeign, foreignSnapshot } from '../agent/dataplane-view.js';
import { ROOT } from '../helpers/romanad.js';
import { TestLab, requireRootAndTools } from './helpers.js';

const DIR = join(ROOT, '..', 'shared', 'conformance', 'netpol');
interface Probe { from: string; to: string; port: number; protocol: string; allowed: boolean }
interface Case { id: string; title: string; cluster: { namespaces: unknown[]; pods: unknown[]; externals: { name: string; ip: string }[]; policies: unknown[] }; expected: Probe[] }
const cases = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case);
const key = (p: Probe) => `${p.from} -> ${p.to} ${p.port}/${p.protocol}`;

/**
 * The cases in one lab whose cluster file adds `clusterExtra` (e.g. `networks`), its agents on `dataplane`;
 * `more` adds tests of its own that run on the same lab after the cases.
 */
export function runNetpolCases(title: string, clusterExtra: Record<string, unknown> = {}, more?: (lab: TestLab) => void, dataplane: DataplaneName = 'iptables'): void {
  describe(title, () => {
    const lab = new TestLab();
    let foreignBefore: string[] = [];
    before(() => {
      requireRootAndTools();
      const externals = new Map<string, { name: string; ip: string }>();
      for (const c of cases) for (const e of c.cluster.externals) externals.set(e.name, e);
      const base = { ...cases[0].cluster, externals: [...externals.values()], policies: [], ...clusterExtra };
      writeFileSync(join(lab.dir, 'cluster.json'), JSON.stringify(base));
      lab.lab('up', '-f', join(lab.dir, 'cluster.json'), '--hosts', '3', '--dataplane', dataplane);
      for (const h of lab.state().hosts) addForeign(h.netns);
      foreignBefore = lab.state().hosts.map((h) => foreignSnapshot(h.netns));
    });
    after(() => lab.down());

    it('has cases to run', () => assert.ok(cases.length >= 10));
    it(`every agent runs on ${dataplane}`, () => {
      for (const h of lab.state().hosts) assert.match(readFileSync(join(lab.dir, 'state', `agent-${h.name}.log`), 'utf8'), new RegExp(`"dataplane":"${dataplane}"`));
    });
    for (const c of cases) {
      it(`${c.id}: ${c.title}`, () => {
        // Swap the policies: remove the previous case's, apply this case's.
        const stored = JSON.parse(lab.api('-o', 'json', 'policy', 'list')).policies as { id: string }[];
        for (const p of stored) lab.api('policy', 'delete', p.id);
        if (c.cluster.policies.length) {
          writeFileSync(join(lab.dir, 'policies.json'), JSON.stringify(c.cluster.policies));
          lab.api('policy', 'apply', '-f', join(lab.dir, 'policies.json'));
        }
        writeFileSync(join(lab.dir, 'export.json'), lab.lab('export', '-o', 'json'));
        const extProbes = c.expected.filter((p) => p.to.startsWith('ext/')).map((p) => `${p.from},${p.to},${p.port}/${p.protocol}`);
        for (const extra of [[], extProbes.flatMap((p) => ['--probe', p])]) {
          const real = JSON.parse(lab.lab('probe', '-o', 'json', ...extra)).results as Probe[];
          const predicted = JSON.parse(lab.ok(['policy', 'simulate', '-f', join(lab.dir, 'export.json'), '-o', 'json', ...extra])).results as Probe[];
          assert.ok(real.length > 0);
          assert.deepEqual(real.map(key), predicted.map(key), 'the same probes');
          const wrong = real.filter((r, i) => r.allowed !== predicted[i].allowed).map((r) => `${key(r)}: kernel ${r.allowed ? 'allowed' : 'denied'}, simulate ${r.allowed ? 'denied' : 'allowed'}`);
          assert.deepEqual(wrong, [], `${wrong.length} of ${real.length} probes disagree`);
          if (extProbes.length === 0) break;
        }
      });
    }
    more?.(lab);
    it('left every foreign firewall object as it was', () => {
      assert.deepEqual(lab.state().hosts.map((h) => foreignSnapshot(h.netns)), foreignBefore);
    });
  });
}
