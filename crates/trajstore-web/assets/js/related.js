// Around one trajectory, each loaded after its page is up: its neighbours in the list the
// user came from, similar trajectories by meaning, and the other samples of its task.

import { api, errorBox } from './api.js';
import { add, fill, h } from './dom.js';
import { fmt, terminationPill, trajectoryLink } from './format.js';
import { pointsChart } from './statistics.js';

/** Previous and next trajectory within the list the user came from (`from=` holds its query). */
async function neighbours(id, fromQuery) {
  const q = new URLSearchParams(fromQuery);
  const size = Number(q.get('page_size') || 50);
  const pageNo = Number(q.get('page') || 1);
  q.set('page_size', String(size));
  const pageOf = async (n) => {
    const p = new URLSearchParams(q);
    p.set('page', String(n));
    return (await api(`/api/trajectories?${p}`)).data;
  };
  const rows = await pageOf(pageNo);
  const i = rows.findIndex((r) => r.trajectory_id === id);
  if (i < 0) return {};
  let prev = rows[i - 1],
    next = rows[i + 1],
    prevPage = pageNo,
    nextPage = pageNo;
  if (!prev && pageNo > 1) {
    prev = (await pageOf(pageNo - 1)).slice(-1)[0];
    prevPage = pageNo - 1;
  }
  if (!next && rows.length === size) {
    next = (await pageOf(pageNo + 1))[0];
    nextPage = pageNo + 1;
  }
  const link = (r, n) => {
    if (!r) return null;
    const p = new URLSearchParams(q);
    p.set('page', String(n));
    return `/trajectories/${encodeURIComponent(r.trajectory_id)}?from=${encodeURIComponent(p.toString())}`;
  };
  return { prev: link(prev, prevPage), next: link(next, nextPage) };
}

/** Fills `nav` with links to the previous and next trajectory of the list in `fromQuery`. */
export function showNeighbours(nav, id, fromQuery) {
  neighbours(id, fromQuery)
    .then(({ prev, next }) => {
      fill(
        nav,
        prev
          ? h('a', { href: prev, 'data-link': true, id: 'prev-trajectory' }, '‹ Previous')
          : h('span.muted', null, '‹ Previous'),
        next
          ? h('a', { href: next, 'data-link': true, id: 'next-trajectory' }, 'Next ›')
          : h('span.muted', null, 'Next ›'),
      );
    })
    .catch(() => {});
}

const table = (rows) => h('div.table-wrap', null, h('table.grid', null, h('tbody', null, rows)));

function similarRow(r) {
  return h(
    'tr',
    { dataset: { id: r.trajectory_id } },
    h('td.mono', null, trajectoryLink(r.trajectory_id)),
    h('td.num.small', { title: 'cosine distance' }, fmt.num(r.distance, 3)),
    h('td.task', null, r.question || ''),
    h('td', null, terminationPill(r.termination_reason)),
    h('td.num', null, fmt.num(r.reward)),
  );
}

/** Fills the panel `similar` with the trajectories nearest to `t` by meaning. */
export function showSimilar(similar, id, t) {
  api(`/api/trajectories/${encodeURIComponent(id)}/similar?k=10`)
    .then((doc) => {
      const rows = (doc.data || []).filter((r) => r.trajectory_id !== t.trajectory_id);
      const note = doc.not_embedded
        ? h(
            'p.small.muted',
            null,
            `${fmt.count(doc.not_embedded)} trajectories are not embedded yet and cannot appear here.`,
          )
        : null;
      if (!rows.length) {
        fill(
          similar,
          h('h3', null, 'Similar trajectories'),
          h('p.small.muted', null, 'No similar trajectories found.'),
          note,
        );
        return;
      }
      fill(similar, h('h3', null, 'Similar trajectories'), note, table(rows.map(similarRow)));
    })
    .catch((err) =>
      fill(similar, h('h3', null, 'Similar trajectories'), h('p.small.muted', null, `Unavailable: ${err.message}`)),
    );
}

function sampleRow(r) {
  return h(
    'tr',
    null,
    h('td.mono', null, trajectoryLink(r.trajectory_id)),
    h('td', null, r.training_id || ''),
    h('td.num', null, `ep ${fmt.num(r.epoch_id)}`),
    h('td', null, terminationPill(r.termination_reason)),
    h('td.num', null, fmt.num(r.reward)),
  );
}

/** Adds to the panel `samples` the other trajectories of `t`'s task (its data_id). */
export function showSamples(samples, t) {
  if (!t.data_id) {
    add(samples, h('p.muted.small', null, 'This trajectory has no data_id.'));
    return;
  }
  const q = new URLSearchParams({
    data_id: t.data_id.replace(/\*/g, '') === t.data_id ? t.data_id : '',
    page_size: '50',
    sort: 'sample_id',
  });
  api(`/api/trajectories?${q}`)
    .then((p) => {
      const others = p.data.filter((r) => r.trajectory_id !== t.trajectory_id);
      if (!others.length) {
        add(samples, h('p.muted.small', null, 'No other samples of this task.'));
        return;
      }
      const ids = [t.trajectory_id, ...others.slice(0, 7).map((r) => r.trajectory_id)];
      const toolbar = h(
        'div.toolbar',
        null,
        h('span.small', null, `${fmt.count(p.total - 1)} other samples`),
        h(
          'a',
          { href: `/compare?ids=${ids.map(encodeURIComponent).join(',')}`, 'data-link': true },
          'Compare with this one',
        ),
        h(
          'a',
          { href: `/trajectories?${new URLSearchParams({ data_id: t.data_id })}`, 'data-link': true },
          'List them',
        ),
      );
      add(samples, toolbar, table(others.slice(0, 10).map(sampleRow)));
      showTaskHistory(samples, t);
    })
    .catch((err) => add(samples, errorBox(err, 'other samples')));
}

/** "This task over training": success rate and mean reward of `t`'s task per step of its run. */
function showTaskHistory(samples, t) {
  if (!t.training_id || t.iteration_id === null || t.iteration_id === undefined || t.data_id.includes('*')) return;
  const q = new URLSearchParams({ x: 'iteration_id', series: 'none', training_id: t.training_id, data_id: t.data_id });
  api(`/api/curves?${q}`)
    .then((curve) => {
      if (curve.points.length < 2) return;
      const canvas = h('canvas', { id: 'chart-task-history' });
      add(samples, h('h3', null, 'This task over training'), h('div.chart-box.small-chart', null, canvas));
      pointsChart(canvas, curve.points, [
        ['success rate', 'success_rate', 1],
        ['mean reward', 'reward_mean', 0],
      ]);
    })
    .catch(() => {});
}
