// Benchmarks time the agent as it ships: an esbuild bundle (scripts/build.mjs), not tsx's on-the-fly
// transform, which keeps function names with a wrapper around every function (10–25% of the compiler's
// time in a profile). A benchmark's measuring child is bundled the same way into dist/bench/ (beside
// node_modules, which the bundle imports as the agent's does) and run from there.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Bundles `entry` (a .ts file) like the agent's bundle; returns its path and a remover. */
export async function bundleForBench(entry: string, name: string): Promise<{ file: string; remove: () => void }> {
  const file = fileURLToPath(new URL(`../../dist/bench/${name}-${process.pid}.mjs`, import.meta.url));
  await build({
    entryPoints: [entry], outfile: file, bundle: true, platform: 'node', target: 'node20', format: 'esm', packages: 'external',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return { file, remove: () => rmSync(file, { force: true }) };
}
