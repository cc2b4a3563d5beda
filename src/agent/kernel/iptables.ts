// iptables: the filter table is read with `iptables-save -t filter` and written with
// `iptables-restore --noflush`, which replaces only the chains a text declares, in one transaction.
import { check } from './exec.js';

export type IptablesBackend = 'auto' | 'nft' | 'legacy';
let suffix = '';
/** 'auto' uses whatever `iptables-restore` is on this system (Debian: nft). */
export function setIptablesBackend(b: IptablesBackend): void {
  suffix = b === 'auto' ? '' : `-${b}`;
}

export const iptablesSave = (): Promise<string> => check(`iptables${suffix}-save`, ['-t', 'filter']);

/** `iptables-restore --noflush`: chains the text declares are flushed and refilled; nothing else moves. */
export async function iptablesRestore(text: string): Promise<void> {
  await check(`iptables${suffix}-restore`, ['-w', '5', '--noflush'], text);
}

/** One chain's rules as iptables-save prints them (without "-A NAME "): `iptables -S NAME`. */
export async function iptablesListChain(name: string): Promise<string[]> {
  const out = await check(`iptables${suffix}`, ['-w', '5', '-t', 'filter', '-S', name]);
  const prefix = `-A ${name} `;
  return out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

/** The tools of one flavour whatever the agent's own (`--iptables`): for removing Romana's rules when switching to nftables. */
export const iptablesSaveOf = (flavour: 'nft' | 'legacy'): Promise<string> => check(`iptables-${flavour}-save`, ['-t', 'filter']);
export async function iptablesRestoreOf(flavour: 'nft' | 'legacy', text: string): Promise<void> {
  await check(`iptables-${flavour}-restore`, ['-w', '5', '--noflush'], text);
}
/** The filter table with each rule's packet and byte counters (`iptables-save -c`). */
export const iptablesSaveCounters = (): Promise<string> => check(`iptables${suffix}-save`, ['-c', '-t', 'filter']);
