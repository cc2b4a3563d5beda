// `romana topology|host|address|block|network|blackout ...`: the IPAM nouns.
import { type Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { CheckReport, RepairReport } from '../control/check.js';
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
  // Host IDs exist only with layout networks: the column shows only then.
  const hostTable = (hs: HostRecord[]) => (hs.some((h) => h.id !== undefined)
    ? table(['name', 'ip', 'id', 'agent port', 'labels'], hs.map((h) => [h.name, h.ip, h.id ?? '', h.agent_port, labelText(h.labels)]))
    : table(['name', 'ip', 'agent port', 'labels'], hs.map((h) => [h.name, h.ip, h.agent_port, labelText(h.labels)])));
  host.command('add <name>').description('add a host; it is placed in a group of every network')
    .requiredOption('--ip <ip>', 'host IP').option('--label <k=v>', 'label (repeatable)', collect, [])
    .option('--agent-port <n>', 'romana-agent port', (v) => Number(v))
    .option('--id <n>', 'its host ID in layout networks (default: the lowest free one)', (v) => Number(v))
    .action(async (name: string, o: { ip: string; label: string[]; agentPort?: number; id?: number }) => {
      const h = await ctx.client().post<HostRecord>('/hosts', { name, ip: o.ip, labels: parseLabels(o.label), ...(o.agentPort ? { agent_port: o.agentPort } : {}), ...(o.id !== undefined ? { id: o.id } : {}) });
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
    .option('--ip <ip>', "this address (in the host's group; refused with the reason otherwise)")
    .action(async (o: { name: string; host: string; tenant: string; segment: string; ip?: string }) => {
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
    const r = await ctx.client().get<{ revision: number; networks: { name: string; cidr: string; block_mask: number; tenants?: string[]; layout?: Record<string, number> }[] }>('/networks');
    const layout = (n: (typeof r.networks)[number]) => (n.layout ? `host ${n.layout.host_bits}, tenant ${n.layout.tenant_bits}, segment ${n.layout.segment_bits}, endpoint ${n.layout.endpoint_bits} bits` : '');
    print(ctx.format(), r, () => (r.networks.some((n) => n.layout)
      ? table(['name', 'cidr', 'block mask', 'tenants', 'layout'], r.networks.map((n) => [n.name, n.cidr, n.block_mask, n.tenants?.join(',') ?? '*', layout(n)]))
      : table(['name', 'cidr', 'block mask', 'tenants'], r.networks.map((n) => [n.name, n.cidr, n.block_mask, n.tenants?.join(',') ?? '*']))));
  });

  program.command('ipam').description('IPAM integrity').command('check')
    .description('find leaked addresses, duplicate IPs, blocks of gone hosts, wrong counts and index entries')
    .option('--repair', 'repair what is safe to repair (each repair a compare-and-swap; what moved since is skipped), then check again')
    .option('--grace <seconds>', 'addresses younger than this at their host\'s report are not judged (default 60)', seconds)
    .option('--stale <seconds>', 'a host report older than this judges nothing (default 120)', seconds)
    .addHelpText('after', `
An address is leaked when its host's agent reported recently and its host-side interface was missing.
Addresses of hosts with no recent report, and addresses without a recorded interface, are not judged.
Exit status: 0 no problems; 3 problems remain (after --repair: ones not safe to repair); 1 or 2 the
check could not run.
`)
    .action(async (o: { repair?: boolean; grace?: number; stale?: number }) => {
      const q = { ...(o.grace !== undefined ? { grace_seconds: o.grace } : {}), ...(o.stale !== undefined ? { stale_seconds: o.stale } : {}) };
      const r = o.repair
        ? await ctx.client().post<RepairReport>('/ipam/repair', q)
        : await ctx.client().get<CheckReport>(`/ipam/check${Object.keys(q).length ? '?' + new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)])) : ''}`);
      print(ctx.format(), r, () => checkText(r));
      if (r.findings.length > 0) process.exitCode = 3;
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

function seconds(v: string): number {
  if (!/^\d{1,5}$/.test(v)) throw new InvalidArgumentError('must be a whole number of seconds');
  return Number(v);
}

function checkText(r: CheckReport | RepairReport): string {
  let out = '';
  if ('repaired' in r && r.repaired.length) {
    out += table(['repaired', 'subject', 'action', 'result'], r.repaired.map((x) => [x.kind, x.subject, x.action.action, x.result + (x.detail ? `: ${x.detail}` : '')])) + '\n';
  }
  if (r.findings.length) {
    out += table(['problem', 'subject', 'host', 'repair', 'detail'], r.findings.map((f) => [f.kind, f.subject, f.host ?? '', f.safe ? f.repair.map((a) => a.action).join(',') : 'by hand', f.detail + (f.advice ? ` (${f.advice})` : '')])) + '\n';
  }
  out += table(['host', 'report', 'age', 'addresses', 'pending releases'], r.hosts.map((h) => [h.host, h.report, h.age_seconds === undefined ? '' : `${h.age_seconds}s`, h.addresses, h.pending_releases?.length ?? 0])) + '\n';
  const pending = r.hosts.flatMap((h) => (h.pending_releases ?? []).map((p) => [h.host, p.name, p.ip ?? '', p.since]));
  if (pending.length) out += table(['host', 'pending release', 'ip', 'since'], pending) + '\n';
  const s = r.summary;
  out += `${s.addresses} addresses, ${s.blocks} blocks, ${s.hosts} hosts: ${s.problems === 0 ? 'no problems' : `${s.problems} problem(s), ${s.repairable} safe to repair${'repaired' in r ? '' : ' (--repair)'}`}\n`;
  if (s.unjudged) out += `not judged for leaks: ${r.unjudged.map((u) => `${u.count} (${u.why})`).join('; ')}\n`;
  return out;
}
