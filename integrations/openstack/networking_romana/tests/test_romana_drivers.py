"""The Romana drivers on Romana subnets, through Neutron's API (Ml2PluginV2TestCase: the ML2 plugin
in-process on SQLite) against a real romanad: host-aware and deferred allocation, release, binding,
endpoint metadata, and romanad's errors as Neutron 4xx answers."""
import uuid

from unittest import mock

import netaddr
from neutron_lib.api.definitions import portbindings
from neutron.tests.unit.plugins.ml2 import test_plugin
from oslo_config import cfg

from networking_romana import config
from networking_romana import mech_driver
from networking_romana.tests import base
from networking_romana.tests import romanad

HOST_ID = portbindings.HOST_ID


class RomanaDriversTestCase(base.RomanaConfigMixin, test_plugin.Ml2PluginV2TestCase):
    _mechanism_drivers = ['romana']

    def setUp(self):
        super(RomanaDriversTestCase, self).setUp()
        # Each test its own project: tenants (and their IDs) never meet across tests.
        self.project = uuid.uuid4().hex

    # ---- helpers ----

    def _subnet(self, cidr=romanad.LAYOUT_CIDR, **kwargs):
        net = self._make_network(self.fmt, 'net-%s' % uuid.uuid4().hex[:6], True, tenant_id=self.project)
        subnet = self._make_subnet(self.fmt, net, str(netaddr.IPNetwork(cidr)[1]), cidr, tenant_id=self.project,
                                   **kwargs)
        return net['network'], subnet['subnet']

    def _port(self, net, status=201, **kwargs):
        args = tuple(k for k in kwargs if k not in ('fixed_ips', 'tenant_id'))
        res = self._create_port(self.fmt, net['id'], arg_list=args, tenant_id=self.project, **kwargs)
        body = self.deserialize(self.fmt, res)
        self.assertEqual(status, res.status_int, body)
        return body.get('port', body)

    def _bind(self, port_id, host, status=200):
        req = self.new_update_request('ports', {'port': {HOST_ID: host}}, port_id)
        res = req.get_response(self.api)
        body = self.deserialize(self.fmt, res)
        self.assertEqual(status, res.status_int, body)
        return body.get('port', body)

    def _romana(self, method, path, body=None):
        return self.romanad.api(method, path, body)

    def _host_cidr(self, host):
        """The host's CIDR in the layout network (6 host bits under 100.64.0.0/10: a /16)."""
        code, rec = self._romana('GET', '/hosts/%s' % host)
        self.assertEqual(200, code)
        base_ip = netaddr.IPNetwork(romanad.LAYOUT_CIDR).first + rec['id'] * 2 ** 16
        return netaddr.IPNetwork('%s/16' % netaddr.IPAddress(base_ip))

    def _assert_romana_address(self, port, subnet, host):
        self.assertEqual(1, len(port['fixed_ips']), port)
        ip = port['fixed_ips'][0]['ip_address']
        code, rec = self._romana('GET', '/address/%s' % ip)
        self.assertEqual(200, code, rec)
        self.assertEqual('neutron.%s.%s' % (port['id'], subnet['id']), rec['name'])
        self.assertEqual((host, self.project, port['network_id']), (rec['host'], rec['tenant'], rec['segment']))
        self.assertIn(netaddr.IPAddress(ip), self._host_cidr(host))
        code, blocks = self._romana('GET', '/blocks?host=%s' % host)
        mine = [b for b in blocks['blocks'] if netaddr.IPAddress(ip) in netaddr.IPNetwork(b['cidr'])]
        self.assertEqual([rec['block']], [b['cidr'] for b in mine])
        self.assertEqual((self.project, port['network_id']), (mine[0]['tenant'], mine[0]['segment']))
        return ip

    # ---- tests ----

    def test_port_bound_at_creation_gets_its_hosts_address_and_releases_it(self):
        net, subnet = self._subnet()
        port = self._port(net, **{HOST_ID: 'compute-1'})
        ip = self._assert_romana_address(port, subnet, 'compute-1')
        self.assertEqual('tap', port[portbindings.VIF_TYPE])
        # A second port of the same project and network shares the block (same host x tenant x segment).
        other = self._port(net, **{HOST_ID: 'compute-1'})
        ip2 = self._assert_romana_address(other, subnet, 'compute-1')
        self.assertEqual(int(netaddr.IPAddress(ip)) + 1, int(netaddr.IPAddress(ip2)))
        self._delete('ports', port['id'])
        self.assertEqual(404, self._romana('GET', '/address/%s' % ip)[0], 'deleting the port released it')
        self._delete('ports', other['id'])
        code, blocks = self._romana('GET', '/blocks?host=compute-1')
        self.assertFalse([b for b in blocks['blocks'] if b['tenant'] == self.project], 'the emptied block is released')

    def test_port_without_host_is_deferred_then_allocated_when_bound(self):
        net, subnet = self._subnet()
        port = self._port(net)
        self.assertEqual([], port['fixed_ips'])
        self.assertEqual('deferred', self.driver.get_port(self.context, port['id'])['ip_allocation'])
        bound = self._bind(port['id'], 'compute-2')
        self._assert_romana_address(bound, subnet, 'compute-2')
        self.assertEqual('tap', bound[portbindings.VIF_TYPE])

    def test_unknown_host_is_refused_with_its_reason(self):
        net, _ = self._subnet()
        res = self._create_port(self.fmt, net['id'], arg_list=(HOST_ID,), tenant_id=self.project,
                                **{HOST_ID: 'nowhere'})
        self.assertEqual(400, res.status_int)
        self.assertIn("host 'nowhere' does not exist", self.deserialize(self.fmt, res)['NeutronError']['message'])
        port = self._port(net)
        req = self.new_update_request('ports', {'port': {HOST_ID: 'nowhere'}}, port['id'])
        res = req.get_response(self.api)
        self.assertEqual(400, res.status_int)
        self.assertIn("host 'nowhere' does not exist", self.deserialize(self.fmt, res)['NeutronError']['message'])

    def test_a_bound_port_cannot_move_to_another_host(self):
        net, _ = self._subnet()
        port = self._port(net, **{HOST_ID: 'compute-1'})
        req = self.new_update_request('ports', {'port': {HOST_ID: 'compute-2'}}, port['id'])
        res = req.get_response(self.api)
        self.assertEqual(400, res.status_int)
        msg = self.deserialize(self.fmt, res)['NeutronError']['message']
        self.assertIn("of host 'compute-1'; it cannot be bound to host 'compute-2'", msg)

    def test_binding_on_a_host_romana_no_longer_knows_is_refused_with_its_reason(self):
        net, _ = self._subnet()
        port = self._port(net, **{HOST_ID: 'compute-3'})
        self.assertEqual('tap', port[portbindings.VIF_TYPE])
        # The host leaves Romana (its addresses with it); Neutron binds the port again on a profile change.
        code, _ = self._romana('DELETE', '/hosts/compute-3?force=true')
        self.assertEqual(200, code)
        with mock.patch.object(mech_driver.LOG, 'warning') as warn:
            rebound = self._update('ports', port['id'], {'port': {portbindings.PROFILE: {'rebind': '1'}}})['port']
        self.assertEqual(portbindings.VIF_TYPE_BINDING_FAILED, rebound[portbindings.VIF_TYPE])
        reasons = [c[0][0] % c[0][1:] for c in warn.call_args_list]
        self.assertTrue(any("host 'compute-3' is not a Romana host" in r for r in reasons), reasons)

    def test_fixed_ip_address_and_allocation_pools_are_refused_on_a_romana_subnet(self):
        net, subnet = self._subnet()
        res = self._create_port(self.fmt, net['id'], arg_list=(HOST_ID,), tenant_id=self.project,
                                fixed_ips=[{'subnet_id': subnet['id'], 'ip_address': '100.64.3.3'}],
                                **{HOST_ID: 'compute-1'})
        self.assertEqual(400, res.status_int)
        msg = self.deserialize(self.fmt, res)['NeutronError']['message']
        self.assertIn('a fixed ip_address cannot be requested', msg)
        net2 = self._make_network(self.fmt, 'pools', True, tenant_id=self.project)
        res = self._create_subnet(self.fmt, net2['network']['id'], romanad.LAYOUT_CIDR, tenant_id=self.project,
                                  allocation_pools=[{'start': '100.64.0.10', 'end': '100.64.0.20'}])
        self.assertEqual(400, res.status_int)
        self.assertIn('allocation pools cannot be set', self.deserialize(self.fmt, res)['NeutronError']['message'])

    def test_segment_from_binding_profile_and_endpoint_metadata(self):
        net, subnet = self._subnet()
        port = self._port(net, **{HOST_ID: 'compute-2', portbindings.PROFILE: {'romana_segment': 'web'}})
        ip = port['fixed_ips'][0]['ip_address']
        self.assertEqual('web', self._romana('GET', '/address/%s' % ip)[1]['segment'])
        code, pod = self._romana('GET', '/pods/%s/%s' % (self.project, port['id']))
        self.assertEqual(200, code, pod)
        self.assertEqual('web', pod['labels']['romana.io/segment'])
        namespaces = self._romana('GET', '/namespaces')[1]['namespaces']
        self.assertIn(self.project, [n['name'] for n in namespaces])
        self._delete('ports', port['id'])
        self.assertEqual(404, self._romana('GET', '/pods/%s/%s' % (self.project, port['id']))[0])
        bad = self._create_port(self.fmt, net['id'], arg_list=(HOST_ID, portbindings.PROFILE), tenant_id=self.project,
                                **{HOST_ID: 'compute-2', portbindings.PROFILE: {'romana_segment': 'a b'}})
        self.assertEqual(400, bad.status_int)
        self.assertIn('romana_segment', self.deserialize(self.fmt, bad)['NeutronError']['message'])

    def test_running_out_is_409_naming_the_part(self):
        net, subnet = self._subnet(romanad.TINY_CIDR)
        ports = [self._port(net, **{HOST_ID: 'compute-1'}) for _ in range(3)]
        res = self._create_port(self.fmt, net['id'], arg_list=(HOST_ID,), tenant_id=self.project,
                                **{HOST_ID: 'compute-1'})
        self.assertEqual(409, res.status_int)
        msg = self.deserialize(self.fmt, res)['NeutronError']['message']
        self.assertIn('the endpoint IDs of segment', msg)
        self.assertIn("on host 'compute-1' in network 'tiny' ran out", msg)
        for p in ports:
            self._delete('ports', p['id'])

    def test_carved_network_keeps_the_gateway_out_of_its_blocks(self):
        net, subnet = self._subnet(romanad.CARVED_CIDR)
        code, got = self._romana('GET', '/blackouts')
        self.assertIn({'network': 'carved', 'cidr': '%s/32' % subnet['gateway_ip']}, got['blackouts'])
        port = self._port(net, **{HOST_ID: 'compute-1'})
        ip = port['fixed_ips'][0]['ip_address']
        self.assertNotEqual(subnet['gateway_ip'], ip)
        self.assertEqual('compute-1', self._romana('GET', '/address/%s' % ip)[1]['host'])
        # A gateway outside the subnet (Neutron allows it) needs no blackout.
        other = self._make_network(self.fmt, 'gw-outside', True, tenant_id=self.project)['network']
        res = self._create_subnet(self.fmt, other['id'], romanad.CARVED_CIDR, gateway_ip='192.0.2.254',
                                  tenant_id=self.project)
        self.assertEqual(201, res.status_int, res.body)

    def test_other_subnets_keep_neutrons_ipam(self):
        net, subnet = self._subnet('10.99.0.0/24')
        port = self._port(net)
        self.assertEqual('10.99.0.0/24', subnet['cidr'])
        self.assertEqual(1, len(port['fixed_ips']), 'allocated at once, without a host')
        self.assertEqual(404, self._romana('GET', '/address/%s' % port['fixed_ips'][0]['ip_address'])[0])


class RomanadDownTestCase(base.RomanaConfigMixin, test_plugin.Ml2PluginV2TestCase):
    """romanad unreachable: a 503 that says so, never a 500."""
    _mechanism_drivers = ['romana']

    def setUp(self):
        super(RomanadDownTestCase, self).setUp()
        cfg.CONF.set_override('url', 'http://127.0.0.1:9', group=config.GROUP)
        cfg.CONF.set_override('timeout', 2.0, group=config.GROUP)

    def test_subnet_create_is_503(self):
        net = self._make_network(self.fmt, 'down', True)
        res = self._create_subnet(self.fmt, net['network']['id'], romanad.LAYOUT_CIDR)
        self.assertEqual(503, res.status_int)
        self.assertIn('cannot be reached', self.deserialize(self.fmt, res)['NeutronError']['message'])
