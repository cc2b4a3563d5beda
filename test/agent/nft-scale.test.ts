// One host with 1,000 local pods in 400 namespaces, each namespace with its own policy (ingress only from
// its own namespace, on TCP 8080), on the nftables backend: 400 peer sets (an ipset host stops at 256 per
// network namespace), loaded in one transaction, listed back exactly as rendered, and enforced: three of
// the pods are real network namespaces with servers, probed across and within namespaces.
// Needs root, iproute2 and nft: without them this test FAILS, never skips.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FirewallSyncResult } from '../../src/agent/firewall.js';
import { parseNftTable, planNft } from '../../src/agent/nftables.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { renderNft } from '../../src/core/policy/render-nft.js';
import { assertEnforcedAsSimulated, cluster, type DenseHost, denseHost, NAMESPACES, PODS } from './dense-host.js';
import { Scratch, inNs, requireKernelTools, syncChild } from './helpers.js';

const s = new Scratch();
let d: DenseHost;
let host = '';

before(() => {
  requireKernelTools(['ip', 'nft']);
  d = denseHost(s, 'big');
  host = d.host;
});

after(async () => {
  for (const c of d?.servers ?? []) c.kill('SIGKILL');
  await s.cleanup();
});

describe('nftables: one host, 1,000 pods in 400 namespaces, a policy each', { timeout: 120_000 }, () => {
  const compiled = compileHost(cluster, 'h');
  const want = renderNft(compiled.ir);

  it('compiles to more peer sets than one namespace can hold as ipsets (256)', () => {
    const peerSets = want.sets.filter((x) => x.kind === 'set');
    assert.ok(peerSets.length >= NAMESPACES, `${peerSets.length} sets`);
    assert.equal(want.sets.find((x) => x.name === 'ROMANA-INGRESS-MAP')!.elements.length, PODS, 'every pod isolated for ingress');
  });

  it('loads in one transaction, lists back exactly as rendered, and a second sync changes nothing', async () => {
    const t = Date.now();
    const [first, , counters] = await syncChild<FirewallSyncResult>(host, { kind: 'backend', backend: 'nftables', compiled });
    assert.deepEqual(first.errors, []);
    assert.ok(first.changed);
    const got = parseNftTable(inNs(host, 'nft', ['-s', 'list', 'table', 'inet', 'romana']));
    assert.equal(got.sets.size, want.sets.length);
    assert.equal(planNft(want, got).script, '', 'the kernel holds exactly the rendered table');
    assert.equal((counters as unknown as unknown[]).length, NAMESPACES, 'a counter per policy');
    const [again] = await syncChild<FirewallSyncResult>(host, { kind: 'nft', ir: compiled.ir });
    assert.equal(again.changed, false);
    assert.ok(Date.now() - t < 60_000);
  });

  it('enforces: within a namespace open, across namespaces closed, as simulate says', async () => {
    await assertEnforcedAsSimulated(d);
  });
});
