// A CNI DEL killed at each point of its write-ahead order loses no release: the release is on disk
// (fsync'd) before anything is torn down, so a DEL SIGKILLed right after recording it, or after tearing
// the interface down while romanad was unreachable, leaves a claim of a dead process that the next
// plugin call sends. Also: DEL with romanad down succeeds, tears down, and leaves the release pending.
// Real plugin processes, real namespaces (inside a private "host" namespace), real romanad.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { conflistAdd, runPlugin, type Conflist } from '../helpers/cni-runtime.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { HOST_IP, Scene, enterPrivateHostNetns } from '../cni/env.js';

enterPrivateHostNetns();

interface Addr { name: string; ip: string; attributes?: Record<string, string> }

let scene: Scene;
let romanad: Romanad;
let port = 0;
before(async () => {
  scene = new Scene();
  romanad = await startRomanad({ dataDir: join(scene.tmp, 'romanad') });
  port = Number(new URL(romanad.url).port);
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.61.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });
});
after(async () => {
  await romanad?.stop();
  scene?.cleanup();
});

const plugin = () => ({ type: 'romana', romana_api: `http://127.0.0.1:${port}`, host: 'h1', state_dir: join(scene.tmp, 'state') });
const list = (): Conflist => ({ cniVersion: '1.1.0', name: 'del-net', plugins: [plugin()] });
let seq = 0;
const newCid = () => `d${process.pid}n${++seq}`;
const args = (cid: string) => ({ ROMANA_TENANT: 't', K8S_POD_NAME: `pod-${cid}` });
const opts = (netns: string, containerId: string) => ({ netns, containerId, cniPath: scene.binDir, args: args(containerId) });
const addressOf = async (cid: string) => (await romanad.api.get<{ addresses: Addr[] }>('/addresses')).addresses.find((a) => a.attributes?.container_id === cid);
const journal = () => {
  const d = join(scene.tmp, 'state', 'cni', 'pending-releases');
  return existsSync(d) ? readdirSync(d).filter((f) => !f.startsWith('.')) : [];
};
const restart = async () => {
  romanad = await startRomanad({ dataDir: join(scene.tmp, 'romanad'), extraArgs: ['--port', String(port)] });
};

/** DEL with a hanging failpoint, SIGKILLed once it is there. */
async function killedDel(netns: string, cid: string, at: string, prevResult: unknown): Promise<void> {
  const p = spawn(join(scene.binDir, 'romana'), [], {
    env: {
      PATH: process.env.PATH!, CNI_COMMAND: 'DEL', CNI_CONTAINERID: cid, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: scene.binDir,
      CNI_ARGS: Object.entries(args(cid)).map(([k, v]) => `${k}=${v}`).join(';'), ROMANA_CNI_FAILPOINT: `hang-${at}`,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<string | null>((r) => p.once('exit', (_code, sig) => r(sig)));
  p.stdin.end(JSON.stringify({ cniVersion: '1.1.0', name: 'del-net', ...plugin(), prevResult }));
  let err = '';
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`DEL did not reach ${at} in 20 s; stderr: ${err}`)), 20_000);
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes(`failpoint hang-${at} reached`)) {
        clearTimeout(t);
        ok();
      }
    });
    p.once('exit', (code) => fail(new Error(`DEL exited (${code}) before ${at}; stderr: ${err}`)));
  });
  p.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
}

describe('a CNI DEL that cannot reach romanad, or is killed half-way, loses no release', () => {
  it('romanad down: DEL succeeds, the interface is gone, the release is pending; the next call that reaches romanad sends it', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const res = await conflistAdd(list(), opts(pod, cid));
    const a = await addressOf(cid);
    await romanad.stop();
    const r = await runPlugin('romana', 'DEL', { cniVersion: '1.1.0', name: 'del-net', ...plugin(), prevResult: res }, opts(pod, cid));
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.ok(!scene.hostLinks().includes(a!.attributes!.host_ifname), 'the host veth is gone');
    assert.deepEqual(journal().map((f) => f.split('.')[1]), ['pending']);
    await restart();
    assert.equal((await addressOf(cid))?.ip, a!.ip, 'still allocated while pending');
    const other = newCid();
    const otherPod = scene.netns();
    await conflistAdd(list(), opts(otherPod, other));
    assert.equal(await addressOf(cid), undefined, 'the next ADD sent the release');
    assert.deepEqual(journal(), []);
    await runPlugin('romana', 'DEL', { cniVersion: '1.1.0', name: 'del-net', ...plugin() }, opts(otherPod, other));
    for (const p of [pod, otherPod]) scene.dropNetns(p);
  });

  it('killed right after recording the release (nothing torn down yet): the release is sent later', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const res = await conflistAdd(list(), opts(pod, cid));
    await killedDel(pod, cid, 'after-journal', res);
    assert.deepEqual(journal().map((f) => f.split('.')[1]), ['sending'], "the record is there, claimed by the dead DEL");
    assert.ok(await addressOf(cid), 'not released yet');
    const r = await runPlugin('romana', 'DEL', { cniVersion: '1.1.0', name: 'del-net', ...plugin(), prevResult: res }, opts(pod, cid)); // the runtime's retry
    assert.equal(r.exitCode, 0, r.stdout);
    assert.equal(await addressOf(cid), undefined);
    assert.deepEqual(journal(), [], 'the retry settled the old record too');
    scene.dropNetns(pod);
  });

  it('killed after the teardown while romanad was down (the runtime never retries): the next call sends the release', async () => {
    const pod = scene.netns();
    const cid = newCid();
    const res = await conflistAdd(list(), opts(pod, cid));
    const a = await addressOf(cid);
    await romanad.stop();
    await killedDel(pod, cid, 'after-teardown', res);
    assert.ok(!scene.hostLinks().includes(a!.attributes!.host_ifname), 'torn down before the kill');
    assert.deepEqual(journal().map((f) => f.split('.')[1]), ['sending']);
    await restart();
    scene.dropNetns(pod);
    const otherPod = scene.netns();
    const other = newCid();
    await conflistAdd(list(), opts(otherPod, other));
    assert.equal(await addressOf(cid), undefined, 'released by the next ADD');
    assert.deepEqual(journal(), []);
    await runPlugin('romana', 'DEL', { cniVersion: '1.1.0', name: 'del-net', ...plugin() }, opts(otherPod, other));
    scene.dropNetns(otherPod);
  });
});
