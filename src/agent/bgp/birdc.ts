// BIRD's control socket through `birdc -v` (every reply line carries BIRD's numeric code), and the
// `bird -p` parse check. The only BGP code that starts processes.
import { existsSync } from 'node:fs';
import { run, which } from '../kernel/exec.js';

export type BirdReply =
  | { ok: true; lines: { code: number; text: string }[] }
  /** missing: birdc is not installed; unreachable: the socket does not answer; error: BIRD refused. */
  | { ok: false; problem: 'missing' | 'unreachable' | 'error'; message: string };

const TIMEOUT_MS = 5000;

/** Splits `birdc -v` output: "1002-name ..." starts a reply line, " ..." continues the last code. */
export function parseReply(out: string): { code: number; text: string }[] {
  const lines: { code: number; text: string }[] = [];
  let code = 0;
  for (const l of out.split('\n')) {
    const m = /^(\d{4})[ -](.*)$/.exec(l);
    if (m) {
      code = Number(m[1]);
      lines.push({ code, text: m[2] });
    } else if (l.startsWith(' ') && lines.length) {
      lines.push({ code, text: l.slice(1) });
    }
  }
  return lines;
}

const installed = (bin: string) => existsSync(bin.includes('/') ? bin : which(bin));

/** Runs one birdc command; `bin` is birdc's name or path. */
export async function birdc(socket: string, args: string[], bin = 'birdc'): Promise<BirdReply> {
  if (!installed(bin)) return { ok: false, problem: 'missing', message: `${bin} is not installed (apt-get install bird2)` };
  const r = await run(bin, ['-v', '-s', socket, ...args], undefined, TIMEOUT_MS);
  const lines = parseReply(r.stdout);
  // Codes 8xxx are run-time errors, 9xxx parse errors (BIRD's doc/reply_codes).
  const errors = lines.filter((l) => l.code >= 8000);
  if (errors.length) return { ok: false, problem: 'error', message: errors.map((l) => l.text).join('; ') };
  if (r.code !== 0 || !lines.some((l) => l.code === 1)) {
    const why = (r.stderr + r.stdout).trim().split('\n').find((l) => l.trim()) ?? `birdc exited ${r.code}`;
    return { ok: false, problem: 'unreachable', message: why.trim() };
  }
  return { ok: true, lines: lines.filter((l) => l.code !== 1) };
}

/** `bird -p`: does BIRD parse this configuration file? undefined when it does, else its message. */
export async function parseCheck(configFile: string, bin = 'bird'): Promise<string | undefined> {
  if (!installed(bin)) return undefined; // nothing to check with; the live BIRD still judges
  const r = await run(bin, ['-p', '-c', configFile], undefined, TIMEOUT_MS);
  return r.code === 0 ? undefined : (r.stderr || r.stdout).trim() || `bird -p exited ${r.code}`;
}

export interface ProtocolRow { name: string; proto: string; state: string; since: string; info: string }

/** Rows of `show protocols` (code 1002). */
export function parseProtocols(lines: { code: number; text: string }[]): ProtocolRow[] {
  return lines.filter((l) => l.code === 1002).map((l) => {
    const [name, proto, , state, since, ...info] = l.text.trim().split(/\s+/);
    return { name, proto, state, since, info: info.join(' ') };
  }).filter((r) => r.name);
}

/** "Last reboot on 2026-12-07 18:31:04.763" of `show status` (code 1011): changes when BIRD restarts. */
export function bootTime(lines: { code: number; text: string }[]): string | undefined {
  return lines.map((l) => /^Last reboot on (.*)$/.exec(l.text.trim())?.[1]).find(Boolean);
}
