// `romana policy ...`: offline simulate/explain over a cluster file, and the policy store through romanad.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { invalid } from '../core/errors.js';
import { parseCluster, type Cluster } from '../core/policy/cluster.js';
import { compileHost } from '../core/policy/compile.js';
import { explain, parsePortProto, parseProbe, simulate, type DirectionExplanation, type ProbeResult } from '../core/policy/evaluate.js';
import { normalizePolicy, parsePolicies, withPath } from '../core/policy/normalize.js';
import { collect, type CliContext } from './context.js';
import { print, table } from './output.js';

function readText(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw invalid(`-f: cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function loadCluster(file: string, segmentLabel?: string): Cluster {
  return parseCluster(readText(file), { segmentLabel });
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

interface PolicyListing { id: string; kind?: string; [k: string]: unknown }

export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('network policies: simulate and explain offline; apply, list, show and delete through romanad');

  // Offline: these read a cluster file and never contact romanad.
  policy.command('simulate')
    .description('say, for each probe, whether a direct connection is allowed (default: every pod and external to every pod port)')
    .requiredOption('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .option('--probe <FROM,TO,PORT/PROTO>', 'a probe, e.g. x/a,ext/dns,53/UDP (repeatable); externals are ext/<name>', collect, [])
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .action((o: { file: string; probe: string[]; segmentLabel: string }) => {
      const format = ctx.format(['table', 'json', 'yaml']);
      const probes = o.probe.length ? o.probe.map(parseProbe) : undefined;
      const cluster = loadCluster(o.file, o.segmentLabel);
      const results = simulate(cluster, probes);
      print(format, { results }, () => matrices(results));
    });

  policy.command('explain')
    .description('the verdict for one connection, with the policies and rules deciding each direction')
    .requiredOption('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .requiredOption('--from <endpoint>', 'source: namespace/pod or ext/<name>')
    .requiredOption('--to <endpoint>', 'destination: namespace/pod or ext/<name>')
    .requiredOption('--port <PORT/PROTO>', 'e.g. 80/TCP, 53/UDP, 8/ICMP (ICMP: the type)')
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .action((o: { file: string; from: string; to: string; port: string; segmentLabel: string }) => {
      const format = ctx.format(['table', 'json', 'yaml']);
      const { port, protocol } = parsePortProto(o.port, '--port');
      const e = explain(loadCluster(o.file, o.segmentLabel), { from: o.from, to: o.to, port, protocol });
      print(format, e, () => explanationText(e));
    });

  policy.command('compile')
    .description('the iptables-restore and ipset restore text one host would load (offline)')
    .requiredOption('-f, --file <file>', 'cluster file, YAML or JSON (- for stdin)')
    .requiredOption('--host <name>', 'the host (pods with this host are its local endpoints)')
    .option('--segment-label <key>', 'pod label holding the Romana segment', 'romana.io/segment')
    .action((o: { file: string; host: string; segmentLabel: string }) => {
      const format = ctx.format(['table', 'json', 'yaml']);
      const r = compileHost(loadCluster(o.file, o.segmentLabel), o.host);
      print(format, { iptables: r.iptables, ipset: r.ipset, chains: r.chains, sets: r.sets, stats: r.stats },
        () => `# ipset restore\n${r.ipset}\n# iptables-restore --noflush\n${r.iptables}`);
    });

  // ---- Through romanad (REST /policies). Each object is validated locally first, so mistakes are
  // reported with their field path before anything is sent. ----
  policy.command('apply')
    .description('create or replace the policies in a file (NetworkPolicy and/or Romana policies; List and multi-document YAML accepted)')
    .requiredOption('-f, --file <file>', 'policy file, YAML or JSON (- for stdin)')
    .action(async (o: { file: string }) => {
      const objects = parsePolicies(readText(o.file));
      if (objects.length === 0) throw invalid(`${o.file}: no policy in the file`);
      objects.forEach((x, i) => withPath(`policies[${i}]`, () => normalizePolicy(x)));
      const client = ctx.client();
      const applied: unknown[] = [];
      for (const x of objects) applied.push(await client.post('/policies', x));
      print(ctx.format(), { policies: applied }, () =>
        applied.map((a) => `policy ${(a as PolicyListing)?.id ?? '?'} applied\n`).join(''));
    });

  policy.command('list').description('list the stored policies').action(async () => {
    const r = await ctx.client().get<PolicyListing[] | { policies: PolicyListing[] }>('/policies');
    const list = Array.isArray(r) ? r : r?.policies ?? [];
    print(ctx.format(), r, () => table(['id', 'kind', 'description'], list.map((p) => [p.id, p.kind, typeof p.description === 'string' ? p.description : ''])));
  });

  policy.command('show <id>').description('one stored policy (ids look like namespace/name or a Romana id)').action(async (id: string) => {
    const p = await ctx.client().get(`/policies/${encodeURIComponent(id)}`);
    print(ctx.format(), p, () => YAML.stringify(p));
  });

  policy.command('delete <id>').description('delete a stored policy').action(async (id: string) => {
    await ctx.client().del(`/policies/${encodeURIComponent(id)}`);
    process.stdout.write(`policy ${id} deleted\n`);
  });
}
