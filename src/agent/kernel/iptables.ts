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
