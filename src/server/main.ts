// romanad: the Romana control service. Every mistake in its flags or files is one line naming the
// flag or file and a non-zero exit (2 usage, 1 anything else), never a stack trace.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import pino from 'pino';
import YAML from 'yaml';
import { RomanaError } from '../core/errors.js';
import { Control } from '../control/control.js';
import { etcdStoreOptions, withEtcdFlags } from '../store/flags.js';
import { openStore } from '../store/open.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMIT, buildApp } from './app.js';
import { VERSION } from '../version.js';
import { Authenticator } from './auth.js';
import { type DataDirLock, lockDataDir } from './datadir-lock.js';

function die(message: string, exitCode: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(exitCode);
}

const count = (min: number, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  if (!/^\d{1,15}$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
  return Number(v);
};

const program = withEtcdFlags(new Command('romanad')
  .description('Romana control service: topology, IPAM and policy over a REST API')
  .version(`romanad ${VERSION}`, '--version')
  .option('--data-dir <dir>', 'embedded store directory (SQLite)', '/var/lib/romana'), {
  endpoints: 'use etcd instead: comma-separated URLs', prefix: 'key prefix inside etcd',
})
  .option('--listen <addr>', 'address to listen on; anything but loopback needs --auth-file', '127.0.0.1')
  .addOption(new Option('--port <n>', 'port (0: any free one)').default(9600).argParser(count(0, 65535)))
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
  .exitOverride();
try {
  program.parse();
} catch (e) {
  // Commander has said what is wrong; a bad flag is a usage error.
  process.exit(e instanceof CommanderError && e.exitCode === 0 ? 0 : 2);
}

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
    return die(`romanad: ${flag}: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 2);
  }
}

const isLoopback = (a: string) => a === 'localhost' || a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));

let auth: Authenticator | undefined;
if (o.authFile) {
  try {
    auth = Authenticator.parse(readOrExit('--auth-file', o.authFile), o.authFile);
  } catch (e) {
    die(`romanad: --auth-file ${o.authFile}: ${(e as Error).message}`, 2);
  }
  if ((statSync(o.authFile).mode & 0o077) !== 0) log.warn({ file: o.authFile }, 'the auth file is readable by other users; chmod 600 it');
} else if (!isLoopback(o.listen)) {
  if (!o.insecureNoAuth) {
    die(`romanad: --listen ${o.listen} is not a loopback address: give --auth-file (or --insecure-no-auth to serve it unauthenticated)`, 2);
  }
  log.warn({ listen: o.listen }, 'INSECURE: --insecure-no-auth: serving without authentication on a non-loopback address; anyone who can connect is admin');
} else {
  log.info({ listen: o.listen }, 'no --auth-file: serving without authentication, on loopback only');
}
if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) die('romanad: --tls-cert and --tls-key: give both or neither', 2);
const https = o.tlsCert && o.tlsKey ? { cert: readOrExit('--tls-cert', o.tlsCert), key: readOrExit('--tls-key', o.tlsKey) } : undefined;
/** Fails with one line naming what is wrong: 2 for a flag or file, 1 for anything else. */
function fail(what: string, e: unknown, exitCode = 2): never {
  const err = e as NodeJS.ErrnoException;
  const why = e instanceof RomanaError ? e.message : err.code ? `${err.code}${err.message ? `: ${err.message.replace(/^[A-Z]+: /, '')}` : ''}` : String(err?.message ?? e);
  return die(`romanad: ${what}: ${why}`, exitCode);
}

/** The audit log's file, appended to; its directory must exist (romanad creates no directories for it). */
function auditLog(file: string): pino.Logger {
  let isDir = false;
  try {
    isDir = statSync(dirname(file)).isDirectory();
  } catch (e) {
    fail(`--audit-log ${file}`, new Error(`its directory ${dirname(file)} does not exist (${(e as NodeJS.ErrnoException).code})`));
  }
  if (!isDir) fail(`--audit-log ${file}`, new Error(`${dirname(file)} is not a directory`));
  try {
    return pino({ base: { svc: 'romanad', audit: true } }, pino.destination({ dest: file, append: true, mkdir: false, sync: true }));
  } catch (e) {
    return fail(`--audit-log ${file}`, e);
  }
}
const audit = o.auditLog ? auditLog(o.auditLog) : undefined;

let lock: DataDirLock | undefined;
if (!o.etcdEndpoints) {
  try {
    lock = lockDataDir(o.dataDir);
  } catch (e) {
    if (e instanceof RomanaError) die(`romanad: ${e.message}`, 1);
    fail(`--data-dir ${o.dataDir}`, e);
  }
}
const store = await openStore(o.etcdEndpoints ? etcdStoreOptions(o) : { dataDir: o.dataDir }).catch((e: Error) => fail(o.etcdEndpoints ? '--etcd-endpoints' : '--data-dir', e));
const control = new Control(store);
if (o.topology) {
  const text = readOrExit('--topology', o.topology);
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    fail(`--topology ${o.topology}`, new Error(`not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`));
  }
  const have = await control.state.topology().catch((e) => fail('the store', e, 1));
  if (have) {
    log.info({ file: o.topology }, '--topology ignored: the store already has a topology (romana topology apply -f changes it)');
  } else {
    await control.topology.replace(doc).catch((e) => fail(`--topology ${o.topology}`, e, e instanceof RomanaError && e.kind === 'invalid' ? 2 : 1));
    log.info({ file: o.topology }, 'loaded topology');
  }
}
const app = await buildApp({
  control, logger: log, auth, audit, https, bodyLimit: o.bodyLimit,
  rateLimit: o.rateLimit > 0 ? { max: o.rateLimit, windowMs: 1000 } : false,
}).catch((e) => fail(https ? '--tls-cert/--tls-key' : 'starting', e, https ? 2 : 1));
const url = await app.listen({ host: o.listen, port: o.port })
  .catch((e) => fail(`--listen ${o.listen} --port ${o.port}`, (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? new Error(`${o.listen}:${o.port} is already in use`) : e, 1));
if (o.socket) {
  // The same routes on a unix socket (plain HTTP; the socket is root's only): a second listener.
  const socket = o.socket;
  const extra = createServer((req, res) => app.routing(req, res));
  try {
    rmSync(socket, { force: true });
    await new Promise<void>((ok, no) => extra.once('error', no).listen(socket, ok));
    chmodSync(socket, 0o600);
  } catch (e) {
    fail(`--socket ${socket}`, e, 1);
  }
  process.on('exit', () => extra.close());
}
log.info({ url, store: store.backend, auth: auth ? 'tokens' : 'none', tls: Boolean(https) }, 'romanad ready');
const stop = async () => {
  await app.close();
  await store.close();
  lock?.release();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
