"""The [romana] options of neutron-server's configuration, shared by both drivers."""
from oslo_config import cfg

GROUP = 'romana'

OPTS = [
    cfg.StrOpt('url', default='http://127.0.0.1:9600',
               help="romanad's API, e.g. https://romanad.example:9600"),
    cfg.StrOpt('token_file',
               help='File holding the bearer token of a romanad admin token (role admin: the drivers '
                    'allocate on any host and write tenant and endpoint metadata)'),
    cfg.StrOpt('ca_file', help="CA bundle (PEM) that signed romanad's TLS certificate"),
    cfg.FloatOpt('timeout', default=10.0, min=0.1, help='Seconds to wait for romanad on each request'),
    cfg.FloatOpt('networks_cache_seconds', default=5.0, min=0.0,
                 help="How long romanad's list of networks is reused before it is read again"),
]

cfg.CONF.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]
