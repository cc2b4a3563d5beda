// iproute2: routes of one table and protocol, the policy-routing rule that points at that table, next
// hops as the kernel would choose them, and the gateway address. Batches go through one `ip -batch`.
import { KernelError, check, run } from './exec.js';

/** A route as `ip -j route show` prints it (only the fields the agent compares). */
export interface KernelRoute { dst: string; gateway?: string; dev?: string; scope?: string; metric?: number }

/** Routes of `table` tagged with `proto`, dst always as a CIDR. A table that does not exist yet is empty. */
export async function listRoutes(table: number, proto: number): Promise<KernelRoute[]> {
  const r = await run('ip', ['-j', 'route', 'show', 'table', String(table), 'proto', String(proto)]);
  if (r.code !== 0) {
    if (/table does not exist/i.test(r.stderr)) return [];
    throw new KernelError(`ip route show table ${table}`, r);
  }
  const rows = JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string; dev?: string; scope?: string; metric?: number }[];
  return rows.map((x) => ({
    dst: x.dst === 'default' ? '0.0.0.0/0' : x.dst.includes('/') ? x.dst : `${x.dst}/32`,
    ...(x.gateway ? { gateway: x.gateway } : {}),
    ...(x.dev ? { dev: x.dev } : {}),
    ...(x.scope ? { scope: x.scope } : {}),
    ...(x.metric !== undefined ? { metric: x.metric } : {}),
  }));
}

/**
 * Runs `ip` commands (one per line, e.g. "route replace ...") as one `ip -force -batch -`: a failing
 * line does not stop the others. Returns the error lines (empty when all succeeded).
 */
export async function ipBatch(lines: string[]): Promise<string[]> {
  if (lines.length === 0) return [];
  const r = await run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
  if (r.code === 0) return [];
  const errs = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return errs.length ? errs : [`ip -batch exited ${r.code}`];
}

export interface NextHop { dst: string; gateway?: string; dev?: string; type?: string }

/** `ip route get` for each address, in one process; addresses the kernel cannot route are absent. */
export async function routeGet(ips: string[]): Promise<Map<string, NextHop>> {
  const out = new Map<string, NextHop>();
  if (ips.length === 0) return out;
  const r = await run('ip', ['-j', '-force', '-batch', '-'], ips.map((ip) => `route get ${ip}`).join('\n') + '\n');
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    for (const h of JSON.parse(line) as NextHop[]) out.set(h.dst, h);
  }
  return out;
}

export interface KernelRule { priority: number; table?: string; protocol?: string; src?: string; [k: string]: unknown }
export async function listRules(): Promise<KernelRule[]> {
  return JSON.parse((await check('ip', ['-j', 'rule', 'show'])) || '[]') as KernelRule[];
}

/** Local addresses of one interface, as "a.b.c.d/len". */
export async function listAddresses(dev: string): Promise<string[]> {
  const rows = JSON.parse((await check('ip', ['-j', '-4', 'addr', 'show', 'dev', dev])) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  return rows.flatMap((r) => (r.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

/** `ip addr add ADDR dev DEV scope SCOPE`. */
export async function addAddress(addr: string, dev: string, scope: 'link' | 'host' | 'global'): Promise<void> {
  await check('ip', ['addr', 'add', addr, 'dev', dev, 'scope', scope]);
}
