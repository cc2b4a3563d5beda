// Bundles each executable into dist/ with esbuild. romana-cni is fully self-contained (it is started
// once per pod, so it must load fast and carry nothing ADD does not need); the others keep their npm
// dependencies external (better-sqlite3 is a native addon).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { buildUi } from './build-ui.mjs';

const entries = {
  romanad: 'src/server/main.ts',
  romana: 'src/cli/main.ts',
  'romana-agent': 'src/agent/main.ts',
  'romana-cni': 'src/cni/main.ts',
  'romana-listener': 'src/listener/main.ts',
  'romana-route-publisher': 'src/publisher/main.ts',
  // Not an operator's command: the lab's pod servers and probers (no bin/ shim).
  'romana-lab-worker': 'src/lab/worker-main.ts',
};
const common = { bundle: true, platform: 'node', target: 'node20', format: 'esm', sourcemap: 'linked', logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } };
await Promise.all([
  ...Object.entries(entries).filter(([, src]) => existsSync(src)).map(([name, src]) =>
    build({ ...common, entryPoints: [src], outfile: `dist/${name}.mjs`, packages: name === 'romana-cni' ? undefined : 'external',
      minify: name === 'romana-cni' })),
  // What `romana-cni install` puts into a CNI bin dir: CommonJS, which Node 20 loads without starting
  // its ESM loader (a few ms of every pod's ADD and DEL).
  build({ ...common, entryPoints: [entries['romana-cni']], outfile: 'dist/romana-cni.cjs', format: 'cjs', banner: undefined, minify: true,
    logOverride: { 'empty-import-meta': 'silent' } }),
]);
// The console (served by romanad at /ui/).
await buildUi();
