// A CNI ADD killed half-way (SIGKILL once the veth exists and the address is allocated, before the
// pod is configured: nothing gets undone) leaves an address and an interface behind; a later DEL, or a
// GC whose valid attachments no longer hold it, removes both, and keeps what is valid.
// Real plugin processes, real namespaces (inside a private "host" namespace), real romanad.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { conflistAdd, conflistDel, conflistGc, type Conflist } from '../helpers/cni-runtime.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { HOST_IP, Scene, enterPrivateHostNetns, ip } from '../cni/env.js';

enterPrivateHostNetns();

interface Addr { name: string; ip: string; attributes?: Record<string, string> }

let scene: Scene;
let romanad: Romanad;
before(async () => {
  scene = new Scene();
  romanad = await startRomanad();
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.60.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });
});
after(async () => {
  await romanad?.stop();
  scene?.cleanup();
});

const conf = () => ({ cniVersion: '1.1.0', name: 'kill-net', type: 'romana', romana_api: romanad.url, host: 'h1', state_dir: join(scene.tmp, 'state') });
const list = (): Conflist => ({ cniVersion: '1.1.0', name: 'kill-net', plugins: [{ type: 'romana', romana_api: romanad.url, host: 'h1', state_dir: join(scene.tmp, 'state') }] });
let seq = 0;
const newCid = () => `k${process.pid}n${++seq}`;
const args = (cid: string) => ({ K8S_POD_NAMESPACE: 'ns1', K8S_POD_NAME: `pod-${cid}` });
const opts = (netns: string, containerId: string) => ({ netns, containerId, cniPath: scene.binDir, args: args(containerId) });
const addressOf = async (cid: string) => (await romanad.api.get<{ addresses: Addr[] }>('/addresses')).addresses.find((a) => a.attributes?.container_id === cid);
const rmnLinks = () => scene.hostLinks().filter((l) => l.startsWith('rmn'));
const podLinks = (ns: string) => (JSON.parse(ip('-n', ns, '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);

/** Starts ADD with the hanging failpoint, waits until it is half-way, and SIGKILLs it. */
async function killedAdd(netns: string, cid: string): Promise<void> {
  const p = spawn(join(scene.binDir, 'romana'), [], {
    env: {
      PATH: process.env.PATH!, CNI_COMMAND: 'ADD', CNI_CONTAINERID: cid, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: scene.binDir,
      CNI_ARGS: Object.entries(args(cid)).map(([k, v]) => `${k}=${v}`).join(';'), ROMANA_CNI_FAILPOINT: 'hang-after-veth',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<string | null>((r) => p.once('exit', (_code, sig) => r(sig)));
  p.stdin.end(JSON.stringify(conf()));
  let err = '';
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`ADD did not reach the failpoint in 20 s; stderr: ${err}`)), 20_000);
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('failpoint hang-after-veth reached')) {
        clearTimeout(t);
        ok();
      }
    });
    p.once('exit', (code) => fail(new Error(`ADD exited (${code}) before the failpoint; stderr: ${err}`)));
  });
  p.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
}

describe('a CNI ADD killed half-way', () => {
  it('leaves an address and a veth behind (nothing undone); a later DEL removes both', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const before = rmnLinks();
    await killedAdd(pod, cid);
    const a = await addressOf(cid);
    assert.ok(a, 'the address was allocated before the kill');
    const veth = a.attributes!.host_ifname;
    assert.ok(rmnLinks().includes(veth), 'the host veth exists after the kill');
    assert.ok(podLinks(pod).includes('eth0'), 'the pod end exists after the kill');

    await conflistDel(list(), opts(pod, cid));
    assert.equal(await addressOf(cid), undefined, 'no address');
    assert.deepEqual(rmnLinks(), before, 'no host veth');
    assert.deepEqual(podLinks(pod), ['lo'], 'no pod interface');
    scene.dropNetns(pod);
  });

  it('a later GC without the attachment removes both, and keeps a valid attachment intact', async () => {
    const livePod = scene.netns();
    const liveCid = newCid();
    const live = await conflistAdd(list(), opts(livePod, liveCid));
    const pod = scene.netns();
    const cid = newCid();
    await killedAdd(pod, cid);
    const a = await addressOf(cid);
    assert.ok(a && rmnLinks().includes(a.attributes!.host_ifname));

    await conflistGc(list(), { cniPath: scene.binDir }, [{ containerID: liveCid, ifname: 'eth0' }]);
    assert.equal(await addressOf(cid), undefined, 'no address');
    assert.ok(!rmnLinks().includes(a.attributes!.host_ifname), 'no host veth');
    assert.deepEqual(podLinks(pod), ['lo'], 'no pod interface');
    const kept = await addressOf(liveCid);
    assert.ok(kept, 'the valid attachment keeps its address');
    assert.ok(rmnLinks().includes(kept.attributes!.host_ifname), 'and its veth');
    assert.deepEqual((live.ips as { address: string }[])[0].address, `${kept.ip}/32`);

    await conflistDel(list(), opts(livePod, liveCid), live);
    for (const p of [pod, livePod]) scene.dropNetns(p);
    assert.deepEqual(rmnLinks(), []);
  });

  it('the runtime retrying the killed ADD gets a working pod with the same address', async () => {
    const pod = scene.netns();
    const cid = newCid();
    await killedAdd(pod, cid);
    const a = await addressOf(cid);
    const res = await conflistAdd(list(), opts(pod, cid));
    assert.equal((res.ips as { address: string }[])[0].address, `${a!.ip}/32`);
    assert.ok(podLinks(pod).includes('eth0'));
    await conflistDel(list(), opts(pod, cid), res);
    assert.equal(await addressOf(cid), undefined);
    scene.dropNetns(pod);
    assert.deepEqual(rmnLinks(), []);
  });
});
