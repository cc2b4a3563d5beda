// `romana-cni install <dir>`: puts the plugin into a CNI bin directory. The CommonJS bundle is copied
// as romana-cni.cjs and `romana` (the name "type": "romana" finds) is a tiny launcher that loads it.
// The launcher runs as CommonJS (its usual place has no package.json) and also as ESM (under a
// "type": "module" package): it finds the bundle beside itself through argv[1], which Node resolves.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __filename: string | undefined;

// The node that runs the install, named in full: no `env` process before Node on every call, and a
// runtime's PATH (containerd's, kubelet's) need not hold node. A path the kernel cannot take in a
// #! line (whitespace) falls back to env.
const interpreter = (node = process.execPath) => (/\s/.test(node) ? '/usr/bin/env node' : node);

export const launcher = (node?: string) => `#!${interpreter(node)}
const f = process.argv[1].replace(/[^/]*$/, 'romana-cni.cjs');
typeof require === 'function' ? require(f) : import('node:module').then((m) => m.createRequire(f)(f));
`;

export function install(dir: string | undefined): void {
  if (!dir) {
    process.stderr.write('usage: romana-cni install <cni-bin-dir>\n');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  // This file is one of the two bundles (dist/romana-cni.mjs or .cjs); the CommonJS one sits beside it.
  const self = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
  const bundle = join(dirname(self), 'romana-cni.cjs');
  if (!existsSync(bundle)) {
    process.stderr.write(`romana-cni install: ${bundle} is missing (node scripts/build.mjs builds it)\n`);
    process.exit(1);
  }
  // Write then rename, so a runtime never executes a half-written plugin.
  copyFileSync(bundle, join(dir, '.romana-cni.cjs.tmp'));
  renameSync(join(dir, '.romana-cni.cjs.tmp'), join(dir, 'romana-cni.cjs'));
  writeFileSync(join(dir, '.romana.tmp'), launcher());
  chmodSync(join(dir, '.romana.tmp'), 0o755);
  renameSync(join(dir, '.romana.tmp'), join(dir, 'romana'));
  process.stdout.write(`installed ${join(dir, 'romana')} (+ romana-cni.cjs)\n`);
}
