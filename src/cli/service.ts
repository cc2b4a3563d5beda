// `romana version`, `romana status` and `romana completion bash|zsh`.
import { type Static, Type } from '@sinclair/typebox';
import type { Command, Option } from 'commander';
import { RomanaError, usage } from '../core/errors.js';
import { VERSION } from '../version.js';
import type { CliContext } from './context.js';
import { FORMATS, table } from './output.js';

const Version = Type.Object({ version: Type.String() });
const Status = Type.Object({
  version: Type.String(), ready: Type.Boolean(),
  store: Type.Object({ backend: Type.String(), revision: Type.Optional(Type.Integer()), change_revision: Type.Optional(Type.Integer()), error: Type.Optional(Type.String()) }),
  hosts: Type.Array(Type.Object({
    host: Type.String(), report: Type.String(), age_seconds: Type.Optional(Type.Number()), last_applied_revision: Type.Optional(Type.Integer()),
    applied_change_revision: Type.Optional(Type.Integer()), current: Type.Optional(Type.Boolean()),
    last_error: Type.Optional(Type.Union([Type.String(), Type.Null()])), last_error_at: Type.Optional(Type.String()),
  })),
});

/** The applied column: the newest change the agent applied, against the store's ("-" when the agent does not say). */
const applied = (h: Static<typeof Status>['hosts'][number], change: number | undefined) =>
  h.applied_change_revision === undefined ? (h.last_applied_revision ?? '') : `${h.applied_change_revision}/${change ?? '?'}${h.current ? '' : ' BEHIND'}`;

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  program.command('version').description('this client\'s version and romanad\'s').action(async () => {
    const out = ctx.out(['table', 'json', 'yaml']);
    let server: { version?: string; error?: string };
    try {
      server = { version: (await ctx.client().fetch('/version', Version)).version };
    } catch (e) {
      if (!(e instanceof RomanaError) || e.kind === 'usage') throw e;
      server = { error: `${e.kind}: ${e.message}` };
      process.exitCode = 1;
    }
    out.document({ client: { version: VERSION }, server }, () => `client: romana ${VERSION}\nserver: ${server.version ? `romanad ${server.version}` : server.error}\n`, []);
  });

  program.command('status').description('romanad\'s readiness, its store, and each host\'s agent: report freshness, applied change against the store\'s, last error').action(async () => {
    const out = ctx.out(['table', 'wide', 'json', 'yaml']);
    const s = await ctx.client().fetch('/status', Status);
    if (!s.ready) process.exitCode = 1;
    const head = `romanad ${s.version}: ${s.ready ? 'ready' : 'NOT READY'}; store ${s.store.backend}${s.store.revision !== undefined ? ` at revision ${s.store.revision} (newest change ${s.store.change_revision})` : ''}${s.store.error ? `: ${s.store.error}` : ''}\n`;
    out.document(s, () => head + (s.hosts.length === 0 ? 'no hosts\n' : '\n' + table(['host', 'agent report', 'age', 'applied', 'last error'], s.hosts.map((h) => [
      h.host, h.report, h.age_seconds === undefined ? '' : `${Math.round(h.age_seconds)}s`, applied(h, s.store.change_revision),
      h.last_error ? `${h.last_error_at ?? ''} ${out.format === 'wide' ? h.last_error : h.last_error.slice(0, 60)}`.trim() : '',
    ]), out.noHeaders)), []);
  });

  program.command('completion <shell>').description('shell completion: bash or zsh (e.g. source <(romana completion bash))')
    .action((shell: string) => {
      ctx.out(['table']); // a script: -o json|yaml|name would be ignored, so they are refused
      if (shell !== 'bash' && shell !== 'zsh') throw usage(`completion: '${shell}' is not bash or zsh`);
      process.stdout.write(completionScript(program, shell));
    });
}

const flags = (opts: readonly Option[]) => opts.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short]).filter((f): f is string => Boolean(f));
const visible = (c: Command) => c.commands.filter((s) => !(s as unknown as { _hidden?: boolean })._hidden);

/**
 * A bash completion function written from the command tree itself (so it never goes stale): the
 * subcommands and flags of the command typed so far, and -o's formats. zsh runs the same function
 * through bashcompinit.
 */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const cases: string[] = [];
  const paths: string[] = [];
  const walk = (c: Command, path: string) => {
    const words = [...visible(c).map((s) => s.name()), ...flags(c.options), '--help'];
    cases.push(`    "${path}") words="${words.join(' ')}" ;;`);
    for (const s of visible(c)) {
      paths.push(`"${path} ${s.name()}"`);
      walk(s, `${path} ${s.name()}`);
    }
  };
  walk(program, '');
  const fn = `_romana() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w i words
  if [[ "$prev" == "-o" || "$prev" == "--output" ]]; then
    COMPREPLY=($(compgen -W "${FORMATS.join(' ')}" -- "$cur")); return
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$path $w" in
      ${paths.join('|')}) path="$path $w" ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _romana romana
`;
  if (shell === 'bash') return `# romana completion for bash: source <(romana completion bash)\n${fn}`;
  return `#compdef romana\n# romana completion for zsh: source <(romana completion zsh)\n(( $+functions[compdef] )) || { autoload -U compinit && compinit -u; }\nautoload -U +X bashcompinit && bashcompinit\n${fn}`;
}
