// romanad: the Romana control service.
import { Command, InvalidArgumentError, Option } from 'commander';
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import pino from 'pino';
import YAML from 'yaml';
import { RomanaError } from '../core/errors.js';
import { Control } from '../control/control.js';
import { openStore } from '../store/open.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMIT, buildApp } from './app.js';
import { Authenticator } from './auth.js';

const count = (min: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`must be an integer of at least ${min}`);
  return Number(v);
};

const program = new Command('romanad')
  .description('Romana control service: topology, IPAM and policy over a REST API')
  .option('--data-dir <dir>', 'embedded store directory (SQLite)', '/var/lib/romana')
  .option('--etcd-endpoints <urls>', 'use etcd instead: comma-separated URLs')
  .option('--etcd-prefix <prefix>', 'key prefix inside etcd', '')
  .option('--etcd-ca <file>', 'CA certificate (PEM) of etcd\'s https:// endpoints')
  .option('--etcd-cert <file>', 'client certificate (PEM) for etcd mutual TLS')
  .option('--etcd-key <file>', 'client key (PEM) for etcd mutual TLS')
  .option('--listen <addr>', 'address to listen on; anything but loopback needs --auth-file', '127.0.0.1')
  .addOption(new Option('--port <n>', 'port').default(9600).argParser(count(0)))
  .option('--auth-file <file>', 'bearer tokens and their roles (YAML or JSON: {tokens: [{token, role, host?, name?}]})')
  .option('--insecure-no-auth', 'serve without authentication on a non-loopback address (anyone who can connect is admin)')
  .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
  .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
  .option('--audit-log <file>', 'write the audit log (one JSON line per change) to this file instead of the main log')
  .addOption(new Option('--body-limit <bytes>', 'largest request body').default(DEFAULT_BODY_LIMIT).argParser(count(1024)))
  .addOption(new Option('--rate-limit <n>', 'requests per second per client address; 0 turns the limit off').default(DEFAULT_RATE_LIMIT.max).argParser(count(0)))
  .option('--topology <file>', 'topology (JSON or YAML) loaded when the store has none')
  .option('--socket <path>', 'also serve the API on this unix socket (e.g. for hosts in network namespaces)')
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{
  dataDir: string; etcdEndpoints?: string; etcdPrefix: string; etcdCa?: string; etcdCert?: string; etcdKey?: string; listen: string; port: number;
  authFile?: string; insecureNoAuth?: boolean; tlsCert?: string; tlsKey?: string; auditLog?: string; bodyLimit: number; rateLimit: number;
  topology?: string; socket?: string; logLevel: string;
}>();
const log = pino({ level: o.logLevel, base: { svc: 'romanad' } });

function readOrExit(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    return program.error(`romanad: ${flag}: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { exitCode: 2 });
  }
}

const isLoopback = (a: string) => a === 'localhost' || a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));

let auth: Authenticator | undefined;
if (o.authFile) {
  try {
    auth = Authenticator.parse(readOrExit('--auth-file', o.authFile), o.authFile);
  } catch (e) {
    program.error(`romanad: --auth-file ${o.authFile}: ${(e as Error).message}`, { exitCode: 2 });
  }
  if ((statSync(o.authFile).mode & 0o077) !== 0) log.warn({ file: o.authFile }, 'the auth file is readable by other users; chmod 600 it');
} else if (!isLoopback(o.listen)) {
  if (!o.insecureNoAuth) {
    program.error(`romanad: --listen ${o.listen} is not a loopback address: give --auth-file (or --insecure-no-auth to serve it unauthenticated)`, { exitCode: 2 });
  }
  log.warn({ listen: o.listen }, 'INSECURE: --insecure-no-auth: serving without authentication on a non-loopback address; anyone who can connect is admin');
} else {
  log.info({ listen: o.listen }, 'no --auth-file: serving without authentication, on loopback only');
}
if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) program.error('romanad: --tls-cert and --tls-key: give both or neither', { exitCode: 2 });
const https = o.tlsCert && o.tlsKey ? { cert: readOrExit('--tls-cert', o.tlsCert), key: readOrExit('--tls-key', o.tlsKey) } : undefined;
const audit = o.auditLog ? pino({ base: { svc: 'romanad', audit: true } }, pino.destination({ dest: o.auditLog, append: true, mkdir: true, sync: true })) : undefined;

const store = await openStore(o.etcdEndpoints
    ? {
      etcdEndpoints: o.etcdEndpoints.split(',').map((s) => s.trim()).filter(Boolean), namespace: o.etcdPrefix,
      etcdTls: { caFile: o.etcdCa, certFile: o.etcdCert, keyFile: o.etcdKey },
    }
    : { dataDir: o.dataDir }).catch((e: Error) => program.error(`romanad: ${e instanceof RomanaError ? e.message : String(e)}`, { exitCode: 2 }));
const control = new Control(store);
if (o.topology && !(await control.state.topology())) {
  const text = readFileSync(o.topology, 'utf8');
  await control.topology.replace(YAML.parse(text));
  log.info({ file: o.topology }, 'loaded topology');
}
const app = await buildApp({
  control, logger: log, auth, audit, https, bodyLimit: o.bodyLimit,
  rateLimit: o.rateLimit > 0 ? { max: o.rateLimit, windowMs: 1000 } : false,
});
const url = await app.listen({ host: o.listen, port: o.port });
if (o.socket) {
  // The same routes on a unix socket (plain HTTP; the socket is root's only): a second listener.
  rmSync(o.socket, { force: true });
  const extra = createServer((req, res) => app.routing(req, res));
  await new Promise<void>((ok) => extra.listen(o.socket, ok));
  chmodSync(o.socket, 0o600);
  process.on('exit', () => extra.close());
}
log.info({ url, store: store.backend, auth: auth ? 'tokens' : 'none', tls: Boolean(https) }, 'romanad ready');
const stop = async () => {
  await app.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
