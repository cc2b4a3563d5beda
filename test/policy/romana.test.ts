// Romana policies: validation and semantics (tenant = namespace, segment = pod label value).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCluster } from '../../src/core/policy/cluster.js';
import { normalizePolicy } from '../../src/core/policy/normalize.js';
import { simulate } from '../../src/core/policy/evaluate.js';
import { ALL, allowed, allowedFrom, allowedTo, assertInvalid, cluster3 } from './helpers.js';

const rp = (o: Record<string, unknown>) => ({ id: 'p1', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'any' }] }], ...o });

describe('Romana policy validation', () => {
  const bad = (o: Record<string, unknown>, text: string) => assertInvalid(() => normalizePolicy(rp(o)), text);

  it('normalizes, keeping the id', () => {
    const p = normalizePolicy(rp({ description: 'd' }));
    assert.equal(p.id, 'p1');
    assert.equal(p.kind, 'RomanaPolicy');
    assert.ok(p.ingress && !p.egress);
    assert.equal(normalizePolicy(rp({ id: 7 })).id, '7');
    assert.equal(normalizePolicy({ ...rp({}), id: undefined, name: 'by-name' }).id, 'by-name');
  });

  it('names the offending field', () => {
    bad({ id: 'a/b' }, "id: 'a/b' is not a valid id");
    bad({ id: undefined }, 'id: required');
    bad({ direction: 'both' }, "direction: must be 'ingress' or 'egress'");
    bad({ applied_to: [] }, 'applied_to: must list at least one endpoint');
    bad({ applied_to: [{ tenant: 'x', cidr: '10.0.0.0/8' }] }, 'applied_to[0]: give exactly one of tenant');
    bad({ applied_to: [{ segment: 'web' }] }, 'applied_to[0].segment: a segment needs its tenant');
    bad({ applied_to: [{ tenant: 'x', tenant_id: 'y' }] }, 'applied_to[0].tenant_id: disagrees with tenant');
    bad({ applied_to: [{ peer: 'local' }] }, "applied_to[0].peer: must be 'any' or 'host'");
    bad({ applied_to: [{ tenant: 'x', owner: 'y' }] }, 'applied_to[0].owner: unknown field');
    bad({ ingress: [{ peers: [], rules: [{ protocol: 'any' }] }] }, 'ingress[0].peers: must list at least one peer');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [] }] }, 'ingress[0].rules: must list at least one rule');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'gre' }] }] }, 'ingress[0].rules[0].protocol: must be one of tcp, udp, sctp, icmp, any');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80, 0] }] }] }, 'ingress[0].rules[0].ports[1]: must be an integer from 1 to 65535');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', port_ranges: [[90, 80]] }] }] }, 'ingress[0].rules[0].port_ranges[0][1]: must be an integer from 90 to 65535');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'icmp', ports: [1] }] }] }, 'ingress[0].rules[0].ports: ports need protocol tcp, udp or sctp');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', icmp_type: 8 }] }] }, 'ingress[0].rules[0].icmp_type: needs protocol icmp');
    bad({ ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'icmp', icmp_code: 1 }] }] }, 'ingress[0].rules[0].icmp_code: needs an icmp_type');
    bad({ ingress: [{ peers: [{ cidr: '10.0.0.1/8' }], rules: [{ protocol: 'any' }] }] }, 'ingress[0].peers[0].cidr: \'10.0.0.1/8\' has host bits set');
    bad({ egress: [] }, "egress: give the rules under 'ingress'");
    assertInvalid(() => normalizePolicy({ direction: 'ingress', applied_to: [{ tenant: 'x' }], kind: 'RomanaPolicy' }), 'id: required');
  });

  it('accepts tenant_id/segment_id and `egress` as an alias of the rule list', () => {
    const p = normalizePolicy({ id: 'e', direction: 'egress', applied_to: [{ tenant_id: 'x', segment_id: 'web' }], egress: [{ peers: [{ tenant_id: 'y' }], rules: [{ protocol: 'TCP', ports: [80] }] }] });
    assert.ok(p.egress && !p.ingress);
    assert.deepEqual(p.appliesTo[0], { kind: 'pods', namespace: 'x', podSelector: { matchLabels: { 'romana.io/segment': 'web' }, matchExpressions: [] }, path: 'applied_to[0]' });
  });
});

describe('Romana policy semantics', () => {
  const seg = (pod: string) => ({ a: 'web', b: 'db', c: 'web' })[pod as 'a'];
  // x/a and x/c are segment "web", x/b is "db"; same in y and z.
  const withSegments = (policies: unknown[], segmentLabel?: string) => {
    const key = segmentLabel ?? 'romana.io/segment';
    const c = cluster3([]);
    const raw = {
      namespaces: c.namespaces.map((n) => ({ name: n.name, labels: n.labels })),
      pods: c.pods.map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip, host: p.host, ports: p.ports, labels: { ...p.labels, [key]: seg(p.name) } })),
      externals: c.externals.map((e) => ({ name: e.name, ip: e.ip })),
      policies,
    };
    return parseCluster(raw, { segmentLabel });
  };

  it('ingress: applied_to tenant+segment is isolated; peers tenant+segment with ports are allowed', () => {
    const c = withSegments([{ id: 'db-in', direction: 'ingress', applied_to: [{ tenant: 'x', segment: 'db' }], ingress: [{ peers: [{ tenant: 'x', segment: 'web' }], rules: [{ protocol: 'tcp', ports: [80] }] }] }]);
    assert.deepEqual(allowedFrom(c, 'x/b'), ['x/a', 'x/c']);
    assert.deepEqual(allowedFrom(c, 'x/b', 81), []);
    assert.deepEqual(allowedFrom(c, 'x/a'), ALL, 'segment web is not selected');
  });

  it('egress: a real allow-list for the selected endpoints', () => {
    const c = withSegments([{ id: 'web-out', direction: 'egress', applied_to: [{ tenant: 'x', segment: 'web' }], ingress: [{ peers: [{ tenant: 'x', segment: 'db' }, { cidr: '203.0.113.0/24' }], rules: [{ protocol: 'tcp', port_ranges: [[80, 80]] }] }] }]);
    assert.deepEqual(allowedTo(c, 'x/a'), ['x/b']);
    assert.ok(allowed(c, 'x/a', 'ext/world', 80));
    assert.ok(!allowed(c, 'x/a', 'ext/world', 81));
    assert.deepEqual(allowedTo(c, 'x/b').length, 9, 'db is not selected');
  });

  it('tenant without segment means every pod of the namespace; peer any means every address', () => {
    const c = withSegments([{ id: 'p', direction: 'ingress', applied_to: [{ tenant: 'y' }], ingress: [{ peers: [{ tenant: 'x' }], rules: [{ protocol: 'udp' }] }, { peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [81] }] }] }]);
    assert.deepEqual(allowedFrom(c, 'y/a', 80, 'UDP'), ['x/a', 'x/b', 'x/c']);
    assert.deepEqual(allowedFrom(c, 'y/a', 81, 'TCP'), ALL);
    assert.deepEqual(allowedFrom(c, 'y/a', 80, 'TCP'), []);
  });

  it('icmp type/code', () => {
    const c = withSegments([{ id: 'p', direction: 'ingress', applied_to: [{ tenant: 'y' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'icmp', icmp_type: 8, icmp_code: 0 }] }] }]);
    assert.ok(allowed(c, 'x/a', 'y/a', 8, 'ICMP'));
    assert.ok(!allowed(c, 'x/a', 'y/a', 13, 'ICMP'));
    assert.ok(!allowed(c, 'x/a', 'y/a', 80, 'TCP'));
  });

  it('the segment label key is configurable', () => {
    const pol = { id: 'p', direction: 'ingress', applied_to: [{ tenant: 'x', segment: 'db' }], ingress: [] };
    const c = withSegments([pol], 'tier');
    assert.deepEqual(allowedFrom(c, 'x/b'), []);
    assert.deepEqual(allowedFrom(c, 'x/a'), ALL);
  });

  it('Romana and Kubernetes policies combine as a union on the same pod', () => {
    const c = withSegments([
      { id: 'p', direction: 'ingress', applied_to: [{ tenant: 'x' }], ingress: [{ peers: [{ tenant: 'y' }], rules: [{ protocol: 'any' }] }] },
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'k', namespace: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] } },
    ]);
    assert.deepEqual(simulate(c, [{ from: 'y/a', to: 'x/a', port: 80, protocol: 'TCP' }, { from: 'z/a', to: 'x/a', port: 80, protocol: 'TCP' }, { from: 'x/b', to: 'x/a', port: 80, protocol: 'TCP' }]).map((r) => r.allowed), [true, true, false]);
  });
});
