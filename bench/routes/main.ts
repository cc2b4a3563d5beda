// Route publishing benchmark, in a 2-rack lab (`romana lab up --racks 2 --hosts 2`; rack 1's hosts
// announce blocks, rack 2's their aggregate):
//   - first allocation -> route on the spine: rack 2 holds no block, an address is allocated on
//     host-3, and the clock stops when the spine's kernel routes rack 2's aggregate (p50/p99);
//   - withdraw: its release -> the aggregate gone from the spine;
//   - aggregation at 1,000 blocks: routes to pods on the spine and on tor-1 vs blocks in the cluster.
// Baseline, same run: the allocation's own API round trip (POST /address).
//
//   sudo node --import tsx bench/routes/main.ts [--reps N]   (needs root, bird2, a built dist/)
import { performance } from 'node:perf_hooks';
import { converge, down, labApi, up } from '../../src/lab/lab.js';
import { readRoutes } from '../../src/lab/routes.js';
import type { LabState } from '../../src/lab/state.js';
import { parseCidr } from '../../src/core/net/ipv4.js';
import { percentile } from '../lib/stats.js';

const REPS = Number(process.argv[process.argv.indexOf('--reps') + 1] || 20) || 20;
const NAME = `rbench${process.pid % 10000}`;
const NET = parseCidr('10.240.0.0/16');
const RACK2 = '10.240.128.0/17';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const netnsOf = (s: LabState, router: string) => s.racks!.birds.find((b) => b.name === router)!.netns;

async function until(what: string, f: () => boolean, ms = 30_000): Promise<number> {
  const t0 = performance.now();
  while (!f()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - t0;
}

const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${percentile(s, 50).toFixed(0)} ms / ${percentile(s, 99).toFixed(0)} ms`;
};

if (process.getuid?.() !== 0) throw new Error('bench/routes needs root (it builds a lab)');
const s = await up({ name: NAME, hosts: 2, racks: 2, announce: ['blocks', 'aggregate'] });
try {
  const api = labApi(s);
  const spine = netnsOf(s, 'spine');
  const onSpine = () => readRoutes(spine, [NET]).some((r) => r.prefix === RACK2);
  await until('rack 2 to be off the spine', () => !onSpine());

  const api_ms: number[] = [], announce: number[] = [], withdraw: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await api.post('/address', { name: `b-${i}`, host: 'host-3', tenant: `bench${i}` });
    api_ms.push(performance.now() - t0);
    await until('the aggregate on the spine', onSpine);
    announce.push(performance.now() - t0);
    const t1 = performance.now();
    await api.del(`/address?addressName=b-${i}`);
    await until('the aggregate off the spine', () => !onSpine());
    withdraw.push(performance.now() - t1);
  }

  // 1,000 blocks over the four hosts: one address per host and tenant, each a block of its own.
  const hosts = ['host-1', 'host-2', 'host-3', 'host-4'];
  for (let i = 0; i < 1000; i++) await api.post('/address', { name: `a-${i}`, host: hosts[i % 4], tenant: `agg${Math.floor(i / 4)}` });
  await converge(s, 120_000);
  const blocks = (await api.get<{ blocks: unknown[] }>('/blocks')).blocks.length;
  await until('tor-1 to hold rack 1\'s blocks', () => readRoutes(netnsOf(s, 'tor-1'), [NET]).filter((r) => r.protocol === 'bgp').length >= blocks / 2, 120_000);
  const spineRoutes = readRoutes(spine, [NET]).length;
  const tor1 = readRoutes(netnsOf(s, 'tor-1'), [NET]).length;
  const tor2 = readRoutes(netnsOf(s, 'tor-2'), [NET]).length;

  process.stdout.write([
    `## Routes (bench/routes: 2 racks x 2 hosts, BIRD 2, hold time 3 s, ${REPS} reps)`,
    '',
    '| measure | value |',
    '|---|---|',
    `| baseline: POST /address round trip, p50 / p99 | ${fmt(api_ms)} |`,
    `| first allocation in a rack -> its aggregate on the spine, p50 / p99 | ${fmt(announce)} |`,
    `| release of the last address -> aggregate withdrawn from the spine, p50 / p99 | ${fmt(withdraw)} |`,
    `| blocks in the cluster | ${blocks} |`,
    `| pod routes on the spine | ${spineRoutes} (aggregation ratio ${(blocks / spineRoutes).toFixed(0)}:1) |`,
    `| pod routes on tor-1 (rack 1 announces blocks) / tor-2 (rack 2 announces its aggregate) | ${tor1} / ${tor2} |`,
    '',
  ].join('\n'));
} finally {
  await down(NAME);
}
