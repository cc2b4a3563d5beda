// The pending-release journal's decisions, pure. A CNI DEL writes its release here (durably, before it
// tears anything down) and removes it once romanad has released the address; a DEL that could not reach
// romanad leaves it behind, and the host's agent or the next plugin call sends it later.
//
// One file per release, named by its state, so that state changes are atomic renames:
//   <key>.pending                  waiting to be sent
//   <key>.sending.<pid>.<ms>       claimed by process <pid> at <ms>; only the claimant sends it
// A claim whose process is gone, or that is older than CLAIM_TTL_MS, is taken over: the claimant
// crashed or hung. Sending is conditional (same IP, same allocation time), so even a taken-over claim
// can never release an address made again since.

export interface PendingRelease {
  /** The address's name in romanad (cni:<containerID>:<ifname>). */
  name: string;
  host: string;
  network: string;
  container_id: string;
  ifname: string;
  /** The pod's IP, from the DEL's prevResult, when the runtime sent one. */
  ip?: string;
  /** When the DEL recorded it (this host's clock). */
  since: string;
}

export interface JournalEntry {
  file: string;
  key: string;
  state: 'pending' | 'sending';
  pid?: number;
  claimedAt?: number;
  /** Undefined when the file cannot be read as a release (a torn write is never renamed into place, so this is damage). */
  release?: PendingRelease;
}

export const CLAIM_TTL_MS = 60_000;

const NAME_RE = /^([0-9a-f]{1,64})\.(pending|sending\.(\d+)\.(\d+))$/;

export const pendingFile = (key: string) => `${key}.pending`;
export const sendingFile = (key: string, pid: number, now: number) => `${key}.sending.${pid}.${now}`;

/** A journal file name, or undefined for anything else (temporary files, strangers). */
export function parseEntryName(file: string): Omit<JournalEntry, 'release'> | undefined {
  const m = NAME_RE.exec(file);
  if (!m) return undefined;
  return m[2] === 'pending' ? { file, key: m[1], state: 'pending' } : { file, key: m[1], state: 'sending', pid: Number(m[3]), claimedAt: Number(m[4]) };
}

export function parseRelease(text: string): PendingRelease | undefined {
  try {
    const o = JSON.parse(text) as Partial<PendingRelease>;
    const s = (v: unknown) => typeof v === 'string' && v.length > 0;
    if (!o || !s(o.name) || !s(o.host) || !s(o.since) || (o.ip !== undefined && !s(o.ip))) return undefined;
    return o as PendingRelease;
  } catch {
    return undefined;
  }
}

/** Is an entry free to be claimed now: pending, or a claim whose process is gone or that is too old. */
export function claimable(e: JournalEntry, now: number, alive: (pid: number) => boolean): boolean {
  if (e.state === 'pending') return true;
  return !alive(e.pid!) || now - e.claimedAt! > CLAIM_TTL_MS;
}

/** One release to send: the entry to claim, and duplicates of the same key to remove once it is sent. */
export interface Sendable { entry: JournalEntry; duplicates: JournalEntry[] }

/**
 * What to send, in order: this host's releases, one per key (a duplicate of a key is the same release
 * written twice), oldest first. A key that someone holds a live claim on is left alone.
 */
export function toSend(entries: JournalEntry[], host: string, now: number, alive: (pid: number) => boolean): Sendable[] {
  const byKey = new Map<string, JournalEntry[]>();
  for (const e of entries) {
    if (!e.release || e.release.host !== host) continue;
    byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  }
  const out: Sendable[] = [];
  for (const group of byKey.values()) {
    if (group.some((e) => !claimable(e, now, alive))) continue;
    const [entry, ...duplicates] = group.sort((a, b) => (a.state === b.state ? a.file.localeCompare(b.file) : a.state === 'pending' ? -1 : 1));
    out.push({ entry, duplicates });
  }
  return out.sort((a, b) => a.entry.release!.since.localeCompare(b.entry.release!.since) || a.entry.key.localeCompare(b.entry.key));
}

/** The address as romanad has it now (undefined: gone). */
export interface CurrentAddress { name: string; ip: string; host: string; created_at?: string }

/**
 * What sending a release means given romanad's current record: nothing left to do (gone), not ours to
 * release (another host's, or re-made with another IP), or a conditional release of exactly that record.
 */
export function releaseDecision(p: PendingRelease, cur: CurrentAddress | undefined):
  | { done: 'gone' | 'other-host' | 'other-ip' }
  | { release: { name: string; ip: string; created_at?: string } } {
  if (!cur) return { done: 'gone' };
  if (cur.host !== p.host) return { done: 'other-host' };
  if (p.ip !== undefined && cur.ip !== p.ip) return { done: 'other-ip' };
  return { release: { name: cur.name, ip: cur.ip, ...(cur.created_at ? { created_at: cur.created_at } : {}) } };
}
