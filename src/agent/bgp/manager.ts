// The BGP manager: owns one BIRD include file for this host and keeps it equal to the host's
// announcements and sessions. A change is parse-checked (`bird -p`), written atomically and applied
// with `birdc configure`, which reloads BIRD without restarting it: sessions whose settings did not
// change stay up. If BIRD refuses it, the last file it accepted is put back (BIRD keeps running that
// one) and BIRD's message is reported. BIRD missing or not answering never stops the agent: the file
// is written for BIRD to read when it starts, and the state says what is wrong.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type BgpTimers, HOST_HEADER, renderHostInclude } from '../../core/routing/bird.js';
import { type ProtocolRow, birdc, bootTime, parseCheck, parseProtocols } from './birdc.js';
import type { FabricView } from './view.js';

export type BirdState = 'unused' | 'up' | 'missing' | 'unreachable' | 'rejected' | 'foreign' | 'unknown';
const STATES: BirdState[] = ['unused', 'up', 'missing', 'unreachable', 'rejected', 'foreign', 'unknown'];

export interface BgpOptions {
  host: string;
  /** The include file this agent owns. */
  include: string;
  /** BIRD's control socket. */
  socket: string;
  /** Kernel table for what the routers send (the agent's table). */
  kernelTable: number;
  timers?: BgpTimers;
  birdc?: string;
  bird?: string;
  /** How long a configuration BIRD refused waits before it is offered again (default 30 s). */
  retryRejectedMs?: number;
}

export interface BgpStatus {
  state: BirdState;
  /** What is wrong: BIRD's own message when it refused the configuration. */
  message: string | null;
  include: string;
  socket: string;
  /** Prefixes in the include file. */
  announced: string[];
  sessions: { protocol: string; state: string; info: string; since: string }[];
  configures: number;
  rejections: number;
  last_configured_at?: string;
  /** BIRD's "last reboot" time: it changes when BIRD restarts. */
  bird_started_at?: string;
}

class BgpMetrics {
  readonly state: Gauge<'state'>;
  readonly birdUp: Gauge;
  readonly sessions: Gauge<'state'>;
  readonly announced: Gauge;
  readonly configures: Counter<'result'>;
  constructor(r: Registry) {
    const registers = [r];
    this.state = new Gauge({ name: 'romana_agent_bird_state', help: 'BGP manager state: 1 for the current one (up, unused, missing, unreachable, rejected, foreign)', labelNames: ['state'] as const, registers });
    this.birdUp = new Gauge({ name: 'romana_agent_bird_up', help: '1 while BIRD\'s control socket answers', registers });
    this.sessions = new Gauge({ name: 'romana_agent_bgp_sessions', help: 'BGP sessions of the agent\'s include, by BIRD state (Established, Active, ...)', labelNames: ['state'] as const, registers });
    this.announced = new Gauge({ name: 'romana_agent_bgp_announced_routes', help: 'Prefixes this host announces over BGP', registers });
    this.configures = new Counter({ name: 'romana_agent_bird_configures_total', help: 'birdc configure runs, by result (ok, rejected, unreachable)', labelNames: ['result'] as const, registers });
  }
}

export class BgpManager {
  private readonly m?: BgpMetrics;
  private lastGood?: string;
  private configured?: string;
  private boot?: string;
  private rejected?: { text: string; at: number; message: string };
  private readonly st: BgpStatus;

  constructor(private readonly o: BgpOptions, registry?: Registry) {
    this.m = registry ? new BgpMetrics(registry) : undefined;
    this.st = { state: 'unknown', message: null, include: o.include, socket: o.socket, announced: [], sessions: [], configures: 0, rejections: 0 };
    this.set('unknown', null);
  }

  status(): BgpStatus {
    return { ...this.st, announced: [...this.st.announced], sessions: [...this.st.sessions] };
  }

  private set(state: BirdState, message: string | null): void {
    this.st.state = state;
    this.st.message = message;
    for (const s of STATES) this.m?.state.set({ state: s }, s === state ? 1 : 0);
  }

  /** Brings BIRD in line with the view. Never throws: problems land in the status. */
  async apply(view: FabricView): Promise<void> {
    try {
      await this.applyOnce(view);
    } catch (e) {
      this.set('unknown', `bgp: ${(e as Error).message}`);
    }
  }

  private async applyOnce(view: FabricView): Promise<void> {
    if (!view.known) return this.refresh(); // no topology: leave BIRD exactly as it is
    const text = renderHostInclude(view.bgp, this.o.host, { kernelTable: this.o.kernelTable, timers: this.o.timers });
    const current = existsSync(this.o.include) ? readFileSync(this.o.include, 'utf8') : undefined;
    if (current !== undefined && current.trim() !== '' && !current.startsWith(HOST_HEADER)) {
      return this.set('foreign', `${this.o.include} was not written by romana-agent: it is left alone (point --bird-include at a file of its own)`);
    }
    if (!view.bgp && current === undefined) {
      this.st.announced = [];
      this.m?.announced.set(0);
      return this.set('unused', null);
    }
    this.lastGood ??= current;
    if (this.rejected?.text === text && Date.now() - this.rejected.at < (this.o.retryRejectedMs ?? 30_000)) return;
    let written = false;
    if (current !== text) {
      const problem = await this.check(text);
      if (problem) return this.reject(text, `bird -p: ${problem}`);
      this.write(text);
      written = true;
    }
    this.st.announced = view.bgp?.announce.map((a) => a.prefix) ?? [];
    this.m?.announced.set(this.st.announced.length);

    const status = await birdc(this.o.socket, ['show', 'status'], this.o.birdc);
    if (!status.ok) {
      if (written || this.configured !== text) this.m?.configures.inc({ result: 'unreachable' });
      return this.unreachable(status.problem === 'missing' ? 'missing' : 'unreachable', status.message);
    }
    const boot = bootTime(status.lines);
    if (written || this.configured !== text || this.boot !== boot) {
      const r = await birdc(this.o.socket, ['configure'], this.o.birdc);
      if (!r.ok && r.problem !== 'error') {
        this.m?.configures.inc({ result: 'unreachable' });
        return this.unreachable(r.problem === 'missing' ? 'missing' : 'unreachable', r.message);
      }
      if (!r.ok) {
        // BIRD keeps running what it had; the file goes back to that, so a restart reads it too.
        if (this.lastGood === undefined) {
          if (existsSync(this.o.include)) unlinkSync(this.o.include);
        } else if (this.lastGood !== text) {
          this.write(this.lastGood);
        }
        this.m?.configures.inc({ result: 'rejected' });
        return this.reject(text, r.message);
      }
      this.m?.configures.inc({ result: 'ok' });
      this.st.configures++;
      this.st.last_configured_at = new Date().toISOString();
      this.configured = text;
      this.lastGood = text;
      this.boot = boot;
      this.rejected = undefined;
    }
    this.st.bird_started_at = boot;
    this.m?.birdUp.set(1);
    await this.sessions();
    this.set('up', null);
  }

  /** Session states only (nothing is written). */
  private async refresh(): Promise<void> {
    if (!existsSync(this.o.include)) return;
    const status = await birdc(this.o.socket, ['show', 'status'], this.o.birdc);
    if (!status.ok) return this.unreachable(status.problem === 'missing' ? 'missing' : 'unreachable', status.message);
    this.m?.birdUp.set(1);
    await this.sessions();
  }

  private async sessions(): Promise<void> {
    const r = await birdc(this.o.socket, ['show', 'protocols'], this.o.birdc);
    const rows: ProtocolRow[] = r.ok ? parseProtocols(r.lines) : [];
    const ours = rows.filter((p) => p.proto === 'BGP' && p.name.startsWith('romana_'));
    this.st.sessions = ours.map((p) => ({ protocol: p.name, state: p.state, info: p.info, since: p.since }));
    this.m?.sessions.reset();
    for (const p of ours) this.m?.sessions.inc({ state: p.info.split(' ')[0] || p.state });
  }

  private unreachable(state: 'missing' | 'unreachable', message: string): void {
    this.m?.birdUp.set(0);
    this.st.sessions = [];
    this.m?.sessions.reset();
    this.set(state, `${message} (the include is written; BIRD reads it when it starts)`);
  }

  private reject(text: string, message: string): void {
    this.st.rejections++;
    this.rejected = { text, at: Date.now(), message };
    this.set('rejected', `${message} (the last configuration BIRD accepted stays in force)`);
  }

  /** `bird -p` on the include alone, inside a minimal configuration. */
  private async check(text: string): Promise<string | undefined> {
    const dir = mkdtempSync(join(tmpdir(), 'romana-bird-'));
    try {
      writeFileSync(join(dir, 'romana.conf'), text);
      writeFileSync(join(dir, 'bird.conf'), `router id 192.0.2.1;\nprotocol device {}\ninclude "${join(dir, 'romana.conf')}";\n`);
      return await parseCheck(join(dir, 'bird.conf'), this.o.bird);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Atomic replace. An existing file keeps its mode and owner; a new one is 0640 with its directory's
   * group (Debian's BIRD runs as group bird, and the file may hold passwords).
   */
  private write(text: string): void {
    const dir = dirname(this.o.include);
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.o.include}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o640 });
    const ref = existsSync(this.o.include) ? statSync(this.o.include) : undefined;
    const d = statSync(dir);
    chmodSync(tmp, ref ? ref.mode & 0o7777 : 0o640);
    try {
      chownSync(tmp, ref ? ref.uid : process.getuid?.() ?? 0, ref ? ref.gid : d.gid);
    } catch { /* not root: keep our own */ }
    renameSync(tmp, this.o.include);
  }
}
