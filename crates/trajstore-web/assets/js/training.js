// RL training views. Training: pick a run and a step; the per-step curves, the step's
// prompt groups sorted by reward spread, and one group's samples with their advantages.
// Runs: the tasks learned and forgotten between two sides (steps or runs).
// The state lives in the URL; each view names its JSON twin.

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { fmt } from './format.js';
import { liveBar } from './live.js';
import { navigate } from './nav.js';
import { pointsChart } from './statistics.js';

const KINDS = ['', 'mixed', 'all_success', 'all_fail', 'zero_variance'];

/** The runs that have training steps (iteration_id), in order. */
async function runNames() {
  const doc = await api('/api/curves?x=iteration_id&series=training_id&k=1');
  return [...new Set(doc.points.map((p) => p.series).filter((r) => r !== null))];
}

function groupsTable(page, open, selected) {
  const head = ['data_id', 'n', 'reward mean', 'reward std', 'spread', 'success', 'mean steps', 'kind'];
  return h(
    'table.grid',
    { id: 'groups-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        head.map((c, i) => h(i && i < 7 ? 'th.num' : 'th', null, c)),
      ),
    ),
    h(
      'tbody',
      null,
      page.data.map((g) =>
        h(
          'tr',
          { dataset: { dataId: g.data_id }, class: g.data_id === selected ? 'selected' : null },
          h('td', null, h('a', { href: open(g.data_id), 'data-link': true }, g.data_id)),
          h('td.num', null, g.n),
          h('td.num', null, fmt.num(g.reward_mean)),
          h('td.num', null, fmt.num(g.reward_std)),
          h('td.num', null, fmt.num(g.reward_spread)),
          h('td.num', null, `${g.success_count}/${g.n}`),
          h('td.num', null, fmt.num(g.step_count_mean, 1)),
          h('td', null, h(`span.pill.${g.kind}`, null, g.kind)),
        ),
      ),
    ),
  );
}

function membersPanel(detail) {
  const ids = detail.members.map((m) => m.trajectory_id);
  return h(
    'div.panel',
    { id: 'group-members' },
    h('h2', null, `Samples of ${detail.data_id}`),
    h(
      'p.muted.small',
      null,
      `${detail.n} samples, ${detail.success_count} succeeded; reward mean ${fmt.num(detail.reward_mean)}, `,
      `std (${detail.std}) ${fmt.num(detail.reward_std)}; GRPO advantage = (r − mean) / (std + ${detail.eps}), `,
      'RLOO advantage = r − mean of the others. ',
      h(
        'a',
        { href: `/compare?ids=${encodeURIComponent(ids.slice(0, 8).join(','))}`, 'data-link': true },
        'Compare side by side',
      ),
    ),
    h(
      'table.grid',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['rank', 'trajectory', 'sample', 'reward', 'success', 'GRPO', 'RLOO', 'steps', 'termination'].map((c) =>
            h('th', null, c),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        detail.members.map((m) =>
          h(
            'tr',
            null,
            h('td.num', null, m.rank ?? ''),
            h(
              'td',
              null,
              h(
                'a',
                { href: `/trajectories/${encodeURIComponent(m.trajectory_id)}`, 'data-link': true },
                m.trajectory_id,
              ),
            ),
            h('td.num', null, m.sample_id ?? ''),
            h('td.num', null, fmt.num(m.reward)),
            h('td', null, m.success ? 'yes' : 'no'),
            h('td.num.advantage', null, fmt.num(m.advantage_grpo)),
            h('td.num', null, fmt.num(m.advantage_rloo)),
            h('td.num', null, m.step_count),
            h('td', null, m.termination_reason ?? ''),
          ),
        ),
      ),
    ),
  );
}

/** The first step index where two step lists differ (in role, content or tool calls). */
function firstDifference(a, b) {
  const key = (s) => JSON.stringify([s.role, s.content, s.tool_calls ?? null]);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (key(a[i]) !== key(b[i])) return i;
  return a.length === b.length ? null : n;
}

/** Where the best and the worst rewarded samples of a group part ways. */
async function showDivergence(box, members) {
  const rewarded = members.filter((m) => m.reward !== null);
  if (rewarded.length < 2) return;
  const best = rewarded[0];
  const worst = rewarded[rewarded.length - 1];
  if (best.reward === worst.reward) return;
  const ids = [best.trajectory_id, worst.trajectory_id].map(encodeURIComponent).join(',');
  try {
    const doc = await api(`/api/compare?ids=${ids}`);
    const [a, b] = [best, worst].map((m) => doc.data.find((t) => t.trajectory_id === m.trajectory_id));
    if (!a || !b) return;
    const at = firstDifference(a.steps || [], b.steps || []);
    const text =
      at === null
        ? 'The best and the worst sample have the same steps.'
        : `The best (reward ${best.reward}) and the worst (reward ${worst.reward}) sample first differ at step ${at}. `;
    box
      .querySelector('#group-members h2')
      .after(
        h(
          'p.small',
          { id: 'divergence', dataset: { step: at ?? '' } },
          text,
          h('a', { href: `/compare?ids=${ids}`, 'data-link': true }, 'Compare the two'),
        ),
      );
  } catch {
    /* the members table stands without it */
  }
}

const segment = (v) => (v === null || v === undefined ? '~' : encodeURIComponent(v));

export async function trainingPage(params) {
  const root = app();
  fill(root, loading('runs'));
  let runs;
  try {
    runs = await runNames();
  } catch (err) {
    fill(root, errorBox(err, 'runs'));
    return;
  }
  if (!runs.length) {
    fill(root, stateBox('empty', 'No trajectory has a training_id.'));
    return;
  }
  const run = params.get('training_id') || runs[0];
  const go = (changes) => {
    const p = new URLSearchParams(params);
    p.set('training_id', run);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') p.delete(k);
      else p.set(k, v);
    }
    return `/training?${p}`;
  };
  let curve;
  try {
    curve = await api(`/api/curves?x=iteration_id&series=none&training_id=${encodeURIComponent(run)}`);
  } catch (err) {
    fill(root, errorBox(err, 'the run'));
    return;
  }
  const steps = curve.points.map((p) => p.x);
  if (!steps.length) {
    fill(root, stateBox('empty', `Run ${run} has no iteration_id.`));
    return;
  }
  const step = params.has('iteration_id') ? Number(params.get('iteration_id')) : steps[0];
  const kind = params.get('kind') || '';
  const selected = params.get('group');
  const q = new URLSearchParams({ training_id: run, iteration_id: String(step), sort: 'spread', page_size: '100' });
  if (kind) q.set('kind', kind);
  const canvas = h('canvas', { id: 'chart-steps' });
  const at = curve.points.find((p) => p.x === step) || {};
  const controls = h(
    'div.toolbar',
    null,
    h(
      'label',
      null,
      'run ',
      h(
        'select',
        { id: 'run-select', onchange: (e) => navigate(`/training?training_id=${encodeURIComponent(e.target.value)}`) },
        runs.map((r) => h('option', { value: r, selected: r === run }, r)),
      ),
    ),
    h(
      'label',
      null,
      'step ',
      h('input', {
        id: 'step-slider',
        type: 'range',
        min: 0,
        max: steps.length - 1,
        value: Math.max(0, steps.indexOf(step)),
        onchange: (e) => navigate(go({ iteration_id: steps[Number(e.target.value)], group: null })),
      }),
      h('b', { id: 'step-value' }, String(step)),
    ),
    h(
      'label',
      null,
      'kind ',
      h(
        'select',
        { id: 'kind-select', onchange: (e) => navigate(go({ kind: e.target.value, group: null })) },
        KINDS.map((k) => h('option', { value: k, selected: k === kind }, k || 'any')),
      ),
    ),
    liveBar(new URLSearchParams({ training_id: run })),
    h('span.spacer'),
    h('a.small', { href: `/api/groups?${q}`, target: '_blank' }, 'JSON'),
  );
  const cards = h(
    'div.cards',
    { id: 'step-cards' },
    h('div.card', null, h('span', null, 'Trajectories'), h('b', null, fmt.count(at.count))),
    h('div.card', null, h('span', null, 'Prompt groups'), h('b', null, fmt.count(at.groups))),
    h('div.card', null, h('span', null, 'Mean reward'), h('b', null, fmt.num(at.reward_mean))),
    h('div.card', null, h('span', null, 'Success rate'), h('b', null, fmt.pct(at.success_rate))),
    h('div.card', null, h('span', null, 'No-gradient groups'), h('b', null, fmt.pct(at.no_gradient_share))),
    h('div.card', null, h('span', null, 'All-fail groups'), h('b', null, fmt.pct(at.all_fail_share))),
  );
  const groupsBox = h('section', { 'aria-label': 'Groups' }, loading('groups'));
  const membersBox = h('div');
  fill(
    root,
    h('h1', null, `Training: ${run}`),
    controls,
    h('div.panel', null, h('h2', null, 'Per step'), h('div.chart-box', null, canvas)),
    cards,
    groupsBox,
    membersBox,
  );
  pointsChart(canvas, curve.points, [
    ['mean reward', 'reward_mean', 0],
    ['success rate', 'success_rate', 1],
    ['no-gradient groups', 'no_gradient_share', 2],
    ['all-fail groups', 'all_fail_share', 3],
  ]);
  try {
    const page = await api(`/api/groups?${q}`);
    const open = (dataId) => go({ group: dataId });
    fill(
      groupsBox,
      h('p.muted.small', { id: 'groups-total' }, `${fmt.count(page.total)} groups at step ${step}, by reward spread`),
      page.total ? h('div.table-wrap', null, groupsTable(page, open, selected)) : stateBox('empty', 'No groups.'),
    );
  } catch (err) {
    fill(groupsBox, errorBox(err, 'groups'));
  }
  if (selected) {
    fill(membersBox, loading('the group'));
    try {
      const detail = await api(`/api/groups/${segment(run)}/${segment(step)}/${encodeURIComponent(selected)}`);
      fill(membersBox, membersPanel(detail));
      showDivergence(membersBox, detail.members);
    } catch (err) {
      fill(membersBox, errorBox(err, 'the group'));
    }
  }
}

const BUCKETS = [
  ['learned', 'Learned (unsolved on a, solved on b)'],
  ['forgotten', 'Forgotten (solved on a, unsolved on b)'],
  ['stayed_solved', 'Stayed solved'],
  ['stayed_unsolved', 'Stayed unsolved'],
  ['only_a', 'Only on a'],
  ['only_b', 'Only on b'],
];

/** A side's filters as the server reads them: NAME=VALUE parts split on `,` or `&`. */
function sideParams(side) {
  const p = new URLSearchParams();
  for (const part of side.split(/[,&]/)) {
    const i = part.indexOf('=');
    if (i > 0) p.append(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return p;
}

function sideLinks(task, a, b) {
  const link = (side, label) => {
    const p = sideParams(side);
    p.set('data_id', task);
    return h('a.small', { href: `/trajectories?${p}`, 'data-link': true }, label);
  };
  return h('li', null, task, ' ', link(a, 'a'), ' ', link(b, 'b'), ' ', compareLink(task, a, b));
}

/** Opens the compare view on up to four samples of `task` from each side, best reward first. */
function compareLink(task, a, b) {
  const open = async (e) => {
    e.preventDefault();
    const sample = async (side) => {
      const p = sideParams(side);
      p.set('data_id', task);
      p.set('sort', 'reward');
      p.set('order', 'desc');
      p.set('page_size', '4');
      return (await api(`/api/trajectories?${p}`)).data.map((r) => r.trajectory_id);
    };
    try {
      const ids = [...(await sample(a)), ...(await sample(b))];
      navigate(`/compare?ids=${ids.map(encodeURIComponent).join(',')}`);
    } catch (err) {
      e.target.replaceWith(errorBox(err, 'the samples'));
    }
  };
  return h('a.small.compare-task', { href: '#', onclick: open }, 'compare');
}

export async function runsPage(params) {
  const root = app();
  fill(root, loading('runs'));
  let a = params.get('a');
  let b = params.get('b');
  if (!a || !b) {
    // A first view: the first and last step of the first run.
    try {
      const runs = await runNames();
      if (!runs.length) {
        fill(root, stateBox('empty', 'No trajectory has a training_id.'));
        return;
      }
      const curve = await api(`/api/curves?x=iteration_id&series=none&training_id=${encodeURIComponent(runs[0])}`);
      const xs = curve.points.map((p) => p.x);
      a = a || `training_id=${runs[0]},iteration_id=${xs[0] ?? 0}`;
      b = b || `training_id=${runs[0]},iteration_id=${xs[xs.length - 1] ?? 0}`;
    } catch (err) {
      fill(root, errorBox(err, 'runs'));
      return;
    }
  }
  const inputA = h('input', { id: 'side-a', value: a, size: 40, list: 'side-choices' });
  const inputB = h('input', { id: 'side-b', value: b, size: 40, list: 'side-choices' });
  const choices = h('datalist', { id: 'side-choices' });
  // Every run and every step of each, offered as sides (filled once loaded).
  api('/api/curves?x=iteration_id&series=training_id&k=1')
    .then((doc) =>
      fill(
        choices,
        [...new Set(doc.points.map((p) => p.series))].map((r) => h('option', { value: `training_id=${r}` })),
        doc.points.map((p) => h('option', { value: `training_id=${p.series},iteration_id=${p.x}` })),
      ),
    )
    .catch(() => {});
  const q = new URLSearchParams({ a, b });
  const form = h(
    'form.toolbar',
    {
      onsubmit: (e) => {
        e.preventDefault();
        navigate(`/runs?${new URLSearchParams({ a: inputA.value, b: inputB.value })}`);
      },
    },
    h('label', null, 'a ', inputA),
    h('label', null, 'b ', inputB),
    choices,
    h('button.primary', { type: 'submit' }, 'Compare'),
    h('span.spacer'),
    h('a.small', { href: `/api/diff-runs?${q}`, target: '_blank' }, 'JSON'),
  );
  const content = h('section', { 'aria-label': 'Learned and forgotten tasks' }, loading('the comparison'));
  fill(root, h('h1', null, 'Runs: learned and forgotten tasks'), form, content);
  let d;
  try {
    d = await api(`/api/diff-runs?${q}`);
  } catch (err) {
    fill(content, errorBox(err, 'the comparison'));
    return;
  }
  const ci = d.delta_ci95 ? ` (95% interval ${fmt.num(d.delta_ci95[0])} to ${fmt.num(d.delta_ci95[1])})` : '';
  fill(
    content,
    h(
      'div.cards',
      { id: 'diff-cards' },
      h('div.card', null, h('span', null, 'pass@1 on a'), h('b', null, fmt.pct(d.a['pass@1']))),
      h('div.card', null, h('span', null, 'pass@1 on b'), h('b', null, fmt.pct(d.b['pass@1']))),
      h(
        'div.card',
        { title: `over the tasks on both sides${ci}` },
        h('span', null, 'Δ pass@1'),
        h('b', null, fmt.num(d['delta_pass@1'])),
      ),
    ),
    h(
      'p.muted.small',
      null,
      `Δ pass@1 over the tasks on both sides${ci}; solved: success rate ≥ ${d.solved_threshold}.`,
    ),
    h(
      'div.charts',
      null,
      BUCKETS.map(([key, title]) =>
        h(
          'div.panel',
          { dataset: { bucket: key } },
          h('h2', null, `${title}: `, h('b.count', null, fmt.count(d[key].count))),
          h(
            'ul.small',
            null,
            d[key].tasks.slice(0, 50).map((t) => sideLinks(t, a, b)),
          ),
        ),
      ),
    ),
  );
}
