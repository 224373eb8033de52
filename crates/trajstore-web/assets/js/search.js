// Full-text search inside steps (`q=` on the list page; JSON twin /api/search)

import { api, errorBox } from './api.js';
import { fill, h, loading, stateBox } from './dom.js';
import { filterParams } from './filters.js';
import { fmt, terminationPill } from './format.js';
import { navigate } from './nav.js';

export function searchForm(params) {
  const input = h('input', {
    type: 'search',
    name: 'q',
    value: params.get('q') || '',
    placeholder: 'Search questions, messages, tool calls and outputs…',
    'aria-label': 'Search',
    id: 'search-input',
    style: 'flex:1',
  });
  const form = h(
    'form.toolbar',
    { role: 'search' },
    input,
    h('button', { type: 'submit' }, 'Search'),
    params.get('q')
      ? h(
          'a',
          {
            href: `/trajectories?${(() => {
              const p = new URLSearchParams(params);
              p.delete('q');
              return p;
            })()}`,
            'data-link': true,
          },
          'Clear search',
        )
      : null,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = filterParams(params);
    if (input.value.trim()) p.set('q', input.value.trim());
    navigate(`/trajectories?${p}`);
  });
  return form;
}

/** The snippet as text with the query's words marked (text nodes only: no HTML from data). */
function highlighted(text, query) {
  const words = query
    .split(/\s+/)
    .filter((w) => w.length > 1)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return [text];
  const re = new RegExp(`(${words.join('|')})`, 'gi');
  return String(text)
    .split(re)
    .map((part, i) => (i % 2 ? h('mark', null, part) : part));
}

export async function searchResults(params, content, searchBox) {
  const q = filterParams(params);
  q.set('q', params.get('q'));
  fill(content, searchBox, loading('search results'));
  let doc;
  try {
    doc = await api(`/api/search?${q}`);
  } catch (err) {
    fill(content, searchBox, errorBox(err, 'search results'));
    return;
  }
  if (!doc.data.length) {
    fill(content, searchBox, stateBox('empty', `Nothing matches “${params.get('q')}” with these filters.`));
    return;
  }
  const rows = doc.data.map((r) => {
    const href = `/trajectories/${encodeURIComponent(r.trajectory_id)}${r.step !== null && r.step !== undefined ? '#step-' + r.step : ''}`;
    return h(
      'tr',
      { dataset: { id: r.trajectory_id } },
      h('td.id.mono', null, h('a', { href, 'data-link': true }, r.trajectory_id)),
      h('td.num', null, fmt.num(r.score, 2)),
      h('td.num', null, r.step ?? ''),
      h('td', { style: 'white-space:normal;min-width:320px' }, highlighted(r.snippet || '', params.get('q'))),
      h('td', null, r.training_id || ''),
      h('td', null, terminationPill(r.termination_reason)),
      h('td.num', null, fmt.num(r.reward)),
    );
  });
  fill(
    content,
    searchBox,
    h(
      'div.toolbar',
      null,
      h(
        'span.total',
        { id: 'total' },
        `${fmt.count(doc.data.length)} best ${doc.data.length === 1 ? 'match' : 'matches'}`,
      ),
      h('span.spacer'),
      h('a.small', { href: `/api/search?${q}`, target: '_blank' }, 'JSON'),
    ),
    h(
      'div.table-wrap',
      null,
      h(
        'table.grid',
        { id: 'search-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['ID', 'Score', 'Step', 'Snippet', 'Run', 'Termination', 'Reward'].map((c) => h('th', null, c)),
          ),
        ),
        h('tbody', null, rows),
      ),
    ),
  );
}
