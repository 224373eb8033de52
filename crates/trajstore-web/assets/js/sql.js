// SQL: a read-only query over the store (POST /api/sql), its result as a table, and a
// chart of any two of its columns. The query lives in the URL (`/sql?q=...`), so a
// result can be shared and reloaded.

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { fmt } from './format.js';
import { navigate } from './nav.js';
import { chartColors, makeChart } from './statistics.js';

/** Saved examples: [title, query]. Each runs on any store. A trajectory succeeded as in
 * `trajstore stats`: by its is_success, else by a reward of at least 1. */
export const EXAMPLES = [
  [
    'Success rate per run and epoch',
    `SELECT training_id, epoch_id, count(*) AS trajectories,
       avg(CASE WHEN coalesce(is_success, reward >= 1.0, false) THEN 1.0 ELSE 0.0 END) AS success_rate,
       avg(reward) AS mean_reward
FROM trajectories
GROUP BY training_id, epoch_id
ORDER BY training_id, epoch_id`,
  ],
  [
    'The longest trajectories per run',
    `SELECT training_id, trajectory_id, step_count, reward
FROM (SELECT *, row_number() OVER (PARTITION BY training_id ORDER BY step_count DESC) AS rank
      FROM trajectories)
WHERE rank <= 3
ORDER BY training_id, step_count DESC`,
  ],
  [
    'Reward by number of steps',
    `SELECT step_count, count(*) AS trajectories, avg(reward) AS mean_reward
FROM trajectories
GROUP BY step_count
ORDER BY step_count`,
  ],
  [
    'Tokens and cost per run',
    `SELECT training_id, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cost) AS cost
FROM trajectories
GROUP BY training_id
ORDER BY training_id`,
  ],
  [
    'Failure rate per tool',
    `SELECT c.tool_name, count(*) AS calls,
       avg(CASE WHEN c.result_is_error THEN 1.0 ELSE 0.0 END) AS error_rate,
       avg(CASE WHEN coalesce(t.is_success, t.reward >= 1.0, false) THEN 0.0 ELSE 1.0 END) AS trajectory_failure_rate
FROM tool_calls c JOIN trajectories t ON c.trajectory_id = t.trajectory_id
GROUP BY c.tool_name
ORDER BY calls DESC`,
  ],
  [
    'Failures by termination reason',
    `SELECT termination_reason, count(*) AS failures
FROM trajectories
WHERE NOT coalesce(is_success, reward >= 1.0, false)
GROUP BY termination_reason
ORDER BY failures DESC`,
  ],
];

const NUMERIC = /^(U?Int|Float|Decimal)/;

function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return fmt.num(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function resultTable(answer) {
  return h(
    'div.table-wrap',
    null,
    h(
      'table.grid',
      { id: 'sql-result' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          answer.columns.map((c) => h(`th${NUMERIC.test(c.type) ? '.num' : ''}`, { title: c.type }, c.name)),
        ),
      ),
      h(
        'tbody',
        null,
        answer.rows.map((row) =>
          h(
            'tr',
            null,
            row.map((v, i) => h(`td${NUMERIC.test(answer.columns[i].type) ? '.num' : ''}`, null, cellText(v))),
          ),
        ),
      ),
    ),
  );
}

/** A chart of column y over column x: bars over a text x, points over a numeric one. */
function chartPanel(answer) {
  const cols = answer.columns;
  const numeric = cols.map((c, i) => [c, i]).filter(([c]) => NUMERIC.test(c.type));
  if (!cols.length || !numeric.length || !answer.rows.length) return null;
  const box = h('div.chart-box');
  const option = ([c, i]) => h('option', { value: i }, c.name);
  const xSelect = h(
    'select',
    { id: 'sql-chart-x', 'aria-label': 'x column' },
    cols.map((c, i) => option([c, i])),
  );
  const ySelect = h('select', { id: 'sql-chart-y', 'aria-label': 'y column' }, numeric.map(option));
  // Aggregates usually come last: the last numeric column is the first y shown.
  ySelect.value = String(numeric[numeric.length - 1][1]);
  const draw = () => {
    const [x, y] = [Number(xSelect.value), Number(ySelect.value)];
    const canvas = h('canvas', { id: 'sql-chart' });
    fill(box, canvas);
    const points = answer.rows.filter((r) => r[y] !== null);
    const scatter = NUMERIC.test(cols[x].type);
    makeChart(canvas, {
      type: scatter ? 'scatter' : 'bar',
      data: {
        labels: scatter ? undefined : points.map((r) => cellText(r[x])),
        datasets: [
          {
            label: cols[y].name,
            data: scatter ? points.map((r) => ({ x: r[x], y: r[y] })) : points.map((r) => r[y]),
            backgroundColor: chartColors(0),
            borderColor: chartColors(0),
          },
        ],
      },
      options: { scales: { x: { title: { display: true, text: cols[x].name } } } },
    });
  };
  xSelect.addEventListener('change', draw);
  ySelect.addEventListener('change', draw);
  const panel = h('div.panel', null, h('div.toolbar', null, h('b', null, 'Chart'), 'x', xSelect, 'y', ySelect), box);
  setTimeout(draw);
  return panel;
}

async function runQuery(query, out) {
  fill(out, loading('the result'));
  let answer;
  try {
    answer = await api('/api/sql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sql: query }),
    });
  } catch (err) {
    fill(out, errorBox(err, 'the result'));
    return;
  }
  const status = `${fmt.count(answer.rows.length)} rows · ${Math.round(answer.elapsed_ms)} ms`;
  fill(
    out,
    h(
      'div.toolbar',
      null,
      h('span.total', { id: 'sql-status' }, status),
      answer.truncated
        ? h('span.pill.error', { id: 'sql-truncated' }, `truncated at the row limit of ${fmt.count(answer.row_limit)}`)
        : null,
    ),
    chartPanel(answer),
    answer.rows.length ? resultTable(answer) : stateBox('empty', 'The query returned no rows.'),
  );
}

export function sqlPage(params) {
  const query = params.get('q') || '';
  const editor = h(
    'textarea.mono',
    { id: 'sql-editor', 'aria-label': 'SQL query', rows: 8, spellcheck: 'false', style: 'width:100%' },
    query || EXAMPLES[0][1],
  );
  const run = () => navigate(`/sql?${new URLSearchParams({ q: editor.value })}`);
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  const examples = h(
    'select',
    {
      id: 'sql-examples',
      'aria-label': 'Example queries',
      onchange: (e) => {
        if (e.target.value !== '') editor.value = EXAMPLES[Number(e.target.value)][1];
      },
    },
    h('option', { value: '' }, 'Examples…'),
    EXAMPLES.map(([title], i) => h('option', { value: i }, title)),
  );
  const out = h('div', { id: 'sql-output' });
  fill(
    app(),
    h('h1', null, 'SQL'),
    h(
      'p.small.muted',
      null,
      'One read-only query (SELECT, WITH, VALUES) over the tables trajectories (the summary columns), ',
      'steps (one row per step) and tool_calls (one row per tool call). ',
      'Ctrl+Enter runs it. ',
      h('a', { href: '/api/openapi.json' }, 'POST /api/sql'),
      ' answers the same as JSON.',
    ),
    h(
      'div.panel',
      null,
      editor,
      h('div.toolbar', null, examples, h('span.spacer'), h('button.primary', { id: 'sql-run', onclick: run }, 'Run')),
    ),
    out,
  );
  if (query) runQuery(query, out);
}
