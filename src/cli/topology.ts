// `romana topology show|apply|diff`. The document owns networks and groups; the API owns hosts and
// their labels (see core/topology/replace.ts): apply says what it changes, --dry-run and diff say it
// without changing anything.
import { Type } from '@sinclair/typebox';
import type { Command } from 'commander';
import { parseTopology } from '../core/topology/layout.js';
import type { TopologyChange } from '../core/topology/replace.js';
import { TopologyDocument } from '../core/topology/schema.js';
import type { CliContext } from './context.js';
import { fromFile, readDocument } from './files.js';
import { labelText, table } from './output.js';

const Answer = Type.Object({ dry_run: Type.Boolean(), changes: Type.Array(Type.Object({ object: Type.String(), name: Type.String(), change: Type.String(), detail: Type.String() })) });

interface Entry { name?: string; ip?: string; assignment?: Record<string, string>; cidrs?: Record<string, string>; groups?: Entry[] }

/** Networks, then one row per group (its path, CIDRs, assignment and hosts). */
function topologyText(t: TopologyDocument, wide: boolean, noHeaders: boolean): string {
  if (t.networks.length === 0) return 'no topology (romana topology apply -f FILE)\n';
  const nets = table(['network', 'cidr', 'block mask', 'tenants'], t.networks.map((n) => [n.name, n.cidr, n.block_mask ?? 29, n.tenants?.join(',') ?? '*']), noHeaders);
  const rows: (string | number)[][] = [];
  t.topologies.forEach((topo, ti) => {
    const walk = (e: Entry, path: string, i: number) => {
      const p = `${path}${path ? '/' : ''}${e.name ?? `#${i}`}`;
      const hosts = (e.groups ?? []).filter((g) => g.ip !== undefined);
      rows.push([...(t.topologies.length > 1 ? [ti] : []), p, Object.entries(e.cidrs ?? {}).map(([n, c]) => `${n} ${c}`).join(', '), labelText(e.assignment),
        wide ? hosts.map((h) => h.name).join(',') : hosts.length]);
      (e.groups ?? []).forEach((g, j) => g.ip === undefined && walk(g, p, j));
    };
    (topo.map as Entry[]).forEach((e, i) => e.ip === undefined && walk(e, '', i));
  });
  const headers = [...(t.topologies.length > 1 ? ['topology'] : []), 'group', 'cidrs', 'assignment', 'hosts'];
  return `${nets}\n${table(headers, rows, noHeaders)}`;
}

const changeText = (cs: TopologyChange[]) => cs.map((c) => `${c.object} ${c.name}: ${c.change} (${c.detail})`).join('\n');

export function registerTopologyCommands(program: Command, ctx: CliContext): void {
  const topology = program.command('topology').description('show, change or compare the topology (networks and groups)');
  topology.command('show').description('the topology with group CIDRs and placed hosts (-o yaml can be applied again as it is)').action(async () => {
    const out = ctx.out();
    const t = await ctx.client().fetch('/topology', TopologyDocument);
    out.document(t, () => topologyText(t, out.format === 'wide', out.noHeaders), ['topology']);
  });

  const send = async (file: string, dryRun: boolean) => {
    const doc = readDocument(file);
    // Checked here first, as policies are: a document that is not valid is the user's file (exit 2),
    // not a refusal. What depends on the state (hosts, addresses) is romanad's to refuse.
    fromFile(() => parseTopology(doc), file === '-' ? 'stdin' : file);
    return ctx.client().request<{ dry_run: boolean; changes: TopologyChange[] }>('POST', `/topology${dryRun ? '?dry_run=true' : ''}`, doc, { answer: Answer, idempotent: true });
  };
  topology.command('apply')
    .description('replace the networks and groups, and say what changed (hosts and labels stay as the API has them; existing addresses are kept)')
    .requiredOption('-f, --file <file>', 'topology document, JSON or YAML (- for stdin)')
    .option('--dry-run', 'say what would change, and change nothing')
    .action(async (o: { file: string; dryRun?: boolean }) => {
      const out = ctx.out();
      const r = await send(o.file, o.dryRun === true);
      const n = r.changes.length;
      const summary = o.dryRun
        ? `${n ? `${n} change(s)` : 'no change'} (dry run: nothing was changed)`
        : n ? `topology applied: ${n} change(s)` : 'topology unchanged';
      out.done(r, `${n ? `${changeText(r.changes)}\n` : ''}${summary}`, ['topology']);
    });
  topology.command('diff').description('what `topology apply -f FILE` would change (nothing is changed)')
    .requiredOption('-f, --file <file>', 'topology document, JSON or YAML (- for stdin)')
    .action(async (o: { file: string }) => {
      const out = ctx.out();
      const r = await send(o.file, true);
      out.done(r, r.changes.length ? changeText(r.changes) : 'no change', r.changes.map((c) => `${c.object}/${c.name}`));
    });
}
