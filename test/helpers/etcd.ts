// Starts a real, throwaway etcd server (Debian's `etcd` 3.4 binary) for tests and benchmarks.
//
// Why these flags: `--heartbeat-interval=10 --election-timeout=50` make a single member elect itself in
// tens of milliseconds instead of ~1 s; `--logger=zap` avoids a deprecation warning on every start;
// `--max-txn-ops=10000` lifts etcd's default limit of 128 operations per transaction, which romanad's
// bulk transactions exceed (production etcd needs the same flag).
//
// We poll /health rather than sleeping: start-up is usually 40–80 ms but sometimes ~1 s.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Etcd3 } from 'etcd3';

export interface EtcdServer {
  /** Client URL, e.g. http://127.0.0.1:34567 */
  endpoint: string;
  /** The current process (it changes on restart()). */
  readonly pid: number;
  /** SIGTERM, wait for the process to exit (SIGKILL after 10 s), remove its data dir. Idempotent. */
  stop(): Promise<void>;
  /** Fault tests: SIGKILL and wait for the exit, keeping the data dir and port for restart(). */
  kill(): Promise<void>;
  /** Fault tests: starts etcd again on the same port and data dir (after kill()); resolves once healthy. */
  restart(): Promise<void>;
  /** Fault tests: SIGSTOP / SIGCONT, an etcd that hangs with its connections open. */
  pause(): void;
  resume(): void;
}

const HEALTH_DEADLINE_MS = 15_000;
const STOP_KILL_AFTER_MS = 10_000;
const MAX_PORT_ATTEMPTS = 8;

// If a test process dies without calling stop(), don't leave etcd servers and data dirs behind.
const running = new Map<ChildProcess, string>();
const dirs = new Set<string>(); // also those of servers killed (kill()) and not restarted
process.on('exit', () => {
  for (const [child, dir] of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

export async function startEtcd(): Promise<EtcdServer> {
  const bin = findOnPath('etcd');
  if (!bin) {
    throw new Error(
      'startEtcd: the `etcd` binary is not on PATH. Install it with ' +
        '`apt-get install -y etcd-server etcd-client` (Debian ships etcd 3.4).',
    );
  }
  let lastErr: Error | undefined;
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
    const port = await pickPortPair();
    try {
      return await startOn(bin, port);
    } catch (err) {
      // Another process may grab a port between our probe and etcd's bind; only that case is retried.
      if (!(err instanceof PortInUseError)) throw err;
      lastErr = err;
    }
  }
  throw new Error(`startEtcd: no free port pair after ${MAX_PORT_ATTEMPTS} attempts: ${lastErr?.message}`);
}

/** A raw etcd3 client for benchmarks and for test set-up the Store API cannot express (e.g. compaction). */
export function etcdClient(endpoint: string): Etcd3 {
  return new Etcd3({ hosts: endpoint });
}

class PortInUseError extends Error {}

async function startOn(bin: string, clientPort: number): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'romana-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  let proc = await launch(bin, clientPort, dir, true);
  dirs.add(dir);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (!proc.exited()) {
        proc.child.kill('SIGCONT'); // a paused etcd cannot act on SIGTERM
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_KILL_AFTER_MS);
        await proc.exit;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    })());
  const kill = async () => {
    if (!proc.exited()) proc.child.kill('SIGKILL');
    await proc.exit;
  };
  const restart = async () => {
    if (stopping) throw new Error('startEtcd: restart() after stop()');
    await kill();
    proc = await launch(bin, clientPort, dir, false);
  };

  return {
    endpoint, get pid() { return proc.child.pid!; }, stop, kill, restart,
    pause: () => void proc.child.kill('SIGSTOP'),
    resume: () => void proc.child.kill('SIGCONT'),
  };
}

/** Spawns etcd on `dir` and waits until it is healthy; `fresh` removes the dir if that fails. */
async function launch(bin: string, clientPort: number, dir: string, fresh: boolean): Promise<{ child: ChildProcess; exit: Promise<void>; exited(): boolean }> {
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${clientPort + 1}`;
  const args = [
    '--name', 't',
    '--data-dir', dir,
    '--logger=zap', '--log-level=error',
    '--heartbeat-interval=10', '--election-timeout=50',
    '--max-txn-ops=10000',
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `t=${peer}`,
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.set(child, dir);

  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    log = (log + chunk).slice(-16_384); // keep the tail for error messages
  });
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve();
    });
  });
  // A spawn failure (e.g. EACCES) also emits 'exit' in practice, but don't count on it.
  let spawnFailed: Error | undefined;
  const spawnError = new Promise<Error>((resolve) =>
    child.once('error', (err) => {
      spawnFailed = err;
      running.delete(child);
      resolve(err);
    }),
  );

  const cleanup = async () => {
    if (!exited && !spawnFailed) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    if (fresh) rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  for (;;) {
    const failure = await Promise.race([
      spawnError,
      exitPromise.then(() => undefined),
      healthy(endpoint).then((ok) => (ok ? null : undefined)),
    ]);
    if (failure === null) break; // healthy
    if (spawnFailed) {
      await cleanup();
      throw new Error(`startEtcd: could not spawn ${bin}: ${spawnFailed.message}`);
    }
    if (exited) {
      await cleanup();
      if (/address already in use/i.test(log)) throw new PortInUseError(`port ${clientPort} or ${clientPort + 1} in use`);
      throw new Error(`startEtcd: etcd exited early (code ${exited.code}, signal ${exited.signal}):\n${log}`);
    }
    if (Date.now() > deadline) {
      await cleanup();
      throw new Error(`startEtcd: etcd at ${endpoint} not healthy after ${HEALTH_DEADLINE_MS} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, exit: exitPromise, exited: () => exited !== undefined || spawnFailed !== undefined };
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** One bounded /health probe; etcd answers {"health":"true"} once it has a leader. */
async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(250) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** A random high port p such that p and p+1 are both free on 127.0.0.1 right now. */
async function pickPortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 15_000); // 20000..49998, below the ephemeral range
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error('startEtcd: could not find a free port pair on 127.0.0.1');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
