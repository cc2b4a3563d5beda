// ipset: read every set with `ipset save`, change them with one `ipset restore` script.
import { check } from './exec.js';

export const ipsetSave = (): Promise<string> => check('ipset', ['save']);
export async function ipsetRestore(text: string): Promise<void> {
  await check('ipset', ['restore'], text);
}
