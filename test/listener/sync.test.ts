// romana-listener keeps romanad in step with the API server: nodes, namespaces, pods, NetworkPolicies
// and RomanaPolicies are created, relabelled and deleted in romanad within a bounded time; a deleted
// pod's address is released; a deleted node's host goes once its pods are gone; refused objects get
// an Event (and a status condition), and the objects after them still apply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireBuilt } from '../helpers/romanad.js';
import { Scene, eventually, namespace, netpol, node, pod, romanaPolicy } from './helpers.js';

const BOUND = 5000; // every change must reach romanad within this
const ALLOW_WEB = { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] };

describe('romana-listener: the cluster in romanad', () => {
  const s = new Scene();
  before(async () => {
    requireBuilt();
    await s.start();
    await s.listener('one');
  });
  after(() => s.stop());

  const hosts = async () => (await s.admin.get<{ hosts: { name: string; ip: string; labels: Record<string, string>; draining?: boolean }[] }>('/hosts')).hosts;
  const pods = async () => (await s.admin.get<{ pods: { namespace: string; name: string; labels: Record<string, string>; ports: unknown[]; host?: string; ip?: string; uid?: string }[] }>('/pods')).pods;
  const policies = async () => (await s.admin.get<{ policies: { id: string; kind: string; object: Record<string, any> }[] }>('/policies')).policies; // eslint-disable-line @typescript-eslint/no-explicit-any
  const tenants = async () => (await s.admin.get<{ namespaces: { name: string; labels: Record<string, string> }[] }>('/namespaces')).namespaces;

  it('nodes become hosts with their labels (zone, and the rack label as `rack`), placed by them', async () => {
    s.create(node('node-1', '192.168.10.1', { 'topology.kubernetes.io/zone': 'z1', 'example.com/rack': 'r1' }));
    s.create(node('node-2', '192.168.10.2', { 'example.com/rack': 'r2' }));
    const hs = await eventually('two hosts', BOUND, async () => ((await hosts()).length === 2 ? hosts() : undefined));
    const h1 = hs.find((h) => h.name === 'node-1')!;
    assert.equal(h1.ip, '192.168.10.1');
    assert.equal(h1.labels['topology.kubernetes.io/zone'], 'z1');
    assert.equal(h1.labels.rack, 'r1');
    const topo = await s.admin.get<{ topologies: { map: { name: string; groups: { name: string }[] }[] }[] }>('/topology');
    assert.deepEqual(topo.topologies[0].map.map((g) => [g.name, g.groups.map((x) => x.name)]), [['rack-1', ['node-1']], ['rack-2', ['node-2']]]);
    s.patch('v1', 'Node', undefined, 'node-2', { metadata: { labels: { team: 'infra' } } });
    await eventually('the new label on the host', BOUND, async () => (await hosts()).find((h) => h.name === 'node-2')?.labels.team === 'infra');
  });

  it('namespaces become tenants with their labels; pods become metadata with ports, node, address and UID', async () => {
    s.create(namespace('shop', { team: 'blue' }));
    const p = s.create(pod('shop', 'web-1', 'node-1', { app: 'web' }, [{ name: 'http', containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }]));
    s.patch('v1', 'Pod', 'shop', 'web-1', { status: { podIP: '10.120.0.5', phase: 'Running' } }, 'status');
    await eventually('tenant shop', BOUND, async () => (await tenants()).find((t) => t.name === 'shop')?.labels.team === 'blue');
    const rec = await eventually('pod metadata with its address', BOUND, async () => (await pods()).find((x) => x.name === 'web-1' && x.ip));
    assert.deepEqual(rec, {
      namespace: 'shop', name: 'web-1', labels: { app: 'web' }, host: 'node-1', ip: '10.120.0.5', uid: p.metadata.uid,
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }],
    });
    s.patch('v1', 'Namespace', undefined, 'shop', { metadata: { labels: { team: 'green' } } });
    s.patch('v1', 'Pod', 'shop', 'web-1', { metadata: { labels: { app: 'web', v: '2' } } });
    await eventually('relabelled', BOUND, async () => (await tenants()).find((t) => t.name === 'shop')?.labels.team === 'green' && (await pods()).find((x) => x.name === 'web-1')?.labels.v === '2');
  });

  it('NetworkPolicies are created, modified and deleted', async () => {
    s.create(netpol('shop', 'allow-web', ALLOW_WEB));
    const p = await eventually('policy in romanad', BOUND, async () => (await policies()).find((x) => x.id === 'shop/allow-web'));
    assert.equal(p.kind, 'NetworkPolicy');
    assert.deepEqual(p.object.spec.ingress[0].ports, [{ port: 'http', protocol: 'TCP' }]);
    const cur = s.get('networking.k8s.io/v1', 'NetworkPolicy', 'shop', 'allow-web')!;
    s.update({ ...cur, spec: { ...cur.spec, ingress: [{ ports: [{ port: 9090 }] }] } });
    await eventually('modified', BOUND, async () => (await policies()).find((x) => x.id === 'shop/allow-web')?.object.spec.ingress[0].ports[0].port === 9090);
    s.remove('networking.k8s.io/v1', 'NetworkPolicy', 'shop', 'allow-web');
    await eventually('deleted', BOUND, async () => !(await policies()).some((x) => x.id === 'shop/allow-web'));
  });

  it('a refused NetworkPolicy gets a Warning Event, and the objects after it still apply', async () => {
    // The API server takes an ipBlock CIDR with host bits set; romanad refuses it (it is most likely a typo).
    s.create(netpol('shop', 'hostbits', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] }));
    s.create(netpol('shop', 'after', ALLOW_WEB));
    s.create(pod('shop', 'web-2', 'node-2', { app: 'web' }));
    await eventually('the later objects', BOUND, async () => (await policies()).some((x) => x.id === 'shop/after') && (await pods()).some((x) => x.name === 'web-2'));
    assert.ok(!(await policies()).some((x) => x.id === 'shop/hostbits'));
    const ev = await eventually('an Event on the refused policy', BOUND, () => s.list('v1', 'Event', 'shop').find((e) => e.involvedObject.name === 'hostbits'));
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.reason, 'RomanaRefused');
    assert.equal(ev.involvedObject.kind, 'NetworkPolicy');
    assert.match(ev.message, /romanad refused the policy: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: '10\.0\.0\.1\/8' has host bits set/);
    assert.equal(ev.source.component, 'romana-listener');
    // Fixing the object makes it apply.
    s.update({ ...s.get('networking.k8s.io/v1', 'NetworkPolicy', 'shop', 'hostbits')!, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] } });
    await eventually('the fixed policy', BOUND, async () => (await policies()).some((x) => x.id === 'shop/hostbits'));
  });

  it('RomanaPolicies apply with an Accepted condition; a refused one says why in its status', async () => {
    s.create(romanaPolicy('web-from-any', { direction: 'ingress', applied_to: [{ tenant: 'shop', segment: 'web' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] }));
    // Valid for the CRD's schema, refused by romanad: a tenant and a cidr in one endpoint.
    s.create(romanaPolicy('two-kinds', { direction: 'ingress', applied_to: [{ tenant: 'shop', cidr: '10.0.0.0/8' }], ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'any' }] }] }));
    const ok = await eventually('accepted', BOUND, () => s.get('romana.io/v1', 'RomanaPolicy', undefined, 'web-from-any')?.status?.conditions?.[0]);
    assert.equal(ok.status, 'True');
    assert.equal(ok.observedGeneration, 1);
    const stored = (await policies()).find((x) => x.id === 'web-from-any')!;
    assert.equal(stored.kind, 'RomanaPolicy');
    assert.equal(stored.object.external_id, 'romanapolicies.romana.io/web-from-any');
    const bad = await eventually('refused condition', BOUND, () => s.get('romana.io/v1', 'RomanaPolicy', undefined, 'two-kinds')?.status?.conditions?.[0]);
    assert.equal(bad.status, 'False');
    assert.equal(bad.reason, 'Refused');
    assert.match(bad.message, /applied_to\[0\]: give exactly one of tenant/);
    assert.ok(s.list('v1', 'Event', 'default').some((e) => e.involvedObject.name === 'two-kinds' && e.involvedObject.kind === 'RomanaPolicy'));
    s.remove('romana.io/v1', 'RomanaPolicy', undefined, 'web-from-any');
    await eventually('deleted', BOUND, async () => !(await policies()).some((x) => x.id === 'web-from-any'));
  });

  it('a deleted pod has its address released (after the grace period); a replaced pod too', async () => {
    const uid = s.get('v1', 'Pod', 'shop', 'web-2')!.metadata.uid;
    const alloc = (name: string, host: string, podName: string, podUid: string) => s.admin.post<{ ip: string }>('/address', {
      name, host, tenant: 'shop', attributes: { plugin: 'romana-cni', namespace: 'shop', pod: podName, pod_uid: podUid, container_id: name, ifname: 'eth0' },
    });
    await alloc('cni:c2:eth0', 'node-2', 'web-2', uid);
    await alloc('cni:c3:eth0', 'node-1', 'web-1', 'an-older-uid'); // web-1 was re-created since this was allocated
    const live = await alloc('cni:c4:eth0', 'node-1', 'web-1', s.get('v1', 'Pod', 'shop', 'web-1')!.metadata.uid);
    s.remove('v1', 'Pod', 'shop', 'web-2');
    const addrs = async () => (await s.admin.get<{ addresses: { name: string }[] }>('/addresses')).addresses.map((a) => a.name);
    await eventually('released', BOUND, async () => {
      const a = await addrs();
      return !a.includes('cni:c2:eth0') && !a.includes('cni:c3:eth0');
    });
    assert.ok((await addrs()).includes('cni:c4:eth0'), `the live pod's address ${live.ip} stays`);
    assert.ok(!(await pods()).some((x) => x.name === 'web-2'), 'its metadata goes too');
  });

  it('a deleted node drains its host, which goes once its pods are gone', async () => {
    s.remove('v1', 'Node', undefined, 'node-1');
    const h = await eventually('draining', BOUND, async () => (await hosts()).find((x) => x.name === 'node-1' && x.draining));
    assert.ok(h);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok((await hosts()).some((x) => x.name === 'node-1'), 'the host stays while its pod lives');
    s.remove('v1', 'Pod', 'shop', 'web-1');
    await eventually('host removed', BOUND + 10000, async () => !(await hosts()).some((x) => x.name === 'node-1'));
    // Namespaces go with what they hold.
    s.remove('v1', 'Namespace', undefined, 'shop');
    await eventually('tenant and its policies gone', BOUND, async () => !(await tenants()).some((t) => t.name === 'shop') && !(await policies()).some((p) => p.id.startsWith('shop/')));
  });
});
