// simulate and explain: probe sets, probe syntax, and the reasons explain gives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultProbes, explain, parseProbe, simulate } from '../../src/core/policy/evaluate.js';
import { assertInvalid, cluster3, np } from './helpers.js';

describe('probes', () => {
  it('parses FROM,TO,PORT/PROTO', () => {
    assert.deepEqual(parseProbe('x/a,ext/dns,53/UDP'), { from: 'x/a', to: 'ext/dns', port: 53, protocol: 'UDP' });
    assert.deepEqual(parseProbe('x/a,y/b,80/tcp'), { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' });
    assert.deepEqual(parseProbe('x/a,y/b,80'), { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' });
    assert.deepEqual(parseProbe('x/a,y/b,8/ICMP'), { from: 'x/a', to: 'y/b', port: 8, protocol: 'ICMP' });
    assertInvalid(() => parseProbe('x/a,y/b'), "--probe: 'x/a,y/b' is not FROM,TO,PORT/PROTO");
    assertInvalid(() => parseProbe('x/a,y/b,80/GRE'), '--probe');
    assertInvalid(() => parseProbe('x/a,y/b,0/TCP'), 'out of range');
    assertInvalid(() => parseProbe('x/a,y/b,65536/UDP'), 'out of range');
  });

  it('the default set: every pod and external to every pod port, with its protocol, self included', () => {
    const c = cluster3();
    const ps = defaultProbes(c);
    assert.equal(ps.length, 10 * 9 * 3);
    assert.ok(ps.some((p) => p.from === 'x/a' && p.to === 'x/a'));
    assert.ok(ps.some((p) => p.from === 'ext/world' && p.to === 'z/c' && p.port === 80 && p.protocol === 'UDP'));
    assert.ok(!ps.some((p) => p.to.startsWith('ext/')));
    assert.equal(simulate(c).length, ps.length);
  });

  it('externals accept any port as destinations, and unknown endpoints are errors', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 4242, protocol: 'UDP' }] }] })]);
    assert.deepEqual(simulate(c, [parseProbe('x/a,ext/world,4242/UDP'), parseProbe('x/a,ext/world,4243/UDP'), parseProbe('y/a,ext/world,1/TCP')]).map((r) => r.allowed), [true, false, true]);
    assertInvalid(() => simulate(c, [parseProbe('x/q,x/a,80/TCP')]), "from: no pod or external named 'x/q'");
    assertInvalid(() => simulate(c, [parseProbe('x/a,ext/nope,80/TCP')]), "to: no pod or external named 'ext/nope'");
  });
});

describe('explain', () => {
  const c = cluster3([
    np('x', 'deny', { podSelector: {} }),
    np('x', 'web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }, { namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }, { port: 80 }] }] }),
    np('y', 'out', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] }),
  ]);

  it('names the policies selecting each side and the rule, peer and port that allowed it', () => {
    const e = explain(c, parseProbe('y/a,x/a,80/TCP'));
    assert.equal(e.allowed, true);
    assert.deepEqual(e.egress, { direction: 'egress', endpoint: 'y/a', allowedBy: [], isolated: false, policies: [], allowed: true, reason: 'no policy selects y/a for egress: not isolated, all egress allowed' });
    assert.equal(e.ingress.isolated, true);
    assert.deepEqual(e.ingress.policies, ['x/deny', 'x/web']);
    assert.deepEqual(e.ingress.allowedBy, [{ policy: 'x/web', rule: 'spec.ingress[0]', peer: 'spec.ingress[0].from[1]', port: 'spec.ingress[0].ports[1]' }]);
    assert.match(e.ingress.reason, /isolated for ingress by x\/deny, x\/web; from y\/a on 80\/TCP allowed by x\/web spec.ingress\[0\] \(peer spec.ingress\[0\].from\[1\], port spec.ingress\[0\].ports\[1\]\)/);
  });

  it('says when no rule allows it', () => {
    const e = explain(c, parseProbe('x/c,x/b,80/TCP'));
    assert.equal(e.allowed, false);
    assert.equal(e.egress.allowed, true);
    assert.equal(e.ingress.reason, 'isolated for ingress by x/deny; no rule of these allows from x/c on 80/TCP');
  });

  it('explains egress denials and externals', () => {
    const e = explain(c, parseProbe('y/c,ext/world,443/TCP'));
    assert.equal(e.allowed, false);
    assert.deepEqual(e.egress.policies, ['y/out']);
    assert.equal(e.ingress.reason, 'ext/world is outside the cluster: no policy applies to it');
    const f = explain(c, parseProbe('ext/world,y/c,443/TCP'));
    assert.equal(f.allowed, true);
    assert.equal(f.egress.reason, 'ext/world is outside the cluster: no policy applies to it');
  });

  it('agrees with simulate on every default probe', () => {
    for (const r of simulate(c)) assert.equal(explain(c, r).allowed, r.allowed, `${r.from} -> ${r.to} ${r.port}/${r.protocol}`);
  });
});
