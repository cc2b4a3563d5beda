// What every `romana` noun needs from the global options.
import type { Command } from 'commander';
import { ApiClient } from './client.js';
import { parseFormat, type OutputFormat } from './output.js';

export interface CliContext {
  client(): ApiClient;
  format(allowed?: OutputFormat[]): OutputFormat;
}

export function contextOf(program: Command): CliContext {
  return {
    client: () => {
      const o = program.opts<{ api: string; token?: string }>();
      return new ApiClient({ baseUrl: o.api, token: o.token ?? process.env.ROMANA_TOKEN });
    },
    format: (allowed) => parseFormat(program.opts<{ output?: string }>().output, allowed),
  };
}

/** Collects a repeatable option into an array. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
