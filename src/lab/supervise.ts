// `romana lab supervise -- CMD ...`: keeps one daemon running inside a lab namespace, as systemd's
// Restart=always would on a real router (so `kill -9` of BIRD is followed by a restart). SIGTERM stops
// the daemon, then the supervisor.
import { spawn, type ChildProcess } from 'node:child_process';

export function supervise(cmd: string[], restartDelayMs = 300): void {
  let child: ChildProcess | undefined;
  let stopping = false;
  const start = () => {
    child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit' });
    console.log(`supervise: started ${cmd[0]} (pid ${child.pid})`);
    child.on('exit', (code, signal) => {
      console.log(`supervise: ${cmd[0]} exited (${signal ?? code})`);
      if (stopping) process.exit(0);
      setTimeout(start, restartDelayMs);
    });
  };
  const stop = () => {
    stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
    child.kill('SIGTERM');
    setTimeout(() => child?.kill('SIGKILL'), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start();
}
