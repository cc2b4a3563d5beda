// `romana policy ...`: offline simulate/explain over a cluster file, and the policy store through romanad.
import type { Static } from '@sinclair/typebox';
import { type Command, Option } from 'commander';
import YAML from 'yaml';
import { PolicyList, PolicyRecordSchema } from '../control/records.js';
import { DATAPLANES, type DataplaneKind } from '../core/dataplane.js';
import { invalid, usage } from '../core/errors.js';
import { parseCluster, type Cluster } from '../core/policy/cluster.js';
import { compileHost } from '../core/policy/compile.js';
import { explain, parsePortProto, parseProbe, simulate, type DirectionExplanation, type ProbeResult } from '../core/policy/evaluate.js';
import { normalizePolicy, parsePolicies, withPath } from '../core/policy/normalize.js';
import { nftScript, renderNft } from '../core/policy/render-nft.js';
import { collect, type CliContext } from './context.js';
import { applyPolicy, deletePolicy, loadPolicies, report, runBulk } from './bulk.js';
import { fromFile, readText } from './files.js';
import { simulateLive } from './live.js';
import { type View, table } from './output.js';

function loadCluster(file: string, segmentLabel?: string): Cluster {
  const text = readText(file);
  return fromFile(() => parseCluster(text, { segmentLabel }));
}

/** One reachability matrix per port/protocol: rows = from, columns = to, '.' allowed, 'X' denied, '-' not probed. */
export function matrices(results: ProbeResult[]): string {
  const groups = new Map<string, ProbeResult[]>();
  for (const r of results) {
    const k = `${r.port}/${r.protocol}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: string[] = [];
  for (const [k, rs] of groups) {
    const froms = [...new Set(rs.map((r) => r.from))];
    const tos = [...new Set(rs.map((r) => r.to))];
    const cell = new Map(rs.map((r) => [`${r.from}\0${r.to}`, r.allowed ? '.' : 'X']));
    const w0 = Math.max(k.length, ...froms.map((f) => f.length));
    const widths = tos.map((t) => t.length);
    out.push([k.padEnd(w0), ...tos.map((t, i) => t.padEnd(widths[i]))].join('  ').trimEnd());
    for (const f of froms) out.push([f.padEnd(w0), ...tos.map((t, i) => (cell.get(`${f}\0${t}`) ?? '-').padEnd(widths[i]))].join('  ').trimEnd());
    out.push('');
  }
  const denied = results.filter((r) => !r.allowed).length;
  out.push(`${results.length} probes: ${results.length - denied} allowed (.), ${denied} denied (X)`);
  return out.join('\n') + '\n';
}

function explanationText(e: ReturnType<typeof explain>): string {
  const dir = (d: DirectionExplanation) => `  ${d.direction} of ${d.endpoint}: ${d.allowed ? 'allowed' : 'DENIED'}\n    ${d.reason}`;
  return `${e.from} -> ${e.to} ${e.port}/${e.protocol}: ${e.allowed ? 'ALLOWED' : 'DENIED'}\n${dir(e.egress)}\n${dir(e.ingress)}\n`;
}

type PolicyRecord = Static<typeof PolicyRecordSchema>;

const POLICY_VIEW: View<PolicyRecord> = {
  kind: 'policy', name: (p) => p.id,
  columns: [['id', (p) => p.id], ['kind', (p) => p.kind], ['description', (p) => p.description ?? '']],
  wide: [['applies to', (p) => appliesTo(p)]],
};

/** Whom a stored policy applies to, in a few words. */
function appliesTo(p: PolicyRecord): string {
  const o = p.object as { metadata?: { namespace?: string }; spec?: { podSelector?: unknown }; applied_to?: unknown };
  if (p.kind === 'NetworkPolicy') return `namespace ${o.metadata?.namespace ?? 'default'}, pods ${JSON.stringify(o.spec?.podSelector ?? {})}`;
  return JSON.stringify(o.applied_to ?? []);
}

export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('network policies: simulate and explain offline; apply, list, show and delete through romanad');
  const offline = ['table', 'json', 'yaml'] as const;

  // Offline: these read a cluster file and never contact romanad.
  policy.command('simulate')
    .description('say, for each probe, whether a direct connection is allowed (default: every pod and external to every pod port)')
    .option('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .option('--live', 'simulate against romanad\'s current state (POST /policies/simulate: the endpoints, labels and policies the agents compile) instead of a file')
    .option('--probe <FROM,TO,PORT/PROTO>', 'a probe, e.g. x/a,ext/dns,53/UDP (repeatable); externals are ext/<name>', collect, [])
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .action(async (o: { file?: string; live?: boolean; probe: string[]; segmentLabel: string }) => {
      const out = ctx.out(offline);
      if (Boolean(o.file) === Boolean(o.live)) throw usage('policy simulate: give -f FILE or --live (one of them)');
      const probes = o.probe.length ? fromFile(() => o.probe.map(parseProbe)) : undefined;
      let results: ProbeResult[];
      if (o.live) results = await simulateLive(ctx.client(), probes, o.segmentLabel);
      else {
        const cluster = loadCluster(o.file!, o.segmentLabel);
        results = fromFile(() => simulate(cluster, probes));
      }
      out.document({ results }, () => matrices(results), []);
    });

  policy.command('explain')
    .description('the verdict for one connection, with the policies and rules deciding each direction')
    .requiredOption('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .requiredOption('--from <endpoint>', 'source: namespace/pod or ext/<name>')
    .requiredOption('--to <endpoint>', 'destination: namespace/pod or ext/<name>')
    .requiredOption('--port <PORT/PROTO>', 'e.g. 80/TCP, 53/UDP, 8/ICMP (ICMP: the type)')
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .action((o: { file: string; from: string; to: string; port: string; segmentLabel: string }) => {
      const out = ctx.out(offline);
      const { port, protocol } = fromFile(() => parsePortProto(o.port, '--port'));
      const cluster = loadCluster(o.file, o.segmentLabel);
      const e = fromFile(() => explain(cluster, { from: o.from, to: o.to, port, protocol }));
      out.document(e, () => explanationText(e), []);
    });

  policy.command('compile')
    .description('the rules one host would load (offline): iptables-restore and ipset restore text, or an nft script')
    .requiredOption('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .requiredOption('--host <name>', 'the host (pods with this host are its local endpoints)')
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .addOption(new Option('--dataplane <backend>', 'the firewall backend to render for').choices([...DATAPLANES]).default('iptables'))
    .action((o: { file: string; host: string; segmentLabel: string; dataplane: DataplaneKind }) => {
      const out = ctx.out(offline);
      const cluster = loadCluster(o.file, o.segmentLabel);
      const known = [...new Set([...cluster.hosts.map((h) => h.name), ...cluster.pods.flatMap((p) => (p.host ? [p.host] : [])), ...cluster.blocks.flatMap((b) => (b.host ? [b.host] : []))])];
      if (!known.includes(o.host)) {
        throw usage(`--host: '${o.host}' is not a host of ${o.file} (${known.length ? `its hosts: ${known.sort().join(', ')}` : 'it names no host: give pods a host, or list hosts'})`);
      }
      const r = compileHost(cluster, o.host);
      if (o.dataplane === 'nftables') {
        const n = renderNft(r.ir);
        const script = nftScript(n);
        out.document({ nft: script, chains: n.chains.map((c) => c.name), sets: n.sets.map((x) => x.name), stats: n.stats }, () => `# nft -f\n${script}`, []);
        return;
      }
      out.document({ iptables: r.iptables, ipset: r.ipset, chains: r.chains, sets: r.sets, stats: r.stats },
        () => `# ipset restore\n${r.ipset}\n# iptables-restore --noflush\n${r.iptables}`, []);
    });

  // ---- Through romanad (REST /policies). Each object is validated locally first, so mistakes are
  // reported with their field path before anything is sent. ----
  policy.command('apply')
    .description('create or replace the policies in files (NetworkPolicy and/or Romana policies; List and multi-document YAML accepted); each is reported created, configured or unchanged')
    .requiredOption('-f, --file <file>', 'policy file or directory, YAML or JSON (- for stdin); repeatable', collect, [])
    .action(async (o: { file: string[] }) => {
      const out = ctx.out();
      const items = loadPolicies(o.file);
      const outcomes = await runBulk(items, 'applied', applyPolicy(ctx.client()));
      report(out, outcomes, 'applied');
    });

  policy.command('list').description('list the stored policies').action(async () => {
    const out = ctx.out();
    const r = await ctx.client().fetch('/policies', PolicyList);
    out.list(r, r.policies, POLICY_VIEW);
  });

  policy.command('show <id>').description('one stored policy as it was applied (-o yaml output can be applied again)').action(async (id: string) => {
    const out = ctx.out();
    const p = await ctx.client().fetch(`/policies/${encodeURIComponent(id)}`, PolicyRecordSchema);
    out.document(p.object, () => YAML.stringify(p.object), [`policy/${p.id}`]);
  });

  policy.command('delete [ids...]').description('delete stored policies: by id, or those the files name (-f, repeatable; a directory takes its files)')
    .option('-f, --file <file>', 'policy file or directory whose policies are deleted', collect, [])
    .option('--ignore-not-found', 'a policy that does not exist is not an error')
    .action(async (ids: string[], o: { file: string[]; ignoreNotFound?: boolean }) => {
      const out = ctx.out();
      if (ids.length === 0 && o.file.length === 0) throw usage('policy delete: give policy ids or -f FILE');
      const items = [...ids.map((id) => ({ id, where: 'the command line', object: undefined })), ...(o.file.length ? loadPolicies(o.file) : [])];
      const outcomes = await runBulk(items, 'deleted', deletePolicy(ctx.client(), o.ignoreNotFound === true));
      report(out, outcomes, 'deleted');
    });
}
