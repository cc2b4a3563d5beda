// `romana topology|host|address|block|network|blackout ...`: the IPAM nouns.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { AddressRecord, BlockView, HostRecord } from '../control/records.js';
import { type CliContext, collect } from './context.js';
import { print, table } from './output.js';

function parseLabels(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`--label: '${p}' is not key=value`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export function readDocument(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return YAML.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid YAML or JSON: ${(e as Error).message}`);
  }
}

const labelText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',');

export function registerIpamCommands(program: Command, ctx: CliContext): void {
  const topology = program.command('topology').description('show or replace the topology');
  topology.command('show').description('the topology with group CIDRs and placed hosts').action(async () => {
    const t = await ctx.client().get('/topology');
    print(ctx.format(), t, () => YAML.stringify(t));
  });
  topology.command('apply').description('replace the topology (existing addresses are kept)')
    .requiredOption('-f, --file <file>', 'topology document, JSON or YAML (- for stdin)')
    .action(async (o: { file: string }) => {
      const t = await ctx.client().post('/topology', readDocument(o.file));
      print(ctx.format(), t, () => 'topology applied\n');
    });

  const host = program.command('host').description('hosts');
  const hostTable = (hs: HostRecord[]) => table(['name', 'ip', 'agent port', 'labels'], hs.map((h) => [h.name, h.ip, h.agent_port, labelText(h.labels)]));
  host.command('add <name>').description('add a host; it is placed in a group of every network')
    .requiredOption('--ip <ip>', 'host IP').option('--label <k=v>', 'label (repeatable)', collect, [])
    .option('--agent-port <n>', 'romana-agent port', (v) => Number(v))
    .action(async (name: string, o: { ip: string; label: string[]; agentPort?: number }) => {
      const h = await ctx.client().post<HostRecord>('/hosts', { name, ip: o.ip, labels: parseLabels(o.label), ...(o.agentPort ? { agent_port: o.agentPort } : {}) });
      print(ctx.format(), h, () => hostTable([h]));
    });
  host.command('list').description('list hosts').action(async () => {
    const r = await ctx.client().get<{ hosts: HostRecord[] }>('/hosts');
    print(ctx.format(), r, () => hostTable(r.hosts));
  });
  host.command('show <name>').description('one host').action(async (name: string) => {
    const h = await ctx.client().get<HostRecord>(`/hosts/${encodeURIComponent(name)}`);
    print(ctx.format(), h, () => hostTable([h]));
  });
  host.command('label <name>').description("replace a host's labels").option('--label <k=v>', 'label (repeatable)', collect, [])
    .action(async (name: string, o: { label: string[] }) => {
      const h = await ctx.client().put<HostRecord>(`/hosts/${encodeURIComponent(name)}`, { labels: parseLabels(o.label) });
      print(ctx.format(), h, () => hostTable([h]));
    });
  host.command('remove <name>').description('remove a host').option('--force', 'release its addresses first')
    .action(async (name: string, o: { force?: boolean }) => {
      await ctx.client().del(`/hosts/${encodeURIComponent(name)}${o.force ? '?force=true' : ''}`);
      process.stdout.write(`host ${name} removed\n`);
    });

  const address = program.command('address').description('addresses');
  const addrTable = (as: AddressRecord[]) => table(['name', 'ip', 'host', 'tenant', 'segment', 'block'], as.map((a) => [a.name, a.ip, a.host, a.tenant, a.segment, a.block]));
  address.command('allocate').description('allocate an address')
    .requiredOption('--name <name>', 'address name').requiredOption('--host <host>', 'host')
    .requiredOption('--tenant <tenant>', 'tenant').option('--segment <segment>', 'segment', 'default')
    .action(async (o: { name: string; host: string; tenant: string; segment: string }) => {
      const a = await ctx.client().post<AddressRecord>('/address', o);
      print(ctx.format(), a, () => addrTable([a]));
    });
  address.command('release <nameOrIp>').description('release an address by name or IP').action(async (n: string) => {
    const a = await ctx.client().del<AddressRecord>(`/address?addressName=${encodeURIComponent(n)}`);
    print(ctx.format(), a, () => `released ${a.name} (${a.ip})\n`);
  });
  address.command('list').description('list addresses').option('--host <host>', 'only this host').action(async (o: { host?: string }) => {
    const r = await ctx.client().get<{ addresses: AddressRecord[] }>(`/addresses${o.host ? `?host=${encodeURIComponent(o.host)}` : ''}`);
    print(ctx.format(), r, () => addrTable(r.addresses));
  });

  program.command('block').description('address blocks').command('list').description('list blocks').option('--host <host>', 'only this host')
    .action(async (o: { host?: string }) => {
      const r = await ctx.client().get<{ revision: number; blocks: BlockView[] }>(`/blocks${o.host ? `?host=${encodeURIComponent(o.host)}` : ''}`);
      print(ctx.format(), r, () => table(['cidr', 'network', 'host', 'tenant', 'segment', 'allocated'],
        r.blocks.map((b) => [b.cidr, b.network, b.host, b.tenant, b.segment, b.allocated_ip_count])));
    });

  program.command('network').description('networks').command('list').description('list networks').action(async () => {
    const r = await ctx.client().get<{ name: string; cidr: string; block_mask: number; tenants?: string[] }[]>('/networks');
    print(ctx.format(), r, () => table(['name', 'cidr', 'block mask', 'tenants'], r.map((n) => [n.name, n.cidr, n.block_mask, n.tenants?.join(',') ?? '*'])));
  });

  const blackout = program.command('blackout').description('reserved ranges no address is taken from');
  blackout.command('add <cidr>').description('reserve a CIDR').action(async (cidr: string) => {
    const b = await ctx.client().post<{ network: string; cidr: string }>('/blackouts', { cidr });
    print(ctx.format(), b, () => `blacked out ${b.cidr} in ${b.network}\n`);
  });
  blackout.command('remove <cidr>').description('remove a blackout (exact CIDR)').action(async (cidr: string) => {
    await ctx.client().del(`/blackouts?cidr=${encodeURIComponent(cidr)}`);
    process.stdout.write(`removed blackout ${cidr}\n`);
  });
  blackout.command('list').description('list blackouts').action(async () => {
    const r = await ctx.client().get<{ blackouts: { network: string; cidr: string }[] }>('/blackouts');
    print(ctx.format(), r, () => table(['network', 'cidr'], r.blackouts.map((b) => [b.network, b.cidr])));
  });
}
