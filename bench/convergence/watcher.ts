// Runs inside the lab's fabric namespace (which reaches every host's agent): asked for a store revision
// on stdin, it polls every agent's /status over kept-alive connections until each has applied it, and
// answers the time each took. Asked "metrics", it answers each agent's time spent in syncs caused by
// store events (its reconcile histogram). One process for the whole run, so that asking costs
// microseconds, not a process per host per round.
import http from 'node:http';
import { createInterface } from 'node:readline';

const hosts = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (ip: string, path: string) => new Promise<string>((ok, fail) => {
  const req = http.get({ host: ip, port: 9604, path, agent, timeout: 2000 }, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => ok(body));
  });
  req.on('error', fail).on('timeout', () => req.destroy(new Error('timeout')));
});

async function until(revision: number): Promise<number[]> {
  const t0 = performance.now();
  return Promise.all(hosts.map(async (ip) => {
    for (;;) {
      const st = JSON.parse(await get(ip, '/status').catch(() => '{}')) as { last_applied_revision?: number };
      if ((st.last_applied_revision ?? -1) >= revision) return performance.now() - t0;
      if (performance.now() - t0 > 30_000) throw new Error(`${ip} did not apply revision ${revision} in 30 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }));
}

/** Per agent: [seconds, syncs] of syncs triggered by store events. */
async function metrics(): Promise<[number, number][]> {
  return Promise.all(hosts.map(async (ip) => {
    const text = await get(ip, '/metrics');
    const num = (name: string) => Number(new RegExp(`^${name}\\{trigger="watch"\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
    return [num('romana_agent_reconcile_duration_seconds_sum'), num('romana_agent_reconcile_duration_seconds_count')] as [number, number];
  }));
}

for await (const line of createInterface({ input: process.stdin })) {
  try {
    const out = line === 'metrics' ? await metrics() : await until(Number(line));
    process.stdout.write(JSON.stringify(out) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
  }
}
