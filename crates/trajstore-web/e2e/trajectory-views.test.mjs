// Browser test of what the trajectory page shows of a harness run (issue 22): the
// verifier's tests, the final patch and apply_patch calls as diffs, reasoning folded.
// A server of its own, so the record below cannot disturb ui.test.mjs's data set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, snap } from './harness.mjs';

let server, browser, page;
const pageErrors = [];

const PATCH = [
  'diff --git a/src/parser.py b/src/parser.py',
  'index 3b18e51..a9c0f2d 100644',
  '--- a/src/parser.py',
  '+++ b/src/parser.py',
  '@@ -10,3 +10,3 @@ def parse(text):',
  '     if not text:',
  '-        return None',
  '+        return []',
  '     return text.split(",")',
  '',
].join('\n');

const CODEX_PATCH = [
  '*** Begin Patch',
  '*** Update File: src/parser.py',
  '@@ def parse(text):',
  '-        return None',
  '+        return []  # <b>not bold</b>',
  '*** End Patch',
].join('\n');

const REASONING = 'The parser returns None for empty input, but the test expects an empty list.';

const RECORD = {
  trajectory_id: 'harness-views-1',
  data_id: 'harness-views-task',
  agent_name: 'codex',
  training_id: 'e2e-views',
  task: { question: 'Make parse("") return an empty list.' },
  reward: 0,
  is_success: false,
  termination_reason: 'success',
  metadata: {
    verifier_tests: [
      { name: 'tests/test_parser.py::test_split', status: 'passed' },
      {
        name: 'tests/test_parser.py::test_empty',
        status: 'failed',
        message: 'AssertionError: assert None == []\n  where None = parse("")',
      },
      { name: 'tests/test_parser.py::test_unicode <img src=x onerror="window.__xss=1">', status: 'passed' },
    ],
    patch: PATCH,
  },
  steps: [
    { role: 'system', content: 'You are Codex.' },
    { role: 'user', content: 'Make parse("") return an empty list.' },
    {
      role: 'assistant',
      content: 'I will change the empty case.',
      reasoning_content: REASONING,
      tool_calls: [{ id: 'call_1', name: 'apply_patch', arguments: { input: CODEX_PATCH } }],
    },
    {
      role: 'tool',
      tool_call_id: 'call_1',
      name: 'apply_patch',
      content: 'Success. Updated the following files:\nM src/parser.py',
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The patch applied; the tests should pass now.' },
        { type: 'text', text: 'Done.' },
      ],
    },
  ],
};

before(async () => {
  server = await startServer({ trajectories: 20 });
  const res = await fetch(`${server.base}/api/trajectories`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(RECORD),
  });
  assert.equal(res.status, 200, await res.text());
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e));
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('trajectory: verifier tests, the patch and apply_patch as diffs, reasoning folded', async () => {
  await page.goto(`${server.base}/trajectories/harness-views-1`);
  await page.waitForSelector('#verifier');
  await page.waitForSelector('#step-4');

  // Verifier: counts, and the failed test first with its message folded.
  const counts = await page.$$eval('#verifier .verifier-counts [data-outcome]', (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.outcome, Number(e.dataset.count)])),
  );
  assert.deepEqual(counts, { passed: 2, failed: 1, other: 0 });
  const tests = await page.$$eval('#verifier ul.tests li', (lis) =>
    lis.map((li) => ({
      name: li.querySelector('.test-name').textContent,
      status: li.querySelector('.badge').textContent,
      outcome: li.dataset.outcome,
    })),
  );
  assert.deepEqual(tests, [
    { name: 'tests/test_parser.py::test_empty', status: 'failed', outcome: 'failed' },
    { name: 'tests/test_parser.py::test_split', status: 'passed', outcome: 'passed' },
    {
      name: 'tests/test_parser.py::test_unicode <img src=x onerror="window.__xss=1">',
      status: 'passed',
      outcome: 'passed',
    },
  ]);
  const message = await page.$('#verifier li[data-outcome=failed] details');
  assert.equal(await message.evaluate((d) => d.open), false, 'the failure message is folded');
  assert.match(await message.textContent(), /AssertionError: assert None == \[\]/);
  assert.equal(await page.$('#verifier img'), null, 'a test name is text, not HTML');

  // The final patch as a diff: headers, hunk, one removed and one added line, context.
  assert.equal(await page.textContent('#patch .patch .del'), '-        return None');
  assert.equal(await page.textContent('#patch .patch .add'), '+        return []');
  assert.deepEqual(await page.$$eval('#patch .patch > div', (ds) => ds.map((d) => d.className)), [
    'file',
    'file',
    'file',
    'file',
    'hunk',
    'ctx',
    'del',
    'add',
    'ctx',
  ]);
  assert.match(await page.textContent('#patch .patch-summary'), /1 file · \+1 −1/);
  assert.equal(
    await page.$eval('#patch .patch .add', (d) => getComputedStyle(d).fontFamily),
    await page.$eval('#patch .patch', (d) => getComputedStyle(d).fontFamily),
  );
  assert.match(await page.$eval('#patch .patch', (d) => getComputedStyle(d).fontFamily), /mono/i);
  assert.notEqual(
    await page.$eval('#patch .patch .add', (d) => getComputedStyle(d).backgroundColor),
    await page.$eval('#patch .patch .del', (d) => getComputedStyle(d).backgroundColor),
    'added and removed lines differ in colour',
  );

  // Reasoning: a closed <details> that holds the text, opened by a click.
  const reasoning = await page.$('#step-2 details.reasoning');
  assert.ok(reasoning, 'the step has a Reasoning block');
  assert.equal(await reasoning.evaluate((d) => d.open), false, 'reasoning is folded by default');
  assert.match(await reasoning.$eval('summary', (s) => s.textContent), /^Reasoning/);
  assert.equal(await reasoning.$eval('.reasoning-text', (d) => d.textContent), REASONING);
  assert.equal(await page.isVisible('#step-2 .reasoning-text'), false);
  // A thinking content block is reasoning too, kept out of the step's text.
  assert.equal(await page.$eval('#step-4 details.reasoning', (d) => d.open), false);
  assert.match(await page.textContent('#step-4 details.reasoning .reasoning-text'), /tests should pass now/);
  assert.doesNotMatch(await page.textContent('#step-4 .markdown'), /tests should pass/);

  // The apply_patch call renders as a diff, its text escaped.
  const call = '#step-2 .toolcall.patch-call';
  assert.match(await page.textContent(`${call} .name`), /^apply_patch/);
  assert.equal(await page.textContent(`${call} .patch .file`), '*** Update File: src/parser.py');
  assert.equal(await page.textContent(`${call} .patch .hunk`), '@@ def parse(text):');
  assert.equal(await page.textContent(`${call} .patch .del`), '-        return None');
  assert.equal(await page.textContent(`${call} .patch .add`), '+        return []  # <b>not bold</b>');
  assert.equal(await page.$(`${call} b`), null, 'patch text is never HTML');

  await snap(page, 'trajectory-verifier-patch');
  await page.click('#step-2 details.reasoning summary');
  assert.equal(await page.isVisible('#step-2 .reasoning-text'), true, 'a click unfolds the reasoning');
  await page.click('#verifier li[data-outcome=failed] summary');
  await page.$eval('#step-2', (el) => el.scrollIntoView());
  // Steps are painted lazily (content-visibility): let two frames pass before the picture.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await snap(page, 'trajectory-reasoning-open');

  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(pageErrors.map(String), [], 'no page error');
});
