#!/usr/bin/env node
// `romana`: the operator's command line. One file per noun; each registers its subcommands here.
import { Command, CommanderError } from 'commander';
import { RomanaError } from '../core/errors.js';
import { contextOf } from './context.js';
import { registerIpamCommands } from './ipam.js';
import { registerLabCommands } from './lab.js';
import { registerPolicyCommands } from './policy.js';

const program = new Command('romana')
  .description('Romana: topology-aware IPAM, routed networking and network policy')
  .option('--api <url>', 'romanad URL', process.env.ROMANA_API ?? 'http://127.0.0.1:9600')
  .option('--token <token>', 'bearer token (env ROMANA_TOKEN); prefer --token-file, argv is visible to other users')
  .option('--token-file <file>', 'file holding the bearer token (env ROMANA_TOKEN_FILE)')
  .option('--ca <file>', 'CA certificate (PEM) that signed romanad\'s TLS certificate (env ROMANA_CA)')
  .option('-o, --output <format>', 'output format: table, json or yaml', 'table')
  .showHelpAfterError()
  .exitOverride();

const ctx = contextOf(program);
registerIpamCommands(program, ctx);
registerPolicyCommands(program, ctx);
registerLabCommands(program, ctx);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  const msg = e instanceof RomanaError ? `${e.kind}: ${e.message}` : (e as Error).message;
  process.stderr.write(`romana: ${msg}\n`);
  process.exit(e instanceof RomanaError && e.kind === 'invalid' ? 2 : 1);
}
