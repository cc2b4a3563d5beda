// Runs steps against one NftFirewallManager (its NftSession and NftMonitor) inside the caller's network
// namespace (started with `ip netns exec`): reads the steps as JSON on stdin and prints, for each, whether
// it committed, nft's error if not, and the pid of the nft process that served it.
import { spawnSync } from 'node:child_process';
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
  /** A change by another process (`nft -f`); `foreign`: wait until the monitor has counted it. */
  | { op: 'other'; script: string; foreign: boolean }
  /** SIGKILL to nft monitor, then waits until the manager has noticed. */
  | { op: 'kill-monitor' }
  /** Commits transactions of a scratch table through the manager's nft until the monitor has shown one. */
  | { op: 'wait-listening' };
export interface StepResult { ok: boolean; error?: string; pid?: number; changedChains?: number; changed?: boolean; readSkipped?: boolean }

const steps = JSON.parse(readFileSync(0, 'utf8')) as Step[];
const m = new NftFirewallManager();
const out: StepResult[] = [];
const until = async (f: () => boolean, n = 2000) => { for (let i = 0; i < n && !f(); i++) await new Promise((r) => setTimeout(r, 1)); return f(); };
const dead = (pid: number) => { try { return /^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; } };
for (const s of steps) {
  let pid: number | undefined;
  try {
    if (s.op === 'kill') {
      const p = m.nft.pid!;
      process.kill(p, 'SIGKILL');
      for (let i = 0; i < 1000 && !dead(p); i++) await new Promise((r) => setTimeout(r, 1));
      out.push({ ok: dead(p), pid: p });
    } else if (s.op === 'kill-monitor') {
      const p = m.monitor.pid!;
      process.kill(p, 'SIGKILL');
      out.push({ ok: await until(() => m.monitor.pid !== p), pid: p });
    } else if (s.op === 'wait-listening') {
      for (let i = 0; i < 100 && !m.monitor.mark(); i++) {
        await m.nft.apply('add table inet scratch\ndelete table inet scratch\n');
        await until(() => !!m.monitor.mark(), 20);
      }
      out.push({ ok: !!m.monitor.mark() });
    } else if (s.op === 'other') {
      const before = m.monitor.mark()?.foreign ?? -1;
      const r = spawnSync('nft', ['-f', '-'], { input: s.script, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      if (s.foreign) out.push({ ok: await until(() => (m.monitor.mark()?.foreign ?? -1) > before) });
      else out.push({ ok: !(await until(() => (m.monitor.mark()?.foreign ?? -1) !== before, 200)) });
    } else if (s.op === 'sync') {
      const r = await m.sync(renderNft(s.ir), { reread: s.reread });
      out.push({ ok: r.errors.length === 0, pid: m.nft.pid, changedChains: r.counts.changedChains, changed: r.changed, readSkipped: r.readSkipped ?? false, ...(r.errors.length ? { error: r.errors.join('; ') } : {}) });
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
m.close();
process.stdout.write(JSON.stringify(out));
