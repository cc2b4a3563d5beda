"""A neutron-server on SQLite, without Keystone or a message broker, for trying the drivers (and for the
end-to-end test). Debian's python3-neutron ships no neutron-server command, and its database
migrations do not run on SQLite; this does what they would.

    python3 tools/neutron_server.py init-db DB_FILE          # create Neutron's tables in DB_FILE
    python3 tools/neutron_server.py serve --config-file ...  # neutron-server, as its entry point would
"""
import sys


def init_db(path):
    import sqlalchemy
    from neutron.db.migration.models import head  # noqa: F401  (every model of the release)
    from neutron_lib.db import model_base

    engine = sqlalchemy.create_engine('sqlite:///%s' % path)
    model_base.BASEV2.metadata.create_all(engine)
    print('%d tables in %s' % (len(model_base.BASEV2.metadata.tables), path))


def serve(args):
    from neutron.cmd.eventlet.server import main

    sys.argv = ['neutron-server'] + args
    main()


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'init-db':
        init_db(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == 'serve':
        serve(sys.argv[2:])
    else:
        sys.exit(__doc__)
