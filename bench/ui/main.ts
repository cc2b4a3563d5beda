// The console's map, first paint (not a test): `node --import tsx bench/ui/main.ts`. A real romanad
// (the built bundle) holding 100 hosts in 16 racks and 3,200 blocks (32 owners per host), Debian's
// chromium through playwright-core at 1280x800. Measured from navigation start to the frame after the
// map is rendered (the app's `romana:map-painted` mark), cold (first load) and warm (bundles cached).
// Baselines in the same run: the console's first contentful paint with no data (its bundle alone),
// and the four API reads the map needs, fetched by the same page.
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { TOKENS, launch, startConsoleRomanad } from '../../test/ui/helpers.js';
import { seedLarge } from '../../test/ui/seed.js';
import { fmt, percentile } from '../lib/stats.js';

const HOSTS = 100;
const BLOCKS_PER_HOST = 32;
const RUNS = Number(process.env.BENCH_UI_RUNS ?? 7);

const r = await startConsoleRomanad(['--rate-limit', '0']);
const b = await launch();
try {
  const t0 = performance.now();
  await seedLarge(r.as.admin, HOSTS, BLOCKS_PER_HOST);
  const blocks = (await r.as.admin.get<{ blocks: unknown[] }>('/blocks')).blocks.length;
  console.log(`seeded ${HOSTS} hosts and ${blocks} blocks in ${fmt((performance.now() - t0) / 1000)} s`);
  if (blocks !== HOSTS * BLOCKS_PER_HOST) throw new Error(`expected ${HOSTS * BLOCKS_PER_HOST} blocks, romanad holds ${blocks}`);

  // Each load is a new document (from about:blank), with its own performance timeline.
  const mapPaint = async (page: Page): Promise<number> => {
    await page.goto('about:blank');
    await page.goto(`${r.url}/ui/#/map`);
    await page.waitForFunction(() => performance.getEntriesByName('romana:map-painted').length > 0, undefined, { timeout: 30_000 });
    const [hosts, shown] = await page.evaluate(() => [document.querySelectorAll('article.host').length, document.querySelectorAll('.blk').length]);
    if (hosts !== HOSTS || shown !== blocks) throw new Error(`the map shows ${hosts} hosts and ${shown} blocks`);
    return page.evaluate(() => performance.getEntriesByName('romana:map-painted')[0].startTime);
  };
  const signInPaint = async (page: Page): Promise<number> => {
    await page.goto('about:blank');
    await page.goto(`${r.url}/ui/`);
    await page.getByLabel('Bearer token').waitFor();
    await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0);
    return page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0].startTime);
  };
  const apiReads = (page: Page): Promise<number> => page.evaluate(async (t) => {
    const s = performance.now();
    await Promise.all(['/topology', '/blocks', '/blackouts', '/hosts'].map(async (p) => (await fetch(p, { headers: { authorization: `Bearer ${t}` }, cache: 'no-store' })).json()));
    return performance.now() - s;
  }, TOKENS.admin);

  const signed = await b.ctx.newPage();
  await signed.addInitScript((t) => sessionStorage.setItem('romana.token', t), TOKENS.admin);
  const cold = await mapPaint(signed);
  const warm: number[] = [];
  const reads: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    warm.push(await mapPaint(signed));
    reads.push(await apiReads(signed));
  }
  const anon = await b.ctx.newPage();
  const fcp: number[] = [];
  for (let i = 0; i < RUNS; i++) fcp.push(await signInPaint(anon));
  const sorted = (xs: number[]) => [...xs].sort((a, c) => a - c);
  const line = (what: string, xs: number[]) => `| ${what} | ${xs.length} | ${fmt(percentile(sorted(xs), 50), 0)} | ${fmt(Math.max(...xs), 0)} |`;
  console.log(`\nchromium ${b.ctx.browser()?.version() ?? ''}, 1280x800, ${HOSTS} hosts, ${blocks} blocks\n`);
  console.log('| run | runs | median ms | max ms |\n|---|---|---|---|');
  console.log(line('map first paint, cold (first load)', [cold]));
  console.log(line('map first paint, warm (bundles cached)', warm));
  console.log(line('baseline: sign-in page first contentful paint (bundle, no data)', fcp));
  console.log(line('baseline: the four API reads, from the page', reads));
  const worst = Math.max(cold, ...warm);
  console.log(`\n${worst < 1000 ? 'under' : 'OVER'} 1 s: slowest map first paint ${fmt(worst, 0)} ms`);
  if (worst >= 1000) process.exitCode = 1;
} finally {
  await b.close();
  await r.stop();
}
