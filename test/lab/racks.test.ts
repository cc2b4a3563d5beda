// Two racks routed by BGP (`romana lab up --racks 2`): every cross-rack route is learned from BIRD, the
// spine holds one route per rack, each top-of-rack router holds what its rack's setting says (rack 1
// announces blocks, rack 2 its aggregate), withdrawn routes stop traffic, and BIRD killed with -9
// comes back without the agent's own routes ever flapping.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestLab, requireRootAndTools } from './helpers.js';

interface Route { prefix: string; via: string; protocol: string }
interface Routers { routers: { name: string; role: string; routes: Route[] }[] }
interface Bird { name: string; role: string; netns: string; config: string; socket: string; pidFile: string; includeDir?: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('lab: racks routed by BGP', () => {
  const lab = new TestLab();
  let birds: Bird[];
  const ns = (name: string) => JSON.parse(readFileSync(join(lab.dir, 'state', 'state.json'), 'utf8')).hosts.find((h: { name: string }) => h.name === name).netns as string;
  const pod = (name: string) => lab.state().pods.find((p) => p.name === name)!;
  const routes = (): Routers => JSON.parse(lab.lab('routes', '-o', 'json'));
  const of = (r: Routers, name: string) => r.routers.find((x) => x.name === name)?.routes ?? [];
  const birdc = (b: string, ...args: string[]) => spawnSync('birdc', ['-s', birds.find((x) => x.name === b)!.socket, ...args], { encoding: 'utf8' }).stdout;
  const ping = (from: string, to: string) => spawnSync('ip', ['netns', 'exec', pod(from).netns, 'ping', '-c', '1', '-W', '1', pod(to).ip], { encoding: 'utf8' }).status === 0;

  before(() => {
    requireRootAndTools();
    for (const t of ['bird', 'birdc']) assert.equal(spawnSync('sh', ['-c', `command -v ${t}`]).status, 0, `the rack lab needs ${t} (apt-get install bird2)`);
    writeFileSync(join(lab.dir, 'cluster.yaml'), [
      'namespaces: [{name: shop, labels: {}}]',
      'pods:',
      '  - {namespace: shop, name: web, host: host-1, labels: {app: web}, ports: [{port: 8080, protocol: TCP}]}',
      '  - {namespace: shop, name: cache, host: host-2, labels: {app: cache}, ports: [{port: 6379, protocol: TCP}]}',
      '  - {namespace: shop, name: db, host: host-3, labels: {app: db}, ports: [{port: 5432, protocol: TCP}]}',
      'policies: []', '',
    ].join('\n'));
    lab.lab('up', '--racks', '2', '--hosts', '2', '--announce', 'blocks,aggregate', '-f', join(lab.dir, 'cluster.yaml'));
    birds = JSON.parse(readFileSync(join(lab.dir, 'state', 'state.json'), 'utf8')).racks.birds;
  });
  after(() => lab.down());

  it('runs BIRD on every host and router with configurations BIRD parses; every session is up', () => {
    assert.deepEqual(birds.map((b) => b.role).sort(), ['host', 'host', 'host', 'host', 'spine', 'tor', 'tor']);
    for (const b of birds) {
      for (const f of [b.config, ...(b.includeDir ? readdirSync(b.includeDir).map((x) => join(b.includeDir!, x)) : [])]) {
        const p = spawnSync('bird', ['-p', '-c', f === b.config ? f : b.config], { encoding: 'utf8' });
        assert.equal(p.status, 0, `${f}: ${p.stderr}`);
      }
      const sessions = birdc(b.name, 'show', 'protocols').split('\n').filter((l) => /^romana_\S+\s+BGP/.test(l));
      assert.equal(sessions.length, b.role === 'host' ? 1 : b.role === 'spine' ? 2 : 3, `${b.name}:\n${sessions.join('\n')}`);
      for (const l of sessions) assert.match(l, /Established/, `${b.name}: ${l}`);
    }
    assert.match(readFileSync(join(birds.find((b) => b.name === 'host-1')!.includeDir!, 'romana.conf'), 'utf8'), /^# romana-agent: BGP of host host-1\./);
  });

  it('routes pods across racks through BGP alone: no static route to pods anywhere', () => {
    assert.ok(ping('web', 'db'), 'rack 1 -> rack 2');
    assert.ok(ping('db', 'cache'), 'rack 2 -> rack 1');
    const r = routes();
    assert.deepEqual(r.routers.map((x) => [x.name, x.role]), [['host-1', 'host'], ['host-2', 'host'], ['host-3', 'host'], ['host-4', 'host'], ['spine', 'spine'], ['tor-1', 'tor'], ['tor-2', 'tor']]);
    for (const x of r.routers) {
      for (const rt of x.routes) {
        assert.ok(['bgp', 'kernel', 'static'].includes(rt.protocol), JSON.stringify(rt));
        // Routes with a next hop are learned over BGP, or a host's route to an L2 neighbour in its rack.
        if (/^\d+\.\d+\.\d+\.\d+$/.test(rt.via) && rt.protocol !== 'bgp') {
          assert.equal(x.role, 'host', `${x.name}: ${JSON.stringify(rt)}`);
          assert.equal(rt.protocol, 'kernel');
          assert.equal(rt.via.split('.').slice(0, 3).join('.'), x.name === 'host-1' || x.name === 'host-2' ? '192.168.201' : '192.168.202', `${x.name}: a neighbour in its own rack`);
        }
      }
      if (x.role !== 'host') assert.ok(x.routes.every((rt) => rt.protocol === 'bgp'), `${x.name}: ${JSON.stringify(x.routes)}`);
    }
    assert.deepEqual(of(r, 'host-1').filter((x) => x.protocol === 'bgp'), [{ prefix: '10.240.128.0/17', via: '192.168.201.254', protocol: 'bgp' }]);
    for (const h of ['host-1', 'host-3']) assert.equal(spawnSync('ip', ['-n', ns(h), 'route', 'show', 'default'], { encoding: 'utf8' }).stdout, '', `${h} has no default route`);
  });

  it('the spine holds one route per rack; each top-of-rack router what its rack announces', () => {
    for (const [h, t] of [['host-1', 'a'], ['host-1', 'b'], ['host-2', 'a'], ['host-3', 'a'], ['host-4', 'a'], ['host-4', 'b']]) {
      lab.api('address', 'allocate', '--name', `${h}-${t}`, '--host', h, '--tenant', t);
    }
    lab.lab('wait');
    const blocks = JSON.parse(lab.api('-o', 'json', 'block', 'list')).blocks as { cidr: string; host: string }[];
    const rack1 = blocks.filter((b) => b.host === 'host-1' || b.host === 'host-2').map((b) => b.cidr).sort();
    assert.equal(blocks.length, 9);
    const r = routes();
    assert.deepEqual(of(r, 'spine').map((x) => x.prefix), ['10.240.0.0/17', '10.240.128.0/17'], `9 blocks, 2 routes: ${JSON.stringify(of(r, 'spine'))}`);
    assert.deepEqual(of(r, 'tor-1').map((x) => x.prefix), [...rack1, '10.240.128.0/17'].sort(), 'rack 1 announces blocks; rack 2 arrives as one aggregate');
    assert.deepEqual(of(r, 'tor-2').map((x) => x.prefix), ['10.240.0.0/17', '10.240.128.0/17'], 'rack 2 announces its aggregate only');
  });

  it('withdrawn routes stop cross-rack traffic; it comes back only once BGP has them again', async () => {
    // host-3 holds every rack-2 pod that is not a plain address on host-4: take host-4's away first.
    for (const a of ['host-4-a', 'host-4-b']) lab.api('address', 'release', a);
    lab.lab('wait');
    birdc('host-3', 'disable', 'romana_192_168_202_254');
    await until('the spine to lose rack 2', () => !of(routes(), 'spine').some((x) => x.prefix === '10.240.128.0/17'));
    assert.ok(!ping('web', 'db'), 'nothing else routes to rack 2');
    assert.ok(!of(routes(), 'tor-1').some((x) => x.prefix === '10.240.128.0/17'));
    birdc('host-3', 'enable', 'romana_192_168_202_254');
    await until('rack 2 back on the spine and on tor-1', () => of(routes(), 'tor-1').some((x) => x.prefix === '10.240.128.0/17') && of(routes(), 'spine').length === 2);
    await until('traffic to come back', () => ping('web', 'db'), 10_000);
  });

  it('releasing a block\'s last address, or removing a host, withdraws its routes everywhere', () => {
    const block = (name: string) => JSON.parse(lab.api('-o', 'json', 'address', 'list')).addresses.find((a: { name: string }) => a.name === name).block as string;
    const b = block('host-1-b');
    assert.ok(of(routes(), 'tor-1').some((x) => x.prefix === b));
    lab.api('address', 'release', 'host-1-b');
    lab.lab('wait');
    assert.ok(!routes().routers.some((x) => x.routes.some((rt) => rt.prefix === b)), `${b} is gone everywhere`);
    const host2 = JSON.parse(lab.api('-o', 'json', 'block', 'list', '--host', 'host-2')).blocks.map((x: { cidr: string }) => x.cidr) as string[];
    assert.equal(host2.length, 2);
    lab.api('host', 'remove', 'host-2', '--force');
    lab.lab('wait');
    for (const c of host2) assert.ok(!of(routes(), 'tor-1').some((x) => x.prefix === c), `${c} of removed host-2`);
    assert.match(readFileSync(join(birds.find((x) => x.name === 'host-2')!.includeDir!, 'romana.conf'), 'utf8'), /announces nothing/);
  });

  it('kill -9 of BIRD on a host and on a top-of-rack router: routes come back; the agent\'s routes never flap', async () => {
    const h1 = ns('host-1');
    const agentRoutes = () => spawnSync('ip', ['-n', h1, 'route', 'show', 'table', '82', 'proto', '82'], { encoding: 'utf8' }).stdout;
    const before = agentRoutes();
    assert.match(before, /10\.240\.0\.\d+ dev /, 'the local pod\'s route');
    const mon: ChildProcess = spawn('ip', ['-n', h1, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let events = '';
    mon.stdout!.on('data', (d) => (events += d));
    try {
      for (const b of ['host-1', 'tor-1']) {
        const bird = birds.find((x) => x.name === b)!;
        const pid = Number(readFileSync(bird.pidFile, 'utf8'));
        process.kill(pid, 'SIGKILL');
        await until(`${b}'s BIRD to be restarted`, () => {
          try {
            return Number(readFileSync(bird.pidFile, 'utf8')) !== pid && birdc(b, 'show', 'status').includes('Daemon is up');
          } catch {
            return false;
          }
        });
        lab.lab('wait');
        assert.ok(ping('web', 'db'), `traffic after ${b}'s BIRD restarted`);
      }
    } finally {
      mon.kill();
    }
    assert.match(events, /proto bird/, 'BIRD\'s own routes did change (the monitor works)');
    const flaps = events.split('\n').filter((l) => l.startsWith('Deleted') && /proto 82\b/.test(l));
    assert.deepEqual(flaps, [], 'no route of the agent was ever deleted');
    assert.equal(agentRoutes(), before);
  });
});
