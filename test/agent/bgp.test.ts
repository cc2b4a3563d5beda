// The agent's BGP manager against real BIRD daemons in scratch namespaces: a host (BIRD with the
// agent's include) and its top-of-rack router (BIRD with the rendered router configuration) on one
// link. The manager announces blocks, reconfigures without resetting the session, keeps the last good
// configuration when BIRD refuses one (and says why), survives BIRD dying, and reports BIRD missing.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { BgpManager } from '../../src/agent/bgp/manager.js';
import { fabricView } from '../../src/agent/bgp/view.js';
import { TOPOLOGY, blockKey, hostKey } from '../../src/control/keys.js';
import { parseCidr } from '../../src/core/net/ipv4.js';
import { routerBgp } from '../../src/core/routing/bgp.js';
import { renderRouterConfig, timersFromHoldTime } from '../../src/core/routing/bird.js';
import { routingOf } from '../../src/core/routing/topology.js';
import { parseTopology } from '../../src/core/topology/layout.js';
import { type Proc, Scratch, inNs, requireKernelTools, sh, waitFor } from './helpers.js';

const HOST_IP = '192.168.201.1';
const TOR_IP = '192.168.201.254';
const document = {
  networks: [{ name: 'pods', cidr: '10.240.0.0/16', block_mask: 28 }],
  topologies: [{ networks: ['pods'], map: [
    { name: 'rack-1', routing: { type: 'bgp', asn: 65001, peers: [{ name: 'tor-1', ip: TOR_IP, asn: 65101, password: 'md5 secret' }] }, groups: [] },
    { name: 'rack-2', groups: [] },
  ] }],
};
const timers = timersFromHoldTime(3);

/** The agent's store copy: the topology, this host, its blocks. */
function snapshot(blocks: string[]): Map<string, string> {
  const m = new Map<string, string>();
  m.set(TOPOLOGY, JSON.stringify({ document, placements: { 'host-1': ['0:0'] } }));
  m.set(hostKey('host-1'), JSON.stringify({ name: 'host-1', ip: HOST_IP, labels: {}, agent_port: 9604 }));
  for (const b of blocks) m.set(blockKey('host-1', 't', 'default', 'pods', parseCidr(b)), JSON.stringify({ cidr: b, network: 'pods', host: 'host-1', tenant: 't', segment: 'default', group: '0:0', used: [0], ops: 1 }));
  return m;
}

describe('agent: BGP through BIRD', () => {
  const s = new Scratch();
  let hostNs: string;
  let torNs: string;
  let hostBird: Proc | undefined;
  let torBird: Proc;
  const include = () => join(s.dir, 'host', 'romana.conf');
  const hostSock = () => join(s.dir, 'host.ctl');
  const torSock = () => join(s.dir, 'tor.ctl');
  const registry = new Registry();
  let mgr: BgpManager;

  const startHostBird = async () => {
    hostBird = await s.spawn('bird-host', ['bird', '-f', '-c', join(s.dir, 'host.conf'), '-s', hostSock(), '-P', join(s.dir, 'host.pid')], { netns: hostNs });
    await waitFor('host BIRD', () => sh('birdc', ['-s', hostSock(), 'show', 'status']).includes('Daemon is up'), 10_000);
  };
  const torRoutes = () => JSON.parse(inNs(torNs, 'ip', ['-j', 'route', 'show', 'proto', 'bird'])) as { dst: string; gateway?: string }[];
  const torSession = () => sh('birdc', ['-s', torSock(), 'show', 'protocols']).split('\n').find((l) => l.startsWith('romana_192_168_201_1 ')) ?? '';

  before(async () => {
    requireKernelTools(['ip', 'bird', 'birdc']);
    hostNs = s.netns('bgph');
    torNs = s.netns('bgpt');
    sh('ip', ['link', 'add', 'eth0', 'netns', hostNs, 'type', 'veth', 'peer', 'name', 'down1', 'netns', torNs]);
    sh('ip', ['-n', hostNs, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', torNs, 'addr', 'add', `${TOR_IP}/24`, 'dev', 'down1']);
    sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', torNs, 'link', 'set', 'down1', 'up']);
    // The operator's bird.conf on the host: includes whatever the agent writes, by glob (BIRD starts first;
    // the directory must exist).
    mkdirSync(join(s.dir, 'host'));
    writeFileSync(join(s.dir, 'host.conf'), `router id ${HOST_IP};\nprotocol device { scan time 1; }\ninclude "${join(s.dir, 'host')}/*.conf";\n`);
    const l = parseTopology(document);
    writeFileSync(join(s.dir, 'tor.conf'), renderRouterConfig(routerBgp(l, routingOf(l), 'tor-1', [{ name: 'host-1', ip: HOST_IP, leaves: ['0:0'] }]), { timers }));
    torBird = await s.spawn('bird-tor', ['bird', '-f', '-c', join(s.dir, 'tor.conf'), '-s', torSock(), '-P', join(s.dir, 'tor.pid')], { netns: torNs });
    await startHostBird();
    mgr = new BgpManager({ host: 'host-1', include: include(), socket: hostSock(), kernelTable: 82, timers }, registry);
  });
  after(() => s.cleanup());

  it('a host without BGP groups leaves BIRD alone', async () => {
    const m = new BgpManager({ host: 'host-2', include: join(s.dir, 'other', 'romana.conf'), socket: hostSock(), kernelTable: 82 });
    await m.apply(fabricView(snapshot([]), 'host-2'));
    assert.equal(m.status().state, 'unused');
    assert.equal(existsSync(join(s.dir, 'other')), false, 'nothing written');
  });

  it('announces the host\'s blocks and its group\'s aggregate; the router installs them', async () => {
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.equal(mgr.status().state, 'up', JSON.stringify(mgr.status()));
    assert.deepEqual(mgr.status().announced, ['10.240.0.0/28', '10.240.0.0/17']);
    await waitFor('the block route on the router', () => torRoutes().some((r) => r.dst === '10.240.0.0/28' && r.gateway === HOST_IP), 15_000);
    assert.ok(!torRoutes().some((r) => r.dst === '10.240.0.0/17'), 'a blocks group: the router keeps the aggregate out of its kernel');
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.match(mgr.status().sessions[0]?.info ?? '', /Established/);
  });

  it('a new block is a reconfiguration, not a session reset', async () => {
    const before = torSession();
    const configures = mgr.status().configures;
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28', '10.240.0.16/28']), 'host-1'));
    assert.equal(mgr.status().configures, configures + 1);
    await waitFor('the second block on the router', () => torRoutes().some((r) => r.dst === '10.240.0.16/28'), 10_000);
    assert.equal(torSession(), before, 'the session\'s "since" did not move');
  });

  it('routes the router sends land in the agent\'s table, tagged as BIRD\'s; the agent\'s own routes are untouched', async () => {
    sh('ip', ['-n', hostNs, 'route', 'add', '10.240.0.1/32', 'dev', 'lo', 'table', '82', 'proto', '82']);
    // The router learns rack-2's aggregate from elsewhere: give it a static one to pass on.
    writeFileSync(join(s.dir, 'tor.conf'), readFileSync(join(s.dir, 'tor.conf'), 'utf8') + '\nprotocol static upstream { ipv4; route 10.240.128.0/17 via 192.168.201.254; }\n');
    sh('birdc', ['-s', torSock(), 'configure']);
    const learned = () => JSON.parse(inNs(hostNs, 'ip', ['-j', 'route', 'show', 'table', '82'])) as { dst: string; protocol?: string; gateway?: string }[];
    await waitFor('rack-2 in the host\'s table 82', () => learned().some((r) => r.dst === '10.240.128.0/17' && r.protocol === 'bird' && r.gateway === TOR_IP), 10_000);
    assert.ok(learned().some((r) => r.dst === '10.240.0.1' && r.protocol === '82'));
  });

  it('BIRD refusing a configuration: its message is reported and the last good one stays', async () => {
    const good = readFileSync(include(), 'utf8');
    // The operator's own config now claims a name the include uses: BIRD refuses the next reconfiguration.
    writeFileSync(join(s.dir, 'host', 'zz-operator.conf'), 'protocol static romana_routes { ipv4; }\n');
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28', '10.240.0.16/28', '10.240.0.32/28']), 'host-1'));
    const st = mgr.status();
    assert.equal(st.state, 'rejected');
    assert.match(st.message ?? '', /romana_routes/);
    assert.match(st.message ?? '', /\.conf:\d+:\d+/, 'BIRD\'s own message, with file and line');
    assert.equal(readFileSync(include(), 'utf8'), good, 'the file BIRD accepted last is back');
    assert.ok(!torRoutes().some((r) => r.dst === '10.240.0.32/28'));
    assert.ok(torRoutes().some((r) => r.dst === '10.240.0.16/28'), 'BIRD still runs the last good configuration');
    assert.match(await registry.metrics(), /romana_agent_bird_state\{state="rejected"\} 1/);
    writeFileSync(join(s.dir, 'host', 'zz-operator.conf'), '');
    const fixed = new BgpManager({ host: 'host-1', include: include(), socket: hostSock(), kernelTable: 82, timers, retryRejectedMs: 0 });
    await fixed.apply(fabricView(snapshot(['10.240.0.0/28', '10.240.0.16/28', '10.240.0.32/28']), 'host-1'));
    assert.equal(fixed.status().state, 'up');
    await waitFor('the third block on the router', () => torRoutes().some((r) => r.dst === '10.240.0.32/28'), 10_000);
  });

  it('BIRD killed: reported unreachable, the file still follows the blocks; after the restart the routes come back', async () => {
    await s.kill(hostBird!, 'SIGKILL');
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.equal(mgr.status().state, 'unreachable');
    assert.match(mgr.status().message ?? '', /host\.ctl/);
    assert.match(await registry.metrics(), /romana_agent_bird_up 0/);
    assert.match(readFileSync(include(), 'utf8'), /route 10\.240\.0\.0\/28 blackhole/);
    assert.doesNotMatch(readFileSync(include(), 'utf8'), /10\.240\.0\.16\/28/);
    await waitFor('the router to drop the host\'s routes', () => !torRoutes().some((r) => r.dst.startsWith('10.240.0.')), 15_000);
    await startHostBird();
    await mgr.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.equal(mgr.status().state, 'up');
    await waitFor('the route back on the router', () => torRoutes().some((r) => r.dst === '10.240.0.0/28'), 15_000);
    assert.deepEqual(torRoutes().map((r) => r.dst).filter((d) => d.startsWith('10.240.0.')), ['10.240.0.0/28']);
  });

  it('the last block released withdraws everything; a host removed from the store too', async () => {
    await mgr.apply(fabricView(snapshot([]), 'host-1'));
    assert.deepEqual(mgr.status().announced, []);
    await waitFor('the router to drop the block', () => !torRoutes().some((r) => r.dst.startsWith('10.240.0.')), 10_000);
    await mgr.apply(fabricView(snapshot(['10.240.0.48/28']), 'host-1'));
    await waitFor('a new block on the router', () => torRoutes().some((r) => r.dst === '10.240.0.48/28'), 10_000);
    const gone = snapshot(['10.240.0.48/28']);
    gone.delete(hostKey('host-1'));
    for (const k of [...gone.keys()]) if (k.includes('/blocks/')) gone.delete(k);
    await mgr.apply(fabricView(gone, 'host-1'));
    assert.match(readFileSync(include(), 'utf8'), /announces nothing/);
    await waitFor('the router to drop the removed host\'s block', () => !torRoutes().some((r) => r.dst.startsWith('10.240.0.')), 10_000);
  });

  it('never overwrites a file it did not write; reports BIRD missing', async () => {
    const foreign = join(s.dir, 'foreign.conf');
    writeFileSync(foreign, 'protocol static mine { ipv4; }\n');
    const m = new BgpManager({ host: 'host-1', include: foreign, socket: hostSock(), kernelTable: 82 });
    await m.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.equal(m.status().state, 'foreign');
    assert.equal(readFileSync(foreign, 'utf8'), 'protocol static mine { ipv4; }\n');
    const missing = new BgpManager({ host: 'host-1', include: join(s.dir, 'm', 'romana.conf'), socket: hostSock(), kernelTable: 82, birdc: join(s.dir, 'no-such-birdc') });
    await missing.apply(fabricView(snapshot(['10.240.0.0/28']), 'host-1'));
    assert.equal(missing.status().state, 'missing');
    assert.match(missing.status().message ?? '', /not installed/);
    void torBird;
  });
});
