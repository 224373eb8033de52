// Statistics: cards and charts over the filtered set. Chart is the vendored Chart.js,
// loaded as a classic script before the modules.

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { filterPanel, filterParams } from './filters.js';
import { fmt } from './format.js';
import { navigate, onLeave } from './nav.js';

function chartColors(i) {
  const c = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f59f00', '#c92a2a', '#5c940d'];
  return c[i % c.length];
}

function makeChart(canvas, config) {
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
  const controls = h(
    'div.toolbar',
    null,
    h(
      'label',
      null,
      'x axis ',
      h(
        'select',
        {
          onchange: (e) => {
            const p = new URLSearchParams(params);
            p.set('x', e.target.value);
            navigate(`/statistics?${p}`);
          },
        },
        ['epoch_id', 'iteration_id'].map((v) => h('option', { value: v, selected: v === x }, v)),
      ),
    ),
    h(
      'label',
      null,
      'k ',
      h('input', {
        value: k,
        size: 8,
        onchange: (e) => {
          const p = new URLSearchParams(params);
          p.set('k', e.target.value);
          navigate(`/statistics?${p}`);
        },
      }),
    ),
    h('span.spacer'),
    h('a.small', { href: `/api/statistics?${q({ k })}`, target: '_blank' }, 'JSON'),
  );
  if (!o.count) {
    fill(content, controls, stateBox('empty', 'No trajectories match these filters.'));
    return;
  }
  const ks = k
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const cards = h(
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
  );
  const box = (title, id) => {
    const c = h('canvas', { id });
    return [h('div.panel', null, h('h2', null, title), h('div.chart-box', null, c)), c];
  };
  const [rewardBox, rewardCanvas] = box(`Mean reward by ${x}`, 'chart-reward');
  const [successBox, successCanvas] = box(`Success rate by ${x}`, 'chart-success');
  const [termBox, termCanvas] = box('Termination reasons', 'chart-termination');
  const [histBox, histCanvas] = box('Reward histogram', 'chart-histogram');
  const [stepBox, stepCanvas] = box('Step count distribution', 'chart-steps');
  fill(content, controls, cards, h('div.charts', null, rewardBox, successBox, termBox, histBox, stepBox));

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
  makeChart(rewardCanvas, { type: 'line', data: { labels: xs, datasets: lines('reward_mean') } });
  makeChart(successCanvas, {
    type: 'line',
    data: { labels: xs, datasets: lines('success_rate') },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  const reasons = Object.entries(o.termination_reasons || {}).sort((a, b) => b[1] - a[1]);
  makeChart(termCanvas, {
    type: 'bar',
    data: {
      labels: reasons.map((r) => r[0]),
      datasets: [{ label: 'trajectories', data: reasons.map((r) => r[1]), backgroundColor: chartColors(0) }],
    },
    options: { plugins: { legend: { display: false } } },
  });
  const lo = o.reward_min ?? 0,
    hi = o.reward_max ?? 1,
    w = (hi - lo) / 10;
  makeChart(histCanvas, {
    type: 'bar',
    data: {
      labels: (o.reward_histogram || []).map((_, i) => `${fmt.num(lo + i * w, 2)}–${fmt.num(lo + (i + 1) * w, 2)}`),
      datasets: [{ label: 'trajectories', data: o.reward_histogram || [], backgroundColor: chartColors(2) }],
    },
    options: { plugins: { legend: { display: false } } },
  });
  const stepGroups = (steps.groups || [])
    .filter((g) => g.step_count !== null)
    .sort((a, b) => a.step_count - b.step_count);
  makeChart(stepCanvas, {
    type: 'bar',
    data: {
      labels: stepGroups.map((g) => g.step_count),
      datasets: [{ label: 'trajectories', data: stepGroups.map((g) => g.count), backgroundColor: chartColors(4) }],
    },
    options: { plugins: { legend: { display: false } } },
  });
}
