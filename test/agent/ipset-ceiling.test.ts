// The iptables backend on a dense host: 1,000 pods in 400 namespaces on one host, each namespace with its
// own policy (ingress only from its own namespace, TCP 8080), need 400 peer sets. The issue took 256 for a
// namespace's limit; the kernel grows a namespace's set table past 256 (in steps of 64, up to 65,534), so
// the 400 load as they are. Past a ceiling (the renderer's maxSets) the smallest sets are written into the
// rules instead: that rendering is applied here too, with 240 sets, read back exactly, a second sync
// changes nothing, every probe through the rendered rules gets simulate's verdict, and real pods are
// enforced as simulate says.
// Needs root, iproute2, iptables and ipset: without them this test FAILS, never skips.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FirewallSyncResult } from '../../src/agent/firewall.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { renderIptables } from '../../src/core/policy/render-iptables.js';
import { Netfilter } from '../policy/netfilter-model.js';
import { assertEnforcedAsSimulated, cluster, type DenseHost, denseHost, NAMESPACES } from './dense-host.js';
import { Scratch, inNs, requireKernelTools, romanaChains, romanaSets, syncChild } from './helpers.js';

const CEILING = 240;
const s = new Scratch();
let d: DenseHost;
let host = '';

before(() => {
  requireKernelTools(['ip', 'iptables', 'iptables-save', 'iptables-restore', 'ipset']);
  d = denseHost(s, 'dense');
  host = d.host;
});

after(async () => {
  for (const c of d?.servers ?? []) c.kill('SIGKILL');
  await s.cleanup();
});

describe('iptables: one host, 1,000 pods in 400 namespaces, a policy each', { timeout: 120_000 }, () => {
  const all = compileHost(cluster, 'h');
  const compiled = renderIptables(all.ir, { maxSets: CEILING });

  it(`needs ${NAMESPACES} peer sets; with a ceiling of ${CEILING}, the others go into the rules`, () => {
    assert.ok(all.ir.sets.length >= NAMESPACES, `${all.ir.sets.length} sets`);
    assert.equal(all.tables.sets.length, all.ir.sets.length, 'no ceiling reached by default');
    assert.equal(compiled.tables.sets.length, CEILING);
    assert.ok(compiled.stats.rules > all.stats.rules);
  });

  it('the kernel takes all of them as ipsets (a namespace\'s set table grows past 256)', async () => {
    const ns = s.netns('many');
    const [r] = await syncChild<FirewallSyncResult>(ns, { kind: 'firewall', desired: all.tables });
    assert.deepEqual(r.errors, []);
    assert.equal(romanaSets(inNs(ns, 'ipset', ['save'])).size, all.tables.sets.length);
  });

  it('applies, reads back exactly the rendering, and a second sync changes nothing', async () => {
    const [first, second] = await syncChild<FirewallSyncResult>(host, { kind: 'firewall', desired: compiled.tables, runs: 2 });
    assert.deepEqual(first.errors, []);
    assert.ok(first.changed);
    assert.equal(second.changed, false);
    const chains = romanaChains(inNs(host, 'iptables-save', ['-t', 'filter']));
    for (const c of compiled.tables.chains) assert.deepEqual(chains.get(c.name), c.rules, c.name);
    assert.equal(romanaSets(inNs(host, 'ipset', ['save'])).size, CEILING);
  });

  it('every probe through the rendered rules gets simulate\'s verdict', () => {
    const nf = new Netfilter(compiled.iptables, compiled.ipset);
    // Each namespace's first pod to the first pod of itself, of the next namespace, and to itself's sibling.
    const probes = cluster.pods.slice(0, NAMESPACES).flatMap((a, i) => [cluster.pods[(i + 1) % NAMESPACES], cluster.pods[i + NAMESPACES]]
      .map((b) => ({ from: a.key, to: b.key, port: 8080, protocol: 'TCP' as const })));
    let open = 0;
    for (const r of simulate(cluster, probes)) {
      const from = cluster.pods.find((x) => x.key === r.from)!, to = cluster.pods.find((x) => x.key === r.to)!;
      const v = nf.run('ROMANA-FORWARD', { src: from.ip, dst: to.ip, proto: 'tcp', dport: 8080 });
      assert.equal(v !== 'DROP', r.allowed, `${r.from} -> ${r.to}`);
      if (r.allowed) open++;
    }
    assert.equal(open, NAMESPACES, 'within each namespace open, across closed');
  });

  it('enforces on real pods: within a namespace open, across namespaces closed, as simulate says', async () => {
    await assertEnforcedAsSimulated(d);
  });
});
