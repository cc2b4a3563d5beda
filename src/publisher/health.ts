// Member health: each host's agent answers /healthz on its agent port. A member is unhealthy after
// `failuresToFail` checks in a row fail, healthy again after one that passes (a flapping host does not
// pull a route back and forth faster than the checks run).
import { request } from 'node:http';

export interface Member { name: string; ip: string; port: number }

function probe(m: Member, timeoutMs: number): Promise<boolean> {
  return new Promise((ok) => {
    const req = request({ host: m.ip, port: m.port, path: '/healthz', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => ok(false));
    req.end();
  });
}

export class Health {
  private readonly failures = new Map<string, number>();
  constructor(private readonly o: { timeoutMs: number; failuresToFail: number }) {}

  async check(members: Member[]): Promise<void> {
    const results = await Promise.all(members.map(async (m) => [m.name, await probe(m, this.o.timeoutMs)] as const));
    for (const [name, ok] of results) {
      const prev = this.failures.get(name);
      // A host that never answered starts unhealthy; one that did gets `failuresToFail` chances.
      this.failures.set(name, ok ? 0 : prev === undefined ? this.o.failuresToFail : prev + 1);
    }
  }

  /** Never checked counts as unhealthy: no route goes to a host nobody has seen answer. */
  healthy(name: string): boolean {
    const f = this.failures.get(name);
    return f !== undefined && f < this.o.failuresToFail;
  }

  snapshot(): Record<string, boolean> {
    return Object.fromEntries([...this.failures.keys()].sort().map((n) => [n, this.healthy(n)]));
  }
}
