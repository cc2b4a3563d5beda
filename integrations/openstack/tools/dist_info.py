"""Makes the package's entry points visible without installing it (tests, development).

    python3 tools/dist_info.py DIR    # then PYTHONPATH=integrations/openstack:DIR

writes DIR/networking_romana-<version>.dist-info (METADATA and entry_points.txt, from setup.cfg), which
is how Neutron finds the `romana` IPAM and ML2 drivers (stevedore reads installed entry points).
"""
import configparser
import os
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(target):
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(HERE, 'setup.cfg'))
    name, version = cfg['metadata']['name'], cfg['metadata']['version']
    d = os.path.join(target, '%s-%s.dist-info' % (name.replace('-', '_'), version))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version))
    with open(os.path.join(d, 'entry_points.txt'), 'w') as f:
        for group, text in cfg['options.entry_points'].items():
            f.write('[%s]\n' % group)
            for line in text.strip().splitlines():
                f.write(line.strip() + '\n')
            f.write('\n')
    print(d)


if __name__ == '__main__':
    main(sys.argv[1])
