// A long-lived `nft monitor` that tells the nftables backend whether anyone but itself has changed the
// table `inet romana`, so that a drift check can skip its read of the table (`nft -s list table`,
// hundreds of ms on a loaded host) when nothing did.
//
// nft monitor prints every change of the namespace's ruleset as the command that would make it, then
// `# new generation <n> by process <pid> (<name>)` when the transaction is committed. A transaction
// that named our table and came from a process other than our own nft (NftSession's) is a foreign
// change. The monitor vouches only once it has shown a transaction (then it was listening; nft monitor
// says nothing when it starts), and for a read that began after that, only while it runs, and never after it said anything on stderr (such as a netlink
// overrun): any doubt means the table is read again.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { NFT_TABLE_REF } from '../../core/policy/render-nft.js';
import { which } from './exec.js';

/** What the monitor had seen at some moment; see unchangedSince. */
export interface NftMonitorMark { run: number; foreign: number }

const OURS = new RegExp(`(^|\\s)${NFT_TABLE_REF.replace(' ', '\\s+')}(\\s|$)`);

export class NftMonitor {
  private proc?: ChildProcessByStdio<null, Readable, Readable>;
  private run = 0;
  private armed = false;
  private broken = false;
  private foreign = 0;
  private touched = false;
  private partial = '';

  /** `ours(pid)`: whether a transaction by that process was our own. */
  constructor(private readonly ours: (pid: number) => boolean) {}

  /** Starts the monitor if it is not running (it vouches for nothing until it has shown a transaction). */
  ensure(): void {
    if (this.proc) return;
    const p = spawn(which('nft'), ['monitor'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    this.proc = p;
    this.run++;
    this.armed = this.broken = this.touched = false;
    this.partial = '';
    p.unref();
    for (const s of [p.stdout, p.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => p === this.proc && this.lines(d));
    p.stderr.on('data', () => p === this.proc && (this.broken = true));
    p.on('error', () => p === this.proc && this.gone());
    p.on('exit', () => p === this.proc && this.gone());
  }

  /** A mark to compare with later, or undefined while the monitor cannot vouch for anything. */
  mark(): NftMonitorMark | undefined {
    return this.proc && this.armed && !this.broken ? { run: this.run, foreign: this.foreign } : undefined;
  }

  /** True when the monitor has run throughout since `m` and seen no foreign change of our table. */
  unchangedSince(m: NftMonitorMark | undefined): boolean {
    const now = this.mark();
    return !!m && !!now && now.run === m.run && now.foreign === m.foreign;
  }

  /** The monitor's pid (tests). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  close(): void {
    const p = this.proc;
    this.gone();
    p?.kill('SIGKILL');
  }

  private gone(): void {
    this.proc = undefined;
    this.armed = false;
  }

  private lines(d: string): void {
    const text = this.partial + d;
    const cut = text.lastIndexOf('\n');
    this.partial = text.slice(cut + 1);
    for (const line of text.slice(0, cut + 1).split('\n')) {
      const gen = /^# new generation \d+(?: by process (\d+))?/.exec(line);
      if (gen) {
        this.armed = true; // it was listening when this transaction was committed
        if (this.touched && !(gen[1] && this.ours(Number(gen[1])))) this.foreign++;
        this.touched = false;
      } else if (OURS.test(line)) this.touched = true;
    }
  }
}
