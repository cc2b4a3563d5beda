// CNI plugin latency, process start included: ADD and DEL for 100 pods through romana-cni (installed
// as a runtime would find it, talking to a real romanad), and in the same run, interleaved pod by
// pod, Debian's reference `ptp` + `host-local` (the usual point of comparison for a routed veth
// plugin). Everything runs in a private network namespace playing the host (see test/cni/env.ts).
//   node --import tsx bench/cni/main.ts [pods]
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type PluginRun, runPlugin } from '../../test/helpers/cni-runtime.js';
import { startRomanad } from '../../test/helpers/romanad.js';
import { HOST_IP, ROOT, Scene, enterPrivateHostNetns, ip } from '../../test/cni/env.js';
import { hostVethName, macsFor, plumbCommand } from '../../src/cni/kernel.js';

enterPrivateHostNetns();

/** The bare start-up of a Node process, timed the way runPlugin times a plugin (spawn to exit). */
function nodeE0(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', '0'], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }); // the plugins' environment
    p.stdin.end();
    p.on('error', reject);
    p.on('close', () => resolve(performance.now() - t0));
  });
}

/**
 * The floor (bench/cni/floor.cjs): a Node process that only sends the one POST /address and runs the
 * plugin's one kernel process, timed the same way. Its address is released and its veth removed after.
 */
async function floor(url: string, netns: string, i: number): Promise<number> {
  const cid = `floor${i}`;
  const hostVeth = hostVethName(cid, 'eth0');
  const macs = macsFor(cid, 'eth0');
  const command = plumbCommand({ hostVeth, ifname: 'eth0', netns: `/run/netns/${netns}`, mtu: 1500, hostMac: macs.host, podMac: macs.pod });
  const name = `cni:${cid}:eth0`;
  const body = JSON.stringify({ name, host: 'h1', tenant: 'bench', segment_from_pod: { namespace: 'bench', name: `p${i}`, label: 'romana.io/segment' }, attributes: { plugin: 'floor' } });
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bench/cni/floor.cjs')], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FLOOR: JSON.stringify({ url, body, ifname: 'eth0', command }) } });
    let o = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (o += d));
    p.stdin.end();
    p.on('error', reject);
    p.on('close', () => resolve(o));
  });
  const ms = performance.now() - t0;
  if (!/"code":0,"veth":true/.test(out)) throw new Error(`floor run failed: ${out}`);
  ip('link', 'del', hostVeth);
  await romanadRelease(url, name);
  return ms;
}
let romanadRelease: (url: string, name: string) => Promise<unknown>;

/** The plugin's kernel process alone, started from this (warm) process with the address at once. */
async function kernelAlone(netns: string, i: number): Promise<number> {
  const cid = `kernel${i}`;
  const hostVeth = hostVethName(cid, 'eth0');
  const macs = macsFor(cid, 'eth0');
  const [cmd, args] = plumbCommand({ hostVeth, ifname: 'eth0', netns: `/run/netns/${netns}`, mtu: 1500, hostMac: macs.host, podMac: macs.pod });
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } });
    let o = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (o += d));
    p.stdin.end(`eth0 10.90.${Math.floor(i / 250)}.${(i % 250) + 1}\n`);
    p.on('error', reject);
    p.on('close', (code) => resolve(code === 0 ? o : `exit ${code}: ${o}`));
  });
  const ms = performance.now() - t0;
  if (!out.startsWith('veth\n') || !/inet 10\.90\./.test(out)) throw new Error(`kernel process failed: ${out}`);
  ip('link', 'del', hostVeth);
  return ms;
}

const PODS = Number(process.argv[2] ?? 100);
const WARMUP = 5;

const scene = new Scene();
const romanad = await startRomanad();
try {
  await romanad.api.post('/topology', { networks: [{ name: 'n', cidr: '10.50.0.0/16' }], topologies: [{ networks: ['n'], map: [{ groups: [] }] }] });
  await romanad.api.post('/hosts', { name: 'h1', ip: HOST_IP });

  const romana = { cniVersion: '1.1.0', name: 'romana-net', type: 'romana', romana_api: romanad.url, host: 'h1', state_dir: join(scene.tmp, 'state') };
  const ptp = {
    cniVersion: '1.0.0', name: 'ptp-net', type: 'ptp', ipMasq: false,
    ipam: { type: 'host-local', subnet: '10.70.0.0/16', routes: [{ dst: '0.0.0.0/0' }], dataDir: join(scene.tmp, 'host-local') },
  };
  const podsA = Array.from({ length: PODS + WARMUP }, () => scene.netns());
  const podsB = Array.from({ length: PODS + WARMUP }, () => scene.netns());
  const podsC = Array.from({ length: PODS + WARMUP }, () => scene.netns());
  const podsD = Array.from({ length: PODS + WARMUP }, () => scene.netns());
  romanadRelease = (_url, name) => romanad.api.del(`/address?name=${encodeURIComponent(name)}`);
  const opts = (netns: string, i: number, who: string) => ({
    netns, containerId: `${who}${i}`, cniPath: scene.binDir, args: { K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: `p${i}`, IgnoreUnknown: '1' },
  });
  const must = (r: PluginRun) => {
    if (r.exitCode !== 0) throw new Error(`${r.plugin} ${r.command} failed: ${r.stdout} ${r.stderr}`);
    return r.ms;
  };

  const t = { romanaAdd: [] as number[], romanaDel: [] as number[], ptpAdd: [] as number[], ptpDel: [] as number[], node0: [] as number[], floor: [] as number[], rtt: [] as number[], kernel: [] as number[] };
  // Interleaved, so load from anything else on the machine falls on all alike.
  for (let i = 0; i < PODS + WARMUP; i++) {
    const a = must(await runPlugin('romana', 'ADD', romana, opts(podsA[i], i, 'romana')));
    const b = must(await runPlugin('ptp', 'ADD', ptp, opts(podsB[i], i, 'ptp')));
    const n = await nodeE0();
    const f = await floor(romanad.url, podsC[i], i);
    const k = await kernelAlone(podsD[i], i);
    // romanad's part, raw: the same request from this (warm) process, then released again.
    const r0 = performance.now();
    await romanad.api.post('/address', { name: `raw${i}`, host: 'h1', tenant: 'bench', segment_from_pod: { namespace: 'bench', name: `p${i}`, label: 'romana.io/segment' } });
    const r = performance.now() - r0;
    await romanad.api.del(`/address?name=raw${i}`);
    if (i >= WARMUP) (t.romanaAdd.push(a), t.ptpAdd.push(b), t.node0.push(n), t.floor.push(f), t.rtt.push(r), t.kernel.push(k));
  }
  for (let i = 0; i < PODS + WARMUP; i++) {
    const a = must(await runPlugin('romana', 'DEL', romana, opts(podsA[i], i, 'romana')));
    const b = must(await runPlugin('ptp', 'DEL', ptp, opts(podsB[i], i, 'ptp')));
    if (i >= WARMUP) (t.romanaDel.push(a), t.ptpDel.push(b));
  }
  const left = (await romanad.api.get<{ addresses: unknown[] }>('/addresses')).addresses.length;
  if (left !== 0) throw new Error(`${left} addresses left after DEL`);

  // Where an ADD's time goes: the plugin's own milestones (ROMANA_CNI_TRACE), ms since its process started.
  const marks = new Map<string, number[]>();
  const traceEnv = { env: { ROMANA_CNI_TRACE: '1' } };
  for (let i = 0; i < Math.min(PODS, 30); i++) {
    const o = { ...opts(podsA[i], 1000 + i, 'traced'), ...traceEnv };
    const r = await runPlugin('romana', 'ADD', romana, o);
    must(r);
    for (const m of r.stderr.matchAll(/^romana-cni trace (\S+) ([\d.]+)$/gm)) marks.set(m[1], [...(marks.get(m[1]) ?? []), Number(m[2])]);
    marks.set('exit (as the runtime saw it)', [...(marks.get('exit (as the runtime saw it)') ?? []), r.ms]);
    must(await runPlugin('romana', 'DEL', romana, o));
  }

  // For scale: the plugin's start-up alone (VERSION does no work), and an empty Go plugin call.
  const startup = { romana: [] as number[], ptp: [] as number[] };
  for (let i = 0; i < 50; i++) {
    startup.romana.push(must(await runPlugin('romana', 'VERSION', '', { cniPath: scene.binDir })));
    startup.ptp.push(must(await runPlugin('ptp', 'VERSION', '', { cniPath: scene.binDir })));
  }

  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
  const row = (name: string, xs: number[]) => `| ${name.padEnd(30)} | ${q(xs, 50).toFixed(1).padStart(6)} | ${q(xs, 99).toFixed(1).padStart(6)} |`;
  console.log(`CNI plugin latency, ${PODS} pods, process start included (ms); node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| call                           |    p50 |    p99 |');
  console.log('|--------------------------------|--------|--------|');
  console.log(row('romana ADD', t.romanaAdd));
  console.log(row('ptp + host-local ADD', t.ptpAdd));
  console.log(row('romana DEL', t.romanaDel));
  console.log(row('ptp + host-local DEL', t.ptpDel));
  console.log(row('romana VERSION (start-up only)', startup.romana));
  console.log(row('ptp VERSION (start-up only)', startup.ptp));
  console.log(row('node -e 0 (baseline)', t.node0));
  console.log(row('floor: node + request + ip', t.floor));
  console.log(row('romanad POST /address (raw)', t.rtt));
  console.log(row('kernel process alone', t.kernel));
  const gap = q(t.romanaAdd, 50) - q(t.node0, 50);
  const floorGap = q(t.floor, 50) - q(t.node0, 50);
  console.log(`\nromana ADD p50 = node -e 0 p50 + ${gap.toFixed(1)} ms (target: + 10 ms or less)`);
  console.log(`floor p50     = node -e 0 p50 + ${floorGap.toFixed(1)} ms: a Node process that only sends the one POST /address (romanad answers it in ${q(t.rtt, 50).toFixed(1)} ms`);
  console.log('  to a warm client) and runs the plugin\'s one kernel process (veth pair, /32 route, pod side: forks and netlink, no plugin code);');
  console.log(`  the plugin's own code costs the other ${(gap - floorGap).toFixed(1)} ms (loading and running it cold, once per pod).`);
  console.log(`  Of the floor, the kernel process alone (started from a warm process, the address given at once: the veth pair,`);
  console.log(`  its sysctls, the /32 route and the pod side, in sh, nsenter and 3 ip processes) takes ${q(t.kernel, 50).toFixed(1)} ms; the rest is a second`);
  console.log(`  Node process loading node:http and node:child_process and forking itself, and romanad's ${q(t.rtt, 50).toFixed(1)} ms.`);
  console.log('\nWhere a romana ADD goes (ms since the plugin process started, median of traced runs):');
  for (const [k, v] of [...marks].sort((a, b) => q(a[1], 50) - q(b[1], 50))) console.log(`  ${k.padEnd(28)} ${q(v, 50).toFixed(1)}`);
} finally {
  await romanad.stop();
  scene.cleanup();
}
