// romana-cni as a runtime sees it: the built plugin, installed into a CNI bin dir, executed by the test
// runtime harness inside a private "host" network namespace against a real romanad, with pods in
// real network namespaces. Covers every verb for every supported cniVersion, retries, DEL after the
// namespace is gone, undo after a failure half-way, the spec's error codes, tenant/segment sources
// (a Kubernetes pod's segment label from romanad's pod metadata) and GC.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Conflist, type RuntimeOptions, conflistAdd, conflistCheck, conflistDel, conflistGc, conflistStatus, runPlugin } from '../helpers/cni-runtime.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { HOST_IP, Scene, enterPrivateHostNetns, ip } from './env.js';

enterPrivateHostNetns();

interface Addr { name: string; ip: string; host: string; tenant: string; segment: string; attributes?: Record<string, string> }

let scene: Scene;
let romanad: Romanad;
before(async () => {
  scene = new Scene();
  romanad = await startRomanad();
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.50.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });
});
after(async () => {
  await romanad?.stop();
  scene?.cleanup();
});

const VERSIONS = ['0.4.0', '1.0.0', '1.1.0'];
const romana = (extra: Record<string, unknown> = {}) => ({ type: 'romana', romana_api: romanad.url, host: 'h1', state_dir: join(scene.tmp, 'state'), ...extra });
const list = (cniVersion: string, plugins: Record<string, unknown>[] = [romana()]): Conflist => ({ cniVersion, name: 'romana-net', plugins });
let seq = 0;
const newCid = () => `c${process.pid}n${++seq}`;
const opts = (netns: string, containerId: string, extra: Partial<RuntimeOptions> = {}): RuntimeOptions => ({
  netns, containerId, cniPath: scene.binDir, args: { K8S_POD_NAMESPACE: 'ns1', K8S_POD_NAME: `pod-${containerId}`, IgnoreUnknown: '1' }, ...extra,
});
const addresses = async () => (await romanad.api.get<{ addresses: Addr[] }>('/addresses')).addresses;
const addressOf = async (cid: string) => (await addresses()).find((a) => a.attributes?.container_id === cid);
const rmnLinks = () => scene.hostLinks().filter((l) => l.startsWith('rmn'));
const podLinks = (ns: string) => (JSON.parse(ip('-n', ns, '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
const ping = (ns: string, to: string) => execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', to], { encoding: 'utf8' });

describe('ADD, CHECK, DEL for each cniVersion', () => {
  for (const v of VERSIONS) {
    it(`${v}: the result has that version's shape, the pod is reachable through the proxy-ARP gateway, CHECK passes, DEL is idempotent`, async () => {
      const pod = scene.netns();
      const cid = newCid();
      const o = opts(pod, cid);
      const res = await conflistAdd(list(v), o) as {
        cniVersion: string; interfaces: { name: string; mac: string; mtu?: number; sandbox?: string }[];
        ips: { address: string; gateway: string; interface: number; version?: string }[]; routes: { dst: string; gw: string }[];
      };
      assert.equal(res.cniVersion, v);
      assert.equal(res.interfaces.length, 2);
      const [hostIf, podIf] = res.interfaces;
      assert.match(hostIf.name, /^rmn[0-9a-f]{12}$/);
      assert.equal(hostIf.sandbox, undefined);
      assert.deepEqual([podIf.name, podIf.sandbox], ['eth0', `/run/netns/${pod}`]);
      assert.match(podIf.mac, /^0a(:[0-9a-f]{2}){5}$/);
      assert.equal(podIf.mtu, v === '1.1.0' ? 1500 : undefined);
      assert.equal(res.ips.length, 1);
      assert.match(res.ips[0].address, /^10\.50\.\d+\.\d+\/32$/);
      assert.equal(res.ips[0].gateway, '169.254.1.1');
      assert.equal(res.ips[0].interface, 1);
      assert.equal(res.ips[0].version, v === '0.4.0' ? '4' : undefined);
      assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);

      const podIp = res.ips[0].address.split('/')[0];
      const rec = await addressOf(cid);
      assert.ok(rec, 'romanad has the address');
      assert.equal(rec.ip, podIp);
      assert.equal(rec.name, `cni:${cid}:eth0`);
      assert.equal(rec.tenant, 'ns1');
      assert.deepEqual(rec.attributes, {
        plugin: 'romana-cni', cni_network: 'romana-net', container_id: cid, ifname: 'eth0', netns: `/run/netns/${pod}`, namespace: 'ns1', pod: `pod-${cid}`,
        host_ifname: hostIf.name,
      });
      // The pod's traffic to its own address goes out through the host (one hop: TTL 63) and back in.
      assert.match(ip('-n', pod, 'rule'), new RegExp(`to ${podIp.replace(/\./g, '\\.')} iif lo lookup 82`));
      assert.match(execFileSync('ip', ['netns', 'exec', pod, 'ping', '-c', '1', '-W', '1', podIp], { encoding: 'utf8' }), /ttl=63/);
      assert.ok(rmnLinks().includes(hostIf.name));
      // pod -> host through the gateway (proxy ARP on the host veth), and outside -> pod through the host.
      ping(pod, HOST_IP);
      ping(scene.outside, podIp);
      assert.match(ip('-n', pod, 'route'), /default via 169\.254\.1\.1 dev eth0/);
      assert.equal(execFileSync('cat', [`/proc/sys/net/ipv4/neigh/${hostIf.name}/proxy_delay`], { encoding: 'utf8' }).trim(), '0');

      await conflistCheck(list(v), o, res);
      const version = await runPlugin('romana', 'VERSION', { cniVersion: v }, { cniPath: scene.binDir });
      assert.deepEqual([version.exitCode, (version.json?.supportedVersions as string[]).includes(v)], [0, true]);
      const conf = { cniVersion: v, name: 'romana-net', ...romana() };
      for (const verb of ['GC', 'STATUS']) {
        // GC and STATUS are 1.1.0 verbs: older configs get code 1 (and a runtime would not send them).
        const r = await runPlugin('romana', verb, verb === 'GC' ? { ...conf, 'cni.dev/valid-attachments': [{ containerID: cid, ifname: 'eth0' }] } : conf, { cniPath: scene.binDir });
        assert.deepEqual([r.exitCode, r.json?.code], v === '1.1.0' ? [0, undefined] : [1, 1], `${verb} ${r.stdout}`);
      }
      assert.ok(await addressOf(cid), 'GC kept the valid attachment');
      await conflistStatus(list(v), o); // through the harness: a no-op for lists older than 1.1.0

      await conflistDel(list(v), o, res);
      assert.ok(!rmnLinks().includes(hostIf.name), 'host veth removed');
      assert.ok(!podLinks(pod).includes('eth0'), 'pod interface removed');
      assert.equal(await addressOf(cid), undefined, 'address released');
      await conflistDel(list(v), o, res); // again: still success
      await conflistDel(list(v), o); // and without prevResult
      scene.dropNetns(pod);
    });
  }
});

describe('retries, failures and cleanup', () => {
  it('a retried ADD returns the same result and creates nothing new', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const first = await conflistAdd(list('1.0.0'), opts(pod, cid));
    const links = rmnLinks();
    const count = (await addresses()).length;
    const again = await conflistAdd(list('1.0.0'), opts(pod, cid));
    assert.deepEqual(again, first);
    assert.deepEqual(rmnLinks(), links);
    assert.equal((await addresses()).length, count);
    assert.equal(podLinks(pod).filter((l) => l === 'eth0').length, 1);
    await conflistDel(list('1.0.0'), opts(pod, cid), first);
    scene.dropNetns(pod);
  });

  it('ADD into a pod that already has the interface fails and leaves nothing behind', async () => {
    const pod = scene.netns();
    ip('-n', pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0');
    const links = rmnLinks();
    const count = (await addresses()).length;
    const r = await runPlugin('romana', 'ADD', { cniVersion: '1.0.0', name: 'romana-net', ...romana() }, opts(pod, newCid()));
    assert.notEqual(r.exitCode, 0);
    assert.match(String(r.json?.msg), /already exists/);
    assert.deepEqual(rmnLinks(), links);
    assert.equal((await addresses()).length, count);
    scene.dropNetns(pod);
  });

  it('a failure half-way (veth made, pod not configured yet) undoes everything: no veth, no address', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const links = rmnLinks();
    const r = await runPlugin('romana', 'ADD', { cniVersion: '1.1.0', name: 'romana-net', ...romana() }, opts(pod, cid, { env: { ROMANA_CNI_FAILPOINT: 'after-veth' } }));
    assert.notEqual(r.exitCode, 0);
    assert.equal(r.json?.msg, 'failpoint after-veth');
    assert.deepEqual(rmnLinks(), links);
    assert.deepEqual(podLinks(pod), ['lo']);
    assert.equal(await addressOf(cid), undefined);
    scene.dropNetns(pod);
  });

  it('DEL succeeds after the network namespace is gone, and releases the address', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const res = await conflistAdd(list('1.1.0'), opts(pod, cid));
    assert.ok(await addressOf(cid));
    scene.dropNetns(pod);
    await conflistDel(list('1.1.0'), opts(pod, cid), res);
    assert.equal(await addressOf(cid), undefined);
    assert.ok(!rmnLinks().includes((res.interfaces as { name: string }[])[0].name));
    await conflistDel(list('1.1.0'), { ...opts(pod, cid), netns: undefined }); // no CNI_NETNS at all
  });

  it('CHECK names what is missing: a route, the IPAM reservation, the namespace; and needs prevResult', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const o = opts(pod, cid);
    const res = await conflistAdd(list('1.1.0'), o);
    ip('-n', pod, 'route', 'del', 'default');
    await assert.rejects(conflistCheck(list('1.1.0'), o, res), /default route via 169\.254\.1\.1 is missing/);
    ip('-n', pod, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
    await conflistCheck(list('1.1.0'), o, res);
    await romanad.api.del(`/address?addressName=${encodeURIComponent(`cni:${cid}:eth0`)}`);
    await assert.rejects(conflistCheck(list('1.1.0'), o, res), /romanad has no address/);
    const noPrev = await runPlugin('romana', 'CHECK', { cniVersion: '1.1.0', name: 'romana-net', ...romana() }, o);
    assert.equal(noPrev.json?.code, 7);
    await conflistDel(list('1.1.0'), o, res);
    scene.dropNetns(pod);
    await assert.rejects(conflistCheck(list('1.1.0'), o, res), (e: { code?: number }) => e.code === 3);
  });
});

describe('errors are the spec JSON on stdout with a non-zero exit', () => {
  const base = () => ({ cniVersion: '1.1.0', name: 'romana-net', type: 'romana', romana_api: romanad.url, host: 'h1', state_dir: join(scene.tmp, 'state') });
  const cases: { what: string; code: number; command?: string; config?: (b: Record<string, unknown>) => unknown; env?: Partial<RuntimeOptions>; msg?: RegExp }[] = [
    { what: 'an unsupported cniVersion', code: 1, config: (b) => ({ ...b, cniVersion: '0.2.0' }), msg: /0\.2\.0 is not supported/ },
    { what: 'no cniVersion', code: 1, config: (b) => ({ ...b, cniVersion: undefined }) },
    { what: 'GC with a 1.0.0 config', code: 1, command: 'GC', config: (b) => ({ ...b, cniVersion: '1.0.0' }) },
    { what: 'an ipam section', code: 2, config: (b) => ({ ...b, ipam: { type: 'host-local' } }), msg: /ipam/ },
    { what: 'an unknown field', code: 2, config: (b) => ({ ...b, romana_apii: 'x' }), msg: /romana_apii="x"/ },
    { what: 'no CNI_COMMAND', code: 4, command: '' },
    { what: 'an unknown CNI_COMMAND', code: 4, command: 'FROB' },
    { what: 'ADD without CNI_NETNS', code: 4, env: { netns: undefined }, msg: /CNI_NETNS/ },
    { what: 'a CNI_NETNS that does not exist', code: 4, env: { netns: '/run/netns/rcni-no-such-netns' } },
    { what: 'an interface name with a slash', code: 4, env: { ifname: 'eth/0' } },
    { what: 'an interface name of 16 characters', code: 4, env: { ifname: 'a234567890123456' } },
    { what: 'a container ID starting with a dash', code: 4, env: { containerId: '-abc' } },
    { what: 'malformed CNI_ARGS', code: 4, env: { args: 'K8S_POD_NAMESPACE' } },
    { what: 'no tenant (no namespace, no ROMANA_TENANT)', code: 4, env: { args: 'IgnoreUnknown=1' }, msg: /tenant/ },
    { what: 'stdin that is not JSON', code: 6, config: () => '{"cniVersion": ' },
    { what: 'stdin that is a JSON list', code: 6, config: () => '[]' },
    { what: 'no romana_api', code: 7, config: (b) => ({ ...b, romana_api: undefined }), msg: /romana_api/ },
    { what: 'romana_api that is not http(s)', code: 7, config: (b) => ({ ...b, romana_api: 'ftp://x' }) },
    { what: 'an mtu that is not a number', code: 7, config: (b) => ({ ...b, mtu: 'big' }), msg: /mtu/ },
    { what: 'no network name', code: 7, config: (b) => ({ ...b, name: undefined }) },
    { what: 'a host romanad does not know', code: 7, config: (b) => ({ ...b, host: 'nope' }), msg: /host 'nope'/ },
    { what: 'romanad unreachable on ADD (try again later)', code: 11, config: (b) => ({ ...b, romana_api: 'http://127.0.0.1:1' }) },
    { what: 'DEL with a state_dir that cannot be written (the release could not be recorded)', code: 5, command: 'DEL', config: (b) => ({ ...b, state_dir: '/dev/null/romana' }), msg: /cannot record the pending release/ },
    { what: 'STATUS with romanad unreachable', code: 50, command: 'STATUS', config: (b) => ({ ...b, romana_api: 'http://127.0.0.1:1' }) },
  ];
  let pod: string;
  before(() => (pod = scene.netns()));
  for (const c of cases) {
    it(`${c.what}: code ${c.code}`, async () => {
      const config = c.config ? c.config(base()) : base();
      const r = await runPlugin('romana', c.command ?? 'ADD', config, { ...opts(pod, newCid()), ...c.env });
      assert.equal(r.exitCode, 1, r.stdout);
      assert.ok(r.json, `stdout is one JSON document: ${r.stdout}`);
      assert.deepEqual(Object.keys(r.json).filter((k) => k !== 'details'), ['cniVersion', 'code', 'msg']);
      assert.equal(r.json.code, c.code, String(r.json.msg));
      assert.equal(typeof r.json.cniVersion, 'string');
      if (c.msg) assert.match(String(r.json.msg), c.msg);
    });
  }
  it('nothing was left behind by the failed calls', async () => {
    assert.deepEqual(podLinks(pod), ['lo']);
    assert.equal((await addresses()).filter((a) => a.attributes?.netns === `/run/netns/${pod}`).length, 0);
  });
  it('VERSION lists the supported versions', async () => {
    const r = await runPlugin('romana', 'VERSION', { cniVersion: '1.1.0' }, { cniPath: scene.binDir });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.json, { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });
  it('STATUS succeeds silently when romanad answers', async () => {
    const r = await runPlugin('romana', 'STATUS', base(), { cniPath: scene.binDir });
    assert.deepEqual([r.exitCode, r.stdout], [0, '']);
  });
});

describe('tenant and segment', () => {
  it('without Kubernetes: ROMANA_TENANT and ROMANA_SEGMENT from CNI_ARGS', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const o = opts(pod, cid, { args: { ROMANA_TENANT: 'acme', ROMANA_SEGMENT: 'db' } });
    const res = await conflistAdd(list('1.1.0'), o);
    const rec = await addressOf(cid);
    assert.deepEqual([rec?.tenant, rec?.segment], ['acme', 'db']);
    await conflistDel(list('1.1.0'), o, res);
    scene.dropNetns(pod);
  });

  it('runtimeConfig.labels (capability "labels") with a custom segment_label_name', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const l = list('1.0.0', [romana({ capabilities: { labels: true }, segment_label_name: 'tier' })]);
    const o = opts(pod, cid, { capabilityArgs: { labels: { tier: 'backend', other: 'x' } } });
    const res = await conflistAdd(l, o);
    assert.deepEqual([(await addressOf(cid))?.tenant, (await addressOf(cid))?.segment], ['ns1', 'backend']);
    await conflistDel(l, o, res);
    scene.dropNetns(pod);
  });

  it('Kubernetes: the segment from the pod\'s labels in romanad (romana-listener keeps them); an unknown pod gets the default', async () => {
    await romanad.api.put('/pods/shop/web-1', { labels: { app: 'web', 'romana.io/segment': 'frontend' }, host: 'h1', uid: 'uid-web-1' });
    const l = list('1.1.0', [romana()]);
    const pod = scene.netns();
    const cid = newCid();
    const o = opts(pod, cid, { args: { K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'web-1', K8S_POD_UID: 'uid-web-1', IgnoreUnknown: '1' } });
    const res = await conflistAdd(l, o);
    const rec = await addressOf(cid);
    assert.deepEqual([rec?.tenant, rec?.segment, rec?.attributes?.pod, rec?.attributes?.pod_uid], ['shop', 'frontend', 'web-1', 'uid-web-1']);
    await conflistDel(l, o, res);
    const pod2 = scene.netns();
    const cid2 = newCid();
    const o2 = opts(pod2, cid2, { args: { K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'unknown-0' } });
    const res2 = await conflistAdd(l, o2);
    assert.equal((await addressOf(cid2))?.segment, 'default');
    await conflistDel(l, o2, res2);
    scene.dropNetns(pod);
    scene.dropNetns(pod2);
  });
});

describe('a romanad older than the plugin', () => {
  // Stand-in for a romanad before segment_from_pod: a proxy to the real one that refuses the field
  // as romanad refuses any unknown body field (400 invalid naming it), and passes everything else on.
  it('refuses segment_from_pod: the plugin reads the pod label itself (GET /pods) and allocates as before', async () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d)).on('end', () => {
        seen.push(`${req.method} ${req.url?.split('?')[0]}${body.includes('segment_from_pod') ? ' +segment_from_pod' : ''}`);
        if (body.includes('segment_from_pod')) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid', message: "body: unknown field 'segment_from_pod'" }));
          return;
        }
        const up = httpRequest(`${romanad.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    try {
      await romanad.api.put('/pods/shop/old-1', { labels: { 'romana.io/segment': 'legacy' }, host: 'h1' });
      const l = list('1.1.0', [romana({ romana_api: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` })]);
      const pod = scene.netns();
      const cid = newCid();
      const o = opts(pod, cid, { args: { K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'old-1', IgnoreUnknown: '1' } });
      const res = await conflistAdd(l, o);
      assert.equal((await addressOf(cid))?.segment, 'legacy');
      assert.deepEqual(seen, ['POST /address +segment_from_pod', 'GET /pods/shop/old-1', 'POST /address']);
      await conflistDel(l, o, res);
      scene.dropNetns(pod);
    } finally {
      proxy.close();
    }
  });
});

describe('GC', () => {
  it('releases this host\'s plugin addresses whose attachment is not valid; keeps valid ones and others\' addresses', async () => {
    const l = list('1.1.0');
    const pods = [scene.netns(), scene.netns(), scene.netns()];
    const cids = [newCid(), newCid(), newCid()];
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await conflistAdd(l, opts(pods[i], cids[i])));
    await romanad.api.post('/address', { name: 'not-a-pod', host: 'h1', tenant: 't' });
    // Another network's attachment on this host is not ours to collect.
    const otherPod = scene.netns();
    const otherCid = newCid();
    const other = { ...l, name: 'other-net' };
    await conflistAdd(other, opts(otherPod, otherCid));

    await conflistGc(l, { cniPath: scene.binDir }, [{ containerID: cids[0], ifname: 'eth0' }]);
    const left = await addresses();
    assert.ok(left.some((a) => a.attributes?.container_id === cids[0]), 'the valid attachment stays');
    assert.ok(!left.some((a) => a.attributes?.container_id === cids[1] || a.attributes?.container_id === cids[2]), 'stale ones are released');
    assert.ok(left.some((a) => a.name === 'not-a-pod'), 'addresses the plugin did not make stay');
    assert.ok(left.some((a) => a.attributes?.container_id === otherCid), "another network's attachment stays");
    const hostIfs = results.map((r) => (r.interfaces as { name: string }[])[0].name);
    assert.deepEqual(hostIfs.map((n) => rmnLinks().includes(n)), [true, false, false]);

    await conflistDel(l, opts(pods[0], cids[0]), results[0]);
    await conflistDel(other, opts(otherPod, otherCid));
    await romanad.api.del('/address?addressName=not-a-pod');
    for (const p of [...pods, otherPod]) scene.dropNetns(p);
    assert.deepEqual(rmnLinks(), []);
  });
});
