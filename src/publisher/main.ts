// romana-route-publisher: keeps one route per vpc group in the VPC route table(s), pointing at a
// healthy member of the group. Run one per cluster, anywhere that reaches romanad, the EC2 API and the
// hosts' agent ports (its health checks). It is a process of its own, not a part of romanad: only it
// needs EC2 credentials and the AWS SDK, and only clusters in a VPC run it.
//
//   AWS_REGION=eu-west-1 romana-route-publisher --api https://romanad:9600 --token-file ro.token --route-table rtb-0abc
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { ApiClient } from '../cli/client.js';
import { endpointOf } from '../client/transport.js';
import { VPC_DEFAULT_ROUTE_LIMIT } from '../core/routing/topology.js';
import { serveOps } from '../ops/http.js';
import { RouteTables } from './ec2.js';
import { RoutePublisher } from './publisher.js';
import { VERSION } from '../version.js';

const num = (min: number, max: number, int = false) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) throw new InvalidArgumentError(`must be ${int ? 'an integer' : 'a number'} from ${min} to ${max}`);
  return n;
};

const program = new Command('romana-route-publisher')
  .description('Publishes one route per vpc group of the Romana topology to VPC route tables, to a healthy member')
  .version(`romana-route-publisher ${VERSION}`, '--version')
  .requiredOption('--api <url>', 'romanad URL')
  .option('--token-file <file>', 'file holding a bearer token (role readonly is enough)')
  .option('--ca <file>', 'CA certificate (PEM) that signed romanad\'s TLS certificate')
  .option('--route-table <id>', 'route table of groups whose routing names none (rtb-...)')
  .addOption(new Option('--route-limit <n>', 'routes a route table may hold, its quota (routes of others count too)').default(VPC_DEFAULT_ROUTE_LIMIT).argParser(num(1, 1000, true)))
  .addOption(new Option('--interval <seconds>', 'how often to check the members and the tables').default(5).argParser(num(0.1, 3600)))
  .addOption(new Option('--health-timeout <seconds>', 'how long a member\'s /healthz may take').default(1).argParser(num(0.05, 60)))
  .addOption(new Option('--unhealthy-after <n>', 'failed checks in a row before a member\'s route moves').default(2).argParser(num(1, 100, true)))
  .option('--listen <addr>', 'address for /healthz, /status and /metrics', '127.0.0.1')
  .addOption(new Option('--port <n>', 'port for /healthz, /status and /metrics (0: none)').default(9605).argParser(num(0, 65535, true)))
  .option('--once', 'one pass, then exit: 0 when every table is as it should be, 1 otherwise')
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{ api: string; tokenFile?: string; ca?: string; routeTable?: string; routeLimit: number; interval: number; healthTimeout: number; unhealthyAfter: number; listen: string; port: number; once?: boolean; logLevel: string }>();
if (o.routeTable !== undefined && !/^rtb-[0-9a-f]{1,17}$/.test(o.routeTable)) program.error(`error: --route-table: '${o.routeTable}' is not a route table ID (rtb-...)`);
// Logs go to stderr: --once prints its status on stdout.
const log = pino({ level: o.logLevel, base: { svc: 'romana-route-publisher' } }, pino.destination({ fd: 2, sync: true }));
const api = ((): ApiClient => {
  try {
    const ep = endpointOf({ baseUrl: o.api, tokenFile: o.tokenFile, caFile: o.ca });
    return new ApiClient({ baseUrl: ep.baseUrl, token: ep.token, ca: ep.ca, timeoutMs: 10_000 });
  } catch (e) {
    return program.error(`error: ${(e as Error).message}`);
  }
})();
const tables = new RouteTables();
const publisher = new RoutePublisher({
  api, tables, routeTable: o.routeTable, routeLimit: o.routeLimit, healthTimeoutMs: o.healthTimeout * 1000, failuresToFail: o.unhealthyAfter, log,
});

if (o.once) {
  const ok = await publisher.sync();
  process.stdout.write(JSON.stringify(publisher.status(), null, 2) + '\n');
  tables.close();
  process.exit(ok ? 0 : 1);
}

const server = serveOps({ status: () => publisher.status(), metrics: publisher.metrics });
if (o.port) await new Promise<void>((ok, fail) => server.once('error', fail).listen(o.port, o.listen, () => ok()));
log.info({ api: o.api, routeTable: o.routeTable ?? null, routeLimit: o.routeLimit, intervalS: o.interval, listen: o.port ? `${o.listen}:${o.port}` : null }, 'romana-route-publisher ready');

let stopping = false;
let timer: NodeJS.Timeout | undefined;
const loop = async () => {
  await publisher.sync();
  if (!stopping) timer = setTimeout(() => void loop(), o.interval * 1000);
};
void loop();
const stop = () => {
  stopping = true;
  clearTimeout(timer);
  server.close();
  tables.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
