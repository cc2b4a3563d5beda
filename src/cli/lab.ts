// `romana lab up|down|export|probe`: a multi-host Romana network on this machine (needs root).
// The hidden `relay` subcommand is the lab's own helper inside the fabric namespace (its pod servers and
// probers are dist/romana-lab-worker.mjs, src/lab/worker-main.ts).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { DATAPLANES, DEFAULT_DATAPLANE, type DataplaneKind } from '../core/dataplane.js';
import { parseProbe } from '../core/policy/evaluate.js';
import { converge, down, exportCluster, labApi, probe, requireState, up } from '../lab/lab.js';
import { Ec2Standin } from '../lab/ec2-standin.js';
import { labNetworks, labRoutes } from '../lab/routes.js';
import { supervise } from '../lab/supervise.js';
import { relay } from '../lab/workers.js';
import { type CliContext, collect } from './context.js';
import { table } from './output.js';
import { matrices } from './policy.js';

function hostCount(v: string): number {
  if (!/^\d{1,2}$/.test(v) || Number(v) < 1 || Number(v) > 50) throw new InvalidArgumentError('must be 1 to 50');
  return Number(v);
}

function millis(v: string): number {
  if (!/^\d{1,6}$/.test(v)) throw new InvalidArgumentError('must be a whole number of milliseconds');
  return Number(v);
}

export function registerLabCommands(program: Command, ctx: CliContext): void {
  const lab = program.command('lab').description('a multi-host Romana network in network namespaces (needs root)');
  const name = () => new Option('--name <name>', 'lab name (several labs can run side by side)').default('lab');

  lab.command('up').description('build the lab: fabric, hosts with agents, romanad, pods through romana-cni, policies')
    .option('-f, --file <cluster>', 'cluster file (namespaces, pods, externals, policies; networks replace the default one)')
    .option('--hosts <n>', 'number of hosts, per rack with --racks, per zone with --vpc (1-50)', hostCount, 3).addOption(name())
    .addOption(new Option('--dataplane <backend>', 'every agent\'s firewall backend').choices([...DATAPLANES]).default(DEFAULT_DATAPLANE))
    .option('--kubernetes', 'run a Kubernetes API server stand-in and two romana-listeners; namespaces, pods and policies go in as Kubernetes objects')
    .option('--racks <n>', 'racks, each its own subnet behind a top-of-rack BIRD router, a spine above them: routes by BGP only', hostCount)
    .option('--announce <list>', 'with --racks: what each rack\'s hosts announce, blocks or aggregate (comma-separated, cycled over the racks)', 'blocks')
    .option('--vpc', 'availability zones, each its own subnet; a VPC router routes what romana-route-publisher puts in the (stand-in) route table')
    .option('--azs <n>', 'with --vpc: availability zones (1-50)', hostCount, 3)
    .action(async (o: { file?: string; hosts: number; name: string; dataplane: DataplaneKind; kubernetes?: boolean; racks?: number; announce: string; vpc?: boolean; azs: number }) => {
      const out = ctx.out();
      const s = await up({
        name: o.name, hosts: o.hosts, clusterFile: o.file, dataplane: o.dataplane, kubernetes: o.kubernetes,
        racks: o.racks, announce: o.announce.split(',').map((x) => x.trim()).filter(Boolean), vpc: o.vpc, azs: o.azs,
      });
      out.done(s, `lab '${s.name}' is up: ${s.hosts.length} hosts (${s.dataplane})${s.racks ? ` in ${s.racks.count} racks` : s.vpc ? ` in ${s.vpc.azs} zones` : ''}, ${s.pods.length} pods\n` +
        `  export ROMANA_API=${s.apiUrl} ROMANA_TOKEN_FILE=${s.adminTokenFile}\n` +
        (s.kube ? `  export KUBECONFIG=${s.kube.kubeconfig}\n  kubectl apply -f POLICY.yaml | kubectl get networkpolicies -A\n` : '') +
        '  romana block list | romana lab probe | romana lab routes | romana lab down\n', [`lab/${s.name}`]);
    });
  lab.command('down').description('remove every namespace and process of the lab (safe to repeat)').addOption(name())
    .action(async (o: { name: string }) => {
      const out = ctx.out();
      const done = await down(o.name);
      out.done({ removed: done }, done.length ? done.join('\n') : `lab '${o.name}' was not up`, done.length ? [`lab/${o.name}`] : []);
    });
  lab.command('export').description('the realized cluster file: real hosts and addresses').addOption(name())
    .action(async (o: { name: string }) => {
      const out = ctx.out(['table', 'yaml', 'json']);
      const c = await exportCluster(requireState(o.name));
      out.document(c, () => YAML.stringify(c), []);
    });
  lab.command('probe').description('real connections between pods and externals (same shape as `romana policy simulate`)')
    .option('--probe <FROM,TO,PORT/PROTO>', 'a probe (repeatable); default: every pod and external to every pod port', collect, [])
    .option('--timeout <ms>', 'how long a probe waits', millis, 1000).addOption(name())
    .action(async (o: { probe: string[]; timeout: number; name: string }) => {
      const out = ctx.out(['table', 'json', 'yaml']);
      const results = await probe(requireState(o.name), o.probe.length ? o.probe.map(parseProbe) : undefined, o.timeout);
      out.document({ results }, () => matrices(results), []);
    });
  lab.command('routes').description('what each router (host, top-of-rack, spine, VPC) holds for the pod networks').addOption(name())
    .action(async (o: { name: string }) => {
      const out = ctx.out(['table', 'json', 'yaml']);
      const s = requireState(o.name);
      const r = labRoutes(s, await labNetworks(labApi(s)));
      out.document(r, () => table(['router', 'role', 'prefix', 'via', 'protocol'],
        r.routers.flatMap((x) => x.routes.map((y) => [x.name, x.role, y.prefix, y.via, y.protocol])), out.noHeaders), r.routers.map((x) => `router/${x.name}`));
    });
  lab.command('wait', { hidden: true }).description('wait until every agent applied the latest state').addOption(name())
    .action(async (o: { name: string }) => converge(requireState(o.name)));

  lab.command('supervise', { hidden: true }).argument('<cmd...>').action((cmd: string[]) => supervise(cmd));
  lab.command('ec2-standin', { hidden: true }).requiredOption('--config <file>').requiredOption('--listen <host:port>').option('--apply-kernel')
    .action(async (o: { config: string; listen: string; applyKernel?: boolean }) => {
      const i = o.listen.lastIndexOf(':');
      const port = await new Ec2Standin(JSON.parse(readFileSync(o.config, 'utf8')), { applyKernel: o.applyKernel }).listen(Number(o.listen.slice(i + 1)), o.listen.slice(0, i));
      console.log(`EC2 stand-in on ${o.listen.slice(0, i)}:${port}`);
    });
  lab.command('relay', { hidden: true }).requiredOption('--listen <host:port>').requiredOption('--socket <path>')
    .action((o: { listen: string; socket: string }) => relay(o.listen, o.socket));
  // The test stand-in of the Kubernetes API server, for `lab up --kubernetes` (not a real API server).
  lab.command('kube-apiserver', { hidden: true }).requiredOption('--listen <host:port>').option('--token-file <csv>')
    .option('--bookmark-interval <ms>', '', (v) => Number(v), 1000)
    .action(async (o: { listen: string; tokenFile?: string; bookmarkInterval: number }) => {
      const { KubeApiServer, TokenAuthenticator } = await import('../testing/kube-apiserver/server.js');
      const [host, port] = [o.listen.slice(0, o.listen.lastIndexOf(':')), Number(o.listen.slice(o.listen.lastIndexOf(':') + 1))];
      const k = new KubeApiServer({ bookmarkIntervalMs: o.bookmarkInterval, ...(o.tokenFile ? { tokens: TokenAuthenticator.fromFile(o.tokenFile) } : {}) });
      process.stdout.write(`kube-apiserver stand-in at ${await k.listen(port, host)}\n`);
      process.on('SIGTERM', () => void k.close().then(() => process.exit(0)));
    });
}
