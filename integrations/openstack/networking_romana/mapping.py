"""What Neutron things are called in Romana.

- A Neutron subnet whose IPv4 CIDR equals a Romana network's CIDR is a Romana subnet.
- The port's project is the Romana tenant (as a DNS label, so romanad's policy metadata takes it).
- The port's network is the Romana segment, unless the port's `binding:profile` names one under
  `romana_segment`.
- Each Romana address of a port is named `neutron.<port id>.<subnet id>`.
"""
import hashlib
import re

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants

SEGMENT_PROFILE_KEY = 'romana_segment'
ADDRESS_PREFIX = 'neutron.'
_DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
_SEGMENT = re.compile(r'^[A-Za-z0-9_.:-]{1,253}$')


def tenant_name(project_id):
    """The project's Romana tenant: the ID itself when it is a DNS label (Keystone's are), else a
    lower-cased, cleaned form with a hash of the original, so two projects never share a tenant."""
    p = str(project_id)
    if _DNS_LABEL.match(p):
        return p
    clean = re.sub(r'[^a-z0-9-]+', '-', p.lower()).strip('-')[:48] or 'project'
    return '%s-%s' % (clean, hashlib.sha256(p.encode()).hexdigest()[:8])


def set_value(v):
    """The value, or None when Neutron says it was not given."""
    if v is None or v is constants.ATTR_NOT_SPECIFIED or v == '':
        return None
    return v


def port_get(port, key, default=None):
    """A port field from a port dict or a port DB object."""
    if isinstance(port, dict):
        return port.get(key, default)
    return getattr(port, key, default)


def port_host(port):
    """The host the port is bound to (or about to be), or None."""
    if isinstance(port, dict):
        return set_value(port.get(portbindings.HOST_ID))
    for b in getattr(port, 'port_bindings', None) or []:
        if set_value(getattr(b, 'host', None)):
            return b.host
    return None


def port_project(port):
    return set_value(port_get(port, 'project_id')) or set_value(port_get(port, 'tenant_id'))


def port_segment(port, network_id):
    """The port's Romana segment; a `binding:profile` value that romanad could not take raises ValueError."""
    profile = set_value(port.get(portbindings.PROFILE)) if isinstance(port, dict) else None
    seg = profile.get(SEGMENT_PROFILE_KEY) if isinstance(profile, dict) else None
    if seg is None:
        return network_id
    if not isinstance(seg, str) or not _SEGMENT.match(seg):
        raise ValueError('binding:profile.%s: %r may hold only letters, digits and _ . : - (1-253 characters)'
                         % (SEGMENT_PROFILE_KEY, seg))
    return seg


def address_name(port_id, subnet_id):
    return '%s%s.%s' % (ADDRESS_PREFIX, port_id, subnet_id)
