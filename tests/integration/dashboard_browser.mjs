// The page in a real browser: Debian's Chromium, headless, driven by playwright-core (which
// downloads no browser). Checks, without reloading the page:
//   - every city's [data-metric="incidents"][data-city] data-value equals the SQL count
//   - after new incidents arrive (ADD_CMD runs the pipeline), the count changes to the new
//     SQL count, pushed over /events
//   - no console errors, no page errors, no request leaves 127.0.0.1
//   - axe-core finds no serious or critical accessibility violation
//   - keyboard: the filters are reachable with Tab and changing one keeps it in the URL
// and saves screenshots into OUT_DIR.
//   node dashboard_browser.mjs URL OUT_DIR      env: DSN (psql), ADD_CMD (shell), CITY (changes)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(join(root, 'dashboard', 'package.json'));
const { chromium } = require('playwright-core');
const [url, outDir] = process.argv.slice(2);
const { DSN, ADD_CMD, CITY } = process.env;
let failures = 0;
const fail = (msg) => { failures++; console.log(`FAIL: ${msg}`); };
const sqlCounts = () => Object.fromEntries(
  execFileSync('psql', ['-X', '-q', '-t', '-A', '-F', '\t', DSN, '-c',
    'SELECT city, count(*) FROM blotter.incidents GROUP BY city'], { encoding: 'utf8' })
    .trim().split('\n').filter(Boolean).map((l) => { const [c, n] = l.split('\t'); return [c, Number(n)]; }));
const pageCounts = (page) => page.$$eval('[data-metric="incidents"][data-city]',
  (els) => Object.fromEntries(els.map((e) => [e.dataset.city, Number(e.dataset.value)])));

const profile = mkdtempSync(join(tmpdir(), 'blotter-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  bypassCSP: true, // only so that axe-core can be injected; the page itself needs no exception
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Any name but loopback fails to resolve: a request to elsewhere would show up below.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  const offsite = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith('http://127.0.0.1') && !r.url().startsWith('data:')) offsite.push(r.url()); });

  await page.goto(`${url}/?range=all`);
  await page.waitForSelector('body[data-refreshed]', { timeout: 30000 });
  await page.waitForFunction(() => document.querySelector('#live.on'), null, { timeout: 15000 })
    .catch(() => fail('the live feed did not connect'));

  // 1. Every city's count equals SQL.
  const want = sqlCounts();
  const got = await pageCounts(page);
  for (const [c, n] of Object.entries(want)) {
    if (got[c] !== n) fail(`${c}: page shows ${got[c]}, SQL counts ${n}`);
  }
  for (const [c, n] of Object.entries(got)) if (!(c in want) && n !== 0) fail(`${c}: page shows ${n}, SQL has none`);
  console.log(`counts on the page: ${JSON.stringify(got)}`);
  const shown = await page.$$eval('[data-value]', (els) => els.length);
  if (shown < 100) fail(`only ${shown} elements carry data-value`);
  await page.screenshot({ path: join(outDir, 'dashboard-before.png'), fullPage: true });

  // 2. New incidents arrive; the count changes without a reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  execFileSync('bash', ['-c', ADD_CMD], { stdio: 'inherit' });
  const after = sqlCounts();
  if (after[CITY] === want[CITY]) fail(`ADD_CMD did not change ${CITY}'s count (${after[CITY]})`);
  await page.waitForFunction(([c, n]) => {
    const e = document.querySelector(`[data-metric="incidents"][data-city="${c}"]`);
    return e && Number(e.dataset.value) === n;
  }, [CITY, after[CITY]], { timeout: 30000 }).catch(async () => {
    fail(`${CITY} did not change to ${after[CITY]} (shows ${(await pageCounts(page))[CITY]})`);
  });
  if (!(await page.evaluate(() => window.__sameDocument === true))) fail('the page was reloaded');
  const ticker = await page.$$eval('#ticker li', (els) => els.map((e) => e.textContent));
  if (!ticker.some((t) => t.includes('new'))) fail(`the live ticker shows nothing: ${ticker}`);
  console.log(`${CITY}: ${want[CITY]} → ${after[CITY]} without a reload; ticker: ${ticker[0]}`);
  await page.screenshot({ path: join(outDir, 'dashboard.png'), fullPage: true });

  // 3. Accessibility (axe-core) and the keyboard.
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const serious = axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of serious) fail(`axe ${v.impact}: ${v.id} (${v.nodes} nodes): ${v.help}`);
  console.log(`axe: ${axe.length} violations, ${serious.length} serious or critical ${JSON.stringify(axe)}`);
  await page.keyboard.press('Tab'); // the skip link
  await page.keyboard.press('Tab');
  if (await page.evaluate(() => document.activeElement.id) !== 'f-city') fail('Tab does not reach the city filter');
  await page.selectOption('#f-city', CITY);
  await page.waitForFunction((c) => new URL(location.href).searchParams.get('city') === c, CITY, { timeout: 5000 })
    .catch(() => fail('the city filter is not kept in the URL'));
  await page.waitForFunction(() => document.querySelector('[aria-pressed="true"]'), null, { timeout: 10000 })
    .catch(() => fail('the chosen city is not marked'));

  if (errors.length) fail(`console errors: ${errors.join(' | ')}`);
  if (offsite.length) fail(`requests off this machine: ${offsite.join(' ')}`);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(failures ? `${failures} browser checks failed` : 'browser checks: ok');
process.exit(failures ? 1 : 0);
