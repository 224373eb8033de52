// One trajectory, step by step: its fields, tags and notes, the verifier and patch panels,
// then similar trajectories, other samples of its task and its steps (each module's own).

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { fmt } from './format.js';
import { starButton } from './list.js';
import { patchPanel } from './patch.js';
import { showNeighbours, showSamples, showSimilar } from './related.js';
import { cellText, columns, title } from './schema.js';
import { renderSteps } from './steps.js';
import { verifierPanel } from './verifier.js';

// Shown elsewhere on the page (the heading, the question, the tag and note editors) or
// under "More fields".
const NOT_IN_FIELDS = ['trajectory_id', 'question', 'tags', 'notes', 'metadata', 'is_bookmarked'];

/** The summary columns the fields panel shows, from the server's schema. */
function summaryColumns() {
  return columns().filter((c) => !NOT_IN_FIELDS.includes(c.name));
}

function copyButton(t) {
  const copyBtn = h(
    'button',
    {
      onclick: async () => {
        const raw = JSON.stringify(t, null, 2);
        try {
          await navigator.clipboard.writeText(raw);
          copyBtn.textContent = 'Copied';
        } catch {
          const ta = h('textarea', null, raw);
          document.body.append(ta);
          ta.select();
          document.execCommand('copy');
          ta.remove();
          copyBtn.textContent = 'Copied';
        }
        setTimeout(() => {
          copyBtn.textContent = 'Copy raw JSON';
        }, 1500);
      },
    },
    'Copy raw JSON',
  );
  return copyBtn;
}

/** The tags and notes editors, as two rows, saved together by one button. */
function editRows(id, t) {
  const tagsInput = h('input', {
    value: (t.tags || []).join(', '),
    'aria-label': 'Tags',
    placeholder: 'tags, comma separated',
    id: 'tags-input',
  });
  const notesInput = h('textarea', { 'aria-label': 'Notes', placeholder: 'notes', id: 'notes-input' }, t.notes || '');
  const saveState = h('span.muted.small');
  const save = h(
    'button',
    {
      onclick: async () => {
        const tags = tagsInput.value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        try {
          await api(`/api/trajectories/${encodeURIComponent(id)}`, {
            method: 'PATCH',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ tags, notes: notesInput.value || null }),
          });
          saveState.textContent = 'Saved';
        } catch (err) {
          saveState.textContent = `Not saved: ${err.message}`;
        }
      },
    },
    'Save tags and notes',
  );
  return [
    h('div.edit-row', null, tagsInput, h('span')),
    h('div.edit-row', null, notesInput, h('div', null, save, h('div', null, saveState))),
  ];
}

function summaryFields(t) {
  return h(
    'div.fields',
    null,
    summaryColumns()
      .filter((c) => t[c.name] !== undefined && t[c.name] !== null)
      .map((c) =>
        h('div', { dataset: { field: c.name } }, h('span', null, title(c)), h('b', null, cellText(c, t[c.name]))),
      ),
  );
}

/** The record's other top-level fields, as JSON under a fold. */
function extraFields(t) {
  const shown = new Set(summaryColumns().map((c) => c.name));
  const extraKeys = Object.keys(t).filter(
    (k) =>
      !['steps', 'messages', 'task', 'tags', 'notes', 'trajectory_id', 'is_bookmarked'].includes(k) && !shown.has(k),
  );
  return extraKeys.length
    ? h(
        'details',
        null,
        h('summary.small.muted', null, `More fields (${extraKeys.join(', ')})`),
        h('pre', null, JSON.stringify(Object.fromEntries(extraKeys.map((k) => [k, t[k]])), null, 2)),
      )
    : null;
}

function headerPanel(id, t, fromQuery, nav) {
  const back = h(
    'a',
    { href: `/trajectories${fromQuery ? '?' + fromQuery : ''}`, 'data-link': true },
    '← Trajectories',
  );
  const star = starButton(t);
  const copyBtn = copyButton(t);
  const edit = editRows(id, t);
  const question = t.task && t.task.question ? h('div.question', null, String(t.task.question)) : null;
  return h(
    'section.panel',
    { 'aria-label': 'Trajectory' },
    h('div.head-actions', null, back, h('span.spacer'), nav),
    h('h1', null, star, ' ', h('span.mono', { id: 'trajectory-id' }, t.trajectory_id)),
    question,
    summaryFields(t),
    extraFields(t),
    h(
      'div.head-actions',
      null,
      copyBtn,
      h('a', { href: `/api/trajectories/${encodeURIComponent(id)}`, target: '_blank', class: 'small' }, 'JSON'),
    ),
    edit,
  );
}

export async function detailPage(id, params) {
  const root = app();
  fill(root, loading('the trajectory'));
  const started = performance.now();
  let t;
  try {
    t = await api(`/api/trajectories/${encodeURIComponent(id)}`);
  } catch (err) {
    fill(
      root,
      err.status === 404 ? stateBox('empty', `No trajectory with id “${id}”.`) : errorBox(err, 'the trajectory'),
    );
    return;
  }
  const fromQuery = params.get('from');
  const steps = Array.isArray(t.steps) ? t.steps : [];
  const nav = h('span.neighbors');
  const header = headerPanel(id, t, fromQuery, nav);
  const samples = h(
    'section.panel',
    { 'aria-label': 'Other samples of this task', style: 'margin-top:12px' },
    h('h3', null, 'Other samples of this task'),
  );
  const similar = h(
    'section.panel',
    { 'aria-label': 'Similar trajectories', style: 'margin-top:12px', id: 'similar' },
    h('h3', null, 'Similar trajectories'),
    h('p.small.muted', null, 'Loading…'),
  );
  const index = h('nav.panel.step-index', { 'aria-label': 'Step index' });
  const stepList = h('div.steps', { id: 'steps' });
  const meta = t.metadata && typeof t.metadata === 'object' ? t.metadata : {};
  fill(
    root,
    h(
      'div.detail',
      null,
      index,
      h(
        'div',
        null,
        header,
        verifierPanel(meta.verifier_tests),
        patchPanel(meta.patch),
        samples,
        similar,
        h('h2', { style: 'margin-top:16px' }, `${fmt.count(steps.length)} steps`),
        steps.length ? stepList : stateBox('empty', 'This trajectory has no steps.'),
      ),
    ),
  );
  renderSteps(steps, stepList, index, started);
  if (fromQuery) showNeighbours(nav, id, fromQuery);
  showSimilar(similar, id, t);
  showSamples(samples, t);
}
