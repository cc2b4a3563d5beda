// What every `romana` noun needs from the global options.
import type { Command } from 'commander';
import { endpointOf } from '../client/transport.js';
import { RomanaError, usage } from '../core/errors.js';
import { ApiClient } from './client.js';
import { FORMATS, type OutputFormat, Printer, parseFormat } from './output.js';

export interface CliContext {
  client(): ApiClient;
  /** The printer for -o and --no-headers; `allowed` limits -o for commands that cannot show every format. */
  out(allowed?: readonly OutputFormat[]): Printer;
  /** The -o value (for commands that do their own printing). */
  format(allowed?: readonly OutputFormat[]): OutputFormat;
}

/** How long the CLI keeps retrying romanad's 429 and 503 answers before giving up. */
export const RETRY_FOR_MS = 120_000;

export function contextOf(program: Command): CliContext {
  const format = (allowed: readonly OutputFormat[] = FORMATS) => parseFormat(program.opts<{ output?: string }>().output, allowed);
  return {
    client: () => {
      const o = program.opts<{ api: string; token?: string; tokenFile?: string; ca?: string }>();
      const env = (k: string) => process.env[k] || undefined; // set but empty is unset
      const token = o.token ?? (o.tokenFile ? undefined : env('ROMANA_TOKEN'));
      try {
        const ep = endpointOf({ baseUrl: o.api, token, tokenFile: token ? undefined : o.tokenFile ?? env('ROMANA_TOKEN_FILE'), caFile: o.ca ?? env('ROMANA_CA') });
        return new ApiClient({ ...ep, baseUrl: ep.baseUrl, retryForMs: RETRY_FOR_MS });
      } catch (e) {
        // An unreadable token or CA file, or a malformed --api: the command line's mistake.
        throw e instanceof RomanaError ? usage(e.message) : e;
      }
    },
    format,
    out: (allowed) => new Printer(format(allowed), program.opts<{ headers?: boolean }>().headers === false),
  };
}

/** Collects a repeatable option into an array. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
