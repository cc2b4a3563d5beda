// `romana lab up --vpc --azs Z --hosts N`: the AWS shape. The fabric namespace is the VPC router: one
// subnet per availability zone (N hosts each, whose default route is the VPC router, as in AWS), and
// a kernel routing table that holds exactly what the EC2 stand-in's route table says. The topology is
// the VPC shorthand (one prefix group per zone); romana-route-publisher, in the fabric namespace, keeps
// one route per group in the stand-in's table, pointing at a healthy member. No other route to pods.
//
//   VPC router   192.168.<200+z>.254 on zone z's subnet; romanad through a relay on :9600
//   host         192.168.<200+z>.<i>, label topology.kubernetes.io/zone=az-<z>
//   EC2 stand-in 127.0.0.1:9650 in the fabric namespace; route table rtb-0000000000000001a
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalid } from '../core/errors.js';
import { readShownTopology } from '../core/routing/shown.js';
import { routingOf } from '../core/routing/topology.js';
import { vpcRoutes } from '../core/routing/vpc.js';
import { ZONE_LABEL } from '../core/topology/layout.js';
import type { StandinConfig } from './ec2-standin.js';
import { ipBatch, must, spawnIn, sysctl } from './kernel.js';
import { readRoutes } from './routes.js';
import { FABRIC_API_PORT, type LabState } from './state.js';
import type { Underlay } from './underlay.js';

export interface VpcState {
  azs: number;
  hostsPerAz: number;
  routeTable: string;
  standinUrl: string;
  standinPid?: number;
  publisherPid?: number;
  relayPid?: number;
  /** The publisher's /status and /metrics, inside the fabric namespace. */
  publisherUrl: string;
}

export const ROUTE_TABLE = 'rtb-0000000000000001a';
const STANDIN_PORT = 9650;
const PUBLISHER_PORT = 9605;
const zoneNet = (z: number) => `192.168.${200 + z}`;

export function vpcState(azs: number, hostsPerAz: number): VpcState {
  if (!Number.isInteger(azs) || azs < 1 || azs > 8) throw invalid('--azs: must be 1 to 8');
  if (!Number.isInteger(hostsPerAz) || hostsPerAz < 1 || hostsPerAz > 30) throw invalid('--hosts: must be 1 to 30 per zone');
  return { azs, hostsPerAz, routeTable: ROUTE_TABLE, standinUrl: `http://127.0.0.1:${STANDIN_PORT}`, publisherUrl: `http://127.0.0.1:${PUBLISHER_PORT}` };
}

const vs = (s: LabState) => s.vpc!;
const standinConfig = (s: LabState) => join(s.dir, 'ec2-standin.json');

function build(s: LabState): void {
  const v = vs(s);
  const F = s.fabric;
  must('ip', ['netns', 'add', F]);
  ipBatch(F, ['link set lo up']);
  sysctl(F, 'net.ipv4.ip_forward', '1');
  let n = 0;
  for (let z = 1; z <= v.azs; z++) {
    ipBatch(F, [`link add az${z} type bridge`, `link set az${z} up`, `addr add ${zoneNet(z)}.254/24 dev az${z}`]);
    for (let i = 1; i <= v.hostsPerAz; i++) {
      n++;
      const ns = `${s.prefix}h${n}`;
      const ip = `${zoneNet(z)}.${i}`;
      must('ip', ['netns', 'add', ns]);
      must('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${n}`, 'netns', F]);
      ipBatch(F, [`link set h${n} master az${z} up`]);
      // An instance's default route is the VPC router; nothing else about pods.
      ipBatch(ns, ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${zoneNet(z)}.254`]);
      s.hosts.push({ name: `host-${n}`, netns: ns, ip, zone: `az-${z}`, apiUrl: `http://${zoneNet(z)}.254:${FABRIC_API_PORT}` });
    }
  }
}

function relay(s: LabState, socket: string, self: string[]): void {
  vs(s).relayPid = spawnIn(s.fabric, self[0], [...self.slice(1), 'lab', 'relay', '--listen', `0.0.0.0:${FABRIC_API_PORT}`, '--socket', socket], join(s.dir, 'relay.log'));
}

async function start(s: LabState, api: Parameters<Underlay['start']>[1], self: string[]): Promise<void> {
  const v = vs(s);
  for (const h of s.hosts) await api.post('/hosts', { name: h.name, ip: h.ip, labels: { [ZONE_LABEL]: h.zone } });
  const keys = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64url') };
  const config: StandinConfig = {
    ...keys, vpcId: 'vpc-0000000000000001a', routeLimit: 50,
    routeTables: [{ id: v.routeTable, routes: [{ destination: '192.168.200.0/21', gatewayId: 'local', origin: 'CreateRouteTable' }] }],
    instances: s.hosts.map((h, i) => ({ id: `i-${(i + 1).toString(16).padStart(17, '0')}`, privateIp: h.ip })),
  };
  writeFileSync(standinConfig(s), JSON.stringify(config, null, 2), { mode: 0o600 });
  v.standinPid = spawnIn(s.fabric, self[0], [...self.slice(1), 'lab', 'ec2-standin', '--config', standinConfig(s), '--listen', `127.0.0.1:${STANDIN_PORT}`, '--apply-kernel'], join(s.dir, 'ec2-standin.log'));
  const dist = join(self[1], '..');
  v.publisherPid = spawnIn(s.fabric, self[0], [
    join(dist, 'romana-route-publisher.mjs'), '--api', `http://127.0.0.1:${FABRIC_API_PORT}`, '--token-file', join(s.dir, 'readonly.token'),
    '--route-table', v.routeTable, '--interval', '1', '--health-timeout', '0.5', '--unhealthy-after', '2', '--port', String(PUBLISHER_PORT),
  ], join(s.dir, 'route-publisher.log'), {
    AWS_ENDPOINT_URL_EC2: v.standinUrl, AWS_REGION: 'lab-1', AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
  });
}

/** Every vpc group with hosts has its route in the VPC router's kernel, via one of its members. */
async function converged(s: LabState, api: Parameters<Underlay['converged']>[1]): Promise<string | undefined> {
  const { layout, hosts } = readShownTopology(await api.get('/topology'));
  const have = readRoutes(s.fabric, layout.networks.map((n) => n.cidr)).filter((r) => r.protocol === 'vpc');
  for (const w of vpcRoutes(layout, routingOf(layout), hosts, vs(s).routeTable)) {
    if (w.members.length === 0) continue;
    const r = have.find((x) => x.prefix === w.destination);
    if (!r || !w.members.some((m) => m.ip === r.via)) return `the VPC routes ${w.destination} (${w.group}) ${r ? `via ${r.via}, not a member` : 'nowhere'}`;
  }
  return undefined;
}

export const vpcUnderlay = (podNetwork: string): Underlay => ({
  build,
  relay,
  topology: (s) => ({ type: 'vpc', 'num-azs': vs(s).azs, 'prefix-groups': 1, network: podNetwork, block_mask: 28 }),
  start,
  agentArgs: () => [],
  converged,
  pids: (s) => [vs(s).publisherPid, vs(s).standinPid, vs(s).relayPid].filter((p): p is number => p !== undefined),
});
