// The pending-release journal on disk (decisions in core/ipam/pending.ts), and sending what it holds.
// Writes are durable: the file is fsync'd before it is renamed into place, and the directory after.
// Used by the plugin (DEL writes, every call that reaches romanad sends) and by the agent (sends).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RomanaError } from '../core/errors.js';
import {
  type CurrentAddress, type JournalEntry, type PendingRelease, parseEntryName, parseRelease, pendingFile, releaseDecision, sendingFile, toSend,
} from '../core/ipam/pending.js';
import { hash64 } from './kernel.js';

export type { PendingRelease };

/** Where the plugin keeps its pending releases under its state directory (default /var/lib/romana). */
export const journalDir = (stateDir: string) => join(stateDir, 'cni', 'pending-releases');
export const keyOf = (name: string) => hash64(name);

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Is the process there (or there but not ours to signal)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

export class Journal {
  constructor(readonly dir: string) {}

  /** Creates the directory, each new level made durable in its parent. */
  private ensureDir(): void {
    const made = mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (made === undefined) return;
    for (let d = this.dir; d.length >= made.length; d = dirname(d)) fsyncDir(dirname(d));
  }

  /**
   * Write-ahead: records the release, claimed by this process, before anything is torn down. It is on
   * disk (file and directory fsync'd) when this returns, so no crash after this point can lose it.
   */
  begin(p: PendingRelease): JournalEntry {
    this.ensureDir();
    const key = keyOf(p.name);
    const tmp = join(this.dir, `.${key}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(p) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const file = sendingFile(key, process.pid, Date.now());
    renameSync(tmp, join(this.dir, file));
    fsyncDir(this.dir);
    return { ...parseEntryName(file)!, release: p };
  }

  /**
   * The release went through, or there was nothing left to release: forget it (and its duplicates).
   * Not fsync'd: should the removal be lost in a crash, the release is sent again, and romanad's
   * conditional release makes that a no-op.
   */
  finish(e: JournalEntry, duplicates: JournalEntry[] = []): void {
    for (const x of [e, ...duplicates]) {
      try {
        unlinkSync(join(this.dir, x.file));
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
    }
  }

  /** Not sent now: leaves it for the agent or the next plugin call. */
  defer(e: JournalEntry): void {
    try {
      renameSync(join(this.dir, e.file), join(this.dir, pendingFile(e.key)));
    } catch (err) {
      if (errno(err) === 'ENOENT') return; // settled by a newer DEL of the same attachment
      throw err;
    }
    fsyncDir(this.dir);
  }

  /** Takes an entry for sending; undefined when another process took it first. */
  claim(e: JournalEntry): JournalEntry | undefined {
    const file = sendingFile(e.key, process.pid, Date.now());
    try {
      renameSync(join(this.dir, e.file), join(this.dir, file));
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    return { ...parseEntryName(file)!, release: e.release };
  }

  list(): JournalEntry[] {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw e;
    }
    const out: JournalEntry[] = [];
    for (const f of files) {
      const e = parseEntryName(f);
      if (!e) continue;
      try {
        out.push({ ...e, release: parseRelease(readFileSync(join(this.dir, f), 'utf8')) });
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err; // renamed or removed by another sender meanwhile
      }
    }
    return out;
  }

  /** The releases recorded for `host`, oldest first (what the agent reports to romanad). */
  pending(host: string): PendingRelease[] {
    const seen = new Map<string, PendingRelease>();
    for (const e of this.list()) if (e.release?.host === host && !seen.has(e.key)) seen.set(e.key, e.release);
    return [...seen.values()].sort((a, b) => a.since.localeCompare(b.since));
  }

  has(name: string): JournalEntry[] {
    const key = keyOf(name);
    return this.list().filter((e) => e.key === key);
  }
}

/** The two romanad calls a sender needs (the plugin's Romanad client has them; the agent adapts its own). */
export interface ReleaseApi {
  get(name: string): Promise<CurrentAddress | undefined>;
  releaseIfUnchanged(a: { name: string; ip: string; created_at?: string }): Promise<unknown>;
}

export interface SendResult {
  /** Released by this call. */
  released: string[];
  /** Nothing left to release (gone, another host's, re-made since). */
  moot: string[];
  /** Still pending: not sent now. */
  kept: string[];
  /** Why sending stopped early (romanad unreachable): the rest stay pending. */
  stopped?: RomanaError;
}

const TRANSIENT = new Set(['unavailable', 'rate_limited', 'internal']);
export const isTransient = (e: unknown) => !(e instanceof RomanaError) || TRANSIENT.has(e.kind);

/**
 * Sends this host's pending releases, oldest first, each at most once: an entry is claimed by an atomic
 * rename, so of the agent and any plugin call only one sends it. Each release is conditional on the
 * record romanad holds now, so a record made again since is never released.
 */
export async function sendPending(j: Journal, host: string, api: ReleaseApi, log?: { info(m: string, f?: object): void; warn(m: string, f?: object): void }): Promise<SendResult> {
  const res: SendResult = { released: [], moot: [], kept: [] };
  const plan = toSend(j.list(), host, Date.now(), alive);
  for (let i = 0; i < plan.length; i++) {
    const { entry, duplicates } = plan[i];
    const p = entry.release!;
    const mine = j.claim(entry);
    if (!mine) continue;
    try {
      const d = releaseDecision(p, await api.get(p.name));
      let outcome: string = 'done' in d ? d.done : 'released';
      if ('release' in d) {
        try {
          await api.releaseIfUnchanged(d.release);
        } catch (e) {
          if (!(e instanceof RomanaError) || !['not_found', 'conflict'].includes(e.kind)) throw e;
          outcome = e.kind === 'not_found' ? 'gone' : 'changed';
        }
      }
      j.finish(mine, duplicates);
      (outcome === 'released' ? res.released : res.moot).push(p.name);
      log?.info('pending release settled', { name: p.name, ip: p.ip ?? null, since: p.since, outcome });
    } catch (e) {
      j.defer(mine);
      res.kept.push(p.name);
      if (isTransient(e)) {
        res.stopped = e instanceof RomanaError ? e : new RomanaError('unavailable', (e as Error).message);
        res.kept.push(...plan.slice(i + 1).map((s) => s.entry.release!.name));
        return res;
      }
      log?.warn('pending release refused; kept', { name: p.name, error: (e as Error).message });
    }
  }
  return res;
}
