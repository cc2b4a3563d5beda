"""Romana drivers for OpenStack Neutron: an IPAM driver and an ML2 mechanism driver.

Both talk to romanad only through its REST API, with a bearer token (see docs/openstack.md).
"""
