// Pods on different hosts reach each other through routes alone: a capture on the fabric shows the
// pods' own addresses (no encapsulation, no NAT). Also: up refuses a second time, down is repeatable.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { alive } from '../../src/lab/kernel.js';
import { TestLab, netnsWithPrefix, requireRootAndTools } from './helpers.js';

describe('lab: routed pods, no overlay', () => {
  const lab = new TestLab();
  before(() => {
    requireRootAndTools();
    writeFileSync(join(lab.dir, 'cluster.yaml'), [
      'namespaces: [{name: shop, labels: {}}]',
      'pods:',
      '  - {namespace: shop, name: web, host: host-1, labels: {app: web}, ports: [{port: 8080, protocol: TCP}, {port: 5353, protocol: UDP}]}',
      '  - {namespace: shop, name: db, host: host-2, labels: {app: db}, ports: [{port: 5432, protocol: TCP}]}',
      'policies: []', '',
    ].join('\n'));
    lab.lab('up', '-f', join(lab.dir, 'cluster.yaml'), '--hosts', '2');
  });
  after(() => lab.down());

  it('puts each pod on its host with an address from its host block', () => {
    const s = lab.state();
    const blocks = JSON.parse(lab.api('-o', 'json', 'block', 'list')).blocks as { cidr: string; host: string; tenant: string }[];
    for (const p of s.pods) {
      const b = blocks.find((x) => x.host === p.host && x.tenant === 'shop');
      assert.ok(b, `a block of shop on ${p.host}`);
      const [base] = b.cidr.split('/');
      assert.equal(p.ip.split('.').slice(0, 3).join('.'), base.split('.').slice(0, 3).join('.'));
    }
  });

  it('routes pod to pod across hosts; the fabric sees the pods\' own addresses', async () => {
    const s = lab.state();
    const web = s.pods.find((p) => p.name === 'web')!;
    const db = s.pods.find((p) => p.name === 'db')!;
    // host-1 reaches db's block through host-2's underlay address: a plain route.
    const via = spawnSync('ip', ['-n', s.hosts[0].netns, '-j', 'route', 'get', db.ip], { encoding: 'utf8' });
    assert.equal(JSON.parse(via.stdout)[0].gateway, s.hosts[1].ip);
    const cap = spawn('ip', ['netns', 'exec', s.fabric, 'tcpdump', '-l', '-n', '-i', 'h1', '-c', '2', 'icmp'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cap.stdout.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 800));
    const ping = spawnSync('ip', ['netns', 'exec', web.netns, 'ping', '-c', '3', '-i', '0.2', '-W', '1', db.ip], { encoding: 'utf8' });
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    await new Promise<void>((r) => { const t = setTimeout(() => { cap.kill(); r(); }, 3000); cap.on('exit', () => { clearTimeout(t); r(); }); });
    assert.match(out, new RegExp(`IP ${web.ip.replace(/\./g, '\\.')} > ${db.ip.replace(/\./g, '\\.')}: ICMP echo request`), out);
    assert.match(out, new RegExp(`IP ${db.ip.replace(/\./g, '\\.')} > ${web.ip.replace(/\./g, '\\.')}: ICMP echo reply`), out);
  });

  it('probes real TCP and UDP servers', () => {
    const r = JSON.parse(lab.lab('probe', '-o', 'json')).results as { from: string; to: string; port: number; protocol: string; allowed: boolean }[];
    assert.ok(r.some((x) => x.from === 'shop/db' && x.to === 'shop/web' && x.port === 5353 && x.protocol === 'UDP' && x.allowed));
    assert.ok(r.every((x) => x.allowed), 'no policy: everything is allowed');
  });

  it('refuses a second up, and down removes everything, twice', () => {
    const again = lab.romana(['lab', 'up', '--name', lab.name]);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /already up/);
    const prefix = lab.state().prefix;
    const pids = [lab.state().hosts[0].agentPid];
    lab.lab('down');
    assert.deepEqual(netnsWithPrefix(prefix), []);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} is gone (or a zombie waiting for init to reap it)`);
    lab.lab('down');
  });
});
