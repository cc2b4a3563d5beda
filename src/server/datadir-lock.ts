// One romanad per data directory. Two on one SQLite store break quietly: neither's watch sees the
// other's writes, and concurrent writes fail with "database is locked".
//
// The lock is an exclusive SQLite lock (fcntl, released by the kernel when the process dies, even by
// SIGKILL, so there is never a stale lock to clean up) on `<dir>/romanad.lock`, held for the life of
// the process. The holder writes its PID to `<dir>/romanad.pid` so that a refused romanad can name it.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RomanaError } from '../core/errors.js';

export interface DataDirLock { release(): void }

export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, 'romanad.pid');
  const db = new Database(join(dir, 'romanad.lock'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in exclusive locking mode it is kept until close.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code !== 'SQLITE_BUSY' && (e as { code?: string }).code !== 'SQLITE_LOCKED') throw e;
    let holder = 'another process';
    try {
      const pid = readFileSync(pidFile, 'utf8').trim();
      if (/^\d+$/.test(pid)) holder = `another romanad (pid ${pid}${isRunning(Number(pid)) ? '' : '?'})`;
    } catch { /* no PID file yet: it is starting */ }
    throw new RomanaError('conflict', `--data-dir ${dir} is in use by ${holder}; stop it, or give this romanad another --data-dir`);
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
