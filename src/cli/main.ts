#!/usr/bin/env node
// `romana`: the operator's command line. One file per noun; each registers its subcommands here.
// Exit codes: 0 success, 1 romanad refused or failed, 2 usage error (see docs/api.md).
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, RomanaError, exitCodeOf } from '../core/errors.js';
import { registerBgpCommands } from './bgp.js';
import { contextOf } from './context.js';
import { registerIpamCommands } from './ipam.js';
import { registerLabCommands } from './lab.js';
import { registerPolicyCommands } from './policy.js';
import { registerServiceCommands } from './service.js';
import { registerTopologyCommands } from './topology.js';
import { VERSION } from '../version.js';

const program = new Command('romana')
  .description('Romana: topology-aware IPAM, routed networking and network policy')
  .version(`romana ${VERSION}`, '--version', 'this client\'s version (romana version: romanad\'s too)')
  .option('--api <url>', 'romanad URL', process.env.ROMANA_API ?? 'http://127.0.0.1:9600')
  .option('--token <token>', 'bearer token (env ROMANA_TOKEN); prefer --token-file, argv is visible to other users')
  .option('--token-file <file>', 'file holding the bearer token (env ROMANA_TOKEN_FILE)')
  .option('--ca <file>', 'CA certificate (PEM) that signed romanad\'s TLS certificate (env ROMANA_CA)')
  .option('-o, --output <format>', 'output format: table, wide, name, json or yaml', 'table')
  .option('--no-headers', 'tables without their header line')
  .showHelpAfterError()
  .addHelpText('after', '\nExit status: 0 success; 1 romanad refused or failed; 2 a usage error (unknown flag, missing argument, unreadable or malformed file).\n')
  .exitOverride();

const ctx = contextOf(program);
registerTopologyCommands(program, ctx);
registerIpamCommands(program, ctx);
registerPolicyCommands(program, ctx);
registerLabCommands(program, ctx);
registerServiceCommands(program, ctx);
registerBgpCommands(program, ctx);

// Every subcommand reports its usage errors the same way (commander's own exit codes are 1).
const overrideAll = (c: Command) => {
  c.exitOverride();
  c.commands.forEach(overrideAll);
};
overrideAll(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
  // A usage error reads as what it is to the user: their input is invalid (it exits 2, not 1).
  const msg = e instanceof RomanaError ? `${e.kind === 'usage' ? 'invalid' : e.kind}: ${e.message}` : (e as Error).message;
  process.stderr.write(`romana: ${msg.split('\n')[0]}\n`);
  process.exit(e instanceof RomanaError ? exitCodeOf(e.kind) : 1);
}
