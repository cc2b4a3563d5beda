// The console's hosts view over a real lab (`romana lab`: namespaces, agents, romanad): every agent
// reports and is current; a policy applied moves every agent to the new change and back to current;
// an agent killed shows as not reporting within its freshness window, pushed by romanad, while the
// others keep reporting.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestLab, requireRootAndTools } from '../lab/helpers.js';
import { type Browser, type Watched, foreign, launch, openConsole, requireChromium } from './helpers.js';

describe('the console over a lab', () => {
  const lab = new TestLab();
  let b: Browser;
  let w: Watched;
  before(async () => {
    requireRootAndTools();
    requireChromium();
    lab.lab('up', '--hosts', '3');
    b = await launch();
  });
  after(async () => {
    await b?.close();
    lab.down();
  });

  it('shows each agent live; a killed agent turns "not reporting" within its window; the others stay', async () => {
    const s = lab.state();
    w = await openConsole(b, s.apiUrl, readFileSync(s.adminTokenFile, 'utf8').trim());
    const { page } = w;
    await page.evaluate(() => (location.hash = '#/hosts'));
    await page.locator('.stream[data-state="live"]').waitFor();
    const rows = (report: string) => page.locator(`tr[data-report="${report}"]`);
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-report="fresh"] td[data-current="true"]').length === n, s.hosts.length, { timeout: 20_000 });

    // A change every agent applies, and reports as applied: the newest change moves, and every agent catches up.
    const change = async () => Number(await page.locator('[data-change]').getAttribute('data-change'));
    const before = await change();
    writeFileSync(join(lab.dir, 'policy.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: console-lab, namespace: default}\nspec: {podSelector: {matchLabels: {app: none}}}\n');
    lab.api('policy', 'apply', '-f', join(lab.dir, 'policy.yaml'));
    await page.waitForFunction((b) => Number(document.querySelector('[data-change]')?.getAttribute('data-change')) > b, before, { timeout: 5000 });
    await page.waitForFunction((n) => document.querySelectorAll('td[data-current="true"]').length === n, s.hosts.length, { timeout: 20_000 });

    const victim = s.hosts[1];
    const window = Number(await page.locator(`tr[data-host="${victim.name}"]`).getAttribute('data-window'));
    assert.ok(window > 0 && window <= 30, `the lab's agents report often enough to be judged quickly (window ${window} s)`);
    process.kill(victim.agentPid, 'SIGKILL');
    const killed = Date.now();
    await page.locator(`tr[data-host="${victim.name}"][data-report="stale"]`).waitFor({ timeout: (window + 5) * 1000 });
    const took = (Date.now() - killed) / 1000;
    assert.ok(took <= window + 3, `shown as not reporting ${took.toFixed(1)} s after the kill (window ${window} s)`);
    assert.match(await page.locator(`tr[data-host="${victim.name}"]`).textContent() ?? '', /not reporting/);
    assert.equal(await rows('fresh').count(), s.hosts.length - 1, 'the other agents still report');
    assert.deepEqual(foreign(w, new URL(s.apiUrl).origin), []);
    assert.deepEqual([...w.violations, ...w.errors], []);
  });
});
