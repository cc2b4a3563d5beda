// The console's browser tests: Debian's chromium driven by playwright-core (a fresh profile per run,
// no background networking), a real romanad with tokens, and the data the pages should show.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { ApiClient } from '../../src/cli/client.js';
import { BIN, type Romanad, startRomanad } from '../helpers/romanad.js';

export const CHROMIUM = process.env.ROMANA_CHROMIUM ?? '/usr/bin/chromium';

export const TOKENS = {
  admin: 'console-admin-token-0123456789',
  readonly: 'console-readonly-token-0123456789',
  agent: 'console-agent-token-0123456789',
  cni: 'console-cni-token-0123456789',
};

export interface ConsoleRomanad extends Romanad {
  as: Record<keyof typeof TOKENS, ApiClient>;
  dir: string;
}

/** romanad with an auth file of one token per role (the cni and agent tokens bound to host h1). */
export async function startConsoleRomanad(extraArgs: string[] = []): Promise<ConsoleRomanad> {
  const dir = mkdtempSync(join(tmpdir(), 'romana-ui-test-'));
  const auth = join(dir, 'auth.json');
  writeFileSync(auth, JSON.stringify({
    tokens: [
      { token: TOKENS.admin, role: 'admin', name: 'ops' }, { token: TOKENS.readonly, role: 'readonly', name: 'viewer' },
      { token: TOKENS.agent, role: 'agent', host: 'h1' }, { token: TOKENS.cni, role: 'cni', host: 'h1', name: 'cni-h1' },
    ],
  }), { mode: 0o600 });
  const r = await startRomanad({ extraArgs: ['--auth-file', auth, ...extraArgs], token: TOKENS.admin });
  const as = Object.fromEntries(Object.entries(TOKENS).map(([k, t]) => [k, new ApiClient({ baseUrl: r.url, token: t })])) as ConsoleRomanad['as'];
  const stop = r.stop;
  return Object.assign(r, { as, dir, stop: async () => (await stop(), rmSync(dir, { recursive: true, force: true })) });
}

/** Runs the `romana` CLI against romanad with the given token; returns stdout (exit 0 required). */
export function romana(url: string, token: string | undefined, args: string[], dir: string): string {
  let tokenArgs: string[] = [];
  if (token) {
    const f = join(dir, `cli-${token.slice(8, 14)}.token`);
    writeFileSync(f, token, { mode: 0o600 });
    tokenArgs = ['--token-file', f];
  }
  const r = spawnSync(process.execPath, [BIN('romana'), '--api', url, ...tokenArgs, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `romana ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`the console tests need Debian's chromium at ${CHROMIUM} (scripts/install-deps.sh installs it)`);
}

export interface Browser {
  ctx: BrowserContext;
  close(): Promise<void>;
}

/** A fresh profile; the flags keep chromium from dialling anywhere by itself (component updates, sync, ...). */
export async function launch(): Promise<Browser> {
  requireChromium();
  const profile = mkdtempSync(join(tmpdir(), 'romana-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 800 }, colorScheme: 'light',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'],
  });
  ctx.setDefaultTimeout(10_000);
  return {
    ctx,
    close: async () => {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Every request the page made and every CSP violation it met, for the "nothing leaves romanad" checks. */
export interface Watched { page: Page; requests: string[]; violations: string[]; errors: string[] }

export async function openConsole(b: Browser, url: string, token?: string): Promise<Watched> {
  const page = await b.ctx.newPage();
  const w: Watched = { page, requests: [], violations: [], errors: [] };
  page.on('request', (r) => w.requests.push(r.url()));
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) w.violations.push(m.text());
  });
  await page.exposeFunction('__cspViolation', (s: string) => w.violations.push(s));
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { __cspViolation(s: string): void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI}`)));
  if (token !== undefined) await page.addInitScript((t) => sessionStorage.setItem('romana.token', t), token);
  await page.goto(`${url}/ui/`);
  return w;
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor();
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (injected through the devtools protocol: the page's CSP allows no inline script). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return (await axe.run({ resultTypes: ['violations'] })).violations;
  });
  return r.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

/** The requests that went anywhere but romanad's origin. */
export const foreign = (w: Watched, origin: string) => w.requests.filter((u) => new URL(u).origin !== origin && !u.startsWith('data:') && !u.startsWith('blob:'));
