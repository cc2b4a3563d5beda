// The nftables backend's long-lived nft (kernel/nft-session.ts) against the real kernel, in scratch
// network namespaces: every script is one transaction; a failing script reports nft's error and changes
// nothing, and its error is never taken for the next script's; nft killed between two updates is
// replaced and the next update lands whole; nft killed during an update leaves all of it or none, says
// so, and the update after it lands; nft ends with the process that started it. Needs root, iproute2
// and nft: without them this test FAILS.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { parseNftTable } from '../../src/agent/nftables.js';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { compileHost } from '../../src/core/policy/compile.js';
import { nftRuleKey, renderNft } from '../../src/core/policy/render-nft.js';
import { ROOT, Scratch, inNs, requireKernelTools, shAsync, sleep } from './helpers.js';
import type { StepResult } from './nft-session-child.js';

const s = new Scratch();
before(() => requireKernelTools(['ip', 'nft']));
after(() => s.cleanup());

async function steps(ns: string, input: object[]): Promise<StepResult[]> {
  const r = await shAsync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', `${ROOT}/test/agent/nft-session-child.ts`], JSON.stringify(input));
  if (r.code !== 0) throw new Error(`nft-session-child exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StepResult[];
}
const list = (ns: string, table = 'inet t') => inNs(ns, 'nft', ['-s', 'list', 'table', ...table.split(' ')]);
const rules = (ns: string, chain: string, table = 'inet t') =>
  inNs(ns, 'nft', ['-s', 'list', 'chain', ...table.split(' '), chain]).split('\n').map((l) => l.trim()).filter((l) => /^(tcp|udp|ip) /.test(l));
/** Alive, and not a zombie waiting for init to reap it. */
const running = (pid: number) => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
const SETUP = 'add table inet t\nadd chain inet t c\nadd set inet t s { type ipv4_addr; }\nadd rule inet t c tcp dport 1 accept\n';

describe('nft session', () => {
  it('commits each script whole; a failing one reports its own error, changes nothing, and the next commits cleanly', async () => {
    const ns = s.netns('ses');
    const r = await steps(ns, [
      { op: 'apply', script: SETUP },
      { op: 'apply', script: 'flush chain inet t c\nadd rule inet t c tcp dport 2 accept\nadd element inet t s { 10.0.0.1 }\n' },
      // Valid commands around one that the kernel refuses: nothing of it may land.
      { op: 'apply', script: 'flush chain inet t c\nadd rule inet t c tcp dport 3 accept\nadd rule inet t nochain tcp dport 4 accept\nadd element inet t s { 10.0.0.2 }\n' },
      // A script that nft cannot parse.
      { op: 'apply', script: 'flush chain inet t c\nadd rule inet t c tcp dport 5 acept\n' },
      { op: 'apply', script: 'add rule inet t c udp dport 6 accept\n' },
    ]);
    assert.deepEqual(r.map((x) => x.ok), [true, true, false, false, true], JSON.stringify(r));
    assert.match(r[2].error!, /Error: Could not process rule: No such file or directory/);
    assert.match(r[2].error!, /add rule inet t nochain tcp dport 4 accept/, 'names the command');
    assert.doesNotMatch(r[2].error!, /romana_end/, 'none of the session\'s own framing');
    assert.match(r[3].error!, /Error: syntax error/);
    assert.match(r[3].error!, /dport 5 acept/);
    assert.doesNotMatch(r[3].error!, /nochain/, 'the earlier failure is not repeated');
    assert.equal(r[4].error, undefined);
    assert.deepEqual(rules(ns, 'c'), ['tcp dport 2 accept', 'udp dport 6 accept']);
    assert.deepEqual([...parseNftTable(list(ns)).sets.get('s')!.elements], ['10.0.0.1']);
    assert.equal(new Set(r.map((x) => x.pid)).size, 1, 'one nft process served every script');
  });

  it('replaces nft killed between two updates; the next update lands whole', async () => {
    const ns = s.netns('kill');
    const r = await steps(ns, [
      { op: 'apply', script: SETUP },
      { op: 'kill' },
      { op: 'apply', script: 'flush chain inet t c\nadd rule inet t c tcp dport 7 accept\nadd rule inet t c tcp dport 8 accept\n' },
      { op: 'kill' },
      { op: 'apply', script: 'add rule inet t c tcp dport 9 accept\n' },
    ]);
    assert.deepEqual(r.map((x) => x.ok), [true, true, true, true, true], JSON.stringify(r));
    assert.equal(r[1].pid, r[0].pid, 'the first nft was killed');
    assert.notEqual(r[2].pid, r[0].pid, 'a new nft took the update');
    assert.notEqual(r[4].pid, r[2].pid);
    assert.deepEqual(rules(ns, 'c'), ['tcp dport 7 accept', 'tcp dport 8 accept', 'tcp dport 9 accept']);
  });

  it('nft killed during an update: the update fails and says so, the kernel has all of it or none, the next lands', async () => {
    const ns = s.netns('mid');
    const big = Array.from({ length: 3000 }, (_, i) => `add rule inet t c tcp dport ${10_000 + i} accept`).join('\n') + '\n';
    const r = await steps(ns, [
      { op: 'apply', script: SETUP },
      { op: 'apply-and-kill', script: `flush chain inet t c\n${big}`, afterMs: 15 },
      { op: 'apply', script: 'add element inet t s { 10.0.0.9 }\n' },
    ]);
    assert.equal(r[0].ok, true);
    assert.equal(r[1].ok, false, 'nft died before it answered');
    assert.match(r[1].error!, /nft exited \(SIGKILL\) during the batch/);
    const n = rules(ns, 'c').length;
    assert.ok(n === 1 || n === 3000, `all or nothing: ${n} rules`);
    assert.equal(r[2].ok, true, JSON.stringify(r[2]));
    assert.deepEqual([...parseNftTable(list(ns)).sets.get('s')!.elements], ['10.0.0.9']);
  });

  const doc = YAML.parse(readFileSync(`${ROOT}/examples/cluster.yaml`, 'utf8')) as { policies: { id: string; ingress: { rules: { ports: number[] }[] }[] }[] };
  const ir1 = compileHost(parseCluster(doc), 'host1').ir;
  const d2 = structuredClone(doc);
  d2.policies.find((x) => x.id === 'acme-db')!.ingress[0].rules[0].ports = [5433];
  const ir2 = compileHost(parseCluster(d2), 'host1').ir;

  it('the manager\'s nft ends with the process that started it, without being told', async () => {
    const ns = s.netns('exit');
    const r = await steps(ns, [{ op: 'sync', ir: ir1, reread: true }, { op: 'pids' }]);
    assert.ok(r.every((x) => x.ok), JSON.stringify(r));
    const pid = r[1].pid!;
    for (let i = 0; i < 100 && running(pid); i++) await sleep(10);
    assert.ok(!running(pid), 'nft -i ended with its parent');
  });

  it('the manager\'s next update after its nft was killed lands (a store event, no kernel read)', async () => {
    const ns = s.netns('mgr');
    const r = await steps(ns, [{ op: 'sync', ir: ir1, reread: true }, { op: 'kill' }, { op: 'sync', ir: ir2, reread: false }]);
    assert.deepEqual(r.map((x) => x.ok), [true, true, true], JSON.stringify(r));
    assert.equal(r[2].changedChains, 1);
    assert.notEqual(r[2].pid, r[0].pid);
    const want = renderNft(ir2);
    const got = parseNftTable(list(ns, 'inet romana'));
    assert.deepEqual(new Map([...got.chains].map(([k, v]) => [k, v.rules.map(nftRuleKey)])), new Map(want.chains.map((c) => [c.name, c.rules.map(nftRuleKey)])));
  });
});
