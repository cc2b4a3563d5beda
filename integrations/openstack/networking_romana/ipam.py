"""The `romana` IPAM driver (entry point neutron.ipam_drivers).

A subnet whose IPv4 CIDR equals a Romana network's is a Romana subnet: its addresses are romanad's,
one per port, for the port's host x project (tenant) x network (segment). Every other subnet (IPv6,
external networks, CIDRs Romana does not manage) keeps Neutron's own database IPAM, which this
driver extends; a Romana subnet is one with no row in that IPAM's tables.

Romana's address depends on the host, so it is chosen once the host is known: a port created
without `binding:host_id` gets no address on a Romana subnet (Neutron's deferred IP allocation,
`ip_allocation: deferred`), and receives it when it is bound to a host; a port created with its host
gets it at once. Deallocation releases the address in romanad, only while it is still that port's.
"""
import netaddr
from neutron_lib import exceptions as n_exc
from neutron_lib.plugins import directory
from oslo_log import log

from neutron.ipam.drivers.neutrondb_ipam import db_api as ipam_db_api
from neutron.ipam.drivers.neutrondb_ipam import driver as db_driver
from neutron.ipam import driver as ipam_base
from neutron.ipam import exceptions as ipam_exc
from neutron.ipam import requests as ipam_req
from neutron.ipam import utils as ipam_utils

from networking_romana import client as romana_client
from networking_romana import errors
from networking_romana import mapping

LOG = log.getLogger(__name__)


class RomanaAddressRequestFactory(ipam_req.AddressRequestFactory):
    """Neutron's requests, carrying the port: its host, project and network decide the address."""

    @classmethod
    def get_request(cls, context, port, ip_dict):
        request = super(RomanaAddressRequestFactory, cls).get_request(context, port, ip_dict)
        request.romana_port = port
        return request


class RomanaSubnetGroup(ipam_base.SubnetGroup):
    """Neutron's subnet-by-subnet allocation, but a Romana subnet's reason for running out is kept."""

    def __init__(self, pool, subnet_ids):
        self._pool = pool
        self._subnet_ids = subnet_ids

    def allocate(self, address_request):
        exhausted = None
        for subnet_id in self._subnet_ids:
            try:
                return self._pool.get_subnet(subnet_id).allocate(address_request), subnet_id
            except errors.RomanaAddressExhausted as e:
                exhausted = e
            except ipam_exc.IpAddressGenerationFailure:
                continue
        if exhausted is not None:
            raise exhausted
        raise ipam_exc.IpAddressGenerationFailureAllSubnets()


class RomanaSubnet(ipam_base.Subnet):
    def __init__(self, context, subnet_id, network_id, tenant_id, cidr, gateway_ip, romana_network):
        self._context = context
        self._subnet_id = subnet_id
        self._network_id = network_id
        self._tenant_id = tenant_id
        self._cidr = netaddr.IPNetwork(str(cidr))
        self._gateway_ip = gateway_ip
        self._romana_network = romana_network
        self._client = romana_client.get_client()

    def allocate(self, address_request):
        if isinstance(address_request, ipam_req.SpecificAddressRequest):
            raise ipam_exc.InvalidAddressRequest(reason=(
                'subnet %s is a Romana subnet: Romana chooses each address from the block of the port\'s host, '
                'so a fixed ip_address cannot be requested (ask for the subnet_id only)' % self._subnet_id))
        port = getattr(address_request, 'romana_port', None)
        if port is None:
            raise ipam_exc.InvalidAddressRequest(reason='a Romana address is allocated for a port only')
        host = mapping.port_host(port)
        if host is None:
            if isinstance(port, dict):
                # Port creation: Neutron creates the port without this address (ip_allocation
                # "deferred") and allocates it when the port is bound to a host.
                raise ipam_exc.DeferIpam()
            raise ipam_exc.InvalidAddressRequest(reason=(
                'bind port %s to a host first: its address on Romana subnet %s depends on the host'
                % (mapping.port_get(port, 'id'), self._subnet_id)))
        port_id = mapping.port_get(port, 'id')
        project = mapping.port_project(port) or self._tenant_id
        try:
            segment = mapping.port_segment(port, self._network_id)
        except ValueError as e:
            raise ipam_exc.InvalidAddressRequest(reason=str(e))
        tenant = mapping.tenant_name(project)
        name = mapping.address_name(port_id, self._subnet_id)
        attributes = {
            'neutron_port': str(port_id), 'neutron_subnet': self._subnet_id, 'neutron_network': str(self._network_id),
            'namespace': tenant, 'pod': str(port_id),
        }
        try:
            rec = self._client.allocate(name, host, tenant, segment, self._romana_network['name'], attributes)
        except romana_client.RomanadError as e:
            if e.kind == 'exists':
                # Neutron retries a whole request after a database conflict: the address is already ours.
                rec = self._client.address(name)
                if rec is not None and rec['host'] == host:
                    return rec['ip']
            raise errors.to_neutron(e, self._subnet_id)
        if netaddr.IPAddress(rec['ip']) not in self._cidr:
            self._client.release_if(rec)
            raise errors.RomanaUnavailable(reason='romanad answered %s, outside subnet %s' % (rec['ip'], self._cidr))
        LOG.debug('Romana address %s for port %s on host %s (tenant %s, segment %s)',
                  rec['ip'], port_id, host, tenant, segment)
        return rec['ip']

    def deallocate(self, address):
        try:
            rec = self._client.address(str(address))
            if rec is None or rec.get('attributes', {}).get('neutron_subnet') != self._subnet_id:
                # Already released, or no longer this subnet's: nothing of ours to give back.
                LOG.debug('Romana address %s of subnet %s is already released', address, self._subnet_id)
                return
            self._client.release_if(rec)
        except romana_client.RomanadError as e:
            if e.kind == 'not_found':
                return
            raise errors.to_neutron(e, self._subnet_id, ip=str(address))

    def get_details(self):
        pools = ipam_utils.generate_pools(self._cidr, self._gateway_ip)
        return ipam_req.SpecificSubnetRequest(self._tenant_id, self._subnet_id, self._cidr, self._gateway_ip, pools)


class RomanaPool(db_driver.NeutronDbPool):
    """Romana subnets here; every other subnet through Neutron's database IPAM (the parent class)."""

    def get_address_request_factory(self):
        return RomanaAddressRequestFactory

    def needs_rollback(self):
        # Romana is an external system: a failed port operation must give its addresses back.
        return True

    def get_allocator(self, subnet_ids):
        return RomanaSubnetGroup(self, subnet_ids)

    def _romana_network(self, cidr):
        try:
            return romana_client.get_client().network_for_cidr(cidr)
        except romana_client.RomanadError as e:
            raise errors.RomanaUnavailable(reason=e.message)

    @staticmethod
    def _is_db_subnet(context, subnet_id):
        return ipam_db_api.IpamSubnetManager.load_by_neutron_subnet_id(context, subnet_id) is not None

    def allocate_subnet(self, subnet_request):
        if self._subnetpool or not isinstance(subnet_request, ipam_req.SpecificSubnetRequest):
            return super(RomanaPool, self).allocate_subnet(subnet_request)
        net = self._romana_network(subnet_request.subnet_cidr)
        if net is None:
            return super(RomanaPool, self).allocate_subnet(subnet_request)
        cidr = netaddr.IPNetwork(str(subnet_request.subnet_cidr))
        gateway = subnet_request.gateway_ip
        default_pools = ipam_utils.generate_pools(cidr, gateway)
        if subnet_request.allocation_pools and list(subnet_request.allocation_pools) != list(default_pools):
            raise ipam_exc.InvalidSubnetRequest(reason=(
                '%s is Romana network %r: Romana picks each address from its host\'s block, so allocation '
                'pools cannot be set' % (cidr, net['name'])))
        if gateway is not None and not net.get('layout') and netaddr.IPAddress(str(gateway)) in cidr:
            # Blocks of a carved network use every address: keep the gateway out of them. (In a
            # layout network the gateway, host ID 0, is never handed out.)
            try:
                romana_client.get_client().add_blackout('%s/32' % gateway)
            except romana_client.RomanadError as e:
                if e.kind != 'exists':
                    raise ipam_exc.InvalidSubnetRequest(reason='gateway %s: %s' % (gateway, e.message))
        LOG.info('Subnet %s (%s) is Romana network %s', subnet_request.subnet_id, cidr, net['name'])
        return RomanaSubnet(self._context, subnet_request.subnet_id, None, subnet_request.tenant_id, cidr, gateway, net)

    def get_subnet(self, subnet_id):
        if self._is_db_subnet(self._context, subnet_id):
            return super(RomanaPool, self).get_subnet(subnet_id)
        subnet = directory.get_plugin()._get_subnet_object(self._context, subnet_id)
        net = self._romana_network(subnet.cidr)
        if net is None:
            LOG.error('Subnet %s (%s) has no IPAM record and is no Romana network', subnet_id, subnet.cidr)
            raise n_exc.SubnetNotFound(subnet_id=subnet_id)
        return RomanaSubnet(self._context, subnet_id, subnet.network_id, subnet.project_id, subnet.cidr,
                            str(subnet.gateway_ip) if subnet.gateway_ip else None, net)

    def update_subnet(self, subnet_request):
        if self._is_db_subnet(self._context, subnet_request.subnet_id):
            return super(RomanaPool, self).update_subnet(subnet_request)
        subnet = self.get_subnet(subnet_request.subnet_id)
        pools = subnet_request.allocation_pools
        if pools is not None and list(pools) != list(subnet.get_details().allocation_pools):
            raise ipam_exc.InvalidSubnetRequest(reason=(
                'subnet %s is a Romana subnet: its allocation pools cannot be changed' % subnet_request.subnet_id))
        return subnet

    def remove_subnet(self, subnet_id):
        if self._is_db_subnet(self._context, subnet_id):
            return super(RomanaPool, self).remove_subnet(subnet_id)
        # Neutron deletes a subnet only once no port holds an address in it; romanad keeps nothing else.
        LOG.debug('Romana subnet %s removed', subnet_id)
