"""A real romanad for the tests: the project's built dist/romanad.mjs on a loopback port, a fresh data
directory, an auth file whose one admin token the drivers use, and the topology below. One per test
process, started on first use and stopped when the process ends."""
import atexit
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import requests

ROOT = os.environ.get('ROMANA_ROOT') or os.path.abspath(os.path.join(os.path.dirname(__file__), *['..'] * 4))

# Networks the Neutron suites never use, so their subnets stay with the database IPAM.
LAYOUT_CIDR = '100.64.0.0/10'
CARVED_CIDR = '198.18.0.0/15'
TINY_CIDR = '198.51.100.0/24'
# compute-3 is removed from romanad by one test.
HOSTS = {'compute-1': '192.0.2.1', 'compute-2': '192.0.2.2', 'compute-3': '192.0.2.3'}
TOPOLOGY = {
    'networks': [
        {'name': 'layout', 'cidr': LAYOUT_CIDR,
         'layout': {'host_bits': 6, 'tenant_bits': 6, 'segment_bits': 4, 'endpoint_bits': 6}},
        {'name': 'carved', 'cidr': CARVED_CIDR, 'block_mask': 28},
        # Two bits per part: three of each, to run out of.
        {'name': 'tiny', 'cidr': TINY_CIDR,
         'layout': {'host_bits': 2, 'tenant_bits': 2, 'segment_bits': 2, 'endpoint_bits': 2}},
    ],
    'topologies': [{'networks': ['layout', 'carved', 'tiny'], 'map': [
        {'name': 'rack-1', 'groups': [{'name': name, 'ip': ip} for name, ip in HOSTS.items()]},
    ]}],
}


class Romanad(object):
    def __init__(self, topology=None):
        node = os.environ.get('ROMANA_NODE') or shutil.which('node')
        bundle = os.path.join(ROOT, 'dist', 'romanad.mjs')
        if not node:
            raise RuntimeError('romanad needs node: set ROMANA_NODE or put node on the PATH')
        if not os.path.exists(bundle):
            raise RuntimeError('%s is missing: run `node scripts/build.mjs` (make test does)' % bundle)
        self.dir = tempfile.mkdtemp(prefix='romanad-neutron-')
        self.token = secrets.token_urlsafe(24)
        self.token_file = os.path.join(self.dir, 'token')
        with open(self.token_file, 'w') as f:
            f.write(self.token + '\n')
        auth = os.path.join(self.dir, 'auth.json')
        with open(auth, 'w') as f:
            json.dump({'tokens': [{'token': self.token, 'role': 'admin', 'name': 'neutron'}]}, f)
        topo = os.path.join(self.dir, 'topology.json')
        with open(topo, 'w') as f:
            json.dump(topology or TOPOLOGY, f)
        self.log = os.path.join(self.dir, 'romanad.log')
        with open(self.log, 'w') as out:
            self.proc = subprocess.Popen(
                [node, bundle, '--data-dir', os.path.join(self.dir, 'data'), '--listen', '127.0.0.1', '--port', '0',
                 '--auth-file', auth, '--topology', topo, '--log-level', 'info'],
                stdout=out, stderr=subprocess.STDOUT)
        self.url = self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('romanad exited with %s:\n%s' % (self.proc.returncode, self.logs()))
            for line in self.logs().splitlines():
                if 'romanad ready' in line:
                    return json.loads(line)['url']
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('romanad did not start in 20 s:\n%s' % self.logs())

    def logs(self):
        with open(self.log) as f:
            return f.read()

    def api(self, method, path, body=None):
        r = requests.request(method, self.url + path, json=body, timeout=10,
                             headers={'Authorization': 'Bearer %s' % self.token})
        return r.status_code, (r.json() if r.content else None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared = None


def shared():
    """The test process's romanad."""
    global _shared
    if _shared is None:
        _shared = Romanad()
        atexit.register(_shared.stop)
    return _shared
