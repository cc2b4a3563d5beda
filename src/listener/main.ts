// romana-listener: keeps romanad in step with a Kubernetes cluster. Nodes become hosts, namespaces
// tenants, pods pod metadata (and the addresses of pods that are gone are released), NetworkPolicies
// and RomanaPolicy custom resources policies. Run two or more: one leads through a Lease, the others
// wait and write nothing.
//
//   romana-listener --api https://romanad:9600 --token-file /var/run/romana/listener-token [--kubeconfig FILE]
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino from 'pino';
import { endpointOf } from '../client/transport.js';
import { Controller } from './controller.js';
import { serveOps } from '../ops/http.js';
import { Informer, KINDS } from './informers.js';
import { LeaderElector } from './leader.js';
import { ListenerMetrics } from './metrics.js';
import { Reporter } from './report.js';
import { Romanad } from './romanad.js';
import { VERSION } from '../version.js';

const seconds = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!(n >= min && n <= max)) throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}`);
  return n;
};

const program = new Command('romana-listener')
  .description('Keeps romanad in step with Kubernetes: nodes, namespaces, pods, NetworkPolicies and RomanaPolicies')
  .version(`romana-listener ${VERSION}`, '--version')
  .requiredOption('--api <url>', 'romanad URL')
  .option('--token-file <file>', 'file holding romanad\'s bearer token (a token of role listener)')
  .option('--ca <file>', 'CA certificate (PEM) that signed romanad\'s TLS certificate')
  .option('--kubeconfig <file>', 'kubeconfig of the cluster (default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config)')
  .option('--identity <name>', 'this listener\'s name in the Lease (default: $POD_NAME, else the hostname and a random suffix)')
  .option('--lease-namespace <ns>', 'namespace of the Lease (default: $POD_NAMESPACE or romana-system)')
  .option('--lease-name <name>', 'name of the Lease', 'romana-listener')
  .addOption(new Option('--lease-duration <s>', 'how long a Lease holds without renewal').default(15).argParser(seconds(1, 3600)))
  .addOption(new Option('--renew-deadline <s>', 'how long the leader keeps leading without a renewal (shorter than the lease)').default(10).argParser(seconds(0.1, 3600)))
  .addOption(new Option('--retry-period <s>', 'how often to try to acquire or renew the Lease').default(2).argParser(seconds(0.05, 600)))
  .addOption(new Option('--resync-period <s>', 'how often to compare everything with romanad').default(300).argParser(seconds(0.1, 86400)))
  .addOption(new Option('--release-grace <s>', 'how long an address must be without its pod before it is released').default(30).argParser(seconds(0, 86400)))
  .option('--rack-label <label>', 'node label whose value becomes the host label `rack`', 'romana.io/rack')
  .addOption(new Option('--concurrency <n>', 'romanad requests at a time').default(16).argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be an integer from 1 to 256');
    return n;
  }))
  .option('--listen <addr>', 'address for /healthz, /readyz, /status and /metrics', '0.0.0.0')
  .addOption(new Option('--port <n>', 'port for /healthz, /readyz, /status and /metrics').default(9605).argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number');
    return n;
  }))
  .option('--log-level <level>', 'log level', 'info')
  .parse();

const o = program.opts<{
  api: string; tokenFile?: string; ca?: string; kubeconfig?: string; identity?: string; leaseNamespace?: string; leaseName: string;
  leaseDuration: number; renewDeadline: number; retryPeriod: number; resyncPeriod: number; releaseGrace: number; rackLabel: string;
  concurrency: number; listen: string; port: number; logLevel: string;
}>();
if (o.renewDeadline >= o.leaseDuration) program.error('error: --renew-deadline must be shorter than --lease-duration');
if (o.retryPeriod >= o.renewDeadline) program.error('error: --retry-period must be shorter than --renew-deadline');

const identity = o.identity ?? process.env.POD_NAME ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
const log = pino({ level: o.logLevel, base: { svc: 'romana-listener', identity } });
const kc = new KubeConfig();
try {
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig');
} catch (e) {
  program.error(`error: cannot load the kubeconfig: ${(e as Error).message}`);
}
let romanad: Romanad;
try {
  romanad = new Romanad(endpointOf({ baseUrl: o.api, tokenFile: o.tokenFile, caFile: o.ca }));
} catch (e) {
  program.error(`error: ${(e as Error).message}`);
}

const metrics = new ListenerMetrics();
const informers = new Map<string, Informer>();
let controller: Controller | undefined;
const elector = new LeaderElector({
  api: kc.makeApiClient(CoordinationV1Api), namespace: o.leaseNamespace ?? process.env.POD_NAMESPACE ?? 'romana-system', name: o.leaseName, identity,
  leaseDurationMs: o.leaseDuration * 1000, renewDeadlineMs: o.renewDeadline * 1000, retryPeriodMs: o.retryPeriod * 1000, log,
  onChange: (leading) => controller?.onLeading(leading),
});
controller = new Controller({
  romanad: romanad!, reporter: new Reporter(kc, identity), informers, leading: (m) => elector.leading(m), log, metrics, rackLabel: o.rackLabel || undefined,
  releaseGraceMs: o.releaseGrace * 1000, resyncMs: o.resyncPeriod * 1000, concurrency: o.concurrency,
  writeMarginMs: Math.min(1000, (o.renewDeadline * 1000) / 10),
});
for (const spec of KINDS) {
  informers.set(spec.kind, new Informer(spec, kc, {
    change: (kind, type, obj) => controller!.onChange(kind, type, obj),
    listed: () => controller!.onListed(),
    error: (kind, err) => metrics.errors.inc({ kind, reason: `watch${(err as { statusCode?: number; code?: number })?.statusCode ?? (err as { code?: number })?.code ?? ''}` }),
  }, log, { pageSize: 500, maxBackoffMs: 30_000 }));
}

const status = () => ({
  identity, leading: elector.leading(), holder: elector.holder, ...controller!.status(),
});
const ready = () => {
  const leading = elector.leading();
  if (!leading) return { ready: true, why: `following (leader: ${elector.holder || 'none yet'})` };
  return controller!.synced ? { ready: true, why: 'leading and in sync' } : { ready: false, why: 'leading, not in sync yet' };
};
setInterval(() => {
  metrics.queue.set(controller!.queue.depth);
  metrics.oldest.set(controller!.queue.oldestMs() / 1000);
  metrics.synced.set(controller!.synced ? 1 : 0);
}, 1000).unref();

const server = serveOps({ status, ready, metrics });
await new Promise<void>((ok, fail) => {
  server.once('error', fail);
  server.listen(o.port, o.listen, () => ok());
});
const addr = server.address();
log.info({ listen: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr), api: o.api, cluster: kc.getCurrentCluster()?.server }, 'romana-listener ready');
for (const i of informers.values()) void i.start().catch(() => undefined);
elector.start();
controller.start();

let stopping = false;
const stop = async (sig: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ sig }, 'stopping');
  controller!.stop();
  await elector.stop();
  await Promise.all([...informers.values()].map((i) => i.stop()));
  server.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
