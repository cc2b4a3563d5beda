// `romana lab up --racks R --hosts N`: R racks of N hosts. Each rack is its own L2 segment and subnet
// behind a top-of-rack router namespace running BIRD; a spine namespace peers with every top-of-rack
// router. No namespace has a static route to pods or a default route: hosts announce their blocks to
// their top-of-rack router (the agents own their BIRD includes), the routers' configurations are the
// ones `romana bgp config --router` renders, and every cross-rack route comes from BGP.
//
//   spine      192.168.200.254 on the spine segment (192.168.200.0/24), AS 65000
//   tor<r>     192.168.200.<r> up, 192.168.<200+r>.254 down (rack r's subnet), AS 65100+r
//   host       192.168.<200+r>.<i>, AS 65200+r; romanad through a relay on its top-of-rack router
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalid } from '../core/errors.js';
import { formatCidr } from '../core/net/ipv4.js';
import { routerBgp } from '../core/routing/bgp.js';
import { renderRouterConfig, timersFromHoldTime } from '../core/routing/bird.js';
import { readShownTopology } from '../core/routing/shown.js';
import { routingOf } from '../core/routing/topology.js';
import { ipBatch, must, spawnIn, sysctl } from './kernel.js';
import type { LabRoute } from './routes.js';
import { readRoutes } from './routes.js';
import { FABRIC_API_PORT, type LabState } from './state.js';
import type { Underlay } from './underlay.js';
import type { ApiClient } from '../cli/client.js';

export type Announce = 'blocks' | 'aggregate';

export interface LabBird {
  name: string;
  role: 'host' | 'tor' | 'spine';
  netns: string;
  config: string;
  socket: string;
  pidFile: string;
  /** A host's include directory (the agent writes romana.conf in it). */
  includeDir?: string;
  supervisorPid?: number;
}

export interface RackState {
  count: number;
  hostsPerRack: number;
  /** Per rack (cycled): what its hosts announce. */
  announce: Announce[];
  birds: LabBird[];
  relayPids: number[];
}

/** Short timers: sessions come up within a second or two and a dead peer is noticed in 3 s. */
const HOLD_TIME = 3;
const SPINE_IP = '192.168.200.254';
const rackNet = (r: number) => `192.168.${200 + r}`;
const torName = (r: number) => `tor-${r}`;
const announceOf = (rs: RackState, r: number) => rs.announce[(r - 1) % rs.announce.length];

export function rackState(racks: number, hostsPerRack: number, announce: string[]): RackState {
  if (!Number.isInteger(racks) || racks < 1 || racks > 50) throw invalid('--racks: must be 1 to 50');
  if (!Number.isInteger(hostsPerRack) || hostsPerRack < 1 || hostsPerRack > 50) throw invalid('--hosts: must be 1 to 50 per rack');
  for (const a of announce) if (a !== 'blocks' && a !== 'aggregate') throw invalid(`--announce: '${a}' is not blocks or aggregate`);
  return { count: racks, hostsPerRack, announce: (announce.length ? announce : ['blocks']) as Announce[], birds: [], relayPids: [] };
}

const rs = (s: LabState) => s.racks!;
const birdDir = (s: LabState) => join(s.dir, 'bird');

function bird(s: LabState, name: string, role: LabBird['role'], netns: string): LabBird {
  const d = birdDir(s);
  return { name, role, netns, config: join(d, `${name}.conf`), socket: join(d, `${name}.ctl`), pidFile: join(d, `${name}.pid`) };
}

function link(a: string, aIf: string, b: string, bIf: string): void {
  must('ip', ['link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
}

function build(s: LabState): void {
  const r = rs(s);
  const spine = `${s.prefix}spine`;
  s.fabric = spine;
  mkdirSync(birdDir(s), { recursive: true });
  must('ip', ['netns', 'add', spine]);
  ipBatch(spine, ['link set lo up', 'link add br0 type bridge', 'link set br0 up', `addr add ${SPINE_IP}/24 dev br0`]);
  sysctl(spine, 'net.ipv4.ip_forward', '1');
  r.birds.push(bird(s, 'spine', 'spine', spine));
  let n = 0;
  for (let k = 1; k <= r.count; k++) {
    const tor = `${s.prefix}tor${k}`;
    must('ip', ['netns', 'add', tor]);
    link(tor, 'uplink', spine, `t${k}`);
    ipBatch(spine, [`link set t${k} master br0 up`]);
    ipBatch(tor, ['link set lo up', `addr add 192.168.200.${k}/24 dev uplink`, 'link set uplink up', 'link add br0 type bridge', 'link set br0 up', `addr add ${rackNet(k)}.254/24 dev br0`]);
    sysctl(tor, 'net.ipv4.ip_forward', '1');
    r.birds.push(bird(s, torName(k), 'tor', tor));
    for (let i = 1; i <= r.hostsPerRack; i++) {
      n++;
      const ns = `${s.prefix}h${n}`;
      const ip = `${rackNet(k)}.${i}`;
      must('ip', ['netns', 'add', ns]);
      link(ns, 'eth0', tor, `h${i}`);
      ipBatch(tor, [`link set h${i} master br0 up`]);
      ipBatch(ns, ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up']);
      const h = { name: `host-${n}`, netns: ns, ip, rack: k, apiUrl: `http://${rackNet(k)}.254:${FABRIC_API_PORT}` };
      s.hosts.push(h);
      r.birds.push({ ...bird(s, h.name, 'host', ns), includeDir: join(birdDir(s), `${h.name}.d`) });
    }
  }
}

function topology(s: LabState, podNetwork: string): unknown {
  const r = rs(s);
  return {
    networks: [{ name: 'pods', cidr: podNetwork, block_mask: 28 }],
    topologies: [{
      networks: ['pods'],
      map: [{
        name: 'dc', routing: { type: 'bgp', peers: [{ name: 'spine', ip: SPINE_IP, asn: 65000 }] },
        groups: Array.from({ length: r.count }, (_, i) => {
          const k = i + 1;
          return {
            name: `rack-${k}`,
            routing: { type: 'bgp', asn: 65200 + k, announce: announceOf(r, k), peers: [{ name: torName(k), ip: `${rackNet(k)}.254`, asn: 65100 + k, uplink_ip: `192.168.200.${k}` }] },
            groups: s.hosts.filter((h) => h.rack === k).map((h) => ({ name: h.name, ip: h.ip })),
          };
        }),
      }],
    }],
  };
}

function relay(s: LabState, socket: string, self: string[]): void {
  for (const b of rs(s).birds.filter((x) => x.role === 'tor')) {
    const ip = `${rackNet(Number(b.name.split('-')[1]))}.254`;
    rs(s).relayPids.push(spawnIn(b.netns, self[0], [...self.slice(1), 'lab', 'relay', '--listen', `${ip}:${FABRIC_API_PORT}`, '--socket', socket], join(s.dir, `relay-${b.name}.log`)));
  }
}

/** Routers get `romana bgp config`'s rendering; hosts a bird.conf that includes whatever their agent writes. */
async function start(s: LabState, api: ApiClient, self: string[]): Promise<void> {
  const { layout, hosts } = readShownTopology(await api.get('/topology'));
  const routing = routingOf(layout);
  for (const b of rs(s).birds) {
    if (b.role === 'host') {
      const h = s.hosts.find((x) => x.name === b.name)!;
      mkdirSync(b.includeDir!, { recursive: true });
      writeFileSync(b.config, [`router id ${h.ip};`, 'log stderr all;', 'protocol device { scan time 1; }', `include "${b.includeDir}/*.conf";`, ''].join('\n'));
    } else {
      writeFileSync(b.config, renderRouterConfig(routerBgp(layout, routing, b.name, hosts), { timers: timersFromHoldTime(HOLD_TIME), extra: ['log stderr all;'] }));
    }
    b.supervisorPid = spawnIn(b.netns, self[0], [...self.slice(1), 'lab', 'supervise', '--', 'bird', '-f', '-c', b.config, '-s', b.socket, '-P', b.pidFile], join(s.dir, `bird-${b.name}.log`));
  }
}

function agentArgs(s: LabState, host: string): string[] {
  const b = rs(s).birds.find((x) => x.name === host)!;
  return ['--bird-include', join(b.includeDir!, 'romana.conf'), '--bird-socket', b.socket, '--bgp-hold-time', String(HOLD_TIME)];
}

/**
 * What every router should hold once BGP has converged, from the blocks that exist: a top-of-rack
 * router its rack's blocks (or its aggregate) and the other racks' aggregates; the spine one aggregate
 * per rack with a block; a host the other racks' aggregates.
 */
export function expectedRoutes(s: LabState, blocks: { cidr: string; host: string }[], aggregates: Map<number, string>, registered: Set<string>): Map<string, LabRoute[]> {
  const r = rs(s);
  const rackOf = new Map(s.hosts.map((h) => [h.name, h]));
  const live = [...aggregates].filter(([k]) => blocks.some((b) => rackOf.get(b.host)?.rack === k));
  const out = new Map<string, LabRoute[]>();
  out.set('spine', live.map(([k, agg]) => ({ prefix: agg, via: `192.168.200.${k}`, protocol: 'bgp' })));
  for (let k = 1; k <= r.count; k++) {
    const others = live.filter(([j]) => j !== k);
    const own: LabRoute[] = announceOf(r, k) === 'blocks'
      ? blocks.filter((b) => rackOf.get(b.host)?.rack === k).map((b) => ({ prefix: b.cidr, via: rackOf.get(b.host)!.ip, protocol: 'bgp' }))
      : live.filter(([j]) => j === k).map(([, agg]) => ({ prefix: agg, via: '*', protocol: 'bgp' }));
    out.set(torName(k), [...own, ...others.map(([, agg]) => ({ prefix: agg, via: SPINE_IP, protocol: 'bgp' }))]);
    for (const h of s.hosts.filter((x) => x.rack === k)) {
      out.set(h.name, registered.has(h.name) ? others.map(([, agg]) => ({ prefix: agg, via: `${rackNet(k)}.254`, protocol: 'bgp' })) : []);
    }
  }
  return out;
}

export const racksUnderlay = (podNetwork: string): Underlay => ({
  build,
  relay,
  topology: (s) => topology(s, podNetwork),
  start,
  agentArgs,
  async converged(s, api) {
    const [{ blocks }, { hosts }, shown] = await Promise.all([
      api.get<{ blocks: { cidr: string; host: string }[] }>('/blocks'), api.get<{ hosts: { name: string }[] }>('/hosts'), api.get('/topology'),
    ]);
    const { layout } = readShownTopology(shown);
    const aggregates = new Map<number, string>();
    for (const g of routingOf(layout).groups) {
      if (g.type !== 'bgp' || g.members !== 'hosts' || !g.group.parent) continue;
      aggregates.set(g.group.parent.children.indexOf(g.group) + 1, formatCidr(Object.values(g.cidrs)[0]));
    }
    const want = expectedRoutes(s, blocks, aggregates, new Set(hosts.map((h) => h.name)));
    const nets = layout.networks.map((n) => n.cidr);
    const key = (x: LabRoute) => `${x.prefix} via ${x.via}`;
    for (const b of rs(s).birds) {
      const have = readRoutes(b.netns, nets).filter((x) => x.protocol === 'bgp');
      const expect = want.get(b.name) ?? [];
      const got = new Set(have.map(key));
      const ok = have.length === expect.length && expect.every((x) => (x.via === '*' ? have.some((h) => h.prefix === x.prefix) : got.has(key(x))));
      if (!ok) return `${b.name} has [${have.map(key).join(', ')}], expected [${expect.map(key).join(', ')}]`;
    }
    return undefined;
  },
  pids: (s) => [...rs(s).birds.map((b) => b.supervisorPid), ...rs(s).relayPids].filter((p): p is number => p !== undefined),
});
