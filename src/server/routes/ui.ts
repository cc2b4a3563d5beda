// /ui/: the console, a single-page app built by esbuild into dist/ui (scripts/build-ui.mjs). Files are
// read once at start and served from memory: index.html is revalidated on every load, the hashed
// bundles are cached for good. Every answer carries a CSP that allows this origin only, so the page
// can load nothing and send nothing anywhere else. The files hold no data: they are public; the app
// calls the API with the token its user types in.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { notFound } from '../../core/errors.js';

export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'", "font-src 'self'",
  "manifest-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.map': 'application/json; charset=utf-8', '.json': 'application/json; charset=utf-8',
};

interface Asset { body: Buffer; type: string; etag: string; immutable: boolean }

/** dist/ui next to the bundled romanad (dist/romanad.mjs), or the repository's dist/ui when run from source. */
export function defaultUiDir(): string | undefined {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return [join(here, 'ui'), join(here, '../../../dist/ui')].find((d) => existsSync(join(d, 'index.html')));
}

function load(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const type = TYPES[extname(name)];
    if (!type || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    // esbuild names bundles name-HASH.ext; only those may be cached without asking again.
    out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, immutable: /-[A-Z0-9]{8}\.(js|css)(\.map)?$/.test(name) });
  }
  return out;
}

const security = (reply: FastifyReply) => reply
  .header('content-security-policy', CSP).header('x-content-type-options', 'nosniff')
  .header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY').header('cross-origin-opener-policy', 'same-origin');

export const uiRoutes = (dir: string | undefined): FastifyPluginAsync => async (app) => {
  const assets = dir ? load(dir) : new Map<string, Asset>();
  const opts = { schema: { hide: true }, config: { access: 'public' as const, storeless: true } };
  app.get('/ui', opts, async (_req, reply) => security(reply).redirect('/ui/', 301));
  app.get('/ui/*', opts, async (req, reply) => {
    const name = (req.params as { '*': string })['*'] || 'index.html';
    const a = assets.get(name);
    if (!a) {
      throw notFound(assets.size ? `no file /ui/${name} in the console` : 'the console is not built: run `make build` (it writes dist/ui)');
    }
    security(reply).header('content-type', a.type).header('etag', a.etag)
      .header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
    return reply.send(a.body);
  });
};
