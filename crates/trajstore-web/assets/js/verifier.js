// The verifier's tests (metadata.verifier_tests): counts, then each test, failures first.
// All of it is text from the data: every line goes in through textContent, never as HTML.

import { h } from './dom.js';
import { fmt, folded } from './format.js';

/** passed, failed (failed or errored) or other (skipped, xfail, anything else). */
function testOutcome(status) {
  const s = status.toLowerCase();
  if (s === 'passed' || s === 'pass') return 'passed';
  if (s === 'failed' || s === 'fail' || s === 'error') return 'failed';
  return 'other';
}

function verifierTest(raw) {
  const t = raw && typeof raw === 'object' ? raw : { name: String(raw) };
  const status = t.status === undefined || t.status === null || t.status === '' ? 'unknown' : String(t.status);
  const message =
    t.message === undefined || t.message === null
      ? ''
      : typeof t.message === 'string'
        ? t.message
        : JSON.stringify(t.message, null, 2);
  return { name: String(t.name ?? '(unnamed)'), status, outcome: testOutcome(status), message };
}

function testItem(t) {
  const badge = h(`span.badge.${t.outcome}`, null, t.status);
  const name = h('span.mono.test-name', null, t.name);
  const attrs = { dataset: { status: t.status, outcome: t.outcome } };
  // A message (often a long traceback) stays folded under the test's name.
  if (!t.message) return h('li', attrs, badge, name);
  return h('li', attrs, h('details', null, h('summary', null, badge, name), folded(t.message)));
}

/** metadata.verifier_tests: counts, then the tests, failures first (the sort is stable). */
export function verifierPanel(raw) {
  if (!Array.isArray(raw) || !raw.length) return null;
  const tests = raw.map(verifierTest);
  const rank = { failed: 0, other: 1, passed: 2 };
  const sorted = [...tests].sort((a, b) => rank[a.outcome] - rank[b.outcome]);
  const chip = (outcome) => {
    const n = tests.filter((t) => t.outcome === outcome).length;
    return h(`span.badge.${outcome}`, { dataset: { count: n, outcome } }, `${fmt.count(n)} ${outcome}`);
  };
  return h(
    'section.panel.verifier',
    { id: 'verifier', 'aria-label': 'Verifier', style: 'margin-top:12px' },
    h('h3', null, 'Verifier'),
    h('div.verifier-counts', null, chip('passed'), chip('failed'), chip('other')),
    h('ul.tests', null, sorted.map(testItem)),
  );
}
