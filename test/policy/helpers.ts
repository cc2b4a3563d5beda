// Builders shared by the policy tests.
import assert from 'node:assert/strict';
import { RomanaError } from '../../src/core/errors.js';
import { parseCluster, type Cluster } from '../../src/core/policy/cluster.js';
import { simulate, type ProbeProtocol } from '../../src/core/policy/evaluate.js';

export const np = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec,
});

const PORTS = [
  { name: 'serve-80-tcp', port: 80, protocol: 'TCP' },
  { name: 'serve-80-udp', port: 80, protocol: 'UDP' },
  { name: 'serve-81-tcp', port: 81, protocol: 'TCP' },
];

/**
 * Namespaces x, y, z (label ns=<name>), pods a, b, c in each (label pod=<name>) at 10.<1..3>.0.1<0..2>,
 * on host h<1..3> (one host per namespace unless `hostOf` says otherwise), and one external ext/world.
 */
export function cluster3(policies: unknown[] = [], extra: Record<string, unknown> = {}, hostOf?: (ns: string, pod: string) => string): Cluster {
  const nss = ['x', 'y', 'z'];
  return parseCluster({
    namespaces: nss.map((n) => ({ name: n, labels: { ns: n } })),
    pods: nss.flatMap((n, i) => ['a', 'b', 'c'].map((p, j) => ({
      namespace: n, name: p, labels: { pod: p }, ip: `10.${i + 1}.0.${10 + j}`, host: hostOf ? hostOf(n, p) : `h${i + 1}`, ports: PORTS,
    }))),
    externals: [{ name: 'world', ip: '203.0.113.10' }],
    policies,
    ...extra,
  });
}

/** The verdict for one probe. */
export function allowed(c: Cluster, from: string, to: string, port = 80, protocol: ProbeProtocol = 'TCP'): boolean {
  return simulate(c, [{ from, to, port, protocol }])[0].allowed;
}

/** Sources (of all pods and ext/world) allowed to reach `to` on port/protocol. */
export function allowedFrom(c: Cluster, to: string, port = 80, protocol: ProbeProtocol = 'TCP'): string[] {
  const srcs = [...c.pods.map((p) => p.key), ...c.externals.map((e) => e.key)];
  return simulate(c, srcs.map((from) => ({ from, to, port, protocol }))).filter((r) => r.allowed).map((r) => r.from);
}

/** Destinations (pods) `from` may reach on port/protocol. */
export function allowedTo(c: Cluster, from: string, port = 80, protocol: ProbeProtocol = 'TCP'): string[] {
  return simulate(c, c.pods.map((p) => ({ from, to: p.key, port, protocol }))).filter((r) => r.allowed).map((r) => r.to);
}

export const ALL_PODS = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];
export const ALL = [...ALL_PODS, 'ext/world'];

/** Asserts that `f` throws RomanaError('invalid') whose message contains `text`. */
export function assertInvalid(f: () => unknown, text: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof RomanaError, `expected RomanaError, got ${String(e)}`);
    assert.equal(e.kind, 'invalid');
    if (typeof text === 'string') assert.ok(e.message.includes(text), `message '${e.message}' lacks '${text}'`);
    else assert.match(e.message, text);
    return true;
  });
}
