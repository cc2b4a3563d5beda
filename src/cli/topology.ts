// `romana topology show|apply`.
import type { Command } from 'commander';
import YAML from 'yaml';
import type { CliContext } from './context.js';
import { readDocument } from './files.js';

export function registerTopologyCommands(program: Command, ctx: CliContext): void {
  const topology = program.command('topology').description('show or replace the topology');
  topology.command('show').description('the topology with group CIDRs and placed hosts').action(async () => {
    const out = ctx.out();
    const t = await ctx.client().get('/topology');
    out.document(t, () => YAML.stringify(t), ['topology']);
  });
  topology.command('apply').description('replace the topology (existing addresses are kept)')
    .requiredOption('-f, --file <file>', 'topology document, JSON or YAML (- for stdin)')
    .action(async (o: { file: string }) => {
      const out = ctx.out();
      const t = await ctx.client().post('/topology', readDocument(o.file));
      out.done(t, 'topology applied', ['topology']);
    });
}
