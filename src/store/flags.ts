// The etcd flags that romanad and the agent share, and the store options they stand for.
import type { Command } from 'commander';
import type { OpenStoreOptions } from './open.js';

export interface EtcdFlags { etcdEndpoints?: string; etcdPrefix: string; etcdCa?: string; etcdCert?: string; etcdKey?: string }

/** Adds --etcd-endpoints, --etcd-prefix and the TLS files to `cmd`. */
export function withEtcdFlags(cmd: Command, help: { endpoints: string; prefix: string }): Command {
  return cmd
    .option('--etcd-endpoints <urls>', help.endpoints)
    .option('--etcd-prefix <prefix>', help.prefix, '')
    .option('--etcd-ca <file>', 'CA certificate (PEM) of etcd\'s https:// endpoints')
    .option('--etcd-cert <file>', 'client certificate (PEM) for etcd mutual TLS')
    .option('--etcd-key <file>', 'client key (PEM) for etcd mutual TLS');
}

/** openStore's options for etcd, from the flags (--etcd-endpoints given). */
export function etcdStoreOptions(o: EtcdFlags): OpenStoreOptions {
  return {
    etcdEndpoints: (o.etcdEndpoints ?? '').split(',').map((s) => s.trim()).filter(Boolean), namespace: o.etcdPrefix,
    etcdTls: { caFile: o.etcdCa, certFile: o.etcdCert, keyFile: o.etcdKey },
  };
}
