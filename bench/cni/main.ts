// CNI plugin latency, process start included: ADD and DEL for 100 pods through romana-cni (installed
// as a runtime would find it, talking to a real romanad), and in the same run, interleaved pod by
// pod, Debian's reference `ptp` + `host-local` (the usual point of comparison for a routed veth
// plugin). Everything runs in a private network namespace playing the host (see test/cni/env.ts).
//   node --import tsx bench/cni/main.ts [pods]
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type PluginRun, runPlugin } from '../../test/helpers/cni-runtime.js';
import { startRomanad } from '../../test/helpers/romanad.js';
import { HOST_IP, Scene, enterPrivateHostNetns } from '../../test/cni/env.js';

enterPrivateHostNetns();

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
  const opts = (netns: string, i: number, who: string) => ({
    netns, containerId: `${who}${i}`, cniPath: scene.binDir, args: { K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: `p${i}`, IgnoreUnknown: '1' },
  });
  const must = (r: PluginRun) => {
    if (r.exitCode !== 0) throw new Error(`${r.plugin} ${r.command} failed: ${r.stdout} ${r.stderr}`);
    return r.ms;
  };

  const t = { romanaAdd: [] as number[], romanaDel: [] as number[], ptpAdd: [] as number[], ptpDel: [] as number[] };
  // Interleaved, so load from anything else on the machine falls on both alike.
  for (let i = 0; i < PODS + WARMUP; i++) {
    const a = must(await runPlugin('romana', 'ADD', romana, opts(podsA[i], i, 'romana')));
    const b = must(await runPlugin('ptp', 'ADD', ptp, opts(podsB[i], i, 'ptp')));
    if (i >= WARMUP) (t.romanaAdd.push(a), t.ptpAdd.push(b));
  }
  for (let i = 0; i < PODS + WARMUP; i++) {
    const a = must(await runPlugin('romana', 'DEL', romana, opts(podsA[i], i, 'romana')));
    const b = must(await runPlugin('ptp', 'DEL', ptp, opts(podsB[i], i, 'ptp')));
    if (i >= WARMUP) (t.romanaDel.push(a), t.ptpDel.push(b));
  }
  const left = (await romanad.api.get<{ addresses: unknown[] }>('/addresses')).addresses.length;
  if (left !== 0) throw new Error(`${left} addresses left after DEL`);

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
} finally {
  await romanad.stop();
  scene.cleanup();
}
