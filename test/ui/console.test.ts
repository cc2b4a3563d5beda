// The console in Debian's chromium (playwright-core) against a real romanad with tokens: sign-in, the
// map against the API's hosts and blocks, search, the reachability matrix against `romana policy
// simulate` cell by cell (live and from a file) and a cell's reasons against `romana policy explain`,
// policies applied and refused, what a readonly or cni token sees, live agent reports, the keyboard,
// axe-core in light and dark at 1280x800, and not one request beyond romanad's origin.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import YAML from 'yaml';
import { ROOT } from '../helpers/romanad.js';
import { type Browser, type ConsoleRomanad, type Watched, TOKENS, axeViolations, foreign, launch, openConsole, requireChromium, romana, signIn, startConsoleRomanad } from './helpers.js';
import { type Seeded, netpolCase, seedBusy, seedCase } from './seed.js';

const LIVE_CASE = netpolCase('np06-namespace-by-label');
const FILE_CASE = netpolCase('np26-egress-ipblock-host');
// The screenshots in docs/img are taken by this test: with UPDATE_SCREENSHOTS=1 it writes them there,
// otherwise into its scratch directory (a test run leaves the work tree as it found it).
const IMG = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'img') : join(tmpdir(), `romana-console-img-${process.pid}`);

interface Verdict { from: string; to: string; port: number; protocol: string; allowed: boolean }
const key = (v: { from: string; to: string; port: string | number; protocol?: string }) => `${v.from} -> ${v.to} ${v.protocol ? `${v.port}/${v.protocol}` : v.port}`;

async function cells(page: Page): Promise<Map<string, boolean>> {
  const rows = await page.$$eval('button.cell', (els) => els.map((e) => [(e as HTMLElement).dataset.from!, (e as HTMLElement).dataset.to!, (e as HTMLElement).dataset.port!, (e as HTMLElement).dataset.allowed!]));
  return new Map(rows.map(([from, to, port, allowed]) => [key({ from, to, port }), allowed === 'true']));
}

/** The console's grid and the CLI's answer: the same probes, the same verdicts. */
function assertSameMatrix(shown: Map<string, boolean>, cli: Verdict[]) {
  assert.ok(cli.length > 100);
  assert.deepEqual([...shown.keys()].sort(), cli.map(key).sort(), 'the same probes');
  const wrong = cli.filter((v) => shown.get(key(v)) !== v.allowed).map(key);
  assert.deepEqual(wrong, [], 'cells that disagree with romana policy simulate');
  assert.ok(cli.some((v) => !v.allowed) && cli.some((v) => v.allowed), 'the case has both verdicts');
}

describe('the console in chromium, against a real romanad', () => {
  let r: ConsoleRomanad;
  let b: Browser;
  let seeded: Seeded;
  let origin: string;
  let admin: Watched;
  const opened: Watched[] = [];
  const open = async (token?: string) => {
    const w = await openConsole(b, r.url, token);
    opened.push(w);
    return w;
  };
  const cli = (args: string[], token: string | undefined = TOKENS.admin) => romana(r.url, token, args, r.dir);
  const go = async (page: Page, hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };

  /** Opens a cell's reasons and compares them with `romana policy explain` over the same cluster file. */
  const explained = async (page: Page, file: string, from: string, to: string, port: string) => {
    await page.locator(`button.cell[data-from="${from}"][data-to="${to}"][data-port="${port}"]`).click();
    const panel = page.locator(`section.explain[data-from="${from}"][data-to="${to}"][data-port="${port}"]`);
    await panel.waitFor();
    const want = JSON.parse(cli(['policy', 'explain', '-f', join(r.dir, file), '--from', from, '--to', to, '--port', port, '-o', 'json'], undefined));
    assert.equal(await panel.getAttribute('data-allowed'), String(want.allowed));
    for (const dir of ['egress', 'ingress'] as const) {
      const d = panel.locator(`.direction[data-direction="${dir}"]`);
      assert.equal(await d.getAttribute('data-allowed'), String(want[dir].allowed));
      assert.equal(await d.locator('.reason').textContent(), want[dir].reason);
      assert.deepEqual(await d.locator('.policy-link').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.policy)), want[dir].policies);
    }
  };

  before(async () => {
    requireChromium();
    r = await startConsoleRomanad();
    origin = new URL(r.url).origin;
    seeded = await seedCase(r.as.admin, LIVE_CASE);
    writeFileSync(join(r.dir, 'live-case.json'), JSON.stringify(LIVE_CASE.cluster));
    writeFileSync(join(r.dir, 'file-case.json'), JSON.stringify(FILE_CASE.cluster));
    mkdirSync(IMG, { recursive: true });
    b = await launch();
  });
  after(async () => {
    await b?.close();
    await r?.stop();
    if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(IMG, { recursive: true, force: true });
  });

  it('signs in: a wrong token is refused; the admin token opens the console and stays for the tab; sign-out forgets it', async () => {
    admin = await open();
    const { page } = admin;
    await page.getByLabel('Bearer token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'the bearer token is not valid' }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Views' }).count(), 0);
    await signIn(page, TOKENS.admin);
    assert.equal(await page.locator('.who').textContent(), 'ops · admin');
    assert.deepEqual(await page.getByRole('navigation', { name: 'Views' }).getByRole('link').allTextContents(), ['Map', 'Reachability', 'Policies', 'Hosts and agents']);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('romana.token')), TOKENS.admin);
    await page.reload();
    await page.locator('.map[data-ready]').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Bearer token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('romana.token')), null);
    await signIn(page, TOKENS.admin);
  });

  it('the matrix equals `romana policy simulate` cell by cell: the live cluster, and an uploaded cluster file', async () => {
    const { page } = admin;
    await go(page, '#/matrix');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.locator('.totals[data-source="live"]').waitFor();
    assertSameMatrix(await cells(page), JSON.parse(cli(['policy', 'simulate', '-f', join(r.dir, 'live-case.json'), '-o', 'json'], undefined)).results);

    await page.getByLabel('a cluster file').check();
    await page.getByLabel('Cluster file (YAML or JSON)').setInputFiles(join(r.dir, 'file-case.json'));
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.locator('.totals[data-source="file"]').waitFor();
    assertSameMatrix(await cells(page), JSON.parse(cli(['policy', 'simulate', '-f', join(r.dir, 'file-case.json'), '-o', 'json'], undefined)).results);
    // A cell explains over the file it was simulated from, even with "live" chosen again meanwhile.
    await page.getByLabel('the live cluster').check();
    await explained(page, 'file-case.json', 'x/a', 'x/b', '80/TCP');
  });

  it("a cell's explanation matches `romana policy explain`, and its policies open their text", async () => {
    const { page } = admin;
    await page.getByLabel('the live cluster').check();
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.locator('.totals[data-source="live"]').waitFor();
    // Denied by the policy, allowed by it, and no policy at all; the last one's policy opens below.
    for (const [from, to, port] of [['x/b', 'z/c', '80/TCP'], ['y/a', 'x/a', '80/TCP'], ['z/b', 'x/a', '81/UDP']]) {
      await explained(page, 'live-case.json', from, to, port);
    }
    await page.locator('section.explain .policy-link').first().click();
    const text = await page.locator('.policy-text pre').textContent();
    const stored = await r.as.readonly.get<{ object: unknown }>(`/policies/${encodeURIComponent('x/allow-client-a-via-ns-selector')}`);
    assert.deepEqual(YAML.parse(text!), stored.object);
    await page.screenshot({ path: join(IMG, 'console-matrix.png') });
  });

  it('the map shows every host and block the API holds, with group CIDRs and the blackout', async () => {
    const { page } = admin;
    // The matrix is done with the case's pods alone: now some busier hosts.
    await seedBusy(r.as.admin, seeded.hosts);
    await go(page, '#/map');
    await page.locator('.map[data-ready]').waitFor();
    const hosts = (await r.as.readonly.get<{ hosts: { name: string; ip: string }[] }>('/hosts')).hosts;
    const blocks = (await r.as.readonly.get<{ blocks: { cidr: string; host: string; allocated_ip_count: number }[] }>('/blocks')).blocks;
    assert.ok(blocks.length > LIVE_CASE.cluster.pods.length);
    const shown = await page.$$eval('article.host', (els) => els.map((e) => ({
      host: (e as HTMLElement).dataset.host!, ip: e.querySelector('.ip')!.textContent!,
      blocks: [...e.querySelectorAll('.blk')].map((x) => `${(x as HTMLElement).dataset.cidr} ${x.getAttribute('title')}`),
    })));
    assert.deepEqual(shown.map((s) => `${s.host} ${s.ip}`).sort(), hosts.map((h) => `${h.name} ${h.ip}`).sort());
    for (const h of hosts) {
      const want = blocks.filter((x) => x.host === h.name).map((x) => x.cidr).sort();
      const got = shown.find((s) => s.host === h.name)!.blocks;
      assert.deepEqual(got.map((x) => x.split(' ')[0]).sort(), want, `blocks of ${h.name}`);
      for (const x of blocks.filter((y) => y.host === h.name)) assert.ok(got.some((g) => g.includes(`${x.cidr} ·`) && g.endsWith(`· ${x.allocated_ip_count}/8`)), `use of ${x.cidr}`);
    }
    assert.match(await page.locator('.totals').first().textContent() ?? '', new RegExp(`^${hosts.length} hosts · ${blocks.length} blocks`));
    const topo = await r.as.readonly.get<{ topologies: { map: { name: string; cidr: string; groups: { name: string; cidr: string }[] }[] }[] }>('/topology');
    for (const zone of topo.topologies[0].map) {
      for (const g of [zone, ...zone.groups]) {
        assert.equal(await page.locator(`section.group[data-group="${g.name}"] > header .cidrs`).textContent(), g.cidr, `CIDR of ${g.name}`);
      }
    }
    assert.equal(await page.locator('tr[data-network="pods"] td').last().textContent(), seeded.blackout);
    await page.screenshot({ path: join(IMG, 'console-map.png') });
  });

  it('search finds an address: its pod, block, host and group; and an address nobody holds', async () => {
    const { page } = admin;
    const a = seeded.addresses.find((x) => x.pod === 'y/b')!;
    const topo = await r.as.readonly.get<{ topologies: { map: { name: string; groups: { name: string; groups: { name: string }[] }[] }[] }[] }>('/topology');
    const rack = topo.topologies[0].map.flatMap((z) => z.groups.map((g) => ({ path: `${z.name} / ${g.name}`, hosts: g.groups.map((h) => h.name) }))).find((g) => g.hosts.includes(a.host))!;
    await page.getByLabel('Find an address, pod or host').fill(a.ip);
    await page.getByLabel('Find an address, pod or host').press('Enter');
    const hit = page.locator('.results li').first();
    await hit.waitFor();
    assert.equal(await hit.getAttribute('data-kind'), 'address');
    assert.equal(await hit.locator('.detail-text').textContent(), `pod y/b · block ${a.block} · host ${a.host} · group ${rack.path} · owner y:back`);
    await hit.getByRole('button').click();
    await page.locator(`article.host.found[data-host="${a.host}"] .blk.hit[data-cidr="${a.block}"]`).waitFor();
    // The card takes focus in an effect after the render that marks it, so wait for it (a few seconds at most) before asserting.
    const focused = () => page.evaluate(() => document.activeElement?.closest('article')?.getAttribute('data-host'));
    await page.waitForFunction((host) => document.activeElement?.closest('article')?.getAttribute('data-host') === host, a.host, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await focused(), a.host, 'focus moves to the host');
    const free = a.ip.replace(/\.(\d+)$/, (_m, d) => `.${Number(d) + 3}`);
    await page.getByLabel('Find an address, pod or host').fill(free);
    await page.getByRole('button', { name: 'Find' }).click();
    await page.locator('.results li[data-kind="free-ip"]').waitFor();
    assert.match(await page.locator('.results li').first().textContent() ?? '', new RegExp(`not allocated.*in block ${a.block.replace(/\./g, '\\.')} · host ${a.host}`));
  });

  it('a policy applied from the console shows in `romana policy list`; a bad one shows the error at its field and stores nothing; delete removes it', async () => {
    const { page } = admin;
    await go(page, '#/policies');
    const ids = () => (JSON.parse(cli(['policy', 'list', '-o', 'json'])).policies as { id: string }[]).map((p) => p.id).sort();
    const before = ids();
    const policy = (port: number) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: console-made\n  namespace: default\nspec:\n  podSelector:\n    matchLabels:\n      app: web\n  ingress:\n    - ports:\n        - port: ${port}\n`;
    const editor = page.getByLabel(/^Policy \(YAML or JSON/);
    await editor.fill(policy(99999));
    await page.getByRole('button', { name: 'Apply' }).click();
    const err = page.locator('.field-error');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-path'), 'spec.ingress[0].ports[0].port');
    assert.equal(await err.getAttribute('data-line'), '12');
    assert.equal(await err.locator('li.bad code').textContent(), '        - port: 99999');
    assert.match(await err.locator('li.bad .msg').textContent() ?? '', /spec\.ingress\[0\]\.ports\[0\]\.port: must be an integer from 1 to 65535, got 99999/);
    assert.deepEqual(ids(), before, 'the refused policy is not stored');

    await editor.fill(policy(8080));
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('status').filter({ hasText: 'Policy default/console-made created.' }).waitFor();
    assert.deepEqual(ids(), [...before, 'default/console-made'].sort());
    await page.locator('tr[data-policy="default/console-made"]').waitFor();

    await page.getByRole('button', { name: 'Delete policy default/console-made' }).click();
    await page.getByRole('button', { name: 'Delete default/console-made' }).click();
    await page.getByRole('status').filter({ hasText: 'Policy default/console-made deleted.' }).waitFor();
    assert.deepEqual(ids(), before);
  });

  it('a readonly token sees no apply or delete control, and the API refuses it anyway', async () => {
    const ro = await open(TOKENS.readonly);
    await ro.page.locator('.map[data-ready]').waitFor();
    await go(ro.page, '#/policies');
    await ro.page.locator('table.list tbody tr').first().waitFor();
    assert.equal(await ro.page.locator('.who').textContent(), 'viewer · readonly');
    assert.equal(await ro.page.getByRole('button', { name: 'Apply' }).count(), 0);
    assert.equal(await ro.page.locator('textarea').count(), 0);
    assert.equal(await ro.page.getByRole('button', { name: /Delete/ }).count(), 0);
    const status = await ro.page.evaluate(async (t) => (await fetch('/policies', {
      method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'sneaky', namespace: 'default' }, spec: { podSelector: {} } }),
    })).status, TOKENS.readonly);
    assert.equal(status, 403);
    assert.ok(!cli(['policy', 'list', '-o', 'json']).includes('sneaky'));
    await ro.page.close();
  });

  it('a cni token sees only the addresses of its own host', async () => {
    const cni = await open(TOKENS.cni);
    await cni.page.getByRole('heading', { name: 'Addresses on h1' }).waitFor();
    assert.deepEqual(await cni.page.getByRole('navigation', { name: 'Views' }).getByRole('link').allTextContents(), ['Addresses']);
    const rows = await cni.page.locator('table.list tbody tr td:first-child').allTextContents();
    const h1 = (await r.as.admin.get<{ addresses: { name: string; host: string }[] }>('/addresses')).addresses.filter((a) => a.host === 'h1');
    assert.ok(h1.length > 0);
    assert.deepEqual(rows.sort(), h1.map((a) => a.name).sort());
    await cni.page.close();
  });

  it('hosts and agents: a report appears as romanad pushes it, without reloading', async () => {
    const { page } = admin;
    await go(page, '#/hosts');
    await page.locator('.stream[data-state="live"]').waitFor();
    assert.equal(await page.locator('tr[data-host="h1"]').getAttribute('data-report'), 'none');
    await r.as.agent.put('/hosts/h1/status', { interfaces: ['eth0', 'rmn0'], last_applied_revision: 1, applied_change_revision: 1, drift_repairs: 3, last_error: 'sync: iptables-restore: exit 4', report_interval_seconds: 30 });
    const row = page.locator('tr[data-host="h1"][data-report="fresh"]');
    await row.waitFor({ timeout: 5000 });
    const text = await row.textContent();
    assert.match(text!, /reporting/);
    assert.match(text!, /behind \(r1 < r\d+\)/);
    assert.match(text!, /sync: iptables-restore: exit 4/);
    assert.equal(await row.locator('td').nth(3).textContent(), '3');
  });

  it('every view is reachable from the keyboard, and a matrix cell opens its reasons from it', async () => {
    const kb = await open(TOKENS.admin);
    const { page } = kb;
    await page.locator('.map[data-ready]').waitFor();
    const reached: string[] = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => document.activeElement?.textContent?.trim() ?? ''));
    }
    for (const v of ['Skip to content', 'Map', 'Reachability', 'Policies', 'Hosts and agents', 'Sign out']) assert.ok(reached.includes(v), `${v} in ${reached.join(' | ')}`);
    await page.getByRole('link', { name: 'Reachability' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Simulate' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('button.cell').first().waitFor();
    await page.locator('button.cell').first().focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('section.explain').waitFor();
    await page.close();
  });

  it('axe-core finds no serious violation in any view, light or dark; nothing overflows 1280x800', async () => {
    const { page } = admin;
    const views: [string, () => Promise<void>][] = [
      ['#/map', () => page.locator('.map[data-ready]').waitFor()],
      ['#/matrix', async () => {
        await page.getByRole('button', { name: 'Simulate' }).click();
        await page.locator('button.cell').first().click();
        await page.locator('section.explain').waitFor();
      }],
      ['#/policies', async () => {
        await page.getByLabel(/^Policy \(YAML/).fill('kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x, namespace: y}\nspec: {podSelector: {matchLabels: {a: 1}}}\n');
        await page.getByRole('button', { name: 'Apply' }).click();
        await page.locator('.field-error').waitFor();
      }],
      ['#/hosts', () => page.locator('.stream[data-state="live"]').waitFor()],
    ];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [hash, ready] of views) {
        await go(page, hash);
        await ready();
        assert.deepEqual(await axeViolations(page), [], `${hash} (${scheme})`);
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${hash} (${scheme}) scrolls sideways at 1280 px`);
      }
    }
    await page.screenshot({ path: join(IMG, 'console-hosts-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('no page made a request beyond romanad, met a CSP violation or threw', () => {
    const all = opened.flatMap((w) => w.requests);
    assert.ok(all.some((u) => u.includes('/agents/events')) && all.some((u) => u.includes('/policies/simulate')), 'the requests were seen');
    assert.deepEqual(opened.flatMap((w) => foreign(w, origin)), []);
    assert.deepEqual(opened.flatMap((w) => w.violations), []);
    assert.deepEqual(opened.flatMap((w) => w.errors), []);
  });
});
