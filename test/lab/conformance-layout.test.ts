// The public NetworkPolicy cases in a lab whose one network has Romana's host/tenant/segment layout
// (the seed's example: 10.0.0.0/8 as 8 host, 8 tenant, 4 segment and 4 endpoint bits). Then, on the
// same lab: each agent keeps one route per remote host, and a tenant peer is one masked rule.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { THROUGH_ROMANAD, netpolConformance } from './netpol-cases.js';

const LAYOUT = { name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } };
const inNs = (ns: string, cmd: string[]) => {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

netpolConformance('lab on a layout network: probe agrees with simulate on the public NetworkPolicy cases', THROUGH_ROMANAD, { clusterExtra: { networks: [LAYOUT] }, more: (lab) => {
  it('one agent route per remote host (its host CIDR); every pod address lies in its own host\'s CIDR', () => {
    const st = lab.state();
    const ids = new Map((JSON.parse(lab.api('-o', 'json', 'host', 'list')).hosts as { name: string; id: number }[]).map((h) => [h.name, h.id]));
    assert.deepEqual([...ids.values()].sort(), [1, 2, 3]);
    for (const h of st.hosts) {
      const routes = inNs(h.netns, ['ip', 'route', 'show', 'table', '82', 'proto', '82']).split('\n').map((l) => l.trim()).filter(Boolean);
      const remote = routes.filter((r) => r.includes(' via ')).map((r) => r.split(' ').slice(0, 3).join(' ')).sort();
      const want = st.hosts.filter((o) => o.name !== h.name).map((o) => `10.${ids.get(o.name)}.0.0/16 via ${o.ip}`).sort();
      assert.deepEqual(remote, want, `${h.name}: ${routes.join('; ')}`);
      const local = routes.filter((r) => !r.includes(' via '));
      assert.equal(local.length, st.pods.filter((p) => p.host === h.name).length, `${h.name}: a /32 per local pod`);
    }
    for (const p of st.pods) assert.equal(p.ip.split('.')[1], String(ids.get(p.host)), `${p.namespace}/${p.name} at ${p.ip} on ${p.host}`);
  });

  it('a tenant peer is one rule with a non-contiguous mask in the kernel, and traffic follows it', () => {
    const st = lab.state();
    for (const p of JSON.parse(lab.api('-o', 'json', 'policy', 'list')).policies as { id: string }[]) lab.api('policy', 'delete', p.id);
    const file = join(lab.dir, 'tenant-peer.json');
    writeFileSync(file, JSON.stringify({ id: 'x-from-y', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ tenant: 'y' }], rules: [{ protocol: 'tcp', ports: [80] }] }] }));
    lab.api('policy', 'apply', '-f', file);
    lab.lab('wait');
    const y = (JSON.parse(lab.api('-o', 'json', 'address', 'list')).addresses as { tenant: string; ip: string }[]).find((a) => a.tenant === 'y')!;
    const rule = `-s 10.0.${y.ip.split('.')[2]}.0/255.0.255.0 -p tcp -m tcp --dport 80 -j MARK`;
    const withX = new Set(st.pods.filter((p) => p.namespace === 'x').map((p) => p.host));
    for (const h of st.hosts) {
      const save = inNs(h.netns, ['iptables-save', '-t', 'filter']);
      assert.equal(save.includes(rule), withX.has(h.name), `${h.name}:\n${save}`);
      assert.equal(inNs(h.netns, ['ipset', 'list', '-n']).split('\n').filter((n) => n.startsWith('ROMANA')).length, 0, 'no set for the tenant peer');
    }
    const probes = ['y/a,x/a,80/TCP', 'z/a,x/a,80/TCP', 'y/b,x/b,81/TCP', 'x/c,y/a,80/TCP'];
    const real = JSON.parse(lab.lab('probe', '-o', 'json', ...probes.flatMap((p) => ['--probe', p]))).results as { allowed: boolean }[];
    assert.deepEqual(real.map((r) => r.allowed), [true, false, false, true]);
  });
} });
