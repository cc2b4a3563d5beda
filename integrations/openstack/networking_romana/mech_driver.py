"""The `romana` ML2 mechanism driver (entry point neutron.ml2.mechanism_drivers).

It binds ports that hold a Romana address (see ipam.py), on hosts romanad knows, with the routed
`tap` VIF type: the VM's tap device is routed by the host, as Romana routes pods (a /32 route and
proxy ARP on the host side, no bridge, no overlay). It refuses a host romanad does not know, and a
host other than the one the port's address belongs to, saying why.

It keeps romanad in step with Neutron for policy: a project is a tenant (romanad namespace), a
network is a segment (the address's segment, and the endpoint's `romana.io/segment` label), a bound
port is an endpoint on its host (romanad pod metadata, removed with the port).
"""
from neutron_lib.api.definitions import ip_allocation as ipalloc_apidef
from neutron_lib.api.definitions import port as port_def
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.db import resource_extend
from neutron_lib import exceptions as n_exc
from neutron_lib.plugins.ml2 import api
from neutron_lib.utils import helpers
from oslo_log import log

from networking_romana import client as romana_client
from networking_romana import errors
from networking_romana import mapping

LOG = log.getLogger(__name__)

SEGMENT_LABEL = 'romana.io/segment'
BINDABLE_NETWORK_TYPES = (constants.TYPE_LOCAL, constants.TYPE_FLAT)


def _extend_port_ip_allocation(port_res, port_db):
    """Neutron allocates a deferred port's addresses when the port is bound only if the port's dict says
    `ip_allocation: deferred`, which only the `segments` service plugin writes into it. This does the
    same for deferred ports (from the port's own column), so deferral works without routed networks;
    other ports' dicts stay as they were."""
    value = port_db.get(ipalloc_apidef.IP_ALLOCATION) if hasattr(port_db, 'get') else None
    if value == ipalloc_apidef.IP_ALLOCATION_DEFERRED and ipalloc_apidef.IP_ALLOCATION not in port_res:
        port_res[ipalloc_apidef.IP_ALLOCATION] = value


class RomanaMechanismDriver(api.MechanismDriver):
    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L3  # routed: no L2 segment between the ports of a network

    def initialize(self):
        registered = [helpers.resolve_ref(f) for f in resource_extend.get_funcs(port_def.COLLECTION_NAME)]
        if _extend_port_ip_allocation not in registered:
            resource_extend.register_funcs(port_def.COLLECTION_NAME, [_extend_port_ip_allocation])
        self.vif_type = portbindings.VIF_TYPE_TAP
        # Romana's agent enforces policy on the host, so Nova need not filter.
        self.vif_details = {portbindings.CAP_PORT_FILTER: True}
        LOG.info('Romana mechanism driver ready (romanad at %s)', romana_client.get_client().url)

    @staticmethod
    def _client():
        return romana_client.get_client()

    def _romana_ips(self, port):
        """The port's addresses that lie in a Romana network."""
        out = []
        for ip in port.get('fixed_ips') or []:
            try:
                if self._client().network_of_ip(ip['ip_address']) is not None:
                    out.append(ip['ip_address'])
            except romana_client.RomanadError as e:
                raise errors.RomanaUnavailable(reason=e.message)
        return out

    def _address_hosts(self, port):
        """ip -> the host romanad allocated it on, for the port's Romana addresses."""
        hosts = {}
        for ip in self._romana_ips(port):
            rec = self._client().address(ip)
            if rec is not None:
                hosts[ip] = rec['host']
        return hosts

    # ---- binding ----

    def bind_port(self, context):
        port = context.current
        try:
            ips = self._romana_ips(port)
        except errors.RomanaUnavailable as e:
            LOG.warning('Romana: not binding port %s: %s', port['id'], e)
            return
        if not ips:
            return  # not a Romana port: another driver may bind it
        host = context.host
        try:
            if self._client().host(host) is None:
                LOG.warning('Romana: not binding port %s: host %r is not a Romana host '
                            '(romanad has no host of that name)', port['id'], host)
                return
            wrong = {ip: h for ip, h in self._address_hosts(port).items() if h != host}
        except romana_client.RomanadError as e:
            LOG.warning('Romana: not binding port %s on host %r: romanad: %s', port['id'], host, e.message)
            return
        if wrong:
            LOG.warning('Romana: not binding port %s on host %r: its addresses belong to %s',
                        port['id'], host, wrong)
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] in BINDABLE_NETWORK_TYPES:
                context.set_binding(segment[api.ID], self.vif_type, self.vif_details,
                                    status=constants.PORT_STATUS_ACTIVE)
                LOG.debug('Romana: bound port %s on host %s (%s)', port['id'], host, ', '.join(ips))
                return
        LOG.warning('Romana: not binding port %s: no segment of type %s',
                    port['id'], ' or '.join(BINDABLE_NETWORK_TYPES))

    def update_port_precommit(self, context):
        """A Romana address belongs to one host: the port may not be bound to another."""
        port = context.current
        host = mapping.set_value(port.get(portbindings.HOST_ID))
        if not host or host == mapping.set_value((context.original or {}).get(portbindings.HOST_ID)):
            return
        try:
            hosts = self._address_hosts(port)
        except romana_client.RomanadError as e:
            raise errors.RomanaUnavailable(reason=e.message)
        wrong = sorted(ip for ip, h in hosts.items() if h != host)
        if wrong:
            raise n_exc.InvalidInput(error_message=(
                'port %s holds Romana address %s of host %r; it cannot be bound to host %r (create a new port there)'
                % (port['id'], wrong[0], hosts[wrong[0]], host)))

    # ---- metadata: tenants, segments and endpoints for romanad's policy engine ----

    def create_port_postcommit(self, context):
        self._sync_endpoint(context.current)

    def update_port_postcommit(self, context):
        self._sync_endpoint(context.current)

    def delete_port_postcommit(self, context):
        port = context.current
        if not self._is_romana(port):
            return
        try:
            self._client().delete_pod(mapping.tenant_name(mapping.port_project(port)), port['id'])
        except romana_client.RomanadError as e:
            LOG.warning('Romana: endpoint metadata of port %s not removed: %s', port['id'], e.message)

    def _is_romana(self, port):
        try:
            return bool(self._romana_ips(port))
        except errors.RomanaUnavailable:
            return False

    def _sync_endpoint(self, port):
        """Best effort, after the commit: the address already is the endpoint; this adds its labels."""
        if not self._is_romana(port) or not mapping.set_value(port.get(portbindings.HOST_ID)):
            return
        project = mapping.port_project(port)
        tenant = mapping.tenant_name(project)
        try:
            segment = mapping.port_segment(port, port['network_id'])
            self._client().put_namespace(tenant, {'openstack.org/project-id': tenant_label(project)})
            labels = {SEGMENT_LABEL: segment, 'openstack.org/network-id': port['network_id']}
            self._client().put_pod(tenant, port['id'], labels)
        except (romana_client.RomanadError, ValueError) as e:
            LOG.warning('Romana: endpoint metadata of port %s not written: %s', port['id'], e)


def tenant_label(project_id):
    """A project ID as a label value (at most 63 characters)."""
    return str(project_id)[:63]
