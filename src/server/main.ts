// romanad: the Romana control service.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
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
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{ dataDir: string; etcdEndpoints?: string; etcdPrefix: string; listen: string; port: number; topology?: string; logLevel: string }>();
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
log.info({ url, store: store.backend }, 'romanad ready');
const stop = async () => {
  await app.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
