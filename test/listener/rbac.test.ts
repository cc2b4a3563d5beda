// Least privilege, both ways. On the Kubernetes side the listener runs with the ServiceAccount token
// and exactly the RBAC objects of deploy/kubernetes against the test API server, which enforces RBAC:
// it is never refused, and every rule in its roles is one it used. On romanad's side its token (role
// listener) is never refused, and is refused what it has no business doing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/cli/client.js';
import { TokenAuthenticator, ruleAllows } from '../../src/testing/kube-apiserver/rbac.js';
import { requireBuilt } from '../helpers/romanad.js';
import { writeKubeconfig } from '../kube-apiserver/helpers.js';
import { Scene, TOKENS, eventually, manifests, namespace, netpol, node, pod, romanaPolicy } from './helpers.js';

const SA = 'system:serviceaccount:romana-system:romana-listener';
const SA_TOKEN = 'listener-service-account-token-0123456789';

describe('least privilege', () => {
  const s = new Scene({
    bookmarkIntervalMs: 300,
    tokens: new TokenAuthenticator().add(SA_TOKEN, { name: SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:romana-system'] }),
  });
  const rbac = manifests().map((m) => m.obj).filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));

  before(async () => {
    requireBuilt();
    await s.start();
    for (const o of rbac) if (!(o.kind === 'Namespace' && s.get('v1', 'Namespace', undefined, o.metadata.name))) s.create(o);
    writeKubeconfig(join(s.dir, 'sa-kubeconfig'), s.kubeUrl, SA_TOKEN);
  });
  after(() => s.stop());

  it('the listener does its whole job with its ClusterRole and Role, and uses every rule in them', async () => {
    const kubeconfig = join(s.dir, 'sa-kubeconfig');
    const l = await s.listener('rbac-1', 'a', [], kubeconfig);
    s.create(node('node-1', '192.168.30.1', { 'example.com/rack': 'r1' }));
    s.create(namespace('shop'));
    s.create(pod('shop', 'web', 'node-1', { app: 'web' }));
    s.create(netpol('shop', 'ok', { podSelector: {} }));
    s.create(netpol('shop', 'refused', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.1.2.3/8' } }] }] }));
    s.create(romanaPolicy('rp', { direction: 'ingress', applied_to: [{ tenant: 'shop' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'any' }] }] }));
    await eventually('status set', 8000, () => s.get('romana.io/v1', 'RomanaPolicy', undefined, 'rp')?.status?.conditions?.[0]?.status === 'True');
    await eventually('event recorded', 8000, () => s.list('v1', 'Event', 'shop').some((e) => e.involvedObject.name === 'refused'));
    await l.stop();
    // A second listener reports the same refusal again: the Event is read and its count raised.
    const l2 = await s.listener('rbac-2', 'a', [], kubeconfig);
    await eventually('event counted twice', 8000, () => s.list('v1', 'Event', 'shop').find((e) => e.involvedObject.name === 'refused')?.count === 2);
    await s.synced(l2);
    s.remove('v1', 'Node', undefined, 'node-1');
    await eventually('host gone', 8000, async () => (await s.admin.get<{ hosts: unknown[] }>('/hosts')).hosts.length === 0);
    await l2.stop();

    const mine = s.kube.requests.filter((r) => r.user === SA);
    assert.ok(mine.length > 20);
    const refused = mine.filter((r) => r.code === 401 || r.code === 403);
    assert.deepEqual(refused.map((r) => `${r.verb} ${r.path}`), [], 'the listener was refused nothing');
    const used = mine.filter((r) => r.resource !== undefined);
    const roles = rbac.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    const rules = roles.flatMap((r) => r.rules as Record<string, string[]>[]);
    for (const u of used) {
      const a = { user: { name: SA, groups: [] }, verb: u.verb, resource: { group: u.group!, resource: u.resource!, subresource: u.subresource, namespace: u.namespace, name: u.name } };
      assert.ok(rules.some((r) => ruleAllows(r, a)), `${u.verb} ${u.path} is allowed by a rule`);
    }
    // Every rule (each verb of each resource) was needed.
    for (const r of rules) {
      for (const verb of r.verbs) {
        for (const res of r.resources) {
          const [resource, sub] = res.split('/');
          const hit = used.some((u) => u.verb === verb && u.group === r.apiGroups[0] && u.resource === resource && u.subresource === sub && (!r.resourceNames || r.resourceNames.includes(u.name!)));
          assert.ok(hit, `the rule ${verb} ${r.apiGroups[0] || 'core'}/${res} was never used`);
        }
      }
    }
  });

  it('romanad never refused the listener, and refuses it what its role does not need', async () => {
    const refusedListener = s.audit().filter((e) => e.who.startsWith('listener-') && (e.status === 401 || e.status === 403));
    assert.deepEqual(refusedListener, []);
    const wrote = new Set(s.audit().filter((e) => e.who === 'listener-a').map((e) => `${e.method} ${e.url.split('?')[0].split('/').slice(0, 2).join('/')}`));
    for (const w of ['POST /hosts', 'PUT /hosts', 'DELETE /hosts', 'PUT /namespaces', 'PUT /pods', 'POST /policies']) assert.ok(wrote.has(w), `the listener did ${w}`);
    const asListener = new ApiClient({ baseUrl: s.romanad.url, token: TOKENS.a });
    const forbidden = async (method: string, path: string, body?: unknown) => {
      await assert.rejects(asListener.request(method, path, body), (e: Error & { kind?: string }) => e.kind === 'forbidden', `${method} ${path}`);
    };
    await forbidden('POST', '/topology', { networks: [], topologies: [] });
    await forbidden('POST', '/address', { name: 'x', host: 'h', tenant: 't' });
    await forbidden('DELETE', '/address?addressName=x');
    await forbidden('GET', '/topology');
    await forbidden('GET', '/blocks');
    await forbidden('GET', '/store/list?prefix=/romana/');
    await forbidden('POST', '/ipam/repair', {});
    await forbidden('POST', '/blackouts', { cidr: '10.0.0.0/24' });
    await forbidden('DELETE', '/hosts/node-1?force=true');
  });
});
