// Bundles the console (src/ui) into dist/ui: one script and one stylesheet with content hashes in
// their names (romanad caches those for good), and index.html pointing at them. Browser-only code:
// nothing from npm is left external, and nothing is fetched from elsewhere at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

export async function buildUi(outdir = 'dist/ui') {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const r = await build({
    entryPoints: { app: 'src/ui/main.tsx' }, outdir, bundle: true, format: 'esm', platform: 'browser', target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic', jsxImportSource: 'preact', minify: true, sourcemap: 'linked', entryNames: '[name]-[hash]', metafile: true, logLevel: 'warning',
    tsconfig: 'src/ui/tsconfig.json', legalComments: 'linked',
  });
  const out = Object.keys(r.metafile.outputs).map((f) => basename(f));
  const js = out.find((f) => f.endsWith('.js'));
  const css = out.find((f) => f.endsWith('.css'));
  const html = readFileSync('src/ui/index.html', 'utf8').replace('%APP_JS%', js).replace('%APP_CSS%', css);
  writeFileSync(`${outdir}/index.html`, html);
  copyFileSync('src/ui/favicon.svg', `${outdir}/favicon.svg`);
}
