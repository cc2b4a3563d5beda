// Reading the files named on the command line. A file that cannot be read or parsed is a usage error
// (exit 2), found before anything is sent. `-f` may repeat and may name a directory (its .yaml, .yml
// and .json files, in name order); `-` is stdin.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { RomanaError, usage } from '../core/errors.js';

export function readText(file: string, flag = '-f'): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw usage(`${flag}: cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The files `-f` names: each file as given, each directory's .yaml/.yml/.json files sorted by name. */
export function expandFiles(paths: string[], flag = '-f'): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      throw usage(`${flag}: cannot read '${p}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!isDir) {
      out.push(p);
      continue;
    }
    const files = readdirSync(p).filter((f) => /\.(ya?ml|json)$/i.test(f)).sort().map((f) => join(p, f));
    if (files.length === 0) throw usage(`${flag}: directory '${p}' has no .yaml, .yml or .json file`);
    out.push(...files);
  }
  if (out.filter((f) => f === '-').length > 1) throw usage(`${flag}: stdin (-) can be read only once`);
  return out;
}

/** One YAML or JSON document. */
export function readDocument(file: string, flag = '-f'): unknown {
  const text = readText(file, flag);
  try {
    return YAML.parse(text, { maxAliasCount: 100 });
  } catch (e) {
    throw usage(`${file}: not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** A mistake in a file the user gave is a usage error (exit 2): nothing was sent. `file` names it. */
export function fromFile<T>(f: () => T, file?: string): T {
  try {
    return f();
  } catch (e) {
    throw e instanceof RomanaError && e.kind === 'invalid' ? usage(file === undefined ? e.message : `${file}: ${e.message}`) : e;
  }
}
