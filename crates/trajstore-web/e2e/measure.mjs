// By hand, not part of the test run: time pages of a running server in Chromium.
//   node crates/trajstore-web/e2e/measure.mjs http://127.0.0.1:8000 [TRAJECTORY_ID]
// Prints the time from navigation to the first rows of the list (cold, then warm with
// the server's cache), to the first rows of a filtered and sorted list, and, given an id,
// to the last step of that trajectory being in the page.
import { launchBrowser } from './harness.mjs';

const base = process.argv[2] || 'http://127.0.0.1:8000';
const id = process.argv[3];
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });

async function time(label, url, selector) {
  const t0 = Date.now();
  await page.goto(base + url);
  await page.waitForSelector(selector, { state: 'attached', timeout: 120000 });
  const ms = Date.now() - t0;
  console.log(`${label.padEnd(44)} ${String(ms).padStart(6)} ms`);
  return ms;
}

const total = (await (await fetch(`${base}/api/trajectories?page_size=1`)).json()).total;
console.log(`store: ${total} trajectories at ${base}`);
await time('list, first rows (first visit)', '/trajectories', '#trajectory-table tbody tr');
await time('list, first rows (again)', '/trajectories?page_size=50', '#trajectory-table tbody tr');
await time(
  'list, filtered + sorted by reward',
  '/trajectories?training_id=run-2&reward_min=0.5&sort=reward&order=desc',
  '#trajectory-table tbody tr',
);
await time('statistics page, cards', '/statistics', '#stat-cards');
if (id) {
  const n = (await (await fetch(`${base}/api/trajectories/${encodeURIComponent(id)}?steps=0:0`)).json()).steps_range
    .total;
  await time(`trajectory ${id}, last of ${n} steps`, `/trajectories/${encodeURIComponent(id)}`, `#step-${n - 1}`);
}
await browser.close();
