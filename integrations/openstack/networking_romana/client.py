"""A small client of romanad's REST API: the only way the drivers reach Romana.

Every answer that is not 2xx becomes a RomanadError carrying romanad's error kind (`invalid`,
`not_found`, `no_available_ip`, ...); a romanad that cannot be reached is kind `unavailable`.
"""
import threading
import time
from urllib.parse import quote

import netaddr
import requests
from oslo_config import cfg
from oslo_log import log

from networking_romana import config

LOG = log.getLogger(__name__)


class RomanadError(Exception):
    def __init__(self, kind, message, status=None):
        super().__init__('%s: %s' % (kind, message))
        self.kind = kind
        self.message = message
        self.status = status


class RomanadClient(object):
    def __init__(self, url, token=None, ca_file=None, timeout=10.0, networks_cache_seconds=5.0):
        self.url = url.rstrip('/')
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers['Authorization'] = 'Bearer %s' % token
        if ca_file:
            self.session.verify = ca_file
        self._cache_seconds = networks_cache_seconds
        self._networks = None
        self._networks_at = 0.0
        self._lock = threading.Lock()

    def _call(self, method, path, body=None, ok_missing=False):
        try:
            r = self.session.request(method, self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise RomanadError('unavailable', 'romanad at %s cannot be reached: %s' % (self.url, e))
        if r.status_code == 404 and ok_missing:
            return None
        if r.status_code >= 300:
            try:
                err = r.json()
                kind, message = err.get('error', 'internal'), err.get('message', r.text)
            except ValueError:
                kind, message = 'internal', r.text
            raise RomanadError(kind, message, r.status_code)
        return r.json() if r.content else None

    # ---- topology ----

    def networks(self):
        """romanad's networks ({name, cidr, block_mask, layout?}), reused for a few seconds."""
        with self._lock:
            if self._networks is not None and time.monotonic() - self._networks_at < self._cache_seconds:
                return self._networks
        got = self._call('GET', '/networks')
        nets = got['networks'] if isinstance(got, dict) else got
        with self._lock:
            self._networks, self._networks_at = nets, time.monotonic()
        return nets

    def network_for_cidr(self, cidr):
        """The Romana network whose CIDR is exactly `cidr` (IPv4), or None."""
        cidr = netaddr.IPNetwork(str(cidr))
        if cidr.version != 4:
            return None
        for n in self.networks():
            if netaddr.IPNetwork(n['cidr']) == cidr:
                return n
        return None

    def network_of_ip(self, ip):
        """The Romana network an address lies in, or None."""
        ip = netaddr.IPAddress(str(ip))
        if ip.version != 4:
            return None
        for n in self.networks():
            if ip in netaddr.IPNetwork(n['cidr']):
                return n
        return None

    def host(self, name):
        """The host record, or None when romanad does not know the host."""
        return self._call('GET', '/hosts/%s' % quote(name, safe=''), ok_missing=True)

    # ---- addresses ----

    def allocate(self, name, host, tenant, segment, network, attributes):
        return self._call('POST', '/address', {
            'name': name, 'host': host, 'tenant': tenant, 'segment': segment, 'network': network,
            'attributes': attributes})

    def address(self, name_or_ip):
        return self._call('GET', '/address/%s' % quote(name_or_ip, safe=''), ok_missing=True)

    def release_if(self, record):
        """Releases an address only while it is still exactly this record (same name, IP and time)."""
        body = {'name': record['name'], 'ip': record['ip']}
        if record.get('created_at'):
            body['created_at'] = record['created_at']
        return self._call('POST', '/ipam/release', body)

    def add_blackout(self, cidr):
        return self._call('POST', '/blackouts', {'cidr': cidr})

    # ---- metadata (tenants and endpoints as romanad's policy engine sees them) ----

    def put_namespace(self, name, labels):
        return self._call('PUT', '/namespaces/%s' % quote(name, safe=''), {'labels': labels})

    def put_pod(self, namespace, name, labels):
        path = '/pods/%s/%s' % (quote(namespace, safe=''), quote(name, safe=''))
        return self._call('PUT', path, {'labels': labels, 'ports': []})

    def delete_pod(self, namespace, name):
        return self._call('DELETE', '/pods/%s/%s' % (quote(namespace, safe=''), quote(name, safe='')), ok_missing=True)


_clients = {}
_clients_lock = threading.Lock()


def get_client():
    """One client per configuration (neutron-server reads its config once; tests change it)."""
    c = cfg.CONF[config.GROUP]
    key = (c.url, c.token_file, c.ca_file, c.timeout, c.networks_cache_seconds)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            token = None
            if c.token_file:
                with open(c.token_file) as f:
                    token = f.read().strip()
            client = RomanadClient(c.url, token, c.ca_file, c.timeout, c.networks_cache_seconds)
            _clients[key] = client
        return client
