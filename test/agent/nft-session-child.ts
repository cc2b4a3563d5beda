// Runs steps against one NftFirewallManager (and its NftSession) inside the caller's network
// namespace (started with `ip netns exec`): reads the steps as JSON on stdin and prints, for each, whether
// it committed, nft's error if not, and the pid of the nft process that served it.
import { readFileSync } from 'node:fs';
import { NftFirewallManager } from '../../src/agent/nftables.js';
import type { IrHost } from '../../src/core/policy/ir.js';
import { renderNft } from '../../src/core/policy/render-nft.js';

type Step =
  | { op: 'apply'; script: string }
  /** Sends a script and kills nft `afterMs` later, while it works on it. */
  | { op: 'apply-and-kill'; script: string; afterMs: number }
  /** SIGKILL to nft, then waits until it is a zombie or gone (not for Node to notice). */
  | { op: 'kill' }
  | { op: 'sync'; ir: IrHost; reread: boolean }
  /** The pid of the manager's nft. */
  | { op: 'pids' };
export interface StepResult { ok: boolean; error?: string; pid?: number; changedChains?: number; changed?: boolean }

const steps = JSON.parse(readFileSync(0, 'utf8')) as Step[];
const m = new NftFirewallManager();
const out: StepResult[] = [];
const dead = (pid: number) => { try { return /^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; } };
for (const s of steps) {
  let pid: number | undefined;
  try {
    if (s.op === 'kill') {
      const p = m.nft.pid!;
      process.kill(p, 'SIGKILL');
      for (let i = 0; i < 1000 && !dead(p); i++) await new Promise((r) => setTimeout(r, 1));
      out.push({ ok: dead(p), pid: p });
    } else if (s.op === 'pids') {
      out.push({ ok: true, pid: m.nft.pid });
    } else if (s.op === 'sync') {
      const r = await m.sync(renderNft(s.ir), { reread: s.reread });
      out.push({ ok: r.errors.length === 0, pid: m.nft.pid, changedChains: r.counts.changedChains, changed: r.changed, ...(r.errors.length ? { error: r.errors.join('; ') } : {}) });
    } else {
      const done = m.nft.apply(s.script);
      await new Promise((r) => setImmediate(r)); // the batch has gone to nft
      pid = m.nft.pid!;
      if (s.op === 'apply-and-kill') setTimeout(() => process.kill(pid!, 'SIGKILL'), s.afterMs);
      await done;
      out.push({ ok: true, pid });
    }
  } catch (e) {
    out.push({ ok: false, error: (e as Error).message, pid });
  }
}
// No close(): the manager's nft must end with this process by itself.
process.stdout.write(JSON.stringify(out));
