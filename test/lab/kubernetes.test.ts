// `romana lab up --kubernetes`: the public NetworkPolicy cases applied with kubectl to the lab's
// Kubernetes API server (the test stand-in); romana-listener carries them to romanad, and real
// connections agree with `romana policy simulate` for every case. See netpol-cases.ts. Then, on a
// one-host lab, what an operator sees: the printed `export KUBECONFIG=` line works as printed, a
// policy applied and deleted with kubectl changes what `romana lab probe` sees, and `romana lab down`
// stops the API server and both listeners.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { THROUGH_KUBECTL, netpolConformance } from './netpol-cases.js';
import { TestLab, requireRootAndTools } from './helpers.js';

netpolConformance('lab --kubernetes: policies through kubectl, probe agrees with simulate', THROUGH_KUBECTL);

describe('lab --kubernetes as an operator uses it', () => {
  const lab = new TestLab();
  let kubeconfig = '';
  let pids: number[] = [];
  let url = '';
  const kubectl = (args: string[], input?: string) => {
    const r = spawnSync('kubectl', args, { encoding: 'utf8', input, env: { ...lab.env, KUBECONFIG: kubeconfig } });
    assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const allowed = () => (JSON.parse(lab.lab('probe', '-o', 'json', '--probe', 'shop/client,shop/web,80/tcp')).results as { allowed: boolean }[])[0].allowed;
  before(() => {
    requireRootAndTools();
    writeFileSync(join(lab.dir, 'cluster.json'), JSON.stringify({
      namespaces: [{ name: 'shop' }],
      pods: [{ namespace: 'shop', name: 'web', labels: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] }, { namespace: 'shop', name: 'client', labels: { app: 'client' }, ports: [] }],
      externals: [], policies: [],
    }));
    const out = lab.lab('up', '-f', join(lab.dir, 'cluster.json'), '--hosts', '1', '--kubernetes');
    kubeconfig = /^\s*export KUBECONFIG=(\S+)$/m.exec(out)?.[1] ?? '';
    assert.ok(kubeconfig, `lab up prints an export KUBECONFIG= line of its own:\n${out}`);
    assert.match(out, /^\s*export ROMANA_API=/m);
    const s = lab.state() as unknown as { kube: { url: string; pids: { apiserver: number; listeners: number[] } } };
    pids = [s.kube.pids.apiserver, ...s.kube.pids.listeners];
    url = s.kube.url;
  });
  after(() => lab.down());

  it('kubectl with the printed KUBECONFIG sees the lab: its host as a Node, its pods running with their addresses', () => {
    const nodes = JSON.parse(kubectl(['get', 'nodes', '-o', 'json'])).items as { metadata: { name: string } }[];
    assert.deepEqual(nodes.map((n) => n.metadata.name), lab.state().hosts.map((h) => h.name));
    const pods = JSON.parse(kubectl(['get', 'pods', '-n', 'shop', '-o', 'json'])).items as { metadata: { name: string }; status: { phase: string; podIP: string } }[];
    for (const p of lab.state().pods) assert.ok(pods.some((x) => x.metadata.name === p.name && x.status.phase === 'Running' && x.status.podIP === p.ip), `${p.name} running at ${p.ip}`);
  });

  it('a NetworkPolicy applied with kubectl closes the path, deleted it opens again', () => {
    assert.equal(allowed(), true);
    const deny = '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"web"}}}}';
    assert.match(kubectl(['apply', '-f', '-'], deny), /networkpolicy.networking.k8s.io\/deny created/);
    assert.match(kubectl(['get', 'networkpolicies', '-A']), /^shop\s+deny\s+app=web/m);
    assert.equal(allowed(), false);
    kubectl(['delete', 'networkpolicy', 'deny', '-n', 'shop']);
    assert.equal(allowed(), true);
  });

  it('lab down stops the API server stand-in and both listeners', () => {
    assert.equal(pids.length, 3);
    lab.romana(['lab', 'down', '--name', lab.name]);
    // Gone, or a zombie that init has yet to reap (stopped all the same).
    const running = (p: number) => {
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    const alive = pids.filter(running);
    assert.deepEqual(alive, [], 'no process of the Kubernetes side is left');
    const r = spawnSync('curl', ['-s', '-m', '2', `${url}/version`]);
    assert.notEqual(r.status, 0, 'the API server no longer answers');
  });
});
