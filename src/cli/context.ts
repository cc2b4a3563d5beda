// What every `romana` noun needs from the global options.
import type { Command } from 'commander';
import { endpointOf } from '../client/transport.js';
import { ApiClient } from './client.js';
import { parseFormat, type OutputFormat } from './output.js';

export interface CliContext {
  client(): ApiClient;
  format(allowed?: OutputFormat[]): OutputFormat;
}

export function contextOf(program: Command): CliContext {
  return {
    client: () => {
      const o = program.opts<{ api: string; token?: string; tokenFile?: string; ca?: string }>();
      const env = (k: string) => process.env[k] || undefined; // set but empty is unset
      const token = o.token ?? (o.tokenFile ? undefined : env('ROMANA_TOKEN'));
      return new ApiClient(endpointOf({ baseUrl: o.api, token, tokenFile: token ? undefined : o.tokenFile ?? env('ROMANA_TOKEN_FILE'), caFile: o.ca ?? env('ROMANA_CA') }));
    },
    format: (allowed) => parseFormat(program.opts<{ output?: string }>().output, allowed),
  };
}

/** Collects a repeatable option into an array. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
