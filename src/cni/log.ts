// Logs go to the configured file (JSON lines) or to stderr; stdout belongs to the protocol.
import { appendFileSync } from 'node:fs';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;
export type Logger = Record<Level, (msg: string, fields?: Record<string, unknown>) => void>;

export function makeLogger(opts: { file?: string; level?: Level; base?: Record<string, unknown> }): Logger {
  const min = LEVELS[opts.level ?? 'warn'];
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...opts.base, ...fields }) + '\n';
    try {
      if (opts.file) appendFileSync(opts.file, line);
      else process.stderr.write(line);
    } catch {
      process.stderr.write(line);
    }
  };
  return { debug: (m, f) => write('debug', m, f), info: (m, f) => write('info', m, f), warn: (m, f) => write('warn', m, f), error: (m, f) => write('error', m, f) };
}
