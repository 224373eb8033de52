// Statistics: cards and charts over the filtered set. Chart is the vendored Chart.js,
// loaded as a classic script before the modules.

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { filterPanel, filterParams } from './filters.js';
import { fmt } from './format.js';
import { liveBar } from './live.js';
import { navigate, onLeave } from './nav.js';
import { cellText, columns } from './schema.js';
import { toolsPanel } from './tools.js';

export function chartColors(i) {
  const c = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f59f00', '#c92a2a', '#5c940d'];
  return c[i % c.length];
}

export function makeChart(canvas, config) {
  if (!window.Chart) {
    canvas.replaceWith(stateBox('error', 'The chart library is not bundled: run scripts/setup.sh and rebuild.'));
    return null;
  }
  const text = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim();
  window.Chart.defaults.color = text;
  const chart = new window.Chart(
    canvas,
    Object.assign({ options: {} }, config, {
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {}),
    }),
  );
  onLeave(() => chart.destroy());
  return chart;
}

/** A line chart of a curve without series: one line per [label, key, colour] over its points. */
export function pointsChart(canvas, points, lines) {
  makeChart(canvas, {
    type: 'line',
    data: {
      labels: points.map((p) => p.x),
      datasets: lines.map(([label, key, colour]) => ({
        label,
        data: points.map((p) => p[key]),
        borderColor: chartColors(colour),
        backgroundColor: chartColors(colour),
        tension: 0.2,
      })),
    },
  });
}

/** The x axis and k choices (each a new URL) and a link to the JSON twin. */
function statsControls(params, x, k, json, live) {
  const set = (name) => (e) => {
    const p = new URLSearchParams(params);
    p.set(name, e.target.value);
    navigate(`/statistics?${p}`);
  };
  return h(
    'div.toolbar',
    null,
    h(
      'label',
      null,
      'x axis ',
      h(
        'select',
        { onchange: set('x') },
        ['epoch_id', 'iteration_id'].map((v) => h('option', { value: v, selected: v === x }, v)),
      ),
    ),
    h('label', null, 'k ', h('input', { value: k, size: 8, onchange: set('k') })),
    live,
    h('span.spacer'),
    h('a.small', { href: json, target: '_blank' }, 'JSON'),
  );
}

function statCards(o, k) {
  const ks = k
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return h(
    'div.cards',
    { id: 'stat-cards' },
    h('div.card', null, h('span', null, 'Trajectories'), h('b', null, fmt.count(o.count))),
    h('div.card', null, h('span', null, 'Tasks'), h('b', null, fmt.count(o.tasks))),
    h('div.card', null, h('span', null, 'Success rate'), h('b', null, fmt.pct(o.success_rate))),
    ks.map((kk) =>
      h(
        'div.card',
        { title: `${fmt.count(o[`tasks_skipped@${kk}`])} tasks with fewer than ${kk} samples left out` },
        h('span', null, `pass@${kk}`),
        h('b', null, fmt.pct(o[`pass@${kk}`])),
      ),
    ),
    h('div.card', null, h('span', null, 'Mean reward'), h('b', null, fmt.num(o.reward_mean))),
    h('div.card', null, h('span', null, 'Median steps'), h('b', null, fmt.num(o.step_count_median))),
    totalCards(o),
  );
}

/** A card per column the server sums (cost), when the matching rows have values. */
function totalCards(o) {
  return columns()
    .filter((c) => c.statistics.includes(`${c.name}_sum`) && o[`${c.name}_sum`] != null)
    .map((c) =>
      h(
        'div.card',
        { dataset: { column: c.name } },
        h('span', null, `Total ${c.label}`),
        h('b', null, cellText(c, o[`${c.name}_sum`])),
      ),
    );
}

/** The curve's points as x labels and a `lines(key)` that makes one dataset per series. */
function curveLines(curve) {
  const series = new Map();
  for (const pt of curve.points) {
    const s = pt.series ?? '(none)';
    if (!series.has(s)) series.set(s, []);
    series.get(s).push(pt);
  }
  const xs = [...new Set(curve.points.map((p) => p.x))].sort((a, b) => a - b);
  const lines = (key) =>
    [...series].map(([name, pts], i) => ({
      label: String(name),
      data: xs.map((xv) => {
        const p = pts.find((q2) => q2.x === xv);
        return p ? p[key] : null;
      }),
      borderColor: chartColors(i),
      backgroundColor: chartColors(i),
      spanGaps: true,
      tension: 0.2,
    }));
  return { xs, lines };
}

/** A bar chart of one dataset, without a legend. */
function barChart(canvas, labels, data, colour) {
  makeChart(canvas, {
    type: 'bar',
    data: { labels, datasets: [{ label: 'trajectories', data, backgroundColor: chartColors(colour) }] },
    options: { plugins: { legend: { display: false } } },
  });
}

function drawCharts(canvases, o, curve, steps) {
  const { xs, lines } = curveLines(curve);
  makeChart(canvases.reward, { type: 'line', data: { labels: xs, datasets: lines('reward_mean') } });
  makeChart(canvases.success, {
    type: 'line',
    data: { labels: xs, datasets: lines('success_rate') },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  makeChart(canvases.nogradient, {
    type: 'line',
    data: { labels: xs, datasets: lines('no_gradient_share') },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  const reasons = Object.entries(o.termination_reasons || {}).sort((a, b) => b[1] - a[1]);
  barChart(
    canvases.termination,
    reasons.map((r) => r[0]),
    reasons.map((r) => r[1]),
    0,
  );
  const lo = o.reward_min ?? 0,
    hi = o.reward_max ?? 1,
    w = (hi - lo) / 10;
  barChart(
    canvases.histogram,
    (o.reward_histogram || []).map((_, i) => `${fmt.num(lo + i * w, 2)}–${fmt.num(lo + (i + 1) * w, 2)}`),
    o.reward_histogram || [],
    2,
  );
  const stepGroups = (steps.groups || [])
    .filter((g) => g.step_count !== null)
    .sort((a, b) => a.step_count - b.step_count);
  barChart(
    canvases.steps,
    stepGroups.map((g) => g.step_count),
    stepGroups.map((g) => g.count),
    4,
  );
}

export async function statsPage(params) {
  const root = app();
  const x = params.get('x') || 'epoch_id';
  const k = params.get('k') || '1,4,8';
  const filters = filterParams(params);
  const panel = filterPanel(params, (f) => {
    const p = new URLSearchParams(f);
    p.set('x', x);
    p.set('k', k);
    navigate(`/statistics?${p}`);
  });
  const content = h('section', { 'aria-label': 'Statistics' }, loading('statistics'));
  fill(root, h('div.layout', null, panel, content));
  const q = (extra) => {
    const p = new URLSearchParams(filters);
    for (const [a, b] of Object.entries(extra)) p.set(a, b);
    return p;
  };
  let stats, curve, steps;
  try {
    [stats, curve, steps] = await Promise.all([
      api(`/api/statistics?${q({ k })}`),
      api(`/api/curves?${q({ x, series: 'training_id', k: k.split(',')[0] })}`),
      api(`/api/statistics?${q({ group_by: 'step_count', k: '1' })}`),
    ]);
  } catch (err) {
    fill(content, errorBox(err, 'statistics'));
    return;
  }
  const o = stats.overall;
  const controls = statsControls(params, x, k, `/api/statistics?${q({ k })}`, liveBar(filters, o.count));
  if (!o.count) {
    fill(content, controls, stateBox('empty', 'No trajectories match these filters.'));
    return;
  }
  const canvases = {};
  const box = (title, name) => {
    canvases[name] = h('canvas', { id: `chart-${name}` });
    return h('div.panel', null, h('h2', null, title), h('div.chart-box', null, canvases[name]));
  };
  const charts = h(
    'div.charts',
    null,
    box(`Mean reward by ${x}`, 'reward'),
    box(`Success rate by ${x}`, 'success'),
    box(`Prompt groups with equal rewards (no GRPO gradient) by ${x}`, 'nogradient'),
    box('Termination reasons', 'termination'),
    box('Reward histogram', 'histogram'),
    box('Step count distribution', 'steps'),
  );
  fill(content, controls, statCards(o, k), charts, toolsPanel(q({})));
  drawCharts(canvases, o, curve, steps);
}
