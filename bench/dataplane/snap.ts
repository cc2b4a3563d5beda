// The synthetic host of the dataplane benchmark: 46 namespaces × 20 NetworkPolicies (2 ingress rules of
// 2 peers × TCP+UDP), 10 local and 10 remote pods per namespace → 10,127 rules in 1,155 chains, 240 sets,
// 1,840 entries, as the store's keys.
import { addressKey, hostKey, namespaceKey, podKey, policyKey } from '../../src/control/keys.js';
const J = JSON.stringify;
const N = 46, PODS = 10, POLICIES = 20, RULES = 2;
export function policy(ns: string, k: number, n: number, portBase = 1000) {
  const ingress = Array.from({ length: RULES }, (_, r) => ({
    from: [{ podSelector: { matchLabels: { app: `a${(k + r) % 5}` } } }, { namespaceSelector: { matchLabels: { team: `t${(n + k + r) % 10}` } } }],
    ports: [{ port: portBase + k * 10 + r }, { port: 2000 + r, protocol: 'UDP' }],
  }));
  const object = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `p${k}`, namespace: ns }, spec: { podSelector: { matchLabels: { app: `a${k % 5}` } }, ingress } };
  return J({ id: `${ns}/p${k}`, kind: 'NetworkPolicy', object });
}
export function snapshot(): Map<string, string> {
  const m = new Map<string, string>();
  m.set(hostKey('h'), J({ name: 'h', ip: '192.168.5.1', labels: {}, agent_port: 9604 }));
  m.set(hostKey('h2'), J({ name: 'h2', ip: '192.168.5.2', labels: {}, agent_port: 9604 }));
  let ip = 0;
  for (let n = 0; n < N; n++) {
    const ns = `ns${n}`;
    m.set(namespaceKey(ns), J({ name: ns, labels: { team: `t${n % 10}` } }));
    for (const host of ['h', 'h2']) {
      for (let p = 0; p < PODS; p++) {
        const name = `${ns}-${host}-${p}`;
        const a = ++ip;
        m.set(addressKey(name), J({ name, ip: `10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`, host, tenant: ns, segment: 'default', network: 'pods', block: '' }));
        m.set(podKey(ns, name), J({ namespace: ns, name, labels: { app: `a${p % 5}` }, ports: [] }));
      }
    }
    for (let k = 0; k < POLICIES; k++) m.set(policyKey(`${ns}/p${k}`), policy(ns, k, n));
  }
  return m;
}

