// One trajectory, step by step: its fields, verifier and patch panels, other samples of
// its task, similar trajectories, and its steps rendered in chunks.

import { api, errorBox } from './api.js';
import { add, app, fill, h, loading, stateBox } from './dom.js';
import { contentText, fmt, terminationPill } from './format.js';
import { starButton } from './list.js';
import { onLeave } from './nav.js';
import { patchPanel } from './patch.js';
import { renderStep, splitReasoning } from './steps.js';
import { verifierPanel } from './verifier.js';

const SUMMARY_FIELDS = [
  ['data_id', 'Task (data_id)'],
  ['agent_name', 'Agent'],
  ['training_id', 'Run'],
  ['epoch_id', 'Epoch'],
  ['iteration_id', 'Iteration'],
  ['sample_id', 'Sample'],
  ['termination_reason', 'Termination'],
  ['is_success', 'Success'],
  ['reward', 'Reward'],
  ['toolcall_reward', 'Tool-call reward'],
  ['res_reward', 'Result reward'],
  ['step_count', 'Steps'],
  ['exec_time', 'Exec time (s)'],
  ['source', 'Source'],
  ['created_at', 'Created'],
  ['updated_at', 'Updated'],
];

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
  const back = h(
    'a',
    { href: `/trajectories${fromQuery ? '?' + fromQuery : ''}`, 'data-link': true },
    '← Trajectories',
  );
  const nav = h('span.neighbors');
  const star = starButton(t);
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
  const fields = h(
    'div.fields',
    null,
    SUMMARY_FIELDS.filter(([k]) => t[k] !== undefined && t[k] !== null).map(([k, label]) =>
      h(
        'div',
        null,
        h('span', null, label),
        h(
          'b',
          null,
          typeof t[k] === 'boolean' ? (t[k] ? 'yes' : 'no') : k.endsWith('_at') ? fmt.time(t[k]) : String(t[k]),
        ),
      ),
    ),
  );
  const question = t.task && t.task.question ? h('div.question', null, String(t.task.question)) : null;
  const extraKeys = Object.keys(t).filter(
    (k) =>
      !['steps', 'messages', 'task', 'tags', 'notes', 'trajectory_id', 'is_bookmarked'].includes(k) &&
      !SUMMARY_FIELDS.some(([f]) => f === k),
  );
  const extra = extraKeys.length
    ? h(
        'details',
        null,
        h('summary.small.muted', null, `More fields (${extraKeys.join(', ')})`),
        h('pre', null, JSON.stringify(Object.fromEntries(extraKeys.map((k) => [k, t[k]])), null, 2)),
      )
    : null;
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
  const header = h(
    'section.panel',
    { 'aria-label': 'Trajectory' },
    h('div.head-actions', null, back, h('span.spacer'), nav),
    h('h1', null, star, ' ', h('span.mono', { id: 'trajectory-id' }, t.trajectory_id)),
    question,
    fields,
    extra,
    h(
      'div.head-actions',
      null,
      copyBtn,
      h('a', { href: `/api/trajectories/${encodeURIComponent(id)}`, target: '_blank', class: 'small' }, 'JSON'),
    ),
    h('div.edit-row', null, tagsInput, h('span')),
    h('div.edit-row', null, notesInput, h('div', null, save, h('div', null, saveState))),
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

  // Steps render in chunks, one per frame, so the first screen appears at once and a
  // 300-step, multi-megabyte trajectory never blocks the page; `#step-N` waits for N.
  let rendered = 0;
  let alive = true;
  onLeave(() => {
    alive = false;
  });
  const indexItems = [];
  const target = () => {
    const m = location.hash.match(/^#step-(\d+)$/);
    return m ? Number(m[1]) : -1;
  };
  const renderUpTo = (end) => {
    const frag = document.createDocumentFragment();
    const idx = document.createDocumentFragment();
    for (; rendered < Math.min(end, steps.length); rendered++) {
      const s = steps[rendered];
      add(frag, renderStep(s, rendered));
      const preview =
        contentText(splitReasoning(s).content).slice(0, 60) ||
        ((s.tool_calls || [])[0] ? `→ ${s.tool_calls[0].name || (s.tool_calls[0].function || {}).name || 'tool'}` : '');
      const a = h(
        'a',
        { href: `#step-${rendered}`, title: preview },
        h('b', null, `${rendered} `),
        `${s.role || ''}: ${preview}`,
      );
      indexItems.push(a);
      add(idx, a);
    }
    add(stepList, frag);
    add(index, idx);
  };
  // Steps off screen are laid out at an estimated height (content-visibility), so the
  // target moves as its neighbours render: scroll again until it stays put.
  const jump = (tries = 8) => {
    const n = target();
    if (n < 0 || n >= rendered || !alive) return;
    const el = document.getElementById(`step-${n}`);
    const before = el.getBoundingClientRect().top;
    if (Math.abs(before - 70) > 2) el.scrollIntoView();
    if (tries > 0)
      requestAnimationFrame(() => {
        if (Math.abs(el.getBoundingClientRect().top - 70) > 2) jump(tries - 1);
      });
  };
  renderUpTo(Math.max(30, target() + 1));
  jump();
  const more = () => {
    if (!alive) return;
    if (rendered < steps.length) {
      renderUpTo(rendered + 60);
      requestAnimationFrame(more);
    } else {
      window.trajstoreTiming = Object.assign(window.trajstoreTiming || {}, {
        detailMs: performance.now() - started,
        steps: steps.length,
      });
      document.body.dataset.stepsRendered = String(rendered);
    }
  };
  if (rendered < steps.length) requestAnimationFrame(more);
  else more();
  const onHash = () => {
    const n = target();
    if (n >= rendered) renderUpTo(n + 1);
    jump();
  };
  window.addEventListener('hashchange', onHash);
  onLeave(() => window.removeEventListener('hashchange', onHash));

  if (fromQuery)
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
      fill(
        similar,
        h('h3', null, 'Similar trajectories'),
        note,
        h(
          'div.table-wrap',
          null,
          h(
            'table.grid',
            null,
            h(
              'tbody',
              null,
              rows.map((r) =>
                h(
                  'tr',
                  { dataset: { id: r.trajectory_id } },
                  h(
                    'td.mono',
                    null,
                    h(
                      'a',
                      { href: `/trajectories/${encodeURIComponent(r.trajectory_id)}`, 'data-link': true },
                      r.trajectory_id,
                    ),
                  ),
                  h('td.num.small', { title: 'cosine distance' }, fmt.num(r.distance, 3)),
                  h('td.task', null, r.question || ''),
                  h('td', null, terminationPill(r.termination_reason)),
                  h('td.num', null, fmt.num(r.reward)),
                ),
              ),
            ),
          ),
        ),
      );
    })
    .catch((err) =>
      fill(similar, h('h3', null, 'Similar trajectories'), h('p.small.muted', null, `Unavailable: ${err.message}`)),
    );
  if (t.data_id) {
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
        add(
          samples,
          h(
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
          ),
          h(
            'div.table-wrap',
            null,
            h(
              'table.grid',
              null,
              h(
                'tbody',
                null,
                others
                  .slice(0, 10)
                  .map((r) =>
                    h(
                      'tr',
                      null,
                      h(
                        'td.mono',
                        null,
                        h(
                          'a',
                          { href: `/trajectories/${encodeURIComponent(r.trajectory_id)}`, 'data-link': true },
                          r.trajectory_id,
                        ),
                      ),
                      h('td', null, r.training_id || ''),
                      h('td.num', null, `ep ${fmt.num(r.epoch_id)}`),
                      h('td', null, terminationPill(r.termination_reason)),
                      h('td.num', null, fmt.num(r.reward)),
                    ),
                  ),
              ),
            ),
          ),
        );
      })
      .catch((err) => add(samples, errorBox(err, 'other samples')));
  } else add(samples, h('p.muted.small', null, 'This trajectory has no data_id.'));
}
