// End-to-end tests of the web UI in headless Chromium against a real server.
// Run by scripts/test.sh after the Rust tests: `node --test crates/trajstore-web/e2e/`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { startServer, launchBrowser, snap, apiJson, longTrajectory, ARTIFACTS, BIN } from './harness.mjs';

let server, browser, page, chat;

/**
 * A stand-in for an OpenAI-compatible chat endpoint on loopback, for labels written by a
 * language model: it answers "Fake: <the cluster's first distinctive word>".
 */
async function startFakeChat() {
  const requests = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const json = JSON.parse(body);
      requests.push(json);
      const user = json.messages[1].content;
      const word = user.split('Distinctive words: ')[1].split(/[,\n]/)[0];
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: `Fake: ${word}` } }] }));
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${srv.address().port}`, requests, close: () => srv.close() };
}

before(async () => {
  chat = await startFakeChat();
  server = await startServer({ serveArgs: ['--llm-endpoint', chat.url, '--llm-model', 'fake-labeller'] });
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => {
    throw e;
  });
});

after(async () => {
  await browser?.close();
  server?.stop();
  chat?.close();
});

const rowIds = () => page.$$eval('#trajectory-table tbody tr', (trs) => trs.map((tr) => tr.dataset.id));

test('list: filter and sort through the panel and headers; rows match the API', async () => {
  await page.goto(`${server.base}/trajectories`);
  await page.waitForSelector('#trajectory-table');
  await page.fill('input[name=training_id]', 'run-2');
  await page.fill('input[name=reward_min]', '0.2');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/training_id=run-2/);
  await page.waitForSelector('#trajectory-table');
  await page.click('th[data-sort=reward]'); // ascending
  await page.waitForURL(/order=asc/);
  await page.click('th[data-sort=reward]'); // descending
  await page.waitForURL(/order=desc/);
  await page.waitForFunction(() => document.querySelector('th.sorted')?.textContent.includes('▼'));
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('sort'), 'reward');
  const expected = await apiJson(
    server.base,
    `/api/trajectories?training_id=run-2&reward_min=0.2&sort=reward&order=desc&page_size=50`,
  );
  assert.ok(expected.total > 0 && expected.total < 1200, `the filter narrows the set (total ${expected.total})`);
  assert.deepEqual(
    await rowIds(),
    expected.data.map((r) => r.trajectory_id),
  );
  assert.equal(await page.textContent('#total'), `${expected.total.toLocaleString('en-US')} trajectories`);
  // Every row honours the filter, and rewards descend.
  const rewards = expected.data.map((r) => r.reward);
  assert.ok(rewards.every((r, i) => r >= 0.2 && (i === 0 || rewards[i - 1] >= r)));
  // The next page continues where this one ended.
  await page.click('#next-page');
  await page.waitForURL(/page=2/);
  await page.waitForSelector('#trajectory-table');
  const second = await apiJson(
    server.base,
    `/api/trajectories?training_id=run-2&reward_min=0.2&sort=reward&order=desc&page_size=50&page=2`,
  );
  assert.deepEqual(
    await rowIds(),
    second.data.map((r) => r.trajectory_id),
  );
  await snap(page, 'list-filtered-sorted');
});

test('list: the filter panel covers every filter the API accepts', async () => {
  await page.goto(`${server.base}/trajectories`);
  await page.waitForSelector('#trajectory-table');
  const spec = await apiJson(server.base, '/api/openapi.json');
  const apiFilters = spec.paths['/api/trajectories'].get.parameters
    .map((p) => p.name)
    .filter((n) => !['page', 'page_size', 'sort', 'order', 'cursor', 'format'].includes(n));
  const panel = await page.evaluate(() => window.trajstorePanelFilters());
  for (const name of apiFilters) assert.ok(panel.includes(name), `filter ${name} is missing from the panel`);
  for (const name of panel.filter((n) => n !== 'metadata.KEY'))
    assert.ok(await page.$(`form.filters [name="${name}"]`), `no input for ${name}`);
});

test("list: its columns are the schema's list columns; model, tokens and cost shown and sortable", async () => {
  const schema = await apiJson(server.base, '/api/schema');
  await page.goto(`${server.base}/trajectories?sort=cost&order=desc&page_size=50`);
  await page.waitForSelector('#trajectory-table');
  const headers = await page.$$eval('#trajectory-table thead th', (ths) =>
    ths.map((t) => t.textContent.replace(/[▲▼]/g, '').trim()),
  );
  const expected = schema.columns
    .filter((c) => c.in_list && c.name !== 'is_bookmarked')
    .map((c) => c.label.charAt(0).toUpperCase() + c.label.slice(1));
  assert.deepEqual(headers.slice(2), expected);
  assert.ok(expected.includes('Cost') && expected.includes('Model'), 'cost and model are list columns');
  const first = (await apiJson(server.base, '/api/trajectories?sort=cost&order=desc&page_size=50')).data[0];
  assert.ok(first.cost > 0 && first.model && first.input_tokens > 0, 'the demo rows have model, tokens and cost');
  const cells = await page.$$eval('#trajectory-table tbody tr:first-child td[data-column]', (tds) =>
    Object.fromEntries(tds.map((t) => [t.dataset.column, t.textContent])),
  );
  assert.equal(cells.model, first.model);
  assert.equal(cells.input_tokens, first.input_tokens.toLocaleString('en-US'));
  assert.match(cells.cost, /^\$\d/);
  assert.ok(await page.$('th.sorted[data-sort=cost]'), 'the list is sorted by cost');
  const panel = await page.evaluate(() => window.trajstorePanelFilters());
  for (const name of ['model', 'cost_min', 'cost_max', 'input_tokens_min', 'output_tokens_max'])
    assert.ok(panel.includes(name), `the panel has ${name}`);
});

test('list: empty and error states; keyboard j/k and Enter open a trajectory', async () => {
  await page.goto(`${server.base}/trajectories?training_id=no-such-run`);
  await page.waitForSelector('.state.empty');
  assert.match(await page.textContent('.state.empty'), /No trajectories match/);
  await snap(page, 'list-empty');
  await page.goto(`${server.base}/trajectories?reward_min=abc`);
  await page.waitForSelector('.state.error');
  assert.match(await page.textContent('.state.error'), /reward_min/);
  await snap(page, 'list-error');
  await page.goto(`${server.base}/trajectories?sort=trajectory_id&order=asc&page_size=20`);
  await page.waitForSelector('#trajectory-table');
  const ids = await rowIds();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  assert.equal(await page.$eval('tr.active', (tr) => tr.dataset.id), ids[1]);
  assert.equal(new URL(page.url()).searchParams.get('sel'), ids[1], 'the selected row is in the URL');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#trajectory-id');
  assert.equal(await page.textContent('#trajectory-id'), ids[1]);
  // Previous/next within the list it came from.
  await page.waitForSelector('#next-trajectory');
  await page.click('#next-trajectory');
  await page.waitForFunction((id) => document.querySelector('#trajectory-id')?.textContent === id, ids[2]);
});

test('trajectory: a 320-step, 5 MB trajectory renders progressively and every step is reachable', async () => {
  const t0 = Date.now();
  await page.goto(`${server.base}/trajectories/long-trajectory-1`);
  await page.waitForSelector('#step-0');
  const firstMs = Date.now() - t0;
  await page.waitForSelector('#step-319', { state: 'attached' });
  const lastMs = Date.now() - t0;
  const timing = await page.evaluate(() => window.trajstoreTiming);
  console.log(
    `# 320-step trajectory: first step after ${firstMs} ms, last step reachable after ${lastMs} ms (in-page ${Math.round(timing.detailMs)} ms)`,
  );
  writeFileSync(
    join(ARTIFACTS, 'long-trajectory-timing.txt'),
    `first_step_ms=${firstMs}\nlast_step_ms=${lastMs}\nin_page_ms=${Math.round(timing.detailMs)}\n`,
  );
  assert.ok(lastMs < 10000, `the last step is reachable within 10 s (took ${lastMs} ms)`);
  assert.equal(await page.$$eval('.step', (s) => s.length), 320);
  // Markdown with code, tool calls with pretty arguments, folded long outputs.
  assert.ok(await page.$('#step-2 .markdown pre code'), 'assistant Markdown renders code blocks');
  assert.match(await page.textContent('#step-2 .toolcall'), /"command": "cat src\/file_2.py"/);
  const fold = await page.$('#step-3 .fold-note button');
  assert.ok(fold, 'a long tool output is folded');
  const before = (await page.textContent('#step-3 pre')).length;
  await fold.click();
  assert.ok((await page.textContent('#step-3 pre')).length > before * 5, 'expanding shows the whole output');
  // A deep link to a step.
  await page.goto(`${server.base}/trajectories/long-trajectory-1#step-250`);
  await page.waitForSelector('#step-250');
  await page.waitForFunction(() => {
    const r = document.getElementById('step-250').getBoundingClientRect();
    return r.top >= 0 && r.top < window.innerHeight;
  });
  await snap(page, 'trajectory-long');
  await page.goto(`${server.base}/trajectories/does-not-exist`);
  await page.waitForSelector('.state.empty');
  assert.match(await page.textContent('.state.empty'), /No trajectory with id/);
});

test('trajectory: bookmark, tags and notes persist after a reload', async () => {
  const first = (
    await apiJson(server.base, '/api/trajectories?sort=trajectory_id&order=asc&page_size=1&is_bookmarked=false')
  ).data[0];
  await page.goto(`${server.base}/trajectories?sort=trajectory_id&order=asc&is_bookmarked=false&page_size=5`);
  await page.waitForSelector('#trajectory-table');
  await page.click(`tr[data-id="${first.trajectory_id}"] button.star`);
  await page.waitForSelector(`tr[data-id="${first.trajectory_id}"] button.star.on`);
  await page.reload();
  await page.waitForSelector('#trajectory-table');
  assert.ok(
    !(await rowIds()).includes(first.trajectory_id),
    'after the reload the bookmarked row no longer matches is_bookmarked=false',
  );
  const stored = await apiJson(server.base, `/api/trajectories/${encodeURIComponent(first.trajectory_id)}`);
  assert.equal(stored.is_bookmarked, true);
  await page.goto(`${server.base}/trajectories/${encodeURIComponent(first.trajectory_id)}`);
  await page.waitForSelector('#tags-input');
  assert.equal(await page.getAttribute('h1 button.star', 'aria-pressed'), 'true');
  await page.fill('#tags-input', 'reviewed, e2e');
  await page.fill('#notes-input', 'looked at in the browser');
  await page.click('text=Save tags and notes');
  await page.waitForSelector('text=Saved');
  await page.reload();
  await page.waitForSelector('#tags-input');
  assert.equal(await page.inputValue('#tags-input'), 'reviewed, e2e');
  assert.equal(await page.inputValue('#notes-input'), 'looked at in the browser');
  await snap(page, 'trajectory-edited');
});

test('compare: three trajectories selected in the list, side by side', async () => {
  await page.goto(`${server.base}/trajectories?sort=trajectory_id&order=asc&page_size=20`);
  await page.waitForSelector('#trajectory-table');
  const ids = (await rowIds()).slice(0, 3);
  for (const id of ids) await page.check(`tr[data-id="${id}"] input[type=checkbox]`);
  await page.click('text=Compare selected (3)');
  await page.waitForSelector('#compare-grid');
  assert.equal(new URL(page.url()).searchParams.get('ids'), ids.join(','));
  const headers = await page.$$eval('#compare-grid a.mono', (as) => as.map((a) => a.textContent));
  assert.deepEqual(headers, ids);
  const records = await Promise.all(
    ids.map((id) => apiJson(server.base, `/api/trajectories/${encodeURIComponent(id)}`)),
  );
  const rewardsDiffer = new Set(records.map((r) => r.reward)).size > 1;
  const highlighted = await page.$$eval('#compare-grid .cell.diff[data-field=reward]', (c) => c.length);
  assert.equal(highlighted, rewardsDiffer ? 3 : 0, 'differing rewards are highlighted, equal ones are not');
  await snap(page, 'compare');
});

test('compare: steps aligned by actions, an extra turn as a gap, the first divergence marked', async () => {
  const call = (id, name, args) => ({
    role: 'assistant',
    tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }],
  });
  const result = (id, content) => ({ role: 'tool', tool_call_id: id, content });
  const record = (trajectory_id, steps) => ({
    trajectory_id,
    training_id: 'align-e2e',
    steps: [{ role: 'user', content: 'fix the parser' }, ...steps],
  });
  const a = record('align-a', [
    call('1', 'bash', { command: 'pytest' }),
    result('1', '1 failed'),
    call('2', 'edit', { file: 'parser.py' }),
    result('2', 'ok'),
    { role: 'assistant', content: 'fixed' },
  ]);
  const b = record('align-b', [
    call('1', 'bash', { command: 'pytest' }),
    result('1', '1 failed'),
    call('2', 'grep', { q: 'tokenize' }),
    result('2', 'parser.py:10'),
    call('3', 'edit', { file: 'parser.py' }),
    result('3', 'ok'),
    { role: 'assistant', content: 'fixed' },
  ]);
  const r = await fetch(`${server.base}/api/trajectories`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([a, b]),
  });
  assert.equal(r.status, 200);
  await page.goto(`${server.base}/compare?ids=align-a,align-b`);
  await page.waitForSelector('#compare-grid');
  await page.click('#align-toggle');
  await page.waitForURL(/align=actions/);
  await page.waitForSelector('#first-divergence');
  const doc = await apiJson(server.base, '/api/compare?ids=align-a,align-b&align=actions');
  assert.deepEqual(
    doc.alignment.rows.map((row) => row.kind),
    ['prologue', 'same', 'gap', 'same', 'same'],
  );
  assert.equal(doc.alignment.first_divergence, 2);
  const kinds = await page.$$eval('#compare-grid .idx[data-kind]', (els) => els.map((e) => e.dataset.kind));
  assert.deepEqual(
    kinds,
    doc.alignment.rows.map((row) => row.kind),
  );
  assert.equal(await page.getAttribute('#first-divergence', 'data-row'), '2');
  // The extra turn (grep and its result) stands beside a gap in the first trajectory.
  const divergence = await page.$$eval('#first-divergence ~ div', (cells) =>
    cells.slice(0, 2).map((c) => [c.classList.contains('gap'), c.textContent]),
  );
  assert.equal(divergence[0][0], true);
  assert.match(divergence[1][1], /grep/);
  await snap(page, 'compare-aligned');
});

test('statistics: cards and charts render with data points', async () => {
  await page.goto(`${server.base}/statistics`);
  await page.waitForSelector('#stat-cards');
  const stats = await apiJson(server.base, '/api/statistics?k=1,4,8');
  assert.match(await page.textContent('#stat-cards'), new RegExp(stats.overall.count.toLocaleString('en-US')));
  const points = await page.evaluate(() =>
    ['chart-reward', 'chart-success', 'chart-nogradient', 'chart-termination', 'chart-histogram', 'chart-steps'].map(
      (id) => {
        const chart = window.Chart.getChart(document.getElementById(id));
        return chart ? chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0) : -1;
      },
    ),
  );
  for (const n of points) assert.ok(n > 0, `every chart has data points (${points})`);
  // One line per training run.
  const curve = await apiJson(server.base, '/api/curves?x=epoch_id&series=training_id');
  const runs = new Set(curve.points.map((p) => p.series)).size;
  assert.ok(runs >= 3);
  assert.equal(
    await page.evaluate(() => window.Chart.getChart(document.getElementById('chart-reward')).data.datasets.length),
    runs,
  );
  // The tool panel: a row per tool, most called first, as the API counts them.
  await page.waitForSelector('#tools-table');
  const tools = await apiJson(server.base, '/api/tools');
  assert.ok(tools.tools.length >= 2, 'the demo calls several tools');
  const rows = await page.$$eval('#tools-table tbody tr', (trs) =>
    trs.map((tr) => [tr.dataset.tool, tr.children[1].textContent]),
  );
  assert.deepEqual(
    rows,
    tools.tools.map((t) => [t.tool_name, t.calls.toLocaleString('en-US')]),
  );
  await snap(page, 'statistics');
  await page.goto(`${server.base}/statistics?training_id=nobody`);
  await page.waitForSelector('.state.empty');
});

test('training: a step of a run, its groups by spread, and one group with advantages', async () => {
  await page.goto(`${server.base}/training`);
  await page.waitForSelector('#groups-table');
  const run = await page.$eval('#run-select', (s) => s.value);
  const step = Number(await page.textContent('#step-value'));
  const expected = await apiJson(
    server.base,
    `/api/groups?training_id=${run}&iteration_id=${step}&sort=spread&page_size=100`,
  );
  assert.ok(expected.total > 1, `the demo has several groups per step (${expected.total})`);
  assert.deepEqual(
    await page.$$eval('#groups-table tbody tr', (trs) => trs.map((tr) => tr.dataset.dataId)),
    expected.data.map((g) => g.data_id),
  );
  // The per-step chart has a point per step for each series.
  const curve = await apiJson(server.base, `/api/curves?x=iteration_id&series=none&training_id=${run}`);
  const lengths = await page.evaluate(() =>
    window.Chart.getChart(document.getElementById('chart-steps')).data.datasets.map((d) => d.data.length),
  );
  assert.deepEqual(lengths, [curve.points.length, curve.points.length, curve.points.length, curve.points.length]);
  // Moving the slider to the last step loads that step's groups.
  await page.$eval('#step-slider', (el) => {
    el.value = el.max;
    el.dispatchEvent(new Event('change'));
  });
  const last = curve.points[curve.points.length - 1].x;
  await page.waitForURL(new RegExp(`iteration_id=${last}`));
  await page.waitForFunction((x) => document.querySelector('#step-value')?.textContent === String(x), last);
  // Open the first group: its members, best reward first, with the API's advantages.
  await page.waitForSelector('#groups-table tbody tr a');
  const first = await page.$eval('#groups-table tbody tr', (tr) => tr.dataset.dataId);
  await page.click('#groups-table tbody tr a');
  await page.waitForSelector('#group-members tbody tr');
  const detail = await apiJson(server.base, `/api/groups/${run}/${last}/${encodeURIComponent(first)}`);
  const shown = await page.$$eval('#group-members tbody tr', (trs) =>
    trs.map((tr) => [tr.children[1].textContent, tr.querySelector('.advantage').textContent]),
  );
  assert.deepEqual(
    shown.map((r) => r[0]),
    detail.members.map((m) => m.trajectory_id),
  );
  for (const [i, m] of detail.members.entries()) {
    if (m.advantage_grpo !== null) assert.ok(Math.abs(Number(shown[i][1]) - m.advantage_grpo) < 1e-3);
  }
  // Where the best and the worst sample part ways, from the two trajectories' steps.
  const rewarded = detail.members.filter((m) => m.reward !== null);
  if (rewarded[0].reward !== rewarded[rewarded.length - 1].reward) {
    await page.waitForSelector('#divergence');
    const best = await apiJson(server.base, `/api/trajectories/${rewarded[0].trajectory_id}`);
    const worst = await apiJson(server.base, `/api/trajectories/${rewarded[rewarded.length - 1].trajectory_id}`);
    const key = (s) => JSON.stringify([s.role, s.content, s.tool_calls ?? null]);
    let at = 0;
    while (at < Math.min(best.steps.length, worst.steps.length) && key(best.steps[at]) === key(worst.steps[at])) at++;
    assert.equal(await page.$eval('#divergence', (p) => p.dataset.step), String(at));
  }
  await snap(page, 'training');
  // A member's page charts its task over the run's steps.
  await page.click('#group-members tbody tr a');
  await page.waitForSelector('#chart-task-history');
  const history = await apiJson(
    server.base,
    `/api/curves?x=iteration_id&series=none&training_id=${run}&data_id=${encodeURIComponent(first)}`,
  );
  assert.equal(
    await page.evaluate(() => window.Chart.getChart(document.getElementById('chart-task-history')).data.labels.length),
    history.points.length,
  );
  await page.goBack();
  await page.waitForSelector('#groups-table');
  // A kind filter narrows the table to that kind.
  await page.selectOption('#kind-select', 'all_fail');
  await page.waitForURL(/kind=all_fail/);
  await page.waitForSelector('#groups-total');
  const kinds = await page.$$eval('#groups-table tbody tr .pill', (ps) => ps.map((p) => p.textContent));
  assert.ok(kinds.every((k) => k === 'all_fail'));
});

test('runs: learned and forgotten tasks between two steps match the API', async () => {
  const curve = await apiJson(server.base, '/api/curves?x=iteration_id&series=training_id');
  const run = curve.points[0].series;
  const xs = curve.points.filter((p) => p.series === run).map((p) => p.x);
  const a = `training_id=${run},iteration_id=${xs[0]}`;
  const b = `training_id=${run},iteration_id=${xs[xs.length - 1]}`;
  await page.goto(`${server.base}/runs`);
  await page.waitForSelector('#diff-cards');
  assert.equal(await page.inputValue('#side-a'), a, 'the first view compares the first and last step');
  assert.equal(await page.inputValue('#side-b'), b);
  await page.fill('#side-a', `training_id=${run},epoch_id=0`);
  await page.fill('#side-b', `training_id=${run},epoch_id=4`);
  await page.click('form.toolbar button[type=submit]');
  await page.waitForURL(/epoch_id%3D4/);
  await page.waitForSelector('#diff-cards');
  const d = await apiJson(
    server.base,
    `/api/diff-runs?${new URLSearchParams({ a: `training_id=${run},epoch_id=0`, b: `training_id=${run},epoch_id=4` })}`,
  );
  assert.ok(d.learned.count > 0, 'the demo run learns tasks');
  for (const bucket of ['learned', 'forgotten', 'stayed_solved', 'stayed_unsolved', 'only_a', 'only_b']) {
    const count = await page.textContent(`[data-bucket=${bucket}] .count`);
    assert.equal(count, d[bucket].count.toLocaleString('en-US'), bucket);
    const items = await page.$$eval(`[data-bucket=${bucket}] li`, (lis) => lis.length);
    assert.equal(items, Math.min(50, d[bucket].tasks.length), bucket);
  }
  await snap(page, 'runs');
  // A learned task opens in the compare view with samples from both sides.
  const task = d.learned.tasks[0];
  await page.click(`[data-bucket=learned] li:first-child a.compare-task`);
  await page.waitForURL(/\/compare\?ids=/);
  const ids = new URL(page.url()).searchParams.get('ids').split(',');
  const rows = await Promise.all(ids.map((id) => apiJson(server.base, `/api/trajectories/${encodeURIComponent(id)}`)));
  assert.ok(rows.every((r) => r.data_id === task && r.training_id === run));
  assert.deepEqual([...new Set(rows.map((r) => r.epoch_id))].sort(), [0, 4]);
});

test('failure modes: a run from the page, its clusters as the API stores them, a label filters the list', async () => {
  await page.goto(`${server.base}/failure-modes`);
  await page.waitForSelector('#failure-run-button');
  await page.click('#failure-run-button');
  await page.waitForURL(/analysis=fm-/, { timeout: 120000 });
  await page.waitForSelector('#failure-modes-table');
  const runs = (await apiJson(server.base, '/api/failure-modes')).data;
  const run = runs[0];
  assert.equal(new URL(page.url()).searchParams.get('analysis'), run.analysis_id);
  assert.ok(run.clusters.length >= 2, `several failure modes (${run.clusters.length})`);
  const rows = await page.$$eval('#failure-modes-table tbody tr', (trs) =>
    trs.map((tr) => [tr.dataset.label, tr.children[1].textContent]),
  );
  assert.deepEqual(
    rows,
    run.clusters.map((c) => [c.label, c.count.toLocaleString('en-US')]),
  );
  const reps = await page.$$eval('#failure-modes-table tbody tr:first-child td:last-child a', (as) =>
    as.map((a) => a.textContent),
  );
  assert.deepEqual(reps, run.clusters[0].representatives);
  // Each mode's share per epoch: the stacked shares of an epoch add up to 1.
  await page.waitForFunction(() => window.Chart.getChart(document.getElementById('chart-failure-share')));
  const sums = await page.evaluate(() => {
    const chart = window.Chart.getChart(document.getElementById('chart-failure-share'));
    return chart.data.labels.map((_, i) => chart.data.datasets.reduce((s, d) => s + d.data[i], 0));
  });
  assert.ok(sums.length > 0 && sums.every((s) => Math.abs(s - 1) < 1e-9), `${sums}`);
  await page.waitForSelector('#failure-modes-per-run');
  await snap(page, 'failure-modes');
  // A label opens the list filtered by it, with the cluster's count as its total.
  const first = run.clusters[0];
  await page.click(`#failure-modes-table tbody tr:first-child td:first-child a`);
  await page.waitForURL(/\/trajectories\?failure_mode=/);
  await page.waitForSelector('#trajectory-table');
  assert.equal(await page.textContent('#total'), `${first.count.toLocaleString('en-US')} trajectories`);
});

test("failure modes: labels written by the server's language model", async () => {
  const before = (await apiJson(server.base, '/api/failure-modes')).data.map((r) => r.analysis_id);
  await page.goto(`${server.base}/failure-modes`);
  await page.waitForFunction(() => !document.getElementById('failure-llm').closest('label').hidden);
  assert.equal(await page.textContent('#failure-llm-model'), 'fake-labeller');
  await page.check('#failure-llm');
  await page.fill('#failure-k', '3');
  const asked = chat.requests.length;
  await page.click('#failure-run-button');
  await page.waitForFunction(
    (old) => {
      const id = new URL(location.href).searchParams.get('analysis');
      return id && !old.includes(id) && document.getElementById('failure-modes-table');
    },
    before,
    { timeout: 120000 },
  );
  const run = (await apiJson(server.base, '/api/failure-modes')).data[0];
  assert.equal(run.parameters.labels.model, 'fake-labeller');
  assert.equal(chat.requests.length - asked, run.clusters.length, 'one request per cluster');
  assert.ok(
    run.clusters.every((c) => c.label.startsWith(`Fake: ${c.terms[0]}`)),
    JSON.stringify(run.clusters.map((c) => [c.label, c.terms[0]])),
  );
  const labels = await page.$$eval('#failure-modes-table tbody tr', (trs) => trs.map((tr) => tr.dataset.label));
  assert.deepEqual(
    labels,
    run.clusters.map((c) => c.label),
  );
  assert.match(await page.textContent('#failure-run'), /labelled by fake-labeller/);
});

test('sql: an example query runs, its table matches the API, its chart has points; a write is refused', async () => {
  await page.goto(`${server.base}/sql`);
  await page.waitForSelector('#sql-editor');
  await page.selectOption('#sql-examples', { label: 'Success rate per run and epoch' });
  const query = await page.inputValue('#sql-editor');
  assert.match(query, /GROUP BY training_id, epoch_id/);
  await page.click('#sql-run');
  await page.waitForURL(/\/sql\?q=/);
  await page.waitForSelector('#sql-result');
  const r = await fetch(`${server.base}/api/sql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sql: query }),
  });
  const answer = await r.json();
  assert.ok(answer.rows.length >= 3, `a row per run and epoch (${answer.rows.length})`);
  // The example counts a success as `trajstore stats` does, so their rates agree.
  const stats = await apiJson(server.base, '/api/statistics');
  const column = (name) => answer.columns.findIndex((c) => c.name === name);
  const [n, rate] = [column('trajectories'), column('success_rate')];
  const total = answer.rows.reduce((sum, row) => sum + row[n], 0);
  const successes = answer.rows.reduce((sum, row) => sum + row[n] * row[rate], 0);
  assert.equal(total, stats.overall.count);
  assert.ok(
    Math.abs(successes / total - stats.overall.success_rate) < 1e-9,
    `${successes / total} against ${stats.overall.success_rate}`,
  );
  const headers = await page.$$eval('#sql-result th', (ths) => ths.map((th) => th.textContent));
  assert.deepEqual(
    headers,
    answer.columns.map((c) => c.name),
  );
  const cells = await page.$$eval('#sql-result tbody tr', (trs) =>
    trs.map((tr) => [...tr.children].slice(0, 3).map((td) => td.textContent)),
  );
  assert.deepEqual(
    cells,
    answer.rows.map((row) => row.slice(0, 3).map((v) => (v === null ? '' : String(v)))),
  );
  assert.match(await page.textContent('#sql-status'), new RegExp(`^${answer.rows.length} rows · \\d+ ms$`));
  // The chart: y over x for every row, and another y when chosen.
  await page.waitForFunction(() => window.Chart.getChart(document.getElementById('sql-chart')));
  const points = () =>
    page.evaluate(() => window.Chart.getChart(document.getElementById('sql-chart')).data.datasets[0].data.length);
  const y = answer.columns.findIndex((c) => c.name === 'mean_reward');
  assert.equal(await page.$eval('#sql-chart-y', (s) => s.selectedOptions[0].textContent), 'mean_reward');
  assert.equal(await points(), answer.rows.filter((row) => row[y] !== null).length);
  await page.selectOption('#sql-chart-y', { label: 'success_rate' });
  await page.waitForFunction(
    () => window.Chart.getChart(document.getElementById('sql-chart'))?.data.datasets[0].label === 'success_rate',
  );
  await snap(page, 'sql');
  // A reload runs the query of the URL again.
  await page.reload();
  await page.waitForSelector('#sql-result');
  assert.equal(await page.inputValue('#sql-editor'), query);
  // A statement that writes is refused with the server's message, and changes nothing.
  const before = await apiJson(server.base, '/api/count');
  await page.fill('#sql-editor', 'DELETE FROM trajectories');
  await page.press('#sql-editor', 'Control+Enter');
  await page.waitForSelector('#sql-output .state.error');
  assert.match(await page.textContent('#sql-output .state.error'), /only queries that read/);
  assert.equal((await apiJson(server.base, '/api/count')).total, before.total);
});

test('import: upload a small file and watch it complete', async () => {
  const before = (await apiJson(server.base, '/api/trajectories?page_size=1')).total;
  const file = join(server.dir, 'upload.jsonl');
  const rows = [longTrajectory('uploaded-1', 6, 2000), longTrajectory('uploaded-2', 4, 1000)].map((t) =>
    JSON.stringify(t),
  );
  writeFileSync(file, rows.join('\n') + '\n{"not a trajectory": true}\n');
  await page.goto(`${server.base}/import`);
  await page.waitForSelector('#import-tasks');
  await page.setInputFiles('#import-file', file);
  await page.waitForSelector('#import-tasks [data-status=done]', { timeout: 30000 });
  const text = await page.textContent('#import-tasks');
  assert.match(text, /Imported 2, skipped 0 duplicates, 1 failed/);
  assert.equal((await apiJson(server.base, '/api/trajectories?page_size=1')).total, before + 2);
  // Another format, detected from the content: a tau-bench results list.
  const tau = join(server.dir, 'airline.json');
  const run = (task, reward) => ({
    task_id: task,
    trial: 0,
    reward,
    info: { task: { instruction: `Cancel reservation ${task}` } },
    traj: [
      { role: 'user', content: 'cancel it' },
      { role: 'assistant', content: 'Done.' },
    ],
  });
  writeFileSync(tau, JSON.stringify([run(1, 1), run(2, 0)]));
  await page.waitForFunction(() => document.querySelectorAll('#import-format option').length > 5);
  await page.setInputFiles('#import-file', tau);
  await page.waitForSelector('#import-tasks [data-formats="tau-bench"]', { timeout: 30000 });
  assert.equal((await apiJson(server.base, '/api/trajectories?page_size=1')).total, before + 4);
  await snap(page, 'import');
});

test('search: the search box finds a phrase inside a tool output and links to its step', async () => {
  await page.goto(`${server.base}/trajectories`);
  await page.waitForSelector('#search-input');
  // "line of output 250" occurs only in step 251 of the long trajectory.
  await page.fill('#search-input', 'output 250');
  await page.press('#search-input', 'Enter');
  await page.waitForURL(/q=output/);
  await page.waitForSelector('#search-table, .state.empty, .state.error');
  const api = await apiJson(server.base, '/api/search?q=output%20250');
  assert.ok(api.data.length > 0, 'the API finds the phrase');
  const ids = await page.$$eval('#search-table tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(
    ids,
    api.data.map((r) => r.trajectory_id),
  );
  const hit = api.data.find((r) => r.trajectory_id === 'long-trajectory-1');
  assert.ok(hit, 'the long trajectory is among the hits');
  assert.equal(hit.step, 251, 'the hit names the step holding the phrase');
  assert.match(await page.textContent('#search-table tr[data-id="long-trajectory-1"] mark'), /output|250/i);
  await snap(page, 'search');
  await page.click('#search-table tr[data-id="long-trajectory-1"] a');
  await page.waitForSelector('#step-251');
  assert.match(page.url(), /#step-251$/);
  // Filters combine with the search: another run excludes it.
  await page.goto(`${server.base}/trajectories?q=output%20250&training_id=run-1`);
  await page.waitForSelector('.state.empty');
});

test('similar: the trajectory page lists the nearest trajectories by meaning', async () => {
  let embedded = true;
  try {
    execFileSync(BIN, ['embed', '--db', server.db, '--max', '120', '--text-source', 'question'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    embedded = false;
    console.log(
      `# embedding unavailable (${String(e.stderr).trim().split('\n').pop()}); checking the panel's error state`,
    );
  }
  const probe = await fetch(
    `${server.base}/api/similar?text=${encodeURIComponent('Fix the failing unit test in the parser module')}&k=3`,
  );
  if (!embedded || !probe.ok) {
    await page.goto(`${server.base}/trajectories/long-trajectory-1`);
    await page.waitForSelector('#similar');
    await page.waitForFunction(() => !document.querySelector('#similar').textContent.includes('Loading'));
    return;
  }
  const anchor = (await probe.json()).data[0].trajectory_id;
  const expected = await apiJson(server.base, `/api/trajectories/${encodeURIComponent(anchor)}/similar?k=10`);
  assert.ok(expected.data.length > 0 && expected.data.every((r) => r.trajectory_id !== anchor));
  await page.goto(`${server.base}/trajectories/${encodeURIComponent(anchor)}`);
  await page.waitForSelector('#similar table');
  const ids = await page.$$eval('#similar tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(
    ids,
    expected.data.map((r) => r.trajectory_id),
  );
  if (expected.not_embedded) assert.match(await page.textContent('#similar'), /not embedded yet/);
  await snap(page, 'similar');
});

test('live: new trajectories are announced without moving the list, and followed when asked', async () => {
  const live = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  live.on('pageerror', (e) => {
    throw e;
  });
  await live.addInitScript(() => {
    window.trajstoreLivePollMs = 200;
    localStorage.removeItem('trajstore.follow');
  });
  const add = async (id) => {
    const steps = [{ role: 'user', content: `live ${id}` }];
    const r = await fetch(`${server.base}/api/trajectories`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ trajectory_id: id, training_id: 'live-run', reward: 1, steps }),
    });
    assert.equal(r.status, 200);
  };
  await add('live-0');
  await live.goto(`${server.base}/trajectories?training_id=live-run`);
  await live.waitForSelector('#trajectory-table');
  assert.equal(await live.textContent('#total'), '1 trajectories');
  await add('live-1');
  await add('live-2');
  await live.waitForFunction(() => document.querySelector('#live-count')?.textContent === '2 new');
  // Announced, not shown: the rows the reader is looking at stay as they were.
  assert.deepEqual(await live.$$eval('#trajectory-table tbody tr', (trs) => trs.map((tr) => tr.dataset.id)), [
    'live-0',
  ]);
  await snap(live, 'live-announced');
  await live.click('#live-show');
  await live.waitForFunction(() => document.querySelector('#total')?.textContent === '3 trajectories');
  assert.ok(await live.isHidden('#live-show'));
  // Following: the next arrival reloads the list by itself.
  await live.check('#live-follow');
  await add('live-3');
  await live.waitForFunction(() => document.querySelector('#total')?.textContent === '4 trajectories');
  assert.ok(await live.isChecked('#live-follow'), 'the switch stays on');
  // The statistics page announces too.
  await live.uncheck('#live-follow');
  await live.goto(`${server.base}/statistics?training_id=live-run`);
  await live.waitForSelector('.live');
  await add('live-4');
  await live.waitForFunction(() => document.querySelector('#live-count')?.textContent === '1 new');
  await live.close();
});
