"""Neutron's own ML2 test base with the Romana drivers loaded against a real romanad."""
from neutron.common import config as common_config
from oslo_config import cfg

from networking_romana import config  # noqa: F401  (registers the [romana] options)
from networking_romana.tests import romanad

# Neutron registers `ipam_driver` when its server starts; its unit tests run without that.
common_config.register_common_config_options()


class RomanaConfigMixin(object):
    """Put before a Neutron test case class: loads the Romana IPAM driver and points both drivers at
    the test process's romanad (the ML2 driver is loaded by the class's _mechanism_drivers)."""

    def setUp(self, *args, **kwargs):
        self.romanad = romanad.shared()
        cfg.CONF.set_override('ipam_driver', 'romana')
        cfg.CONF.set_override('url', self.romanad.url, group=config.GROUP)
        cfg.CONF.set_override('token_file', self.romanad.token_file, group=config.GROUP)
        super(RomanaConfigMixin, self).setUp(*args, **kwargs)
