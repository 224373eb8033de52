// Compare: trajectories side by side, steps aligned by index or by their actions
// (`align=actions`: the server's alignment, the first divergence marked), differences
// highlighted

import { api, errorBox } from './api.js';
import { add, app, fill, h, loading, stateBox } from './dom.js';
import { contentText, fmt, prettyArgs } from './format.js';
import { cellText, columns, title } from './schema.js';

// The list's columns that describe an outcome or a place in a run; the id heads each
// column and the texts are too long to compare in a cell.
const NOT_COMPARED = ['trajectory_id', 'question', 'data_id', 'tags', 'is_bookmarked', 'created_at'];

function comparedColumns() {
  return columns().filter((c) => (c.in_list || c.name === 'sample_id') && !NOT_COMPARED.includes(c.name));
}

/** Step `s` of one trajectory, in a cell marked when the step rewards differ. */
function stepCell(s, differ) {
  if (!s) return h('div.cell.empty');
  const calls = (s.tool_calls || [])
    .map(
      (c) =>
        `→ ${c.name || (c.function || {}).name}(${prettyArgs(c.arguments ?? (c.function || {}).arguments ?? {}).slice(0, 200)})`,
    )
    .join('\n');
  return h(
    `div.cell${differ ? '.diff' : ''}`,
    null,
    h(
      'div.step-head',
      null,
      h('span.role', null, s.role || ''),
      s.reward !== undefined && s.reward !== null ? h('span', null, `reward ${fmt.num(s.reward)}`) : null,
    ),
    h('pre', null, (contentText(s.content).slice(0, 2000) + (calls ? '\n' + calls : '')).trim()),
  );
}

/** The steps of one trajectory in one aligned row, stacked. */
function spanCell(t, span, kind) {
  if (!span) return h('div.cell.empty.gap', null, '—');
  const steps = (t.steps || []).slice(span.from, span.to);
  return h(
    `div.cell.span${kind === 'same' || kind === 'prologue' ? '' : '.diff'}`,
    null,
    steps.map((s) => stepCell(s, false)),
  );
}

const KIND_LABEL = { prologue: 'start', same: 'same', similar: 'other args', different: 'other action', gap: 'extra' };

/** The aligned rows: a label (its kind, marked at the first divergence) and each turn. */
function addAlignedRows(grid, ts, alignment) {
  alignment.rows.forEach((row, r) => {
    const first = r === alignment.first_divergence;
    add(
      grid,
      h(
        `div.idx.kind-${row.kind}${first ? '.divergence' : ''}`,
        { id: first ? 'first-divergence' : null, dataset: { kind: row.kind, row: r } },
        first ? 'first divergence' : KIND_LABEL[row.kind],
      ),
      ts.map((t, i) => spanCell(t, row.steps[i], row.kind)),
    );
  });
}

/** One column per trajectory: its id, the compared fields, then its steps by index or
 * in the rows of `alignment`. */
function compareGrid(ts, alignment) {
  const cols = `60px repeat(${ts.length}, minmax(240px, 1fr))`;
  const grid = h('div.compare', { style: `grid-template-columns:${cols}`, id: 'compare-grid' });
  const differs = (f) => new Set(ts.map((t) => JSON.stringify(t[f] ?? null))).size > 1;
  add(
    grid,
    h('div'),
    ts.map((t) =>
      h(
        'div.cell',
        null,
        h(
          'a.mono',
          { href: `/trajectories/${encodeURIComponent(t.trajectory_id)}`, 'data-link': true },
          t.trajectory_id,
        ),
      ),
    ),
  );
  for (const c of comparedColumns()) {
    const f = c.name;
    const d = differs(f);
    add(
      grid,
      h('div.idx', null, title(c)),
      ts.map((t) =>
        h(
          `div.cell${d ? '.diff' : ''}`,
          { dataset: { field: f } },
          t[f] === undefined || t[f] === null ? '–' : cellText(c, t[f]),
        ),
      ),
    );
  }
  if (alignment) {
    addAlignedRows(grid, ts, alignment);
    return grid;
  }
  const n = Math.max(...ts.map((t) => (t.steps || []).length));
  for (let i = 0; i < n; i++) {
    const rewards = new Set(ts.map((t) => JSON.stringify(((t.steps || [])[i] || {}).reward ?? null)));
    add(
      grid,
      h('div.idx', null, `#${i}`),
      ts.map((t) => stepCell((t.steps || [])[i], rewards.size > 1)),
    );
  }
  return grid;
}

export async function comparePage(params) {
  const root = app();
  const ids = (params.get('ids') || '').split(',').filter(Boolean);
  if (ids.length < 2) {
    fill(root, stateBox('empty', 'Select two or more trajectories in the list to compare them.'));
    return;
  }
  const byActions = params.get('align') === 'actions';
  fill(root, loading(`${ids.length} trajectories`));
  let doc;
  try {
    doc = await api(`/api/compare?ids=${ids.map(encodeURIComponent).join(',')}${byActions ? '&align=actions' : ''}`);
  } catch (err) {
    fill(root, errorBox(err, 'the comparison'));
    return;
  }
  const ts = doc.data;
  const grid = compareGrid(ts, byActions ? doc.alignment : null);
  const other = new URLSearchParams(params);
  if (byActions) other.delete('align');
  else other.set('align', 'actions');
  const toggle = h(
    'a',
    { href: `/compare?${other}`, 'data-link': true, id: 'align-toggle' },
    byActions ? 'Align steps by index' : 'Align steps by actions',
  );
  const divergence =
    byActions && doc.alignment.first_divergence !== null
      ? h('a', { href: '#first-divergence', id: 'jump-divergence' }, 'Go to the first divergence')
      : null;
  const missing = ids.filter((id) => !ts.some((t) => t.trajectory_id === id));
  fill(
    root,
    h('h1', null, `Comparing ${ts.length} trajectories`),
    missing.length ? stateBox('error', `Not found: ${missing.join(', ')}`) : null,
    h(
      'p.muted.small',
      null,
      byActions
        ? 'Steps are aligned by their actions (tool calls and arguments); highlighted rows differ. '
        : 'Steps are aligned by index; highlighted cells differ between the trajectories. ',
      toggle,
      divergence ? ' · ' : null,
      divergence,
    ),
    grid,
  );
}
