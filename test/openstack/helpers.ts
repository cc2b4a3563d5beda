// Running the OpenStack integration's Python code with Debian's interpreter and Neutron: the package
// on PYTHONPATH, its entry points made visible by tools/dist_info.py (stevedore finds the `romana`
// drivers there), and the project's built romanad for the tests that start one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, requireBuilt } from '../helpers/romanad.js';

export const PY = '/usr/bin/python3';
export const PKG = join(ROOT, 'integrations', 'openstack');

/** Fails loudly, naming what is missing (make test installs all of it). */
export function requirePythonTools(): void {
  const py = spawnSync(PY, ['-c', 'import neutron, neutron_lib, oslotest, stestr, ddt, testtools'], { encoding: 'utf8' });
  assert.equal(py.status, 0, `Debian's python3-neutron, python3-oslotest, python3-stestr and python3-ddt are needed (scripts/install-deps.sh installs them): ${py.stderr}`);
  for (const tool of ['/usr/bin/flake8', '/usr/bin/stestr', '/usr/bin/subunit2csv']) {
    assert.equal(spawnSync('test', ['-x', tool]).status, 0, `${tool} is missing (scripts/install-deps.sh installs it)`);
  }
  requireBuilt();
}

/** The environment for the package's Python code: its entry points in a fresh dist-info. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const di = mkdtempSync(join(tmpdir(), 'romana-dist-info-'));
  const r = spawnSync(PY, [join(PKG, 'tools', 'dist_info.py'), di], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // Debian's tools first: a python3 earlier on the PATH may lack Debian's packages.
  return { ...process.env, PATH: `/usr/bin:${process.env.PATH}`, PYTHONPATH: `${PKG}:${di}`, ROMANA_ROOT: ROOT, ROMANA_NODE: process.execPath };
}
