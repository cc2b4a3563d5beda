// The README says what the CLI does: its CLI table names every command there is, and only commands and
// flags there are (read from the CLI's own command tree, as `romana completion` writes it); its quick
// start runs as written against a real romanad, giving the answers its comments promise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, type Romanad, startRomanad } from '../helpers/romanad.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const run = (bin: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN(bin), ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env } });

/** path (' host add') -> its subcommands and flags, from the completion script. */
function commandTree(): Map<string, Set<string>> {
  const r = run('romana', ['completion', 'bash']);
  assert.equal(r.status, 0, r.stderr);
  return new Map([...r.stdout.matchAll(/^ {4}"([^"]*)"\) words="([^"]*)" ;;$/gm)].map((m) => [m[1], new Set(m[2].split(' '))]));
}

/** The `romana` commands of the README's CLI table: each fragment's command path and the flags it names. */
function tableCommands(tree: Map<string, Set<string>>): { path: string; flags: string[]; fragment: string }[] {
  const section = README.slice(README.indexOf('\n## CLI\n'));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  assert.ok(rows.length >= 10, 'the README has a CLI table');
  const top = tree.get('')!;
  const out: { path: string; flags: string[]; fragment: string }[] = [];
  for (const row of rows) {
    const cell = row.slice(2, row.indexOf(' | '));
    let noun = '';
    for (const m of cell.matchAll(/`([^`]+)`/g)) {
      const fragment = m[1].replace(/\\\|/g, '|');
      const words = fragment.split(' ');
      let path: string;
      if (top.has(words[0])) {
        noun = words[0];
        const subs = tree.get(` ${noun}`)!;
        path = [...subs].some((w) => !w.startsWith('-')) ? ` ${noun} ${words[1]}` : ` ${noun}`;
      } else path = ` ${noun} ${words[0]}`;
      out.push({ path, fragment, flags: [...fragment.matchAll(/(?:^|[\s([|])(--?[a-z][a-z-]*)/g)].map((f) => f[1]) });
    }
  }
  return out;
}

describe('the README\'s CLI table', () => {
  const tree = commandTree();
  const listed = tableCommands(tree);
  it('names only commands and flags the CLI has', () => {
    for (const c of listed) {
      const words = tree.get(c.path);
      assert.ok(words, `README: \`${c.fragment}\`: romana${c.path} is not a command`);
      // Global flags (-o, --api, ...) may follow the command too.
      for (const f of c.flags) assert.ok(words.has(f) || tree.get('')!.has(f), `README: \`${c.fragment}\`: romana${c.path} has no ${f}`);
    }
  });
  it('names every command the CLI has', () => {
    const paths = new Set(listed.map((c) => c.path));
    for (const [path, words] of tree) {
      const depth = path.split(' ').length - 1;
      const leaf = ![...words].some((w) => !w.startsWith('-'));
      if (depth === 0 || !leaf) continue;
      assert.ok(paths.has(path), `romana${path} is missing from the README's CLI table`);
    }
  });
});

describe('the README\'s quick start', () => {
  let d: Romanad;
  before(async () => {
    d = await startRomanad();
  });
  after(async () => {
    await d.stop();
  });
  it('runs as written: romanad standalone, then romana against it, each comment\'s promise kept', () => {
    const start = README.indexOf('\n## Quick start\n');
    assert.ok(start > 0, 'the README has a quick start');
    const block = /```bash\n([\s\S]*?)```/.exec(README.slice(start))![1];
    const lines = block.trim().split('\n').map((l) => {
      const [cmd, comment = ''] = l.split(/\s+#\s+/, 2);
      return { cmd: cmd.trim(), comment };
    });
    const romanad = lines.find((l) => l.cmd.startsWith('romanad '));
    assert.ok(romanad && lines.indexOf(romanad) < lines.findIndex((l) => l.cmd.startsWith('romana ')), 'romanad starts before the first romana command');
    // Its flags are romanad's (the test's romanad runs with them, on a port and directory of its own).
    const help = run('romanad', ['--help']).stdout;
    for (const f of romanad.cmd.match(/--[a-z-]+/g) ?? []) assert.ok(help.includes(f), `romanad has no ${f}`);
    let ran = 0;
    for (const { cmd, comment } of lines.filter((l) => l.cmd.startsWith('romana '))) {
      const r = run('romana', cmd.split(/\s+/).slice(1), { ROMANA_API: d.url });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
      for (const ip of comment.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? []) assert.ok(r.stdout.includes(ip), `${cmd}: the README promises ${ip}: ${r.stdout}`);
      if (/\bready\b/.test(comment)) assert.match(r.stdout, /: ready;/);
      ran++;
    }
    assert.ok(ran >= 3);
  });
});
