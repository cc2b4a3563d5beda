// `romana host|address|block|network|blackout|ipam ...`: the IPAM nouns.
import { Type } from '@sinclair/typebox';
import { type Command, InvalidArgumentError } from 'commander';
import type { CheckReport, RepairReport } from '../control/check.js';
import {
  AddressList, AddressRecord, Blackout, BlackoutList, BlockList, type BlockView, HostList, HostRecord, NetworkList, type NetworkView,
} from '../control/records.js';
import { usage } from '../core/errors.js';
import { type CliContext, collect } from './context.js';
import { type View, labelText, table } from './output.js';

const enc = encodeURIComponent;

/** Host IDs exist only with layout networks: the column shows only then. */
const hostView = (hs: HostRecord[]): View<HostRecord> => ({
  kind: 'host', name: (h) => h.name,
  columns: [['name', (h) => h.name], ['ip', (h) => h.ip], ...(hs.some((h) => h.id !== undefined) ? [['id', (h: HostRecord) => h.id] as [string, (h: HostRecord) => number | undefined]] : []),
    ['agent port', (h) => h.agent_port], ['labels', (h) => labelText(h.labels)]],
});
const ADDRESS_VIEW: View<AddressRecord> = {
  kind: 'address', name: (a) => a.name,
  columns: [['name', (a) => a.name], ['ip', (a) => a.ip], ['host', (a) => a.host], ['tenant', (a) => a.tenant], ['segment', (a) => a.segment], ['block', (a) => a.block]],
  wide: [['network', (a) => a.network], ['created', (a) => a.created_at], ['attributes', (a) => labelText(a.attributes)]],
};
const size = (cidr: string) => 2 ** (32 - Number(cidr.split('/')[1]));
const BLOCK_VIEW: View<BlockView> = {
  kind: 'block', name: (b) => b.cidr,
  columns: [['cidr', (b) => b.cidr], ['network', (b) => b.network], ['host', (b) => b.host], ['tenant', (b) => b.tenant], ['segment', (b) => b.segment], ['allocated', (b) => b.allocated_ip_count]],
  wide: [['free', (b) => size(b.cidr) - b.allocated_ip_count]],
};
const layoutText = (n: NetworkView) => (n.layout ? `host ${n.layout.host_bits}, tenant ${n.layout.tenant_bits}, segment ${n.layout.segment_bits}, endpoint ${n.layout.endpoint_bits} bits` : '');
/** The layout column shows only when a network has a layout. */
const networkView = (ns: NetworkView[]): View<NetworkView> => ({
  kind: 'network', name: (n) => n.name,
  columns: [['name', (n) => n.name], ['cidr', (n) => n.cidr], ['block mask', (n) => n.block_mask], ['tenants', (n) => n.tenants?.join(',') ?? '*'],
    ...(ns.some((n) => n.layout) ? [['layout', layoutText] as [string, (n: NetworkView) => string]] : [])],
  wide: [['addresses', (n) => size(n.cidr)], ['blocks', (n) => 2 ** (n.block_mask - Number(n.cidr.split('/')[1]))]],
});
const BLACKOUT_VIEW: View<Blackout> = {
  kind: 'blackout', name: (b) => b.cidr,
  columns: [['network', (b) => b.network], ['cidr', (b) => b.cidr]],
  wide: [['addresses', (b) => size(b.cidr)]],
};

/** k=v pairs (and, with `removals`, `k-` to remove a key), as kubectl takes them. */
export function parseLabels(pairs: string[], removals = false): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const p of pairs) {
    if (removals && /^[^=]+-$/.test(p)) {
      out[p.slice(0, -1)] = null;
      continue;
    }
    const i = p.indexOf('=');
    if (i <= 0) throw usage(`label '${p}' is not key=value${removals ? ' or key-' : ''}`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function port(v: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new InvalidArgumentError('must be a port number (1-65535)');
  return Number(v);
}

function hostId(v: string): number {
  if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError('must be a whole number');
  return Number(v);
}

function seconds(v: string): number {
  if (!/^\d{1,5}$/.test(v)) throw new InvalidArgumentError('must be a whole number of seconds');
  return Number(v);
}

const query = (q: Record<string, string | undefined>) => {
  const p = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined));
  return p.size ? `?${p}` : '';
};

export function registerIpamCommands(program: Command, ctx: CliContext): void {
  const host = program.command('host').description('hosts');
  host.command('add <name>').description('add a host; it is placed in a group of every network')
    .requiredOption('--ip <ip>', 'host IP').option('--label <k=v>', 'label (repeatable)', collect, [])
    .option('--agent-port <n>', 'romana-agent port', port)
    .option('--id <n>', 'its host ID in layout networks (default: the lowest free one)', hostId)
    .action(async (name: string, o: { ip: string; label: string[]; agentPort?: number; id?: number }) => {
      const out = ctx.out();
      const h = await ctx.client().request<HostRecord>('POST', '/hosts', { name, ip: o.ip, labels: parseLabels(o.label), ...(o.agentPort ? { agent_port: o.agentPort } : {}), ...(o.id !== undefined ? { id: o.id } : {}) }, { answer: HostRecord });
      out.list(h, [h], hostView([h]));
    });
  host.command('list').description('list hosts').action(async () => {
    const out = ctx.out();
    const r = await ctx.client().fetch('/hosts', HostList);
    out.list(r, r.hosts, hostView(r.hosts));
  });
  host.command('show <name>').description('one host').action(async (name: string) => {
    const out = ctx.out();
    const h = await ctx.client().fetch(`/hosts/${enc(name)}`, HostRecord);
    out.list(h, [h], hostView([h]));
  });
  host.command('label <name> [labels...]')
    .description("set labels (key=value) and remove them (key-), merged into the host's labels as kubectl does")
    .option('--label <k=v>', 'a label to set (repeatable; same as a key=value argument)', collect, [])
    .option('--overwrite', 'allow changing the value of a label the host already has')
    .action(async (name: string, args: string[], o: { label: string[]; overwrite?: boolean }) => {
      const out = ctx.out();
      const patch = parseLabels([...args, ...o.label], true);
      if (Object.keys(patch).length === 0) throw usage('host label: give at least one key=value or key-');
      const client = ctx.client();
      if (!o.overwrite) {
        const cur = await client.fetch(`/hosts/${enc(name)}`, HostRecord);
        const changed = Object.entries(patch).filter(([k, v]) => v !== null && k in cur.labels && cur.labels[k] !== v).map(([k]) => k);
        if (changed.length) throw usage(`host '${name}' already has ${changed.map((k) => `${k}=${cur.labels[k]}`).join(', ')}; give --overwrite to change it`);
      }
      const h = await client.request<HostRecord>('PATCH', `/hosts/${enc(name)}`, { labels: patch }, { answer: HostRecord, contentType: 'application/merge-patch+json' });
      out.list(h, [h], hostView([h]));
    });
  host.command('remove <name>').description('remove a host').option('--force', 'release its addresses first')
    .action(async (name: string, o: { force?: boolean }) => {
      const out = ctx.out();
      const h = await ctx.client().request<HostRecord>('DELETE', `/hosts/${enc(name)}${o.force ? '?force=true' : ''}`, undefined, { answer: HostRecord });
      out.done(h, `host ${name} removed`, [`host/${name}`]);
    });

  const address = program.command('address').description('addresses');
  address.command('allocate').description('allocate an address')
    .requiredOption('--name <name>', 'address name').requiredOption('--host <host>', 'host')
    .requiredOption('--tenant <tenant>', 'tenant').option('--segment <segment>', 'segment', 'default')
    .option('--ip <ip>', "this address (in the host's group; refused with the reason otherwise)")
    .action(async (o: { name: string; host: string; tenant: string; segment: string; ip?: string }) => {
      const out = ctx.out();
      const a = await ctx.client().request<AddressRecord>('POST', '/address', o, { answer: AddressRecord });
      out.list(a, [a], ADDRESS_VIEW);
    });
  address.command('release [nameOrIp]')
    .description('release an address: by name, or by IP (an IP argument means the address holding it; names never read as IPs)')
    .option('--name <name>', 'the address of this name').option('--ip <ip>', 'the address holding this IP')
    .action(async (n: string | undefined, o: { name?: string; ip?: string }) => {
      const out = ctx.out();
      const given = [n !== undefined && 'an argument', o.name !== undefined && '--name', o.ip !== undefined && '--ip'].filter(Boolean);
      if (given.length !== 1) throw usage(`address release: give one of NAME_OR_IP, --name or --ip (got ${given.length ? given.join(', ') : 'none'})`);
      const q = o.name !== undefined ? `name=${enc(o.name)}` : o.ip !== undefined ? `ip=${enc(o.ip)}` : `addressName=${enc(n!)}`;
      const a = await ctx.client().request<AddressRecord>('DELETE', `/address?${q}`, undefined, { answer: AddressRecord });
      out.done(a, `released ${a.name} (${a.ip})`, [`address/${a.name}`]);
    });
  address.command('list').description('list addresses (filters combine)')
    .option('--host <host>', 'only this host').option('--tenant <tenant>', 'only this tenant')
    .option('--segment <segment>', 'only this segment').option('--network <network>', 'only this network')
    .action(async (o: { host?: string; tenant?: string; segment?: string; network?: string }) => {
      const out = ctx.out();
      const r = await ctx.client().fetch(`/addresses${query(o)}`, AddressList);
      out.list(r, r.addresses, ADDRESS_VIEW);
    });

  program.command('block').description('address blocks').command('list').description('list blocks').option('--host <host>', 'only this host')
    .action(async (o: { host?: string }) => {
      const out = ctx.out();
      const r = await ctx.client().fetch(`/blocks${query(o)}`, BlockList);
      out.list(r, r.blocks, BLOCK_VIEW);
    });

  program.command('network').description('networks').command('list').description('list networks').action(async () => {
    const out = ctx.out();
    const r = await ctx.client().fetch('/networks', NetworkList);
    out.list(r, r.networks, networkView(r.networks));
  });

  program.command('ipam').description('IPAM integrity').command('check')
    .description('find leaked addresses, duplicate IPs, blocks of gone hosts, wrong counts and index entries')
    .option('--repair', 'repair what is safe to repair (each repair a compare-and-swap; what moved since is skipped), then check again')
    .option('--grace <seconds>', 'addresses younger than this at their host\'s report are not judged (default 60)', seconds)
    .option('--stale <seconds>', 'a host report older than this judges nothing (default 120)', seconds)
    .addHelpText('after', `
An address is leaked when its host's agent reported recently and its host-side interface was missing.
Addresses of hosts with no recent report, and addresses without a recorded interface, are not judged.
Exit status: 0 no problems; 3 problems remain (after --repair: ones not safe to repair); 1 the check
could not run; 2 a usage error.
`)
    .action(async (o: { repair?: boolean; grace?: number; stale?: number }) => {
      const out = ctx.out(['table', 'wide', 'json', 'yaml']);
      const q = { ...(o.grace !== undefined ? { grace_seconds: o.grace } : {}), ...(o.stale !== undefined ? { stale_seconds: o.stale } : {}) };
      const ReportShape = Type.Object({ findings: Type.Array(Type.Object({})), hosts: Type.Array(Type.Object({})), summary: Type.Object({}) });
      const r = o.repair
        ? await ctx.client().request<RepairReport>('POST', '/ipam/repair', q, { answer: ReportShape })
        : await ctx.client().get<CheckReport>(`/ipam/check${query(Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)])))}`, ReportShape);
      out.document(r, () => checkText(r, out.noHeaders), []);
      if (r.findings.length > 0) process.exitCode = 3;
    });

  const blackout = program.command('blackout').description('reserved ranges no address is taken from');
  blackout.command('add <cidr>').description('reserve a CIDR').action(async (cidr: string) => {
    const out = ctx.out();
    const b = await ctx.client().request<Blackout>('POST', '/blackouts', { cidr }, { answer: Blackout });
    out.done(b, `blacked out ${b.cidr} in ${b.network}`, [`blackout/${b.cidr}`]);
  });
  blackout.command('remove <cidr>').description('remove a blackout (exact CIDR)').action(async (cidr: string) => {
    const out = ctx.out();
    const b = await ctx.client().request<Blackout>('DELETE', `/blackouts?cidr=${enc(cidr)}`, undefined, { answer: Blackout });
    out.done(b, `removed blackout ${b.cidr} from ${b.network}`, [`blackout/${b.cidr}`]);
  });
  blackout.command('list').description('list blackouts').action(async () => {
    const out = ctx.out();
    const r = await ctx.client().fetch('/blackouts', BlackoutList);
    out.list(r, r.blackouts, BLACKOUT_VIEW);
  });
}

function checkText(r: CheckReport | RepairReport, noHeaders: boolean): string {
  let out = '';
  if ('repaired' in r && r.repaired.length) {
    out += table(['repaired', 'subject', 'action', 'result'], r.repaired.map((x) => [x.kind, x.subject, x.action.action, x.result + (x.detail ? `: ${x.detail}` : '')]), noHeaders) + '\n';
  }
  if (r.findings.length) {
    out += table(['problem', 'subject', 'host', 'repair', 'detail'], r.findings.map((f) => [f.kind, f.subject, f.host ?? '', f.safe ? f.repair.map((a) => a.action).join(',') : 'by hand', f.detail + (f.advice ? ` (${f.advice})` : '')]), noHeaders) + '\n';
  }
  out += table(['host', 'report', 'age', 'addresses', 'pending releases'], r.hosts.map((h) => [h.host, h.report, h.age_seconds === undefined ? '' : `${h.age_seconds}s`, h.addresses, h.pending_releases?.length ?? 0]), noHeaders) + '\n';
  const pending = r.hosts.flatMap((h) => (h.pending_releases ?? []).map((p) => [h.host, p.name, p.ip ?? '', p.since]));
  if (pending.length) out += table(['host', 'pending release', 'ip', 'since'], pending, noHeaders) + '\n';
  const s = r.summary;
  out += `${s.addresses} addresses, ${s.blocks} blocks, ${s.hosts} hosts: ${s.problems === 0 ? 'no problems' : `${s.problems} problem(s), ${s.repairable} safe to repair${'repaired' in r ? '' : ' (--repair)'}`}\n`;
  if (s.unjudged) out += `not judged for leaks: ${r.unjudged.map((u) => `${u.count} (${u.why})`).join('; ')}\n`;
  return out;
}
