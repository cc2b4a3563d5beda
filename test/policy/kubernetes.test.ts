// Kubernetes NetworkPolicy: validation (field paths) and semantics, through normalizePolicy + simulate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePolicy } from '../../src/core/policy/normalize.js';
import { ALL, ALL_PODS, allowed, allowedFrom, allowedTo, assertInvalid, cluster3, np } from './helpers.js';

const others = (...xs: string[]) => ALL.filter((e) => !xs.includes(e));

describe('NetworkPolicy validation', () => {
  const bad = (spec: Record<string, unknown>, text: string | RegExp) => assertInvalid(() => normalizePolicy(np('x', 'p', spec)), text);

  it('normalizes with id namespace/name; namespace defaults to "default"', () => {
    const p = normalizePolicy(np('x', 'web', { podSelector: {} }));
    assert.equal(p.id, 'x/web');
    assert.equal(p.kind, 'NetworkPolicy');
    const d = normalizePolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'q' }, spec: {} });
    assert.equal(d.id, 'default/q');
  });

  it('names the offending field', () => {
    bad({ ingress: [{ ports: [{ port: 80 }, { port: 70000 }] }] }, 'spec.ingress[0].ports[1].port: must be an integer from 1 to 65535, got 70000');
    bad({ ingress: [{ ports: [{ port: '80' }] }] }, "spec.ingress[0].ports[0].port: '80' is a string; write the number 80");
    bad({ ingress: [{ ports: [{ port: 'Web_Port' }] }] }, 'spec.ingress[0].ports[0].port: \'Web_Port\' is not a valid port name');
    bad({ ingress: [{ ports: [{ port: 80, protocol: 'tcp' }] }] }, 'spec.ingress[0].ports[0].protocol: must be TCP, UDP or SCTP');
    bad({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, 'spec.ingress[0].ports[0].endPort: requires a numeric port');
    bad({ ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }, 'spec.ingress[0].ports[0].endPort: must be an integer from 90 to 65535');
    bad({ egress: [{ to: [{}] }] }, 'spec.egress[0].to[0]: must specify podSelector, namespaceSelector or ipBlock');
    bad({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, 'spec.egress[0].to[0]: ipBlock cannot be combined');
    bad({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] }, "spec.ingress[0].from[0].ipBlock.cidr: '10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)");
    bad({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]: \'11.0.0.0/16\' must be strictly inside cidr 10.0.0.0/8');
    bad({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] } }] }] }, 'ipBlock.except[0]');
    bad({ policyTypes: ['Ingress', 'Outgress'] }, "spec.policyTypes[1]: must be 'Ingress' or 'Egress'");
    bad({ policyTypes: ['Ingress', 'Ingress'] }, 'spec.policyTypes: must not repeat');
    bad({ ingres: [] }, 'spec.ingres: unknown field');
    bad({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, 'spec.podSelector.matchExpressions[0].values: must not be empty');
    assertInvalid(() => normalizePolicy({ apiVersion: 'networking.k8s.io/v1beta1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: {} }), "apiVersion: must be 'networking.k8s.io/v1'");
    assertInvalid(() => normalizePolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'P_Q' }, spec: {} }), 'metadata.name');
    assertInvalid(() => normalizePolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' } }), 'spec: must be an object');
    assertInvalid(() => normalizePolicy({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'p' } }), "kind: 'Service' is not a policy");
    assertInvalid(() => normalizePolicy('text'), 'a policy must be an object');
  });

  it('accepts IPv6 ipBlocks, which match no IPv4 address', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '::/0' } }] }] })]);
    assert.deepEqual(allowedTo(c, 'x/a'), []);
  });
});

describe('NetworkPolicy semantics', () => {
  it('a pod selected by no policy is not isolated', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] })]);
    assert.deepEqual(allowedFrom(c, 'x/b'), ALL);
    assert.deepEqual(allowedFrom(c, 'x/a'), []);
  });

  it('policyTypes absent: Ingress only, even with no rules (default deny ingress)', () => {
    const c = cluster3([np('x', 'p', { podSelector: {} })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), []);
    assert.deepEqual(allowedTo(c, 'x/a'), ALL_PODS.filter((p) => !p.startsWith('x/')), 'egress not isolated');
  });

  it('policyTypes absent with egress rules: Ingress and Egress', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{ ports: [{ port: 81 }] }] })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), [], 'ingress isolated, no ingress rule');
    assert.deepEqual(allowedTo(c, 'x/a', 80), []);
    assert.equal(allowedTo(c, 'x/a', 81).length, 8, 'every pod but the ingress-isolated x/a itself');
  });

  it('policyTypes absent with an empty egress list: Ingress only (as the API server defaults it)', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, egress: [] })]);
    assert.equal(allowedTo(c, 'x/a').length, 6);
    assert.deepEqual(normalizePolicy(np('x', 'p', { podSelector: {}, egress: [] })).egress, undefined);
  });

  it('policyTypes [Egress] ignores ingress rules; [Ingress] ignores egress rules', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [{}], egress: [] })]);
    assert.deepEqual(allowedFrom(c, 'y/a'), others('x/a', 'x/b', 'x/c'));
    assert.deepEqual(allowedFrom(c, 'x/a'), others('x/a', 'x/b', 'x/c'), 'ingress of x/a not isolated, but x pods cannot send');
    const c2 = cluster3([np('x', 'p', { podSelector: {}, policyTypes: ['Ingress'], egress: [{ to: [] }] })]);
    assert.equal(allowedTo(c2, 'x/a').length, 6);
  });

  it('podSelector in a peer only selects pods of the policy namespace', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), ['x/b']);
  });

  it('empty podSelector in a peer: every pod of the own namespace; empty namespaceSelector: every pod, no externals', () => {
    const own = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })]);
    assert.deepEqual(allowedFrom(own, 'x/c'), ['x/a', 'x/b', 'x/c']);
    const all = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })]);
    assert.deepEqual(allowedFrom(all, 'x/c'), ALL_PODS);
    const both = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: {} }] }] })]);
    assert.deepEqual(allowedFrom(both, 'x/c'), ALL_PODS);
  });

  it('namespaceSelector and podSelector in one peer are ANDed; separate peers are ORed', () => {
    const and = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    assert.deepEqual(allowedFrom(and, 'x/a'), ['y/b']);
    const or = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    assert.deepEqual(allowedFrom(or, 'x/a'), ['x/b', 'y/a', 'y/b', 'y/c']);
  });

  it('matchExpressions in namespace and pod selectors', () => {
    const c = cluster3([np('x', 'p', {
      podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] },
      ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['x'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }, { key: 'debug', operator: 'DoesNotExist' }] } }] }],
    })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), ['y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
    assert.deepEqual(allowedFrom(c, 'x/b'), ALL);
  });

  it('an empty rule {} allows everything, externals included', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{}] })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), ALL);
    assert.deepEqual(allowedFrom(c, 'x/a', 81, 'TCP'), ALL);
  });

  it('ipBlock with except matches any address in it (pods and externals), minus the exceptions', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.2.0.0/16', '10.3.0.11/32'] } }] }] })]);
    assert.deepEqual(allowedFrom(c, 'x/a'), ['x/a', 'x/b', 'x/c', 'z/a', 'z/c', 'ext/world']);
  });

  it('selectors never match non-pod addresses, even when the address is in a pod namespace range', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })],
      { externals: [{ name: 'world', ip: '203.0.113.10' }, { name: 'lb', ip: '10.1.0.200' }] });
    assert.ok(!allowed(c, 'ext/lb', 'x/a'));
    assert.ok(!allowed(c, 'ext/world', 'x/a'));
    assert.ok(allowed(c, 'y/a', 'x/a'));
  });

  it('ports: protocol defaults to TCP; UDP and SCTP; port-less entries allow the whole protocol', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 80 }, { protocol: 'UDP' }, { protocol: 'SCTP', port: 9000 }] }] })]);
    assert.ok(allowed(c, 'y/a', 'x/a', 80, 'TCP'));
    assert.ok(!allowed(c, 'y/a', 'x/a', 81, 'TCP'));
    assert.ok(allowed(c, 'y/a', 'x/a', 80, 'UDP'));
    assert.ok(allowed(c, 'y/a', 'x/a', 5353, 'UDP'));
    assert.ok(allowed(c, 'y/a', 'x/a', 9000, 'SCTP'));
    assert.ok(!allowed(c, 'y/a', 'x/a', 9001, 'SCTP'));
  });

  it('endPort makes an inclusive range', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 8000, endPort: 8080 }] }] })]);
    assert.deepEqual([7999, 8000, 8042, 8080, 8081].map((p) => allowed(c, 'y/a', 'x/a', p)), [false, true, true, true, false]);
  });

  it('named ports resolve per destination pod (ingress)', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })], {}, undefined);
    // Give x/a "web" on 80 and x/b "web" on 81: the name means a different number on each pod.
    const pa = c.pods.find((p) => p.key === 'x/a')!;
    const pb = c.pods.find((p) => p.key === 'x/b')!;
    pa.ports = [{ name: 'web', port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP' }];
    pb.ports = [{ port: 80, protocol: 'TCP' }, { name: 'web', port: 81, protocol: 'TCP' }];
    assert.ok(allowed(c, 'y/a', 'x/a', 80) && !allowed(c, 'y/a', 'x/a', 81));
    assert.ok(!allowed(c, 'y/a', 'x/b', 80) && allowed(c, 'y/a', 'x/b', 81));
    assert.ok(!allowed(c, 'y/a', 'x/c', 80) && !allowed(c, 'y/a', 'x/c', 81), 'x/c has no port named web');
  });

  it('named ports need the protocol to match too', () => {
    const c = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-udp' }] }] })]);
    assert.ok(!allowed(c, 'y/a', 'x/a', 80, 'UDP'), 'the entry means TCP, the pod port is UDP');
    const c2 = cluster3([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }] })]);
    assert.ok(allowed(c2, 'y/a', 'x/a', 80, 'UDP'));
  });

  it('named ports resolve against the destination in egress, and never match a non-pod destination', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-81-tcp' }] }] })]);
    assert.equal(allowedTo(c, 'x/a', 81).length, 9);
    assert.equal(allowedTo(c, 'x/a', 80).length, 0);
    assert.ok(!allowed(c, 'x/a', 'ext/world', 81));
  });

  it('policies are additive (a union); egress of the source AND ingress of the destination must allow', () => {
    const c = cluster3([
      np('x', 'deny', { podSelector: {} }),
      np('x', 'allow-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
      np('y', 'egress', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] }),
    ]);
    assert.deepEqual(allowedFrom(c, 'x/a'), ['y/a', 'y/c']);
    assert.deepEqual(allowedFrom(c, 'x/b'), []);
    assert.deepEqual(allowedTo(c, 'y/b'), ['z/a', 'z/b', 'z/c']);
  });

  it('a policy only selects pods in its own namespace', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } } })]);
    assert.deepEqual(allowedFrom(c, 'y/a'), ALL);
    assert.deepEqual(allowedFrom(c, 'x/a'), []);
  });

  it('a pod to itself is judged by the same rules', () => {
    const c = cluster3([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    assert.ok(!allowed(c, 'x/a', 'x/a'));
    assert.ok(allowed(c, 'x/b', 'x/b'));
  });
});
