// Waiting in the lab: a free loopback port for a process about to start, and polling a condition
// until it holds or a deadline passes (the error names what did not happen).
import { createServer } from 'node:net';
import { RomanaError } from '../core/errors.js';
import { sleep } from './kernel.js';

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    }).on('error', fail);
  });
}

export async function waitFor(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new RomanaError('unavailable', `lab: ${what} did not happen within ${ms / 1000} s`);
    await sleep(50);
  }
}
