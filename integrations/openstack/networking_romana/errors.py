"""romanad's error kinds as Neutron exceptions, so that a user's mistake is a 4xx and never a 500.

  no_available_ip, no_network, no_suitable_group  ->  RomanaAddressExhausted (an IpAddressGenerationFailure, 409)
  not_found (e.g. the host), invalid              ->  InvalidAddressRequest (400)
  exists                                          ->  IpAddressAlreadyAllocated (409)
  conflict                                        ->  IpamValueInvalid (409)
  unavailable, rate_limited, unauthorized, forbidden, internal, unreachable
                                                  ->  RomanaUnavailable (503: the operator's to fix, or retry)
"""
from neutron_lib import exceptions as n_exc

from neutron._i18n import _
from neutron.ipam import exceptions as ipam_exc


class RomanaAddressExhausted(ipam_exc.IpAddressGenerationFailure):
    message = _("No more IP addresses available for subnet %(subnet_id)s: %(reason)s")


class RomanaUnavailable(n_exc.ServiceUnavailable):
    message = _("Romana cannot serve this request now: %(reason)s")


def to_neutron(e, subnet_id, ip=None):
    """The Neutron exception for a RomanadError met while serving `subnet_id`."""
    if e.kind in ('no_available_ip', 'no_network', 'no_suitable_group'):
        return RomanaAddressExhausted(subnet_id=subnet_id, reason=e.message)
    if e.kind in ('not_found', 'invalid'):
        return ipam_exc.InvalidAddressRequest(reason=e.message)
    if e.kind == 'exists':
        return ipam_exc.IpAddressAlreadyAllocated(ip=ip or '?', subnet_id=subnet_id)
    if e.kind == 'conflict':
        return ipam_exc.IpamValueInvalid(message=e.message)
    return RomanaUnavailable(reason=e.message)
