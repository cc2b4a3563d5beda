// romana-agent: one per host, in that host's network namespace. Watches the store (through romanad, or
// etcd directly) and keeps this host's routes, ipsets and iptables rules equal to the desired state.
//
//   ip netns exec <host-netns> romana-agent --host NAME --api http://romanad:9600
//
// It never tears the dataplane down: not at start, not on exit, not while the store is unreachable.
import { VERSION } from '../version.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { type Endpoint, endpointOf } from '../client/transport.js';
import { tryParseIp } from '../core/net/ipv4.js';
import { DEFAULT_FAILSAFE, DEFAULT_FAILSAFE_INBOUND, DEFAULT_FAILSAFE_OUTBOUND, type FailsafePort, formatFailsafePorts, parseFailsafePorts } from '../core/policy/failsafe.js';
import { DEFAULT_SEGMENT_LABEL } from '../core/policy/model.js';
import { etcdStoreOptions, withEtcdFlags } from '../store/flags.js';
import { openStore } from '../store/open.js';
import { RemoteStore } from '../store/remote.js';
import type { Store, StoreReader } from '../store/store.js';
import { DATAPLANES, DEFAULT_DATAPLANE, type DataplaneKind } from './backends.js';
import { timersFromHoldTime } from '../core/routing/bird.js';
import { BgpManager } from './bgp/manager.js';
import { Dataplane } from './dataplane.js';
import { serveOps } from '../ops/http.js';
import { setIptablesBackend, type IptablesBackend } from './kernel/iptables.js';
import { AgentMetrics } from './metrics.js';
import { missingNodeFlags } from './node-flags.js';
import { Reconciler } from './reconciler.js';
import { PendingSender, releaseViaRomanad, releaseViaStore } from './pending.js';
import { StatusReporter, viaRomanad, viaStore } from './report.js';
import { DEFAULT_ROUTE_OPTIONS } from './routes.js';

const int = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
  return n;
};

const failsafeList = (flag: string) => (v: string) => {
  try {
    return parseFailsafePorts(v, flag);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

const program = withEtcdFlags(new Command('romana-agent')
  .description('Romana host agent: keeps this host\'s routes and firewall (iptables + ipset, or nftables) equal to the desired state in the store')
  .version(`romana-agent ${VERSION}`, '--version')
  .requiredOption('--host <name>', 'this host\'s name, as registered in romanad')
  .option('--api <url>', 'romanad URL (reads /store/list and the /store/watch stream)')
  .option('--token <token>', 'bearer token for romanad (default: $ROMANA_TOKEN); prefer --token-file')
  .option('--token-file <file>', 'file holding the bearer token (a token of role agent)')
  .option('--ca <file>', 'CA certificate (PEM) that signed romanad\'s TLS certificate'), {
  endpoints: 'watch etcd directly instead: comma-separated URLs', prefix: 'key prefix inside etcd (as romanad\'s --etcd-prefix)',
})
  .option('--listen <addr>', 'address for /healthz, /status and /metrics (in this host\'s namespace)', '0.0.0.0')
  .addOption(new Option('--port <n>', 'port for /healthz, /status and /metrics').default(9604).argParser(int(0, 65535)))
  .addOption(new Option('--route-table <n>', 'routing table of the agent\'s routes').default(DEFAULT_ROUTE_OPTIONS.table).argParser(int(1, 252)))
  .addOption(new Option('--route-protocol <n>', 'protocol number that marks the agent\'s routes (and its ip rule)').default(DEFAULT_ROUTE_OPTIONS.proto).argParser(int(5, 255)))
  .addOption(new Option('--rule-priority <n>', 'priority of the ip rule that looks up the table (before main, 32766)').default(DEFAULT_ROUTE_OPTIONS.rulePriority).argParser(int(1, 32765)))
  .option('--gateway <ip>', 'pods\' gateway address, put on lo (scope link); "none" to leave lo alone', '169.254.1.1')
  .addOption(new Option('--drift-interval <seconds>', 'how often to re-read the kernel and repair drift').default(10).argParser((v) => {
    const n = Number(v);
    if (!(n > 0 && n <= 3600)) throw new InvalidArgumentError('must be a number of seconds from 0 to 3600');
    return n;
  }))
  .addOption(new Option('--report-interval <seconds>', 'the longest between two status reports to romanad (romanad judges freshness by it)').default(30).argParser(int(1, 3600)))
  .option('--segment-label <label>', 'pod label whose value is the Romana segment', DEFAULT_SEGMENT_LABEL)
  .addOption(new Option('--failsafe-inbound <list>', 'ports on this host no host policy can close: PORT[-END]/PROTO,... or "none"').default(DEFAULT_FAILSAFE.inbound, DEFAULT_FAILSAFE_INBOUND).argParser(failsafeList('--failsafe-inbound')))
  .addOption(new Option('--failsafe-outbound <list>', 'ports this host can always connect to: PORT[-END]/PROTO,... or "none"').default(DEFAULT_FAILSAFE.outbound, DEFAULT_FAILSAFE_OUTBOUND).argParser(failsafeList('--failsafe-outbound')))
  .addOption(new Option('--dataplane <backend>', 'firewall backend: iptables (+ ipset) or nftables (table inet romana); switching removes the other\'s state').choices([...DATAPLANES]).default(DEFAULT_DATAPLANE))
  .addOption(new Option('--iptables <backend>', 'iptables flavour').choices(['auto', 'nft', 'legacy']).default('auto'))
  .option('--cni-state-dir <dir>', 'romana-cni\'s state_dir on this host: the agent sends the releases a DEL left pending there', '/var/lib/romana')
  .option('--bird-include <file>', 'BIRD include file this agent owns (BGP groups: its announcements and sessions)', '/etc/bird/romana.conf')
  .option('--bird-socket <path>', 'BIRD\'s control socket', '/run/bird/bird.ctl')
  .addOption(new Option('--bgp-hold-time <seconds>', 'hold time of the agent\'s BGP sessions; keepalive and retries follow (default: BIRD\'s)').argParser(int(3, 65535)))
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{
  host: string; api?: string; token?: string; tokenFile?: string; ca?: string; etcdEndpoints?: string; etcdPrefix: string;
  etcdCa?: string; etcdCert?: string; etcdKey?: string; listen: string; port: number; routeTable: number;
  routeProtocol: number; rulePriority: number; gateway: string; driftInterval: number; reportInterval: number; segmentLabel: string; failsafeInbound: FailsafePort[]; failsafeOutbound: FailsafePort[]; dataplane: DataplaneKind; iptables: IptablesBackend; cniStateDir: string; logLevel: string;
  birdInclude: string; birdSocket: string; bgpHoldTime?: number;
}>();
if (Boolean(o.api) === Boolean(o.etcdEndpoints)) program.error('error: give exactly one of --api and --etcd-endpoints');
const gateway = o.gateway === 'none' || o.gateway === '' ? undefined : o.gateway;
if (gateway !== undefined && tryParseIp(gateway) === undefined) program.error(`error: --gateway: '${o.gateway}' is not an IPv4 address`);
if (process.getuid?.() !== 0) process.stderr.write('romana-agent: warning: not running as root; the kernel will refuse changes\n');

const log = pino({ level: o.logLevel, base: { svc: 'romana-agent', host: o.host } });
setIptablesBackend(o.iptables);
const store: StoreReader = o.api
  ? new RemoteStore(endpointOrExit())
  : await openStore(etcdStoreOptions(o)).catch((e: Error) => program.error(`error: ${e.message}`));

function endpointOrExit(): Endpoint {
  try {
    const token = o.token ?? (o.tokenFile ? undefined : process.env.ROMANA_TOKEN);
    return endpointOf({ baseUrl: o.api!, token, tokenFile: token ? undefined : o.tokenFile, caFile: o.ca });
  } catch (e) {
    return program.error(`error: ${(e as Error).message}`);
  }
}

const metrics = new AgentMetrics();
const dataplane = new Dataplane({ table: o.routeTable, proto: o.routeProtocol, rulePriority: o.rulePriority, gateway, firewall: o.dataplane });
metrics.policySource = () => dataplane.policyCounters();
const bgp = new BgpManager({
  host: o.host, include: o.birdInclude, socket: o.birdSocket, kernelTable: o.routeTable, timers: o.bgpHoldTime ? timersFromHoldTime(o.bgpHoldTime) : undefined,
}, metrics.registry);
const reconciler = new Reconciler({
  store, host: o.host, dataplane, metrics, log, bgp, desired: { segmentLabel: o.segmentLabel, compile: { failsafe: { inbound: o.failsafeInbound, outbound: o.failsafeOutbound } } }, driftIntervalMs: o.driftInterval * 1000,
});
const server = serveOps({ status: () => reconciler.status(), metrics });
await new Promise<void>((ok, fail) => {
  server.once('error', fail);
  server.listen(o.port, o.listen, () => ok());
});
const addr = server.address();
log.info({
  listen: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr), store: o.api ?? o.etcdEndpoints,
  dataplane: o.dataplane, table: o.routeTable, proto: o.routeProtocol, rulePriority: o.rulePriority, gateway: gateway ?? null, driftIntervalS: o.driftInterval,
  failsafeInbound: formatFailsafePorts(o.failsafeInbound), failsafeOutbound: formatFailsafePorts(o.failsafeOutbound),
  nodeFlags: process.execArgv,
}, 'romana-agent ready');
if (missingNodeFlags().length) log.warn({ missing: missingNodeFlags() }, 'started without these node flags: the agent holds more memory (see docs/agent.md, "Memory")');
reconciler.start();
// The host's interfaces, for `romana ipam check` (an etcd-mode agent's store is a full Store).
// Releases a CNI DEL could not send (romanad was unreachable); reported with the status until sent.
const pending = new PendingSender({ stateDir: o.cniStateDir, host: o.host, api: o.api ? releaseViaRomanad(endpointOrExit()) : releaseViaStore(store as Store), log });
pending.start();
const reporter = new StatusReporter({
  send: o.api ? viaRomanad(endpointOrExit(), o.host) : viaStore(store as Store, o.host), status: () => reconciler.status(), pending: () => pending.pending(), log,
  intervalMs: o.reportInterval * 1000,
});
reporter.start();

let stopping = false;
const stop = async (sig: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ sig }, 'stopping; the dataplane stays as it is');
  await reconciler.stop();
  await reporter.stop();
  await pending.stop();
  server.close();
  await store.close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
