// End to end with a real neutron-server (Debian's Neutron 21: ML2, SQLite, noauth, oslo.messaging's
// in-process fake transport, no RabbitMQ, no Keystone) loading the `romana` IPAM and mechanism drivers,
// and a real romanad with the seed's layout (10.0.0.0/8: 8 host, 8 tenant, 4 segment, 4 endpoint bits).
// Through Neutron's REST API: a network, a subnet and ports bound to Romana hosts; each port's address
// is romanad's record for that host and lies in the host's block; a port created without a host gets
// its address when it is bound; deleting the port releases it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Romanad, startRomanad } from '../helpers/romanad.js';
import { PKG, PY, pythonEnv, requirePythonTools } from './helpers.js';

const TOKEN = 'neutron-e2e-token-0123456789abcdef';
const PROJECT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    }).on('error', fail);
  });
}

describe('neutron-server with the Romana drivers', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'romana-neutron-'));
  let romanad: Romanad | undefined;
  let neutron: ChildProcess | undefined;
  let url = '';
  const log = join(dir, 'neutron.log');

  const q = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(url + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const rq = async (path: string) => {
    const r = await fetch(romanad!.url + path, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: r.status, body: await r.json() as Record<string, unknown> };
  };
  const logs = () => { try { return readFileSync(log, 'utf8').slice(-6000); } catch { return ''; } };

  before(async () => {
    requirePythonTools();
    const topology = join(dir, 'topology.json');
    writeFileSync(topology, JSON.stringify({
      networks: [{ name: 'classic', cidr: '10.0.0.0/8', layout: { host_bits: 8, tenant_bits: 8, segment_bits: 4, endpoint_bits: 4 } }],
      topologies: [{ networks: ['classic'], map: [{ name: 'rack', groups: [{ name: 'compute-1', ip: '192.0.2.1' }, { name: 'compute-2', ip: '192.0.2.2' }] }] }],
    }));
    writeFileSync(join(dir, 'auth.json'), JSON.stringify({ tokens: [{ token: TOKEN, role: 'admin', name: 'neutron' }] }));
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
    romanad = await startRomanad({ topologyFile: topology, extraArgs: ['--auth-file', join(dir, 'auth.json')], token: TOKEN });

    const env = pythonEnv();
    const db = join(dir, 'neutron.db');
    const init = spawnSync(PY, [join(PKG, 'tools', 'neutron_server.py'), 'init-db', db], { env, encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
    copyFileSync('/usr/lib/python3/dist-packages/neutron/tests/etc/api-paste.ini', join(dir, 'api-paste.ini'));
    const port = await freePort();
    writeFileSync(join(dir, 'neutron.conf'), [
      '[DEFAULT]', 'core_plugin = ml2', 'service_plugins =', 'auth_strategy = noauth', 'transport_url = fake:/',
      'api_workers = 0', 'rpc_workers = 0', 'rpc_state_report_workers = 0',
      'notify_nova_on_port_status_changes = false', 'notify_nova_on_port_data_changes = false',
      `api_paste_config = ${join(dir, 'api-paste.ini')}`, 'bind_host = 127.0.0.1', `bind_port = ${port}`, `state_path = ${dir}`,
      'ipam_driver = romana', `log_file = ${log}`, 'debug = false',
      '[database]', `connection = sqlite:///${db}`,
      '[oslo_concurrency]', `lock_path = ${join(dir, 'lock')}`,
      '[agent]', 'report_interval = 0',
      '[romana]', `url = ${romanad.url}`, `token_file = ${join(dir, 'token')}`,
    ].join('\n') + '\n');
    writeFileSync(join(dir, 'ml2_conf.ini'), [
      '[ml2]', 'type_drivers = flat,local', 'tenant_network_types = local', 'mechanism_drivers = romana',
      '[ml2_type_flat]', 'flat_networks = *',
    ].join('\n') + '\n');
    neutron = spawn(PY, [join(PKG, 'tools', 'neutron_server.py'), 'serve', '--config-file', join(dir, 'neutron.conf'), '--config-file', join(dir, 'ml2_conf.ini')],
      { env, stdio: 'ignore' });
    url = `http://127.0.0.1:${port}/v2.0`;
    const end = Date.now() + 60_000;
    for (;;) {
      if (neutron.exitCode !== null) throw new Error(`neutron-server exited with ${neutron.exitCode}:\n${logs()}`);
      try {
        if ((await fetch(`${url}/networks`)).status === 200) break;
      } catch { /* not yet */ }
      if (Date.now() > end) throw new Error(`neutron-server did not answer in 60 s:\n${logs()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (neutron && neutron.exitCode === null) {
      const exited = new Promise((r) => neutron!.once('exit', r));
      neutron.kill('SIGTERM');
      const t = setTimeout(() => neutron!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await romanad?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let net = '', subnet = '';

  it('a network and a subnet on the Romana network', async () => {
    const n = await q('POST', '/networks', { network: { name: 'web', tenant_id: PROJECT } });
    assert.equal(n.status, 201, JSON.stringify(n.body) + logs());
    net = n.body.network.id;
    const s = await q('POST', '/subnets', { subnet: { network_id: net, cidr: '10.0.0.0/8', ip_version: 4, tenant_id: PROJECT } });
    assert.equal(s.status, 201, JSON.stringify(s.body) + logs());
    subnet = s.body.subnet.id;
  });

  it("a port bound to compute-1 has romanad's address for compute-1 x project x network: the seed's 10.1.1.17, in compute-1's block; deleting it releases it", async () => {
    const p = await q('POST', '/ports', { port: { network_id: net, tenant_id: PROJECT, 'binding:host_id': 'compute-1' } });
    assert.equal(p.status, 201, JSON.stringify(p.body) + logs());
    const port = p.body.port;
    assert.equal(port['binding:vif_type'], 'tap');
    assert.deepEqual(port.fixed_ips, [{ subnet_id: subnet, ip_address: '10.1.1.17' }], 'host 1, tenant 1, segment 1, endpoint 1');
    const rec = await rq('/address/10.1.1.17');
    assert.equal(rec.status, 200);
    assert.deepEqual([rec.body.name, rec.body.host, rec.body.tenant, rec.body.segment, rec.body.network],
      [`neutron.${port.id}.${subnet}`, 'compute-1', PROJECT, net, 'classic']);
    const hosts = (await rq('/hosts')).body.hosts as { name: string; id: number }[];
    assert.equal(hosts.find((h) => h.name === 'compute-1')!.id, 1);
    const blocks = (await rq('/blocks?host=compute-1')).body.blocks as { cidr: string; tenant: string; segment: string; allocated_ip_count: number }[];
    assert.deepEqual(blocks, [{ cidr: '10.1.1.16/28', network: 'classic', host: 'compute-1', tenant: PROJECT, segment: net, allocated_ip_count: 1 }]);
    assert.equal(rec.body.block, '10.1.1.16/28');

    const d = await q('DELETE', `/ports/${port.id}`);
    assert.equal(d.status, 204);
    assert.equal((await rq('/address/10.1.1.17')).status, 404, 'released');
    assert.deepEqual((await rq('/blocks?host=compute-1')).body.blocks, [], 'and its emptied block with it');
  });

  it('a port created without a host gets no address until it is bound; then compute-2\'s', async () => {
    const p = await q('POST', '/ports', { port: { network_id: net, tenant_id: PROJECT } });
    assert.equal(p.status, 201, JSON.stringify(p.body) + logs());
    assert.deepEqual(p.body.port.fixed_ips, []);
    const b = await q('PUT', `/ports/${p.body.port.id}`, { port: { 'binding:host_id': 'compute-2' } });
    assert.equal(b.status, 200, JSON.stringify(b.body) + logs());
    assert.deepEqual(b.body.port.fixed_ips, [{ subnet_id: subnet, ip_address: '10.2.1.17' }], 'host 2, tenant 1, segment 1, endpoint 1');
    assert.equal(b.body.port['binding:vif_type'], 'tap');
    assert.equal((await rq('/address/10.2.1.17')).body.host, 'compute-2');
    assert.equal((await q('DELETE', `/ports/${p.body.port.id}`)).status, 204);
    assert.equal((await rq('/address/10.2.1.17')).status, 404);
  });

  it('a host Romana does not know is refused with a 400 that says so, and nothing is allocated', async () => {
    const p = await q('POST', '/ports', { port: { network_id: net, tenant_id: PROJECT, 'binding:host_id': 'elsewhere' } });
    assert.equal(p.status, 400, JSON.stringify(p.body));
    assert.match(p.body.NeutronError.message, /host 'elsewhere' does not exist/);
    assert.deepEqual((await rq('/addresses')).body.addresses, []);
  });
});
