// nftables: Romana's one table, `inet romana`, read with `nft list` and changed only by scripts that
// the kernel commits as one transaction each (all of it or nothing), through NftSession (nft-session.ts).
import { NFT_TABLE_REF } from '../../core/policy/render-nft.js';
import { KernelError, run } from './exec.js';

/** `nft -s list table inet romana` (stateless: no counter values); undefined when there is no such table. */
export async function nftListTable(): Promise<string | undefined> {
  const r = await run('nft', ['-s', 'list', 'table', ...NFT_TABLE_REF.split(' ')]);
  if (r.code === 0) return r.stdout;
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new KernelError(`nft list table ${NFT_TABLE_REF}`, r);
}

/** Removes the table and everything in it; false when there was none. */
export async function nftDeleteTable(): Promise<boolean> {
  const r = await run('nft', ['delete', 'table', ...NFT_TABLE_REF.split(' ')]);
  if (r.code === 0) return true;
  // No table, or no nft on this host at all: nothing of ours to remove.
  if (/No such file or directory/.test(r.stderr) || r.code === 127) return false;
  throw new KernelError(`nft delete table ${NFT_TABLE_REF}`, r);
}

/** Named counters of the table: name → packets and bytes (empty when there is no table). */
export async function nftCounters(): Promise<Map<string, { packets: number; bytes: number }>> {
  const r = await run('nft', ['-j', 'list', 'counters', 'table', ...NFT_TABLE_REF.split(' ')]);
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return new Map();
    throw new KernelError(`nft list counters table ${NFT_TABLE_REF}`, r);
  }
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const o of (JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] }).nftables) {
    if (o.counter) out.set(o.counter.name, { packets: o.counter.packets, bytes: o.counter.bytes });
  }
  return out;
}

/** The table families and names in this namespace, e.g. "ip filter", "inet romana". */
export async function nftTables(): Promise<string[]> {
  const r = await run('nft', ['list', 'tables']);
  if (r.code === 127) return []; // no nft here
  if (r.code !== 0) throw new KernelError('nft list tables', r);
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('table ')).map((l) => l.slice(6));
}
