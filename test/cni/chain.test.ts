// romana as the first plugin of a .conflist followed by Debian's reference plugins (tuning, bandwidth,
// portmap), run the way a runtime runs a list: each plugin must get a prevResult it can use, and the
// whole chain must work -- a hostPort reached from outside the pod, shaping on the host veth, a
// sysctl and a MAC in the pod -- and be undone by DEL in reverse order.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { type Conflist, type RuntimeOptions, conflistAdd, conflistCheck, conflistDel } from '../helpers/cni-runtime.js';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { HOST_IP, Scene, enterPrivateHostNetns, ip, sh } from './env.js';

enterPrivateHostNetns();

let scene: Scene;
let romanad: Romanad;
const servers: ChildProcess[] = [];
before(async () => {
  scene = new Scene();
  romanad = await startRomanad();
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.60.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });
});
after(async () => {
  for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
  await romanad?.stop();
  scene?.cleanup();
});

/** An HTTP server in the pod that answers with the address it saw the client come from. */
async function podServer(pod: string, port: number): Promise<ChildProcess> {
  const code = `require('http').createServer((q,s)=>s.end('pod saw '+q.socket.remoteAddress)).listen(${port},'0.0.0.0',()=>console.log('ready'))`;
  const p = spawn('ip', ['netns', 'exec', pod, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(p);
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error('pod server did not start')), 10000);
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && (clearTimeout(t), ok()));
    p.on('exit', (c) => fail(new Error(`pod server exited ${c}`)));
  });
  return p;
}

const curl = (url: string, netns?: string) =>
  execFileSync(netns ? 'ip' : 'curl', [...(netns ? ['netns', 'exec', netns, 'curl'] : []), '-s', '-m', '3', url], { encoding: 'utf8' });

describe('romana -> tuning -> bandwidth -> portmap', () => {
  const MAC = '0a:58:0a:3c:00:42';
  const list = (): Conflist => ({
    cniVersion: '1.0.0', // the Debian plugins (1.1.1) speak up to 1.0.0
    name: 'chain',
    plugins: [
      { type: 'romana', romana_api: romanad.url, host: 'h1', mtu: 1400, state_dir: join(scene.tmp, 'state') },
      { type: 'tuning', capabilities: { mac: true }, sysctl: { 'net.core.somaxconn': '512' } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  });
  let pod: string;
  let o: RuntimeOptions;
  let result: Record<string, unknown>;
  let hostVeth: string;

  before(async () => {
    pod = scene.netns();
    o = {
      netns: pod, containerId: `chain${process.pid}`, cniPath: scene.binDir, args: { K8S_POD_NAMESPACE: 'web', K8S_POD_NAME: 'shop-1', IgnoreUnknown: '1' },
      capabilityArgs: {
        mac: MAC,
        bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 4_000_000, egressBurst: 400_000 },
        portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
      },
    };
    result = await conflistAdd(list(), o);
    hostVeth = (result.interfaces as { name: string }[])[0].name;
  });

  it('each plugin passed the result on: romana\'s interfaces and address, the MAC tuning set, the ifb bandwidth added', () => {
    const r = result as { cniVersion: string; interfaces: { name: string; mac: string; sandbox?: string }[]; ips: { address: string; interface: number }[] };
    assert.equal(r.cniVersion, '1.0.0');
    assert.deepEqual(r.interfaces.map((i) => i.name.replace(/^bwp.*/, 'bwp*')), [hostVeth, 'eth0', 'bwp*']);
    assert.equal(r.interfaces[1].mac, MAC);
    assert.match(r.ips[0].address, /^10\.60\.\d+\.\d+\/32$/);
    assert.equal(r.ips[0].interface, 1);
  });

  it('tuning: the sysctl and the MAC are in the pod; romana\'s MTU too', () => {
    assert.equal(execFileSync('ip', ['netns', 'exec', pod, 'cat', '/proc/sys/net/core/somaxconn'], { encoding: 'utf8' }).trim(), '512');
    const link = (JSON.parse(ip('-n', pod, '-j', 'link', 'show', 'eth0')) as { address: string; mtu: number }[])[0];
    assert.deepEqual([link.address, link.mtu], [MAC, 1400]);
  });

  it('bandwidth: a token bucket on the host veth (traffic to the pod) and an ifb for traffic from it', () => {
    const q = JSON.parse(sh('tc', ['-j', 'qdisc', 'show', 'dev', hostVeth])) as { kind: string }[];
    assert.ok(q.some((x) => x.kind === 'tbf'), `tbf on ${hostVeth}: ${JSON.stringify(q)}`);
    assert.ok(q.some((x) => x.kind === 'ingress'), 'ingress qdisc redirecting to the ifb');
    const ifb = scene.hostLinks().filter((l) => l.startsWith('bwp'));
    assert.equal(ifb.length, 1);
    const iq = JSON.parse(sh('tc', ['-j', 'qdisc', 'show', 'dev', ifb[0]])) as { kind: string }[];
    assert.ok(iq.some((x) => x.kind === 'tbf'));
  });

  it('portmap: the hostPort reaches the server in the pod, from outside the host and from the host itself', async () => {
    await podServer(pod, 8080);
    assert.match(curl(`http://${HOST_IP}:18080/`, scene.outside), /^pod saw /);
    assert.match(curl(`http://${HOST_IP}:18080/`), /^pod saw /);
    const podIp = ((result.ips as { address: string }[])[0].address).split('/')[0];
    assert.match(curl(`http://${podIp}:8080/`, scene.outside), /^pod saw (::ffff:)?192\.168\.200\.2$/, 'the pod is routed, not NATed');
  });

  it('CHECK: romana, tuning and bandwidth accept the final result (portmap 1.1.1\'s own CHECK is known to fail on ipv6 dnat)', async () => {
    await conflistCheck({ ...list(), plugins: list().plugins.slice(0, 3) }, o, result);
  });

  it('DEL in reverse order removes the port mapping, the shaping, the veth and the address', async () => {
    for (const s of servers) s.kill('SIGKILL');
    await conflistDel(list(), o, result);
    assert.doesNotMatch(sh('iptables-save', ['-t', 'nat']), /18080/);
    assert.deepEqual(scene.hostLinks().filter((l) => l.startsWith('bwp') || l.startsWith('rmn')), []);
    assert.deepEqual((await romanad.api.get<{ addresses: unknown[] }>('/addresses')).addresses, []);
    await conflistDel(list(), o, result); // idempotent through the whole chain
    scene.dropNetns(pod);
  });
});
