// romanad: the Romana control service.
import { Command, Option } from 'commander';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import pino from 'pino';
import YAML from 'yaml';
import { Control } from '../control/control.js';
import { openStore } from '../store/open.js';
import { buildApp } from './app.js';

const program = new Command('romanad')
  .description('Romana control service: topology, IPAM and policy over a REST API')
  .option('--data-dir <dir>', 'embedded store directory (SQLite)', '/var/lib/romana')
  .option('--etcd-endpoints <urls>', 'use etcd instead: comma-separated URLs')
  .option('--etcd-prefix <prefix>', 'key prefix inside etcd', '')
  .option('--listen <addr>', 'address to listen on', '127.0.0.1')
  .addOption(new Option('--port <n>', 'port').default(9600).argParser((v) => Number(v)))
  .option('--topology <file>', 'topology (JSON or YAML) loaded when the store has none')
  .option('--socket <path>', 'also serve the API on this unix socket (e.g. for hosts in network namespaces)')
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{ dataDir: string; etcdEndpoints?: string; etcdPrefix: string; listen: string; port: number; topology?: string; socket?: string; logLevel: string }>();
const log = pino({ level: o.logLevel, base: { svc: 'romanad' } });
const store = await openStore(o.etcdEndpoints
  ? { etcdEndpoints: o.etcdEndpoints.split(',').map((s) => s.trim()).filter(Boolean), namespace: o.etcdPrefix }
  : { dataDir: o.dataDir });
const control = new Control(store);
if (o.topology && !(await control.state.topology())) {
  const text = readFileSync(o.topology, 'utf8');
  await control.topology.replace(YAML.parse(text));
  log.info({ file: o.topology }, 'loaded topology');
}
const app = await buildApp({ control, logger: log });
const url = await app.listen({ host: o.listen, port: o.port });
if (o.socket) {
  // The same routes on a unix socket: one Fastify instance, a second listener.
  rmSync(o.socket, { force: true });
  const extra = createServer((req, res) => app.routing(req, res));
  await new Promise<void>((ok) => extra.listen(o.socket, ok));
  chmodSync(o.socket, 0o600);
  process.on('exit', () => extra.close());
}
log.info({ url, store: store.backend }, 'romanad ready');
const stop = async () => {
  await app.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
