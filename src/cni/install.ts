// `romana-cni install <dir>`: puts the plugin into a CNI bin directory. The bundle is copied as
// romana-cni.mjs and `romana` (the name "type": "romana" finds) is a tiny launcher that loads it; the
// launcher stays CommonJS-compatible so it runs from any directory on any Node 20.
import { chmodSync, copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAUNCHER = "#!/usr/bin/env node\nimport(require('node:url').pathToFileURL(require('node:path').join(__dirname, 'romana-cni.mjs')).href);\n";

export function install(dir: string | undefined): void {
  if (!dir) {
    process.stderr.write('usage: romana-cni install <cni-bin-dir>\n');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  const self = fileURLToPath(import.meta.url);
  // Write then rename, so a runtime never executes a half-written plugin.
  copyFileSync(self, join(dir, '.romana-cni.mjs.tmp'));
  renameSync(join(dir, '.romana-cni.mjs.tmp'), join(dir, 'romana-cni.mjs'));
  writeFileSync(join(dir, '.romana.tmp'), LAUNCHER);
  chmodSync(join(dir, '.romana.tmp'), 0o755);
  renameSync(join(dir, '.romana.tmp'), join(dir, 'romana'));
  process.stdout.write(`installed ${join(dir, 'romana')} (+ romana-cni.mjs)\n`);
}
