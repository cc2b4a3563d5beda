// After the load: does romanad's state match what the clients believe? Every address a client holds
// is there with the IP it was given (read back with that client's own token), nothing else is
// allocated, no IP is handed out twice, romanad's own IPAM check finds no problem, and the policies
// are exactly those the writer believes exist.
import type { ApiClient } from '../../src/cli/client.js';
import { RomanaError } from '../../src/core/errors.js';
import type { Allocator, Held, PolicyWriter } from './clients.js';

export async function consistency(admin: ApiClient, allocators: Allocator[], writer: PolicyWriter): Promise<string[]> {
  const problems: string[] = [];
  const uncertain = new Map([...allocators.flatMap((a) => [...a.uncertain]), ...writer.uncertain]);
  const held = new Map<string, Held>();
  for (const a of allocators) {
    for (const h of a.held) held.set(h.name, h);
    // Read back concurrently per client, in its own order.
    await Promise.all(chunks(a.held, 8).map(async (part) => {
      for (const h of part) {
        try {
          const got = await patient(() => a.api.get<Held>(`/address/${encodeURIComponent(h.name)}`));
          if (got.ip !== h.ip || got.host !== h.host) problems.push(`${h.name}: held as ${h.ip} on ${h.host}, stored as ${got.ip} on ${got.host}`);
        } catch (e) {
          problems.push(`${h.name} (held as ${h.ip}): GET /address answered ${(e as Error).message}`);
        }
      }
    }));
  }
  const stored = (await patient(() => admin.get<{ addresses: Held[] }>('/addresses'))).addresses;
  const byIp = new Map<string, string>();
  for (const s of stored) {
    const other = byIp.get(s.ip);
    if (other) problems.push(`IP ${s.ip} is held by both ${other} and ${s.name}`);
    byIp.set(s.ip, s.name);
    if (!held.has(s.name)) problems.push(`${s.name} (${s.ip}) is allocated but no client holds it${uncertain.has(s.name) ? ` (its ${uncertain.get(s.name)} request failed)` : ''}`);
  }
  const storedNames = new Set(stored.map((s) => s.name));
  for (const name of held.keys()) if (!storedNames.has(name)) problems.push(`${name} is held by a client but not in GET /addresses`);

  const report = await patient(() => admin.get<{ summary: { problems: number }; findings: { kind: string; subject: string; detail: string }[] }>('/ipam/check'));
  for (const f of report.findings) problems.push(`ipam check: ${f.kind} ${f.subject}: ${f.detail}`);
  if (report.summary.problems !== report.findings.length) problems.push(`ipam check: summary says ${report.summary.problems} problems, lists ${report.findings.length}`);

  const ids = new Set((await patient(() => admin.get<{ policies: { id: string }[] }>('/policies'))).policies.map((p) => p.id));
  for (const id of ids) if (!writer.existing.has(id)) problems.push(`policy ${id} is stored but the writer believes it is gone${uncertain.has(id) ? ` (its ${uncertain.get(id)} request failed)` : ''}`);
  for (const id of writer.existing) if (!ids.has(id)) problems.push(`policy ${id} was applied but is not stored`);
  return problems;
}

/** The check is not load: with a low --rate-limit (BENCH_LOAD_RATE_LIMIT) it waits out the window. */
async function patient<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof RomanaError && e.kind === 'rate_limited') || i >= 20) throw e;
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
}

function chunks<T>(xs: T[], n: number): T[][] {
  return Array.from({ length: n }, (_, i) => xs.filter((_, j) => j % n === i));
}
