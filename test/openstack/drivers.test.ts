// The OpenStack integration's Python side: flake8, then its tests under stestr with Debian's Neutron
// 21. They are Neutron's own ML2 suites for ports and subnets (TestMl2PortsV2, TestMl2SubnetsV2; the
// ~125 of their 335 tests that create, update and delete ports and subnets, chosen in
// test_neutron_suites.py) rerun with the `romana` IPAM and mechanism drivers loaded, and the drivers'
// own tests on Romana subnets through the same ML2 test base. Each test process starts a real romanad.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PKG, PY, pythonEnv, requirePythonTools } from './helpers.js';

interface Result { id: string; status: string }

describe('networking-romana (Python)', () => {
  let env: NodeJS.ProcessEnv;
  const dir = mkdtempSync(join(tmpdir(), 'romana-stestr-'));
  let results: Result[] = [];
  let output = '';
  before(() => {
    requirePythonTools();
    env = pythonEnv();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('flake8 finds nothing', () => {
    const r = spawnSync('/usr/bin/flake8', ['.'], { cwd: PKG, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('the suites and the drivers\' tests run under stestr, with none failed', () => {
    // stestr keeps its repository beside its config: both in a scratch directory.
    writeFileSync(join(dir, '.stestr.conf'), `[DEFAULT]\ntest_path=${join(PKG, 'networking_romana', 'tests')}\ntop_dir=${PKG}\n`);
    const run = spawnSync('stestr', ['run', '--concurrency', '2'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 256 << 20 });
    output = run.stdout + run.stderr;
    const csv = spawnSync('sh', ['-c', 'stestr last --subunit | subunit2csv'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 256 << 20 });
    results = csv.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
      const [id, status] = l.split(',');
      return { id, status };
    });
    const failed = results.filter((r) => r.status === 'fail');
    assert.deepEqual(failed.map((r) => r.id), [], output.slice(-20000));
    assert.equal(run.status, 0, output.slice(-5000));
  });

  it("Neutron's port and subnet suites passed with the Romana drivers loaded", () => {
    const of = (cls: string) => results.filter((r) => r.id.includes(`.test_neutron_suites.${cls}.`));
    const ports = of('TestRomanaMl2PortsV2'), subnets = of('TestRomanaMl2SubnetsV2');
    assert.ok(ports.length >= 55, `only ${ports.length} port tests ran`);
    assert.ok(subnets.length >= 55, `only ${subnets.length} subnet tests ran`);
    for (const t of ['test_create_port_json', 'test_update_port_update_ips', 'test_delete_port', 'test_create_ports_bulk_native']) {
      assert.ok(ports.some((r) => r.id.endsWith(`.${t}`) && r.status === 'success'), t);
    }
    for (const t of ['test_create_subnet', 'test_update_subnet_allocation_pools', 'test_delete_subnet']) {
      assert.ok(subnets.some((r) => r.id.endsWith(`.${t}`) && r.status === 'success'), t);
    }
    const skipped = [...ports, ...subnets].filter((r) => r.status === 'skip');
    assert.ok(skipped.length <= 2, `skipped: ${skipped.map((r) => r.id).join(', ')}`);
    assert.ok([...ports, ...subnets].every((r) => r.status === 'success' || r.status === 'skip'));
  });

  it("the drivers' own tests passed: host-aware, deferred, release, refusals, errors as 4xx", () => {
    const own = results.filter((r) => r.id.includes('.test_romana_drivers.'));
    for (const name of [
      'test_port_bound_at_creation_gets_its_hosts_address_and_releases_it',
      'test_port_without_host_is_deferred_then_allocated_when_bound',
      'test_unknown_host_is_refused_with_its_reason',
      'test_a_bound_port_cannot_move_to_another_host',
      'test_binding_on_a_host_romana_no_longer_knows_is_refused_with_its_reason',
      'test_running_out_is_409_naming_the_part',
      'test_subnet_create_is_503',
    ]) {
      assert.deepEqual(own.filter((r) => r.id.endsWith(`.${name}`)).map((r) => r.status), ['success'], name);
    }
    assert.ok(own.length >= 10 && own.every((r) => r.status === 'success'), JSON.stringify(own));
  });

  it('the package imports with only Debian\'s Neutron (no test code needed)', () => {
    const r = spawnSync(PY, ['-c', 'import networking_romana.ipam, networking_romana.mech_driver'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
