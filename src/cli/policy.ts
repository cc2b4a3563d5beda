// `romana policy ...` (owned by the policy engine work).
import type { Command } from 'commander';
import type { CliContext } from './context.js';

export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
