// The trajectories list: a sortable, pageable table with bookmarks, selection for compare
// and keyboard navigation; `q=` turns it into full-text search results.

import { api, errorBox } from './api.js';
import { app, fill, h, loading, stateBox } from './dom.js';
import { filterPanel, filterParams } from './filters.js';
import { fmt, terminationPill } from './format.js';
import { liveBar } from './live.js';
import { navigate, onLeave } from './nav.js';
import { cellText, columns, isNumeric, title } from './schema.js';
import { searchForm, searchResults } from './search.js';

/** The list's columns: those the server marks for the list; the bookmark has its own. */
function listColumns() {
  return columns().filter((c) => c.in_list && c.name !== 'is_bookmarked');
}

async function setBookmark(id, value) {
  return api(`/api/trajectories/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ is_bookmarked: value }),
  });
}

export function starButton(row) {
  const b = h(
    'button.star',
    { title: 'Bookmark', 'aria-label': 'Bookmark', 'aria-pressed': String(!!row.is_bookmarked) },
    row.is_bookmarked ? '★' : '☆',
  );
  b.classList.toggle('on', !!row.is_bookmarked);
  b.addEventListener('click', async (e) => {
    e.stopPropagation();
    b.disabled = true;
    try {
      const updated = await setBookmark(row.trajectory_id, !row.is_bookmarked);
      row.is_bookmarked = updated.is_bookmarked;
      b.textContent = row.is_bookmarked ? '★' : '☆';
      b.classList.toggle('on', row.is_bookmarked);
      b.setAttribute('aria-pressed', String(row.is_bookmarked));
    } catch (err) {
      alert(`Bookmark not saved: ${err.message}`);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function listToolbar(page, apiQuery, params, compareBtn, go) {
  const pageSize = h(
    'select',
    { 'aria-label': 'Page size', onchange: (e) => go({ page_size: e.target.value, page: null }) },
    [20, 50, 100, 200, 500].map((n) =>
      h('option', { value: n, selected: Number(apiQuery.get('page_size')) === n }, `${n} per page`),
    ),
  );
  return h(
    'div.toolbar',
    null,
    h('span.total', { id: 'total' }, `${fmt.count(page.total)} trajectories`),
    liveBar(filterParams(params), page.total),
    h('span.muted.small', null, 'j/k move · Enter open · x select'),
    h('span.spacer'),
    compareBtn,
    pageSize,
    h('a', { href: `/api/trajectories?${apiQuery}`, target: '_blank', class: 'small' }, 'JSON'),
    h('a', { href: `/api/export?${filterParams(params)}`, class: 'small' }, 'Export JSONL'),
  );
}

/** The column headers; a click sorts by the column, a second click reverses the order. */
function headRow(cols, sort, order, go) {
  return h(
    'tr',
    null,
    h('th', null, ''),
    h('th', null, ''),
    cols.map((c) => {
      const label = title(c);
      if (!c.sortable) return h('th', null, label);
      const th = h(
        `th.sortable${isNumeric(c) ? '.num' : ''}`,
        { dataset: { sort: c.name }, title: `Sort by ${c.name}` },
        label,
        c.name === sort ? (order === 'asc' ? ' ▲' : ' ▼') : '',
      );
      if (c.name === sort) th.classList.add('sorted');
      th.addEventListener('click', () =>
        go({ sort: c.name, order: c.name === sort && order === 'asc' ? 'desc' : 'asc', page: null }),
      );
      return th;
    }),
  );
}

/** A row's checkbox: it adds the row to `selected`, and compare needs two. */
function selectBox(r, selected, compareBtn) {
  const check = h('input', { type: 'checkbox', 'aria-label': 'Select for compare' });
  check.addEventListener('click', (e) => e.stopPropagation());
  check.addEventListener('change', () => {
    if (check.checked) selected.add(r.trajectory_id);
    else selected.delete(r.trajectory_id);
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = `Compare selected (${selected.size})`;
  });
  return check;
}

/** One cell of the list: a few columns have their own look, the rest read by type. */
function listCell(c, r, href) {
  const v = r[c.name];
  switch (c.name) {
    case 'trajectory_id':
      return h('td.id.mono', { title: v }, h('a', { href, 'data-link': true }, v));
    case 'question':
      return h('td.task', { title: v || '' }, v || '');
    case 'termination_reason':
      return h('td', null, terminationPill(v));
    case 'tags':
      return h(
        'td',
        null,
        (v || []).map((t) => h('span.pill', null, t)),
      );
    default:
      if (c.type === 'time') return h('td.small.muted', null, cellText(c, v));
      return h(isNumeric(c) ? 'td.num' : 'td', { dataset: { column: c.name } }, cellText(c, v));
  }
}

function listRow(cols, r, href, check) {
  return h(
    'tr',
    { dataset: { id: r.trajectory_id, href } },
    h('td', null, check),
    h('td', null, starButton(r)),
    cols.map((c) => listCell(c, r, href)),
  );
}

function pager(page, go) {
  const p = page.page;
  const pages = Math.max(1, Math.ceil(page.total / page.page_size));
  return h(
    'nav.pager',
    { 'aria-label': 'Pages' },
    h('button', { disabled: p <= 1, onclick: () => go({ page: 1 }) }, '« First'),
    h('button', { disabled: p <= 1, onclick: () => go({ page: p - 1 }), id: 'prev-page' }, '‹ Prev'),
    h('span', { id: 'page-info' }, `Page ${fmt.count(p)} of ${fmt.count(pages)}`),
    h('button', { disabled: p >= pages, onclick: () => go({ page: p + 1 }), id: 'next-page' }, 'Next ›'),
    h('button', { disabled: p >= pages, onclick: () => go({ page: pages }) }, 'Last »'),
  );
}

/**
 * The active row (`sel=` keeps it in the URL) and the keys that move it: j/k move the
 * active row, Enter opens it, x toggles its selection. Returns setActive(i).
 */
function activeRow(rows, page, params) {
  let active = Math.max(
    0,
    page.data.findIndex((r) => r.trajectory_id === params.get('sel')),
  );
  function setActive(i) {
    rows[active] && rows[active].classList.remove('active');
    active = Math.max(0, Math.min(rows.length - 1, i));
    rows[active].classList.add('active');
    rows[active].scrollIntoView({ block: 'nearest' });
    const p2 = new URLSearchParams(params);
    p2.set('sel', page.data[active].trajectory_id);
    history.replaceState(null, '', `/trajectories?${p2}`);
  }
  if (params.get('sel')) setActive(active);
  else rows[0].classList.add('active');
  const onKey = (e) => {
    if (e.target.closest('input, textarea, select')) return;
    if (e.key === 'j') setActive(active + 1);
    else if (e.key === 'k') setActive(active - 1);
    else if (e.key === 'Enter') navigate(rows[active].dataset.href);
    else if (e.key === 'x') {
      const c = rows[active].querySelector('input[type=checkbox]');
      c.checked = !c.checked;
      c.dispatchEvent(new Event('change'));
    }
  };
  document.addEventListener('keydown', onKey);
  onLeave(() => document.removeEventListener('keydown', onKey));
  return setActive;
}

export async function listPage(params) {
  const root = app();
  const listQuery = new URLSearchParams(params);
  listQuery.delete('sel');
  const go = (changes, replace = false) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') p.delete(k);
      else p.set(k, v);
    }
    navigate(`/trajectories?${p}`, replace);
  };
  const panel = filterPanel(params, (filters) => {
    const p = new URLSearchParams(filters);
    for (const k of ['sort', 'order', 'page_size']) if (params.get(k)) p.set(k, params.get(k));
    navigate(`/trajectories?${p}`);
  });
  const content = h('section', { 'aria-label': 'Trajectories' }, loading('trajectories'));
  fill(root, h('div.layout', null, panel, content));
  const searchBox = searchForm(params);
  if (params.get('q')) return searchResults(params, content, searchBox);

  const apiQuery = new URLSearchParams(listQuery);
  if (!apiQuery.get('page_size')) apiQuery.set('page_size', '50');
  let page;
  const started = performance.now();
  try {
    page = await api(`/api/trajectories?${apiQuery}`);
  } catch (err) {
    fill(content, errorBox(err, 'trajectories'));
    return;
  }
  window.trajstoreTiming = Object.assign(window.trajstoreTiming || {}, { listMs: performance.now() - started });

  const sort = params.get('sort') || 'created_at';
  const order = params.get('order') || 'desc'; // the API's default
  const selected = new Set();
  const compareBtn = h(
    'button',
    { disabled: true, onclick: () => navigate(`/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`) },
    'Compare selected',
  );
  const toolbar = listToolbar(page, apiQuery, params, compareBtn, go);
  if (!page.data.length) {
    fill(
      content,
      searchBox,
      toolbar,
      stateBox('empty', page.total ? 'No rows on this page.' : 'No trajectories match these filters.'),
    );
    return;
  }
  const from = encodeURIComponent(listQuery.toString());
  const cols = listColumns();
  const rows = page.data.map((r) => {
    const href = `/trajectories/${encodeURIComponent(r.trajectory_id)}?from=${from}`;
    const tr = listRow(cols, r, href, selectBox(r, selected, compareBtn));
    tr.addEventListener('click', () => setActive(rows.indexOf(tr)));
    tr.addEventListener('dblclick', () => navigate(href));
    return tr;
  });
  const table = h(
    'table.grid',
    { id: 'trajectory-table' },
    h('thead', null, headRow(cols, sort, order, go)),
    h('tbody', null, rows),
  );
  fill(content, searchBox, toolbar, h('div.table-wrap', null, table), pager(page, go));
  const setActive = activeRow(rows, page, params);
}
