// Failure modes: run the analysis over the filtered set (POST /api/failure-modes, a
// background task followed until done), then show a run's clusters: counts, words,
// representatives, links to the filtered list, and each mode's share per step and per run.

import { api, errorBox } from './api.js';
import { add, app, fill, h, loading, stateBox } from './dom.js';
import { filterPanel, filterParams } from './filters.js';
import { fmt } from './format.js';
import { navigate, onLeave } from './nav.js';
import { chartColors, makeChart } from './statistics.js';

const listLink = (label) => `/trajectories?${new URLSearchParams({ failure_mode: label })}`;

function clusterTable(run) {
  const total = run.clusters.reduce((n, c) => n + c.count, 0);
  return h(
    'div.table-wrap',
    null,
    h(
      'table.grid',
      { id: 'failure-modes-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Failure mode', 'Trajectories', 'Share', 'Words', 'For example'].map((t) => h('th', null, t)),
        ),
      ),
      h(
        'tbody',
        null,
        run.clusters.map((c) =>
          h(
            'tr',
            { dataset: { label: c.label } },
            h('td', null, h('a', { href: listLink(c.label), 'data-link': true }, c.label)),
            h('td.num', null, fmt.count(c.count)),
            h('td.num', null, fmt.pct(c.count / total)),
            h('td.small', null, c.terms.join(', ')),
            h(
              'td.small.mono',
              null,
              c.representatives.flatMap((id, i) => [
                i ? ', ' : '',
                h('a', { href: `/trajectories/${encodeURIComponent(id)}`, 'data-link': true }, id),
              ]),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Each mode's share of the labelled trajectories at each step of `x`, stacked. */
async function shareChart(filters, x, labels) {
  const canvas = h('canvas', { id: 'chart-failure-share' });
  const box = h(
    'div.panel',
    null,
    h('h2', null, `Share of each failure mode by ${x}`),
    h('div.chart-box', null, canvas),
  );
  const p = new URLSearchParams(filters);
  p.set('x', x);
  p.set('series', 'failure_mode');
  api(`/api/curves?${p}`)
    .then((curve) => {
      const points = curve.points.filter((pt) => labels.includes(pt.series));
      const xs = [...new Set(points.map((pt) => pt.x))].sort((a, b) => a - b);
      const totals = new Map(xs.map((xv) => [xv, 0]));
      for (const pt of points) totals.set(pt.x, totals.get(pt.x) + pt.count);
      makeChart(canvas, {
        type: 'bar',
        data: {
          labels: xs,
          datasets: labels.map((label, i) => ({
            label,
            data: xs.map((xv) => {
              const pt = points.find((q) => q.x === xv && q.series === label);
              return pt ? pt.count / totals.get(xv) : 0;
            }),
            backgroundColor: chartColors(i),
          })),
        },
        options: { scales: { x: { stacked: true }, y: { stacked: true, max: 1 } } },
      });
    })
    .catch((err) => canvas.replaceWith(errorBox(err, 'the shares')));
  return box;
}

/** Each run's failures by mode, as counts. */
function perRunTable(filters, labels) {
  const body = h('div', null, loading('the runs'));
  const p = new URLSearchParams(filters);
  p.set('group_by', 'training_id,failure_mode');
  api(`/api/statistics?${p}`)
    .then((stats) => {
      const runs = [...new Set(stats.groups.map((g) => g.training_id))];
      const count = (run, label) =>
        stats.groups.find((g) => g.training_id === run && g.failure_mode === label)?.count || 0;
      fill(
        body,
        h(
          'table.grid',
          { id: 'failure-modes-per-run' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'Run'),
              labels.map((l) => h('th.num', null, l)),
            ),
          ),
          h(
            'tbody',
            null,
            runs.map((run) =>
              h(
                'tr',
                null,
                h('td', null, run ?? '–'),
                labels.map((l) => h('td.num', null, fmt.count(count(run, l)))),
              ),
            ),
          ),
        ),
      );
    })
    .catch((err) => fill(body, errorBox(err, 'the runs')));
  return h('div.panel', null, h('h2', null, 'Per run'), body);
}

async function showRun(out, run, filters, x) {
  const labels = run.clusters.map((c) => c.label);
  const fit = run.parameters.fit || {};
  const by = run.parameters.labels;
  const labelledBy = by && by.model ? `labelled by ${by.model}, ` : '';
  fill(
    out,
    h(
      'p.small.muted',
      { id: 'failure-run' },
      `Run ${run.analysis_id} of ${fmt.time(run.created_at)}: ${run.clusters.length} failure modes (k ${run.parameters.k === 'auto' ? `auto → ${fit.k}` : fit.k}), ${labelledBy}`,
      `${fmt.count(run.unclustered)} trajectories without a failure text, ${fmt.count(run.replaced)} earlier labels replaced. `,
      h('a', { href: `/api/failure-modes/${encodeURIComponent(run.analysis_id)}` }, 'JSON'),
    ),
    clusterTable(run),
  );
  add(out, await shareChart(filters, x, labels), perRunTable(filters, labels));
}

/** Starts a run over `filters` and follows it in `status` until it is done. */
async function startRun(filters, k, llmLabels, status) {
  const p = new URLSearchParams(filters);
  p.set('k', k || 'auto');
  if (llmLabels) p.set('llm_labels', 'true');
  let task;
  try {
    task = await api(`/api/failure-modes?${p}`, { method: 'POST' });
  } catch (err) {
    fill(status, errorBox(err, 'the analysis'));
    return;
  }
  let stopped = false;
  onLeave(() => (stopped = true));
  while (!stopped) {
    let t;
    try {
      t = await api(`/api/failure-modes/tasks/${encodeURIComponent(task.task_id)}`);
    } catch (err) {
      fill(status, errorBox(err, 'the analysis'));
      return;
    }
    fill(
      status,
      h(
        'span',
        { id: 'failure-task', dataset: { status: t.status } },
        `${t.stage} ${t.total ? `${fmt.count(t.done)} / ${fmt.count(t.total)}` : ''}`,
      ),
    );
    if (t.status === 'done') {
      const p2 = new URLSearchParams(filters);
      p2.set('analysis', t.result.analysis_id);
      navigate(`/failure-modes?${p2}`);
      return;
    }
    if (t.status === 'failed') {
      fill(status, stateBox('error', `The analysis failed: ${t.error}`));
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function failureModesPage(params) {
  const filters = filterParams(params);
  const x = params.get('x') || 'epoch_id';
  const panel = filterPanel(params, (f) => navigate(`/failure-modes?${new URLSearchParams(f)}`));
  const kInput = h('input', { id: 'failure-k', placeholder: 'auto', size: 6, 'aria-label': 'number of clusters' });
  const status = h('span.small.muted', { id: 'failure-status' });
  // Shown once the server says it has a language model to label clusters with.
  const llmBox = h('input', { type: 'checkbox', id: 'failure-llm' });
  const llmLabel = h('label', { hidden: true }, llmBox, ' Labels by ', h('span', { id: 'failure-llm-model' }));
  const out = h('div', { id: 'failure-output' }, loading('the stored runs'));
  const toolbar = h(
    'div.toolbar',
    null,
    h('label', null, 'Clusters ', kInput),
    llmLabel,
    h(
      'button.primary',
      {
        id: 'failure-run-button',
        onclick: () => startRun(filters, kInput.value.trim(), !llmLabel.hidden && llmBox.checked, status),
      },
      'Find failure modes',
    ),
    status,
  );
  const intro = h(
    'p.small.muted',
    null,
    'Clusters the failed trajectories of the filtered set by what went wrong (termination reason, last message, ',
    'last tool output, errors), offline, and labels each cluster by its distinctive words (or, where the server ',
    'has a language model, by a line it writes from the most central failures, which are sent to it). The labels ',
    'become the column failure_mode: filter and group by it.',
  );
  fill(
    app(),
    h(
      'div.layout',
      null,
      panel,
      h('section', { 'aria-label': 'Failure modes' }, h('h1', null, 'Failure modes'), intro, toolbar, out),
    ),
  );
  let runs;
  try {
    const stored = await api('/api/failure-modes');
    runs = stored.data;
    if (stored.label_model) {
      fill(llmLabel.querySelector('#failure-llm-model'), stored.label_model);
      llmLabel.hidden = false;
    }
  } catch (err) {
    fill(out, errorBox(err, 'the stored runs'));
    return;
  }
  if (!runs.length) {
    fill(out, stateBox('empty', 'No analysis yet: choose filters and find the failure modes.'));
    return;
  }
  const chosen = runs.find((r) => r.analysis_id === params.get('analysis')) || runs[0];
  const picker = h(
    'select',
    {
      id: 'failure-runs',
      'aria-label': 'Stored runs',
      onchange: (e) => {
        const p = new URLSearchParams(params);
        p.set('analysis', e.target.value);
        navigate(`/failure-modes?${p}`);
      },
    },
    runs.map((r) =>
      h(
        'option',
        { value: r.analysis_id, selected: r === chosen },
        `${fmt.time(r.created_at)} · ${r.clusters.length} modes`,
      ),
    ),
  );
  add(toolbar, h('span.spacer'), h('label', null, 'Run ', picker));
  await showRun(out, chosen, filters, x);
}
