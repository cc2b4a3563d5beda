// romana-route-publisher (the built process, one pass at a time with --once) against a real romanad
// and the EC2 stand-in, on loopback: members are "agents" answering /healthz on 192.0.2.x (a namespace of the test). It
// publishes one route per vpc group to a healthy member, moves a route off a dead target, deletes
// stale routes of its own and never touches others', and refuses a topology the table cannot hold
// without writing anything.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Server, createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CreateRouteCommand, DescribeRouteTablesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Standin } from '../../src/lab/ec2-standin.js';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

const TABLE = 'rtb-0feed';
const KEYS = { AWS_REGION: 'lab-1', AWS_ACCESS_KEY_ID: 'AKIAPUBLISHERTEST001', AWS_SECRET_ACCESS_KEY: 'publisher-secret' };
const hosts = [
  { name: 'h1', ip: '192.0.2.11', zone: 'az-1', instance: 'i-0000000000000011' },
  { name: 'h2', ip: '192.0.2.12', zone: 'az-1', instance: 'i-0000000000000012' },
  { name: 'h3', ip: '192.0.2.13', zone: 'az-2', instance: 'i-0000000000000013' },
];

// romanad refuses loopback host addresses, so the members get their own (TEST-NET-1, on a veth link)
// in a network namespace of the test's own, and the suite runs again inside it, romanad included.
const INNER = process.env.ROMANA_PUBLISHER_TEST_NETNS;
if (!INNER) {
  describe('romana-route-publisher, in a network namespace of its own', () => {
    it('passes every case inside the namespace', () => {
      assert.equal(process.getuid?.(), 0, 'this test needs root: it gives the members their own addresses in a network namespace');
      const ns = `rpub-${process.pid}`;
      const ip = (...a: string[]) => { const r = spawnSync('ip', a, { encoding: 'utf8' }); assert.equal(r.status, 0, `ip ${a.join(' ')}: ${r.stderr}`); };
      ip('netns', 'add', ns);
      try {
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        ip('-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'); // no dummy module on every kernel
        for (const h of hosts) ip('-n', ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'd0');
        ip('-n', ns, 'link', 'set', 'd1', 'up');
        ip('-n', ns, 'link', 'set', 'd0', 'up');
        const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--test', fileURLToPath(import.meta.url)], {
          encoding: 'utf8', env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), ROMANA_PUBLISHER_TEST_NETNS: ns }, maxBuffer: 16 << 20,
        });
        // The inner run is a test run of its own (not a child of this runner): all four cases, passed.
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^# pass 4$/m, r.stdout);
        assert.match(r.stdout, /^# fail 0$/m, r.stdout);
      } finally {
        spawnSync('ip', ['netns', 'del', ns]);
      }
    });
  });
}

if (INNER) describe('romana-route-publisher', () => {
  let d: Romanad;
  let endpoint: string;
  let ec2: EC2Client;
  const agents = new Map<string, Server>();
  const standin = new Ec2Standin({
    accessKeyId: KEYS.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY, vpcId: 'vpc-0test', routeLimit: 50,
    routeTables: [{ id: TABLE, routes: [{ destination: '192.168.0.0/16', gatewayId: 'local', origin: 'CreateRouteTable' }] }],
    instances: hosts.map((h) => ({ id: h.instance, privateIp: h.ip })),
  });
  // Asynchronous: the stand-in and the members' /healthz answer from this very process.
  const publish = (...args: string[]) => new Promise<{ code: number | null; status: any; err: string }>((ok) => {
    const p = spawn(process.execPath, [BIN('romana-route-publisher'), '--api', d.url, '--route-table', TABLE, '--once', '--log-level', 'warn', ...args], {
      env: { ...process.env, ...KEYS, AWS_ENDPOINT_URL_EC2: endpoint }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (x) => (out += x));
    p.stderr.on('data', (x) => (err += x));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, status: out ? JSON.parse(out) : undefined, err });
    });
  });
  const table = async () => (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [TABLE] }))).RouteTables![0].Routes!
    .map((r) => `${r.DestinationCidrBlock} ${r.InstanceId ?? r.GatewayId}`).sort();
  const ports = new Map<string, number>();
  /** A member's agent answering /healthz, on the port its host record names. */
  const agentUp = (h: (typeof hosts)[number]) => new Promise<number>((ok) => {
    const s = createServer((_q, res) => res.end('ok\n')).listen(ports.get(h.name) ?? 0, h.ip, () => {
      ports.set(h.name, (s.address() as { port: number }).port);
      ok(ports.get(h.name)!);
    });
    agents.set(h.name, s);
  });
  const agentDown = (name: string) => new Promise<void>((ok) => agents.get(name)!.close(() => ok()));

  before(async () => {
    d = await startRomanad();
    endpoint = `http://127.0.0.1:${await standin.listen(0, '127.0.0.1')}`;
    ec2 = new EC2Client({ maxAttempts: 1, endpoint, region: KEYS.AWS_REGION, credentials: { accessKeyId: KEYS.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY } });
    await d.api.post('/topology', { type: 'vpc', 'num-azs': 2, 'prefix-groups': 1, network: '10.192.0.0/16' });
    for (const h of hosts) {
      const port = await agentUp(h);
      await d.api.post('/hosts', { name: h.name, ip: h.ip, agent_port: port, labels: { 'topology.kubernetes.io/zone': h.zone } });
    }
  });
  after(async () => {
    for (const s of agents.values()) s.close();
    ec2.destroy();
    await standin.close();
    await d.stop();
  });

  it('publishes one route per group, to a healthy member', async () => {
    const r = await publish();
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await table(), ['10.192.0.0/17 i-0000000000000011', '10.192.128.0/17 i-0000000000000013', '192.168.0.0/16 local']);
    assert.deepEqual(r.status.members, { h1: true, h2: true, h3: true });
    assert.deepEqual(r.status.tables[TABLE].routes.map((x: { group: string; host: string }) => [x.group, x.host]), [['az-1-1', 'h1'], ['az-2-1', 'h3']]);
    assert.equal((await publish()).status.moves, 0, 'a second pass changes nothing');
  });

  it('moves a group\'s route off a dead target; with no healthy member the route stays', async () => {
    await agentDown('h1');
    const r = await publish();
    assert.equal(r.code, 0, r.err);
    assert.equal(r.status.moves, 1);
    assert.deepEqual(await table(), ['10.192.0.0/17 i-0000000000000012', '10.192.128.0/17 i-0000000000000013', '192.168.0.0/16 local']);
    await agentUp(hosts[0]);
    assert.equal((await publish()).status.moves, 0, 'h1 is back, but h2 stays the target: no needless moves');
    await agentDown('h3');
    const s = await publish();
    assert.deepEqual(s.status.tables[TABLE].stuck.map((x: { group: string }) => x.group), ['az-2-1']);
    assert.ok((await table()).includes('10.192.128.0/17 i-0000000000000013'));
    await agentUp(hosts[2]);
  });

  it('deletes stale routes in the pod network; never touches the others\'', async () => {
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '10.192.200.0/24', InstanceId: 'i-0000000000000013' }));
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0abc' }));
    assert.equal((await publish()).code, 0);
    assert.deepEqual(await table(), ['0.0.0.0/0 igw-0abc', '10.192.0.0/17 i-0000000000000012', '10.192.128.0/17 i-0000000000000013', '192.168.0.0/16 local']);
  });

  it('a topology over the route limit is refused, and nothing is written', async () => {
    const groups = (n: number, extra: object = {}) => ({
      networks: [{ name: 'vpc', cidr: '10.192.0.0/16' }],
      topologies: [{ networks: ['vpc'], map: Array.from({ length: n }, (_, i) => ({ name: `g${i}`, routing: { type: 'vpc', ...extra }, groups: [] })) }],
    });
    // romanad itself refuses more vpc groups than the limit the topology states (50 unless it says).
    const before = await d.api.get('/topology');
    await assert.rejects(d.api.post('/topology', groups(51)), /over its limit of 50/);
    assert.deepEqual(await d.api.get('/topology'), before, 'romanad wrote nothing');
    // A topology that claims a raised limit, but the table holds two routes of others and its quota is 50.
    await d.api.post('/topology', groups(49, { route_limit: 100 }));
    const was = await table();
    const r = await publish();
    assert.equal(r.code, 1);
    assert.match(r.status.tables[TABLE].refused, /route table rtb-0feed cannot hold the topology: 49 group routes \+ 2 routes of others = 51, over its limit of 50; nothing was written/);
    assert.deepEqual(await table(), was, 'the table is untouched');
    // With the quota raised, the same topology fits.
    const ok = await publish('--route-limit', '100');
    assert.equal(ok.code, 0, ok.err);
    assert.equal((await table()).filter((x) => x.startsWith('10.192.')).length, 3, 'a route for each group with hosts (3 hosts, 3 groups)');
  });
});
