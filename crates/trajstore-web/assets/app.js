// trajstore web UI: renders every page from the JSON API. A page's whole state lives in
// its URL (the same query parameters as its JSON twin under /api/), so views can be
// shared and reloaded. No framework: a small DOM helper and one function per page.
'use strict';

// ---------------------------------------------------------------------------------------
// DOM and API helpers

/** h('div.cls', {attr}, child, ...): builds an element; strings become text nodes. */
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'html') el.innerHTML = v; // only ever given sanitised HTML
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Children as given to h(): nested arrays flattened, null/undefined/false dropped. */
const kids = (xs) => xs.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
function fill(el, ...xs) { el.replaceChildren(...kids(xs)); return el; }
function add(el, ...xs) { el.append(...kids(xs)); return el; }

const app = () => document.getElementById('app');
const stateBox = (kind, text) => h(`div.state.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
const loading = (what) => stateBox('loading', `Loading ${what}…`);

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status; this.code = e.code; this.parameter = e.parameter;
  }
}

function token() { return localStorage.getItem('trajstore-token') || ''; }

/** Calls the JSON API; throws ApiError with the server's message and parameter. */
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 204) return null;
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok && res.status !== 207) {
    if (res.status === 401) askToken();
    throw new ApiError(res.status, body);
  }
  return body;
}

function errorBox(err, what) {
  const where = err.parameter ? ` (parameter “${err.parameter}”)` : '';
  return stateBox('error', `Could not load ${what}: ${err.message}${where}`);
}

function askToken() {
  const banner = document.getElementById('banner');
  banner.hidden = false;
  fill(banner, 
    'This server needs a token.',
    h('input', { type: 'password', placeholder: 'token', id: 'token-input' }),
    h('button.primary', { onclick: () => { localStorage.setItem('trajstore-token', document.getElementById('token-input').value); banner.hidden = true; route(); } }, 'Use token'));
}

const fmt = {
  num(v, digits = 3) { return v === null || v === undefined ? '' : Number.isInteger(v) ? String(v) : Number(v).toFixed(digits).replace(/\.?0+$/, ''); },
  pct(v) { return v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`; },
  time(v) { return v ? String(v).replace('T', ' ').replace(/\.\d+/, '').replace('Z', '') : ''; },
  secs(v) { return v === null || v === undefined ? '' : v >= 100 ? `${Math.round(v)}s` : `${Number(v).toFixed(1)}s`; },
  count(v) { return v === null || v === undefined ? '' : Number(v).toLocaleString('en-US'); },
};

// ---------------------------------------------------------------------------------------
// Routing: the path picks the page; links with data-link navigate without a reload.

function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => route());

let cleanup = [];
function onLeave(fn) { cleanup.push(fn); }

function route() {
  cleanup.forEach((fn) => fn()); cleanup = [];
  const path = location.pathname;
  const section = path.startsWith('/statistics') ? 'statistics' : path.startsWith('/import') ? 'import' : 'trajectories';
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === section));
  const params = new URLSearchParams(location.search);
  if (path === '/' || path === '/trajectories') return listPage(params);
  if (path.startsWith('/trajectories/')) return detailPage(decodeURIComponent(path.slice('/trajectories/'.length)), params);
  if (path === '/compare') return comparePage(params);
  if (path === '/statistics') return statsPage(params);
  if (path === '/import') return importPage();
  fill(app(), stateBox('error', `No page at ${path}.`));
}

// ---------------------------------------------------------------------------------------
// Filters: every query-engine filter, grouped for the panel. The names are the API's.

const FILTER_GROUPS = [
  ['Text', [['question', 'Question contains'], ['trajectory_id', 'ID contains'], ['data_id', 'Task (data_id, * wildcard)'],
    ['agent_name', 'Agent (* wildcard)'], ['training_id', 'Run (training_id, * wildcard)'], ['termination_reason', 'Termination (comma list)'],
    ['tags', 'Tags (comma list, any)']]],
  ['Outcome', [['is_success', 'Success', 'bool'], ['is_bookmarked', 'Bookmarked', 'bool']]],
  ['Rewards', [['reward', 'Reward', 'range'], ['toolcall_reward', 'Tool-call reward', 'range'], ['res_reward', 'Result reward', 'range']]],
  ['Training', [['epoch_id', 'Epoch', 'range+'], ['iteration_id', 'Iteration', 'range+'], ['sample_id', 'Sample', 'range+']]],
  ['Size and time', [['step_count', 'Steps', 'range'], ['exec_time', 'Exec time (s)', 'range'], ['created', 'Created', 'dates']]],
];

/** Every filter parameter name the panel can set (used by the page and its tests). */
function panelFilterNames() {
  const names = [];
  for (const [, fields] of FILTER_GROUPS) {
    for (const [name, , kind] of fields) {
      if (kind === 'range') names.push(`${name}_min`, `${name}_max`);
      else if (kind === 'range+') names.push(name, `${name}_min`, `${name}_max`);
      else if (kind === 'dates') names.push('created_after', 'created_before');
      else names.push(name);
    }
  }
  for (const n of ['reward', 'toolcall_reward', 'res_reward']) names.push(`${n}_exact`);
  names.push('metadata.KEY');
  return names;
}
window.trajstorePanelFilters = panelFilterNames;

const NON_FILTER_PARAMS = new Set(['page', 'page_size', 'sort', 'order', 'cursor', 'sel', 'group_by', 'k', 'success_threshold', 'x', 'series', 'q']);

function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!NON_FILTER_PARAMS.has(k) && v !== '') out.append(k, v);
  return out;
}

/** The filter panel; `apply(newFilterParams)` is called on submit. */
function filterPanel(params, apply) {
  const input = (name, placeholder, type = 'text') => h('input', { name, placeholder, type, value: params.get(name) || '', step: type === 'number' ? 'any' : null });
  const form = h('form.panel.filters', { 'aria-label': 'Filters' });
  for (const [group, fields] of FILTER_GROUPS) {
    add(form, h('h3', null, group));
    for (const [name, label, kind] of fields) {
      let control;
      if (kind === 'bool') {
        control = h('select', { name }, ['', 'true', 'false'].map((v) => h('option', { value: v, selected: params.get(name) === v }, v === '' ? 'any' : v === 'true' ? 'yes' : 'no')));
      } else if (kind === 'range' || kind === 'range+') {
        control = h('div', null,
          kind === 'range+' ? input(name, 'exactly', 'number') : null,
          h('div.pair', null, input(`${name}_min`, 'min', 'number'), input(`${name}_max`, 'max', 'number')),
          ['reward', 'toolcall_reward', 'res_reward'].includes(name) ? input(`${name}_exact`, 'exactly', 'number') : null);
      } else if (kind === 'dates') {
        control = h('div.pair', null, input('created_after', 'after (RFC 3339)'), input('created_before', 'before'));
      } else {
        control = input(name, '');
      }
      add(form, h('fieldset', null, h('legend', null, label), control));
    }
  }
  // metadata.KEY=VALUE filters: one "key=value" per line.
  const meta = [...params].filter(([k]) => k.startsWith('metadata.')).map(([k, v]) => `${k.slice(9)}=${v}`).join('\n');
  add(form, h('h3', null, 'Metadata'), h('fieldset', null, h('legend', null, 'key=value, one per line'), h('textarea', { name: '__metadata', rows: 2, style: 'width:100%' }, meta)));
  add(form, h('div.actions', null, h('button.primary', { type: 'submit' }, 'Apply'), h('button', { type: 'button', onclick: () => apply(new URLSearchParams()) }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const out = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (k === '__metadata') {
        for (const line of String(v).split('\n')) {
          const i = line.indexOf('=');
          if (i > 0) out.append(`metadata.${line.slice(0, i).trim()}`, line.slice(i + 1).trim());
        }
      } else if (String(v).trim() !== '') out.append(k, String(v).trim());
    }
    apply(out);
  });
  return form;
}

// ---------------------------------------------------------------------------------------
// Trajectories list

const COLUMNS = [
  ['trajectory_id', 'ID'], ['question', 'Task'], ['agent_name', 'Agent'], ['training_id', 'Run'],
  ['epoch_id', 'Ep', 'num'], ['iteration_id', 'It', 'num'], ['sample_id', 'S', 'num'], ['termination_reason', 'Termination'],
  ['reward', 'Reward', 'num'], ['toolcall_reward', 'Tool rw', 'num'], ['res_reward', 'Res rw', 'num'],
  ['step_count', 'Steps', 'num'], ['exec_time', 'Time', 'num'], [null, 'Tags'], ['created_at', 'Created'],
];

async function setBookmark(id, value) {
  return api(`/api/trajectories/${encodeURIComponent(id)}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ is_bookmarked: value }) });
}

function starButton(row) {
  const b = h('button.star', { title: 'Bookmark', 'aria-label': 'Bookmark', 'aria-pressed': String(!!row.is_bookmarked) }, row.is_bookmarked ? '★' : '☆');
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
    } catch (err) { alert(`Bookmark not saved: ${err.message}`); } finally { b.disabled = false; }
  });
  return b;
}

function terminationPill(reason) { return reason ? h(`span.pill.${String(reason).replace(/[^a-z_]/gi, '')}`, null, reason) : ''; }

async function listPage(params) {
  const root = app();
  const listQuery = new URLSearchParams(params); listQuery.delete('sel');
  const go = (changes, replace = false) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v === null || v === '') p.delete(k); else p.set(k, v); }
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
  try { page = await api(`/api/trajectories?${apiQuery}`); } catch (err) { fill(content, errorBox(err, 'trajectories')); return; }
  window.trajstoreTiming = Object.assign(window.trajstoreTiming || {}, { listMs: performance.now() - started });

  const sort = params.get('sort') || 'created_at';
  const order = params.get('order') || 'desc'; // the API's default
  const selected = new Set();
  const compareBtn = h('button', { disabled: true, onclick: () => navigate(`/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`) }, 'Compare selected');
  const pageSize = h('select', { 'aria-label': 'Page size', onchange: (e) => go({ page_size: e.target.value, page: null }) },
    [20, 50, 100, 200, 500].map((n) => h('option', { value: n, selected: Number(apiQuery.get('page_size')) === n }, `${n} per page`)));
  const pages = Math.max(1, Math.ceil(page.total / page.page_size));
  const toolbar = h('div.toolbar', null,
    h('span.total', { id: 'total' }, `${fmt.count(page.total)} trajectories`),
    h('span.muted.small', null, 'j/k move · Enter open · x select'),
    h('span.spacer'), compareBtn, pageSize,
    h('a', { href: `/api/trajectories?${apiQuery}`, target: '_blank', class: 'small' }, 'JSON'),
    h('a', { href: `/api/export?${filterParams(params)}`, class: 'small' }, 'Export JSONL'));
  if (!page.data.length) {
    fill(content, searchBox, toolbar, stateBox('empty', page.total ? 'No rows on this page.' : 'No trajectories match these filters.'));
    return;
  }
  const headRow = h('tr', null, h('th', null, ''), h('th', null, ''), COLUMNS.map(([col, label, cls]) => {
    if (!col) return h('th', null, label);
    const th = h(`th.sortable${cls ? '.' + cls : ''}`, { dataset: { sort: col }, title: `Sort by ${col}` }, label, col === sort ? (order === 'asc' ? ' ▲' : ' ▼') : '');
    if (col === sort) th.classList.add('sorted');
    th.addEventListener('click', () => go({ sort: col, order: col === sort && order === 'asc' ? 'desc' : 'asc', page: null }));
    return th;
  }));
  const from = encodeURIComponent(listQuery.toString());
  const rows = page.data.map((r) => {
    const check = h('input', { type: 'checkbox', 'aria-label': 'Select for compare' });
    check.addEventListener('click', (e) => e.stopPropagation());
    check.addEventListener('change', () => { if (check.checked) selected.add(r.trajectory_id); else selected.delete(r.trajectory_id); compareBtn.disabled = selected.size < 2; compareBtn.textContent = `Compare selected (${selected.size})`; });
    const href = `/trajectories/${encodeURIComponent(r.trajectory_id)}?from=${from}`;
    const tr = h('tr', { dataset: { id: r.trajectory_id, href } },
      h('td', null, check), h('td', null, starButton(r)),
      h('td.id.mono', { title: r.trajectory_id }, h('a', { href, 'data-link': true }, r.trajectory_id)),
      h('td.task', { title: r.question || '' }, r.question || h('span.muted', null, r.data_id || '')),
      h('td', null, r.agent_name || ''), h('td', null, r.training_id || ''),
      h('td.num', null, fmt.num(r.epoch_id)), h('td.num', null, fmt.num(r.iteration_id)), h('td.num', null, fmt.num(r.sample_id)),
      h('td', null, terminationPill(r.termination_reason)),
      h('td.num', null, fmt.num(r.reward)), h('td.num', null, fmt.num(r.toolcall_reward)), h('td.num', null, fmt.num(r.res_reward)),
      h('td.num', null, fmt.num(r.step_count)), h('td.num', null, fmt.secs(r.exec_time)),
      h('td', null, (r.tags || []).map((t) => h('span.pill', null, t))),
      h('td.small.muted', null, fmt.time(r.created_at)));
    tr.addEventListener('click', () => setActive(rows.indexOf(tr)));
    tr.addEventListener('dblclick', () => navigate(href));
    return tr;
  });
  const table = h('table.grid', { id: 'trajectory-table' }, h('thead', null, headRow), h('tbody', null, rows));
  const p = page.page;
  const pager = h('nav.pager', { 'aria-label': 'Pages' },
    h('button', { disabled: p <= 1, onclick: () => go({ page: 1 }) }, '« First'),
    h('button', { disabled: p <= 1, onclick: () => go({ page: p - 1 }), id: 'prev-page' }, '‹ Prev'),
    h('span', { id: 'page-info' }, `Page ${fmt.count(p)} of ${fmt.count(pages)}`),
    h('button', { disabled: p >= pages, onclick: () => go({ page: p + 1 }), id: 'next-page' }, 'Next ›'),
    h('button', { disabled: p >= pages, onclick: () => go({ page: pages }) }, 'Last »'));
  fill(content, searchBox, toolbar, h('div.table-wrap', null, table), pager);

  // Keyboard: j/k move the active row, Enter opens it, x toggles its selection.
  let active = Math.max(0, page.data.findIndex((r) => r.trajectory_id === params.get('sel')));
  function setActive(i) {
    rows[active] && rows[active].classList.remove('active');
    active = Math.max(0, Math.min(rows.length - 1, i));
    rows[active].classList.add('active');
    rows[active].scrollIntoView({ block: 'nearest' });
    const p2 = new URLSearchParams(params); p2.set('sel', page.data[active].trajectory_id);
    history.replaceState(null, '', `/trajectories?${p2}`);
  }
  if (params.get('sel')) setActive(active); else rows[0].classList.add('active');
  const onKey = (e) => {
    if (e.target.closest('input, textarea, select')) return;
    if (e.key === 'j') setActive(active + 1);
    else if (e.key === 'k') setActive(active - 1);
    else if (e.key === 'Enter') navigate(rows[active].dataset.href);
    else if (e.key === 'x') { const c = rows[active].querySelector('input[type=checkbox]'); c.checked = !c.checked; c.dispatchEvent(new Event('change')); }
  };
  document.addEventListener('keydown', onKey);
  onLeave(() => document.removeEventListener('keydown', onKey));
}

// ---------------------------------------------------------------------------------------
// Full-text search inside steps (`q=` on the list page; JSON twin /api/search)

function searchForm(params) {
  const input = h('input', { type: 'search', name: 'q', value: params.get('q') || '', placeholder: 'Search questions, messages, tool calls and outputs…', 'aria-label': 'Search', id: 'search-input', style: 'flex:1' });
  const form = h('form.toolbar', { role: 'search' }, input, h('button', { type: 'submit' }, 'Search'),
    params.get('q') ? h('a', { href: `/trajectories?${(() => { const p = new URLSearchParams(params); p.delete('q'); return p; })()}`, 'data-link': true }, 'Clear search') : null);
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
  const words = query.split(/\s+/).filter((w) => w.length > 1).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return [text];
  const re = new RegExp(`(${words.join('|')})`, 'gi');
  return String(text).split(re).map((part, i) => (i % 2 ? h('mark', null, part) : part));
}

async function searchResults(params, content, searchBox) {
  const q = filterParams(params);
  q.set('q', params.get('q'));
  fill(content, searchBox, loading('search results'));
  let doc;
  try { doc = await api(`/api/search?${q}`); } catch (err) { fill(content, searchBox, errorBox(err, 'search results')); return; }
  if (!doc.data.length) { fill(content, searchBox, stateBox('empty', `Nothing matches “${params.get('q')}” with these filters.`)); return; }
  const rows = doc.data.map((r) => {
    const href = `/trajectories/${encodeURIComponent(r.trajectory_id)}${r.step !== null && r.step !== undefined ? '#step-' + r.step : ''}`;
    return h('tr', { dataset: { id: r.trajectory_id } },
      h('td.id.mono', null, h('a', { href, 'data-link': true }, r.trajectory_id)),
      h('td.num', null, fmt.num(r.score, 2)), h('td.num', null, r.step ?? ''),
      h('td', { style: 'white-space:normal;min-width:320px' }, highlighted(r.snippet || '', params.get('q'))),
      h('td', null, r.training_id || ''), h('td', null, terminationPill(r.termination_reason)), h('td.num', null, fmt.num(r.reward)));
  });
  fill(content, searchBox,
    h('div.toolbar', null, h('span.total', { id: 'total' }, `${fmt.count(doc.data.length)} best ${doc.data.length === 1 ? 'match' : 'matches'}`), h('span.spacer'),
      h('a.small', { href: `/api/search?${q}`, target: '_blank' }, 'JSON')),
    h('div.table-wrap', null, h('table.grid', { id: 'search-table' },
      h('thead', null, h('tr', null, ['ID', 'Score', 'Step', 'Snippet', 'Run', 'Termination', 'Reward'].map((c) => h('th', null, c)))),
      h('tbody', null, rows))));
}

// ---------------------------------------------------------------------------------------
// One trajectory, step by step

const FOLD_LINES = 12;
const FOLD_CHARS = 1500;
const MARKDOWN_MAX = 100_000; // past this, plain text: Markdown of megabytes would stall the page

function contentText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((b) => (b && typeof b === 'object' ? (b.text ?? b.content ?? (b.type === 'image_url' || b.type === 'image' ? '[image]' : JSON.stringify(b, null, 2))) : String(b))).map((t) => (typeof t === 'string' ? t : JSON.stringify(t, null, 2))).join('\n');
  }
  return JSON.stringify(content, null, 2);
}

/** Long text shows its first lines and a control that expands it in place. */
function folded(text, cls = 'pre') {
  const lines = text.split('\n');
  const long = lines.length > FOLD_LINES || text.length > FOLD_CHARS;
  if (!long) return h(cls, null, text);
  const head = lines.slice(0, FOLD_LINES).join('\n').slice(0, FOLD_CHARS);
  const pre = h(cls, null, head + ' …');
  const btn = h('button.link.small', { 'aria-expanded': 'false' }, `Show all ${fmt.count(lines.length)} lines (${fmt.count(text.length)} chars)`);
  btn.addEventListener('click', () => {
    const open = btn.getAttribute('aria-expanded') === 'true';
    pre.textContent = open ? head + ' …' : text;
    btn.setAttribute('aria-expanded', String(!open));
    btn.textContent = open ? `Show all ${fmt.count(lines.length)} lines (${fmt.count(text.length)} chars)` : 'Fold';
  });
  return h('div', null, pre, h('div.fold-note', null, btn));
}

function markdown(text) {
  if (text.length > MARKDOWN_MAX || !window.marked || !window.DOMPurify) return folded(text);
  const html = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: true }));
  return h('div.markdown', { html });
}

function prettyArgs(args) {
  if (typeof args === 'string') { try { return JSON.stringify(JSON.parse(args), null, 2); } catch { return args; } }
  return JSON.stringify(args, null, 2);
}

// ---------------------------------------------------------------------------------------
// What a harness saw: patches rendered as diffs, the verifier's tests, reasoning folded.
// All of it is text from the data: every line goes in through textContent, never as HTML.

/** A unified diff (git or plain) or Codex's apply_patch envelope. */
function looksLikePatch(text) {
  if (typeof text !== 'string' || text.length < 10) return false;
  return /^\*\*\* Begin Patch/m.test(text) || /^diff --git /m.test(text) || (/^--- .*\n\+\+\+ /m.test(text) && /^@@/m.test(text));
}

const UNIFIED_HEADER = /^(diff |index |--- |\+\+\+ |(new|deleted) file mode|old mode|new mode|(dis)?similarity index|rename (from|to) |copy (from|to) |Binary files )/;
const HUNK_RANGE = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

function bodyKind(line) {
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  if (line.startsWith('\\')) return 'meta'; // "\ No newline at end of file"
  return 'ctx';
}

/**
 * [kind, line] for each line of a patch; kind is file, hunk, add, del, ctx or meta.
 * A unified hunk ends where its header's line counts say, so a removed line that reads
 * "-- x" (shown as "--- x") is not taken for a file header. Codex's patches have no
 * counts ("@@" alone or "@@ def f"), but there every header starts with "***".
 */
function patchLineKinds(text) {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out = [];
  let codex = false, loose = false, oldLeft = 0, newLeft = 0;
  for (const line of lines) {
    let kind;
    if (oldLeft > 0 || newLeft > 0) {
      kind = bodyKind(line);
      if (kind !== 'add' && kind !== 'meta') oldLeft--;
      if (kind !== 'del' && kind !== 'meta') newLeft--;
    } else if (/^\*\*\* (Begin|End) Patch/.test(line)) {
      codex = line.startsWith('*** Begin'); kind = 'meta';
    } else if (codex && line.startsWith('*** ')) {
      kind = line.startsWith('*** End of File') ? 'meta' : 'file';
    } else if (line.startsWith('@@')) {
      kind = 'hunk';
      const m = codex ? null : line.match(HUNK_RANGE);
      if (m) { oldLeft = m[1] === undefined ? 1 : Number(m[1]); newLeft = m[2] === undefined ? 1 : Number(m[2]); }
      loose = !m; // a hunk without counts runs to the next header
    } else if (codex || (loose && !line.startsWith('diff '))) {
      kind = bodyKind(line); // Codex's "*** Add File" body has no "@@" before it
    } else {
      loose = false;
      kind = UNIFIED_HEADER.test(line) ? 'file' : 'meta';
    }
    out.push([kind, line]);
  }
  return out;
}

const PATCH_PREVIEW_LINES = 400;

/** A patch as a diff: one row per line, coloured by kind; long patches show their start. */
function diffView(text) {
  const lines = patchLineKinds(text);
  const count = (kind) => lines.filter(([k]) => k === kind).length;
  const starts = lines.filter(([k, l]) => k === 'file' && /^(diff --git |\*\*\* (Update|Add|Delete) File: )/.test(l)).length;
  const files = starts || lines.filter(([k, l]) => k === 'file' && l.startsWith('+++ ')).length;
  const row = ([kind, line]) => h(`div.${kind}`, null, line);
  const view = h('div.patch', null, lines.slice(0, PATCH_PREVIEW_LINES).map(row));
  const summary = h('div.small.muted.patch-summary', null, `${fmt.count(files)} ${files === 1 ? 'file' : 'files'} · +${fmt.count(count('add'))} −${fmt.count(count('del'))}`);
  if (lines.length <= PATCH_PREVIEW_LINES) return h('div', null, summary, view);
  const btn = h('button.link.small', null, `Show all ${fmt.count(lines.length)} lines`);
  btn.addEventListener('click', () => { add(view, lines.slice(PATCH_PREVIEW_LINES).map(row)); btn.parentElement.remove(); });
  return h('div', null, summary, view, h('div.fold-note', null, btn));
}

/** The final patch of the run (metadata.patch) in a panel of its own. */
function patchPanel(patch) {
  if (typeof patch !== 'string' || !patch.trim()) return null;
  return h('section.panel', { id: 'patch', 'aria-label': 'Patch', style: 'margin-top:12px' }, h('h3', null, 'Patch'), diffView(patch));
}

/**
 * The patch a tool call carries, as {patch, rest} (rest: its other arguments, or null),
 * or null. apply_patch takes it as {"input": ...} or a bare string; any other tool counts
 * when an argument, or a string in an argument list (Codex's shell ["apply_patch", ...]),
 * looks like a patch.
 */
function patchArgument(name, args) {
  let v = args;
  if (typeof v === 'string') { try { v = JSON.parse(v); } catch { /* a bare string */ } }
  const isApply = /(^|[.:/])apply_patch$/.test(String(name));
  if (typeof v === 'string') return isApply || looksLikePatch(v) ? { patch: v, rest: null } : null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const entries = Object.entries(v);
  const pick = (isApply && entries.find(([k, x]) => (k === 'input' || k === 'patch') && typeof x === 'string'))
    || entries.find(([, x]) => looksLikePatch(x))
    || entries.find(([, x]) => Array.isArray(x) && x.some(looksLikePatch));
  if (!pick) return null;
  const [key, value] = pick;
  const rest = Object.assign({}, v);
  let patch = value;
  if (Array.isArray(value)) {
    patch = value.find(looksLikePatch);
    rest[key] = value.map((x) => (x === patch ? '(the patch, shown below)' : x));
  } else delete rest[key];
  return { patch, rest: Object.keys(rest).length ? rest : null };
}

/** passed, failed (failed or errored) or other (skipped, xfail, anything else). */
function testOutcome(status) {
  const s = status.toLowerCase();
  if (s === 'passed' || s === 'pass') return 'passed';
  if (s === 'failed' || s === 'fail' || s === 'error') return 'failed';
  return 'other';
}

function verifierTest(raw) {
  const t = raw && typeof raw === 'object' ? raw : { name: String(raw) };
  const status = t.status === undefined || t.status === null || t.status === '' ? 'unknown' : String(t.status);
  const message = t.message === undefined || t.message === null ? '' : typeof t.message === 'string' ? t.message : JSON.stringify(t.message, null, 2);
  return { name: String(t.name ?? '(unnamed)'), status, outcome: testOutcome(status), message };
}

function testItem(t) {
  const badge = h(`span.badge.${t.outcome}`, null, t.status);
  const name = h('span.mono.test-name', null, t.name);
  const attrs = { dataset: { status: t.status, outcome: t.outcome } };
  // A message (often a long traceback) stays folded under the test's name.
  if (!t.message) return h('li', attrs, badge, name);
  return h('li', attrs, h('details', null, h('summary', null, badge, name), folded(t.message)));
}

/** metadata.verifier_tests: counts, then the tests, failures first (the sort is stable). */
function verifierPanel(raw) {
  if (!Array.isArray(raw) || !raw.length) return null;
  const tests = raw.map(verifierTest);
  const rank = { failed: 0, other: 1, passed: 2 };
  const sorted = [...tests].sort((a, b) => rank[a.outcome] - rank[b.outcome]);
  const chip = (outcome) => {
    const n = tests.filter((t) => t.outcome === outcome).length;
    return h(`span.badge.${outcome}`, { dataset: { count: n, outcome } }, `${fmt.count(n)} ${outcome}`);
  };
  return h('section.panel.verifier', { id: 'verifier', 'aria-label': 'Verifier', style: 'margin-top:12px' },
    h('h3', null, 'Verifier'),
    h('div.verifier-counts', null, chip('passed'), chip('failed'), chip('other')),
    h('ul.tests', null, sorted.map(testItem)));
}

const REASONING_BLOCKS = new Set(['thinking', 'reasoning', 'redacted_thinking']);
const isReasoningBlock = (b) => b !== null && typeof b === 'object' && REASONING_BLOCKS.has(b.type);

function reasoningBlockText(b) {
  if (b.type === 'redacted_thinking') return '[redacted by the provider]';
  for (const k of ['thinking', 'reasoning', 'text']) if (typeof b[k] === 'string') return b[k];
  // OpenAI's reasoning items carry their text in summary (and content) lists.
  const parts = [...(Array.isArray(b.summary) ? b.summary : []), ...(Array.isArray(b.content) ? b.content : [])];
  if (parts.length) return parts.map((p) => (typeof p === 'string' ? p : p && p.text) || '').filter(Boolean).join('\n\n');
  return JSON.stringify(b, null, 2);
}

/** A step's reasoning (reasoning_content, thinking/reasoning blocks) apart from what it said. */
function splitReasoning(step) {
  const parts = [];
  const rc = step.reasoning_content;
  if (typeof rc === 'string') { if (rc.trim()) parts.push(rc); } else if (rc !== undefined && rc !== null) parts.push(JSON.stringify(rc, null, 2));
  let content = step.content;
  if (Array.isArray(content) && content.some(isReasoningBlock)) {
    parts.push(...content.filter(isReasoningBlock).map(reasoningBlockText));
    content = content.filter((b) => !isReasoningBlock(b));
  }
  return { content, reasoning: parts.join('\n\n') };
}

/** Reasoning is often longer than the answer: folded by default, one click away. */
function reasoningDetails(text) {
  if (!text) return null;
  return h('details.reasoning', null, h('summary', null, 'Reasoning', h('span.muted', null, ` · ${fmt.count(text.length)} chars`)),
    h('div.reasoning-text', null, text));
}

function renderToolCall(c) {
  const name = c.name || (c.function && c.function.name) || 'tool';
  const args = c.arguments !== undefined ? c.arguments : c.function && c.function.arguments;
  const found = patchArgument(name, args);
  const body = found ? [found.rest ? folded(prettyArgs(found.rest)) : null, diffView(found.patch)] : folded(prettyArgs(args ?? {}));
  return h(`div.toolcall${found ? '.patch-call' : ''}`, null, h('div.name', null, `${name}(…)`, c.id ? h('span.muted', null, `  ${c.id}`) : null), body);
}

function renderStep(step, i) {
  const role = String(step.role || 'unknown');
  const roleClass = ['system', 'user', 'assistant', 'tool'].includes(role) ? role : role === 'function' ? 'tool' : '';
  const head = h('div.step-head', null, h('span.role', null, role), h('a', { href: `#step-${i}` }, `#${i}`),
    step.name ? h('span.mono', null, step.name) : null,
    step.tool_call_id ? h('span.mono', null, `↩ ${step.tool_call_id}`) : null,
    step.reward !== undefined && step.reward !== null ? h('span.reward-chip', null, `reward ${fmt.num(step.reward)}`) : null,
    step.timestamp ? h('span', null, fmt.time(step.timestamp)) : null);
  const { content, reasoning } = splitReasoning(step);
  const text = contentText(content);
  const body = text === '' ? null : role === 'assistant' ? markdown(text) : folded(text);
  const calls = (step.tool_calls || []).map(renderToolCall);
  return h(`article.step.${roleClass || 'other'}`, { id: `step-${i}`, dataset: { step: i } }, head, reasoningDetails(reasoning), body, calls);
}

const SUMMARY_FIELDS = [
  ['data_id', 'Task (data_id)'], ['agent_name', 'Agent'], ['training_id', 'Run'], ['epoch_id', 'Epoch'], ['iteration_id', 'Iteration'],
  ['sample_id', 'Sample'], ['termination_reason', 'Termination'], ['is_success', 'Success'], ['reward', 'Reward'],
  ['toolcall_reward', 'Tool-call reward'], ['res_reward', 'Result reward'], ['step_count', 'Steps'], ['exec_time', 'Exec time (s)'],
  ['source', 'Source'], ['created_at', 'Created'], ['updated_at', 'Updated'],
];

/** Previous and next trajectory within the list the user came from (`from=` holds its query). */
async function neighbours(id, fromQuery) {
  const q = new URLSearchParams(fromQuery);
  const size = Number(q.get('page_size') || 50);
  const pageNo = Number(q.get('page') || 1);
  q.set('page_size', String(size));
  const pageOf = async (n) => { const p = new URLSearchParams(q); p.set('page', String(n)); return (await api(`/api/trajectories?${p}`)).data; };
  const rows = await pageOf(pageNo);
  const i = rows.findIndex((r) => r.trajectory_id === id);
  if (i < 0) return {};
  let prev = rows[i - 1], next = rows[i + 1], prevPage = pageNo, nextPage = pageNo;
  if (!prev && pageNo > 1) { prev = (await pageOf(pageNo - 1)).slice(-1)[0]; prevPage = pageNo - 1; }
  if (!next && rows.length === size) { next = (await pageOf(pageNo + 1))[0]; nextPage = pageNo + 1; }
  const link = (r, n) => { if (!r) return null; const p = new URLSearchParams(q); p.set('page', String(n)); return `/trajectories/${encodeURIComponent(r.trajectory_id)}?from=${encodeURIComponent(p.toString())}`; };
  return { prev: link(prev, prevPage), next: link(next, nextPage) };
}

async function detailPage(id, params) {
  const root = app();
  fill(root, loading('the trajectory'));
  const started = performance.now();
  let t;
  try { t = await api(`/api/trajectories/${encodeURIComponent(id)}`); } catch (err) {
    fill(root, err.status === 404 ? stateBox('empty', `No trajectory with id “${id}”.`) : errorBox(err, 'the trajectory'));
    return;
  }
  const fromQuery = params.get('from');
  const steps = Array.isArray(t.steps) ? t.steps : [];
  const back = h('a', { href: `/trajectories${fromQuery ? '?' + fromQuery : ''}`, 'data-link': true }, '← Trajectories');
  const nav = h('span.neighbors');
  const star = starButton(t);
  const copyBtn = h('button', { onclick: async () => {
    const raw = JSON.stringify(t, null, 2);
    try { await navigator.clipboard.writeText(raw); copyBtn.textContent = 'Copied'; } catch { const ta = h('textarea', null, raw); document.body.append(ta); ta.select(); document.execCommand('copy'); ta.remove(); copyBtn.textContent = 'Copied'; }
    setTimeout(() => { copyBtn.textContent = 'Copy raw JSON'; }, 1500);
  } }, 'Copy raw JSON');
  const tagsInput = h('input', { value: (t.tags || []).join(', '), 'aria-label': 'Tags', placeholder: 'tags, comma separated', id: 'tags-input' });
  const notesInput = h('textarea', { 'aria-label': 'Notes', placeholder: 'notes', id: 'notes-input' }, t.notes || '');
  const saveState = h('span.muted.small');
  const save = h('button', { onclick: async () => {
    const tags = tagsInput.value.split(',').map((s) => s.trim()).filter(Boolean);
    try {
      await api(`/api/trajectories/${encodeURIComponent(id)}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ tags, notes: notesInput.value || null }) });
      saveState.textContent = 'Saved';
    } catch (err) { saveState.textContent = `Not saved: ${err.message}`; }
  } }, 'Save tags and notes');
  const fields = h('div.fields', null, SUMMARY_FIELDS.filter(([k]) => t[k] !== undefined && t[k] !== null).map(([k, label]) =>
    h('div', null, h('span', null, label), h('b', null, typeof t[k] === 'boolean' ? (t[k] ? 'yes' : 'no') : k.endsWith('_at') ? fmt.time(t[k]) : String(t[k])))));
  const question = t.task && t.task.question ? h('div.question', null, String(t.task.question)) : null;
  const extraKeys = Object.keys(t).filter((k) => !['steps', 'messages', 'task', 'tags', 'notes', 'trajectory_id', 'is_bookmarked'].includes(k) && !SUMMARY_FIELDS.some(([f]) => f === k));
  const extra = extraKeys.length ? h('details', null, h('summary.small.muted', null, `More fields (${extraKeys.join(', ')})`), h('pre', null, JSON.stringify(Object.fromEntries(extraKeys.map((k) => [k, t[k]])), null, 2))) : null;
  const samples = h('section.panel', { 'aria-label': 'Other samples of this task', style: 'margin-top:12px' }, h('h3', null, 'Other samples of this task'));
  const similar = h('section.panel', { 'aria-label': 'Similar trajectories', style: 'margin-top:12px', id: 'similar' }, h('h3', null, 'Similar trajectories'), h('p.small.muted', null, 'Loading…'));
  const header = h('section.panel', { 'aria-label': 'Trajectory' },
    h('div.head-actions', null, back, h('span.spacer'), nav),
    h('h1', null, star, ' ', h('span.mono', { id: 'trajectory-id' }, t.trajectory_id)),
    question, fields, extra,
    h('div.head-actions', null, copyBtn, h('a', { href: `/api/trajectories/${encodeURIComponent(id)}`, target: '_blank', class: 'small' }, 'JSON')),
    h('div.edit-row', null, tagsInput, h('span')), h('div.edit-row', null, notesInput, h('div', null, save, h('div', null, saveState))));
  const index = h('nav.panel.step-index', { 'aria-label': 'Step index' });
  const stepList = h('div.steps', { id: 'steps' });
  const meta = t.metadata && typeof t.metadata === 'object' ? t.metadata : {};
  fill(root, h('div.detail', null, index, h('div', null, header, verifierPanel(meta.verifier_tests), patchPanel(meta.patch), samples, similar, h('h2', { style: 'margin-top:16px' }, `${fmt.count(steps.length)} steps`),
    steps.length ? stepList : stateBox('empty', 'This trajectory has no steps.'))));

  // Steps render in chunks, one per frame, so the first screen appears at once and a
  // 300-step, multi-megabyte trajectory never blocks the page; `#step-N` waits for N.
  let rendered = 0;
  let alive = true;
  onLeave(() => { alive = false; });
  const indexItems = [];
  const target = () => { const m = location.hash.match(/^#step-(\d+)$/); return m ? Number(m[1]) : -1; };
  const renderUpTo = (end) => {
    const frag = document.createDocumentFragment();
    const idx = document.createDocumentFragment();
    for (; rendered < Math.min(end, steps.length); rendered++) {
      const s = steps[rendered];
      add(frag, renderStep(s, rendered));
      const preview = contentText(splitReasoning(s).content).slice(0, 60) || ((s.tool_calls || [])[0] ? `→ ${(s.tool_calls[0].name || (s.tool_calls[0].function || {}).name || 'tool')}` : '');
      const a = h('a', { href: `#step-${rendered}`, title: preview }, h('b', null, `${rendered} `), `${s.role || ''}: ${preview}`);
      indexItems.push(a); add(idx, a);
    }
    add(stepList, frag); add(index, idx);
  };
  // Steps off screen are laid out at an estimated height (content-visibility), so the
  // target moves as its neighbours render: scroll again until it stays put.
  const jump = (tries = 8) => {
    const n = target();
    if (n < 0 || n >= rendered || !alive) return;
    const el = document.getElementById(`step-${n}`);
    const before = el.getBoundingClientRect().top;
    if (Math.abs(before - 70) > 2) el.scrollIntoView();
    if (tries > 0) requestAnimationFrame(() => { if (Math.abs(el.getBoundingClientRect().top - 70) > 2) jump(tries - 1); });
  };
  renderUpTo(Math.max(30, target() + 1));
  jump();
  const more = () => {
    if (!alive) return;
    if (rendered < steps.length) { renderUpTo(rendered + 60); requestAnimationFrame(more); } else {
      window.trajstoreTiming = Object.assign(window.trajstoreTiming || {}, { detailMs: performance.now() - started, steps: steps.length });
      document.body.dataset.stepsRendered = String(rendered);
    }
  };
  if (rendered < steps.length) requestAnimationFrame(more); else more();
  const onHash = () => { const n = target(); if (n >= rendered) renderUpTo(n + 1); jump(); };
  window.addEventListener('hashchange', onHash);
  onLeave(() => window.removeEventListener('hashchange', onHash));

  if (fromQuery) neighbours(id, fromQuery).then(({ prev, next }) => {
    fill(nav, prev ? h('a', { href: prev, 'data-link': true, id: 'prev-trajectory' }, '‹ Previous') : h('span.muted', null, '‹ Previous'),
      next ? h('a', { href: next, 'data-link': true, id: 'next-trajectory' }, 'Next ›') : h('span.muted', null, 'Next ›'));
  }).catch(() => {});
  api(`/api/trajectories/${encodeURIComponent(id)}/similar?k=10`).then((doc) => {
    const rows = (doc.data || []).filter((r) => r.trajectory_id !== t.trajectory_id);
    const note = doc.not_embedded ? h('p.small.muted', null, `${fmt.count(doc.not_embedded)} trajectories are not embedded yet and cannot appear here.`) : null;
    if (!rows.length) { fill(similar, h('h3', null, 'Similar trajectories'), h('p.small.muted', null, 'No similar trajectories found.'), note); return; }
    fill(similar, h('h3', null, 'Similar trajectories'), note, h('div.table-wrap', null, h('table.grid', null, h('tbody', null, rows.map((r) => h('tr', { dataset: { id: r.trajectory_id } },
      h('td.mono', null, h('a', { href: `/trajectories/${encodeURIComponent(r.trajectory_id)}`, 'data-link': true }, r.trajectory_id)),
      h('td.num.small', { title: 'cosine distance' }, fmt.num(r.distance, 3)), h('td.task', null, r.question || ''),
      h('td', null, terminationPill(r.termination_reason)), h('td.num', null, fmt.num(r.reward))))))));
  }).catch((err) => fill(similar, h('h3', null, 'Similar trajectories'), h('p.small.muted', null, `Unavailable: ${err.message}`)));
  if (t.data_id) {
    const q = new URLSearchParams({ data_id: t.data_id.replace(/\*/g, '') === t.data_id ? t.data_id : '', page_size: '50', sort: 'sample_id' });
    api(`/api/trajectories?${q}`).then((p) => {
      const others = p.data.filter((r) => r.trajectory_id !== t.trajectory_id);
      if (!others.length) { add(samples, h('p.muted.small', null, 'No other samples of this task.')); return; }
      const ids = [t.trajectory_id, ...others.slice(0, 7).map((r) => r.trajectory_id)];
      add(samples, h('div.toolbar', null, h('span.small', null, `${fmt.count(p.total - 1)} other samples`),
        h('a', { href: `/compare?ids=${ids.map(encodeURIComponent).join(',')}`, 'data-link': true }, 'Compare with this one'),
        h('a', { href: `/trajectories?${new URLSearchParams({ data_id: t.data_id })}`, 'data-link': true }, 'List them')),
      h('div.table-wrap', null, h('table.grid', null, h('tbody', null, others.slice(0, 10).map((r) => h('tr', null,
        h('td.mono', null, h('a', { href: `/trajectories/${encodeURIComponent(r.trajectory_id)}`, 'data-link': true }, r.trajectory_id)),
        h('td', null, r.training_id || ''), h('td.num', null, `ep ${fmt.num(r.epoch_id)}`), h('td', null, terminationPill(r.termination_reason)), h('td.num', null, fmt.num(r.reward))))))));
    }).catch((err) => add(samples, errorBox(err, 'other samples')));
  } else add(samples, h('p.muted.small', null, 'This trajectory has no data_id.'));
}

// ---------------------------------------------------------------------------------------
// Compare: trajectories side by side, steps aligned by index, differences highlighted

async function comparePage(params) {
  const root = app();
  const ids = (params.get('ids') || '').split(',').filter(Boolean);
  if (ids.length < 2) { fill(root, stateBox('empty', 'Select two or more trajectories in the list to compare them.')); return; }
  fill(root, loading(`${ids.length} trajectories`));
  let doc;
  try { doc = await api(`/api/compare?ids=${ids.map(encodeURIComponent).join(',')}`); } catch (err) { fill(root, errorBox(err, 'the comparison')); return; }
  const ts = doc.data;
  const cols = `60px repeat(${ts.length}, minmax(240px, 1fr))`;
  const grid = h('div.compare', { style: `grid-template-columns:${cols}`, id: 'compare-grid' });
  const differs = (f) => new Set(ts.map((t) => JSON.stringify(t[f] ?? null))).size > 1;
  add(grid, h('div'), ts.map((t) => h('div.cell', null, h('a.mono', { href: `/trajectories/${encodeURIComponent(t.trajectory_id)}`, 'data-link': true }, t.trajectory_id))));
  for (const [f, label] of [['training_id', 'Run'], ['epoch_id', 'Epoch'], ['sample_id', 'Sample'], ['termination_reason', 'Termination'], ['is_success', 'Success'], ['reward', 'Reward'], ['step_count', 'Steps'], ['exec_time', 'Exec time']]) {
    const d = differs(f);
    add(grid, h('div.idx', null, label), ts.map((t) => h(`div.cell${d ? '.diff' : ''}`, { dataset: { field: f } }, t[f] === undefined || t[f] === null ? '–' : String(t[f]))));
  }
  const n = Math.max(...ts.map((t) => (t.steps || []).length));
  for (let i = 0; i < n; i++) {
    const rewards = new Set(ts.map((t) => JSON.stringify(((t.steps || [])[i] || {}).reward ?? null)));
    add(grid, h('div.idx', null, `#${i}`), ts.map((t) => {
      const s = (t.steps || [])[i];
      if (!s) return h('div.cell.empty');
      const calls = (s.tool_calls || []).map((c) => `→ ${c.name || (c.function || {}).name}(${prettyArgs(c.arguments ?? (c.function || {}).arguments ?? {}).slice(0, 200)})`).join('\n');
      return h(`div.cell${rewards.size > 1 ? '.diff' : ''}`, null, h('div.step-head', null, h('span.role', null, s.role || ''), s.reward !== undefined && s.reward !== null ? h('span', null, `reward ${fmt.num(s.reward)}`) : null),
        h('pre', null, (contentText(s.content).slice(0, 2000) + (calls ? '\n' + calls : '')).trim()));
    }));
  }
  const missing = ids.filter((id) => !ts.some((t) => t.trajectory_id === id));
  fill(root, h('h1', null, `Comparing ${ts.length} trajectories`),
    missing.length ? stateBox('error', `Not found: ${missing.join(', ')}`) : null,
    h('p.muted.small', null, 'Steps are aligned by index; highlighted cells differ between the trajectories.'), grid);
}

// ---------------------------------------------------------------------------------------
// Statistics: cards and charts over the filtered set

function chartColors(i) { const c = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f59f00', '#c92a2a', '#5c940d']; return c[i % c.length]; }

function makeChart(canvas, config) {
  if (!window.Chart) { canvas.replaceWith(stateBox('error', 'The chart library is not bundled: run scripts/setup.sh and rebuild.')); return null; }
  const text = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim();
  window.Chart.defaults.color = text;
  const chart = new window.Chart(canvas, Object.assign({ options: {} }, config, { options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {}) }));
  onLeave(() => chart.destroy());
  return chart;
}

async function statsPage(params) {
  const root = app();
  const x = params.get('x') || 'epoch_id';
  const k = params.get('k') || '1,4,8';
  const filters = filterParams(params);
  const panel = filterPanel(params, (f) => { const p = new URLSearchParams(f); p.set('x', x); p.set('k', k); navigate(`/statistics?${p}`); });
  const content = h('section', { 'aria-label': 'Statistics' }, loading('statistics'));
  fill(root, h('div.layout', null, panel, content));
  const q = (extra) => { const p = new URLSearchParams(filters); for (const [a, b] of Object.entries(extra)) p.set(a, b); return p; };
  let stats, curve, steps;
  try {
    [stats, curve, steps] = await Promise.all([
      api(`/api/statistics?${q({ k })}`),
      api(`/api/curves?${q({ x, series: 'training_id', k: k.split(',')[0] })}`),
      api(`/api/statistics?${q({ group_by: 'step_count', k: '1' })}`),
    ]);
  } catch (err) { fill(content, errorBox(err, 'statistics')); return; }
  const o = stats.overall;
  const controls = h('div.toolbar', null,
    h('label', null, 'x axis ', h('select', { onchange: (e) => { const p = new URLSearchParams(params); p.set('x', e.target.value); navigate(`/statistics?${p}`); } },
      ['epoch_id', 'iteration_id'].map((v) => h('option', { value: v, selected: v === x }, v)))),
    h('label', null, 'k ', h('input', { value: k, size: 8, onchange: (e) => { const p = new URLSearchParams(params); p.set('k', e.target.value); navigate(`/statistics?${p}`); } })),
    h('span.spacer'), h('a.small', { href: `/api/statistics?${q({ k })}`, target: '_blank' }, 'JSON'));
  if (!o.count) { fill(content, controls, stateBox('empty', 'No trajectories match these filters.')); return; }
  const ks = k.split(',').map((s) => s.trim()).filter(Boolean);
  const cards = h('div.cards', { id: 'stat-cards' },
    h('div.card', null, h('span', null, 'Trajectories'), h('b', null, fmt.count(o.count))),
    h('div.card', null, h('span', null, 'Tasks'), h('b', null, fmt.count(o.tasks))),
    h('div.card', null, h('span', null, 'Success rate'), h('b', null, fmt.pct(o.success_rate))),
    ks.map((kk) => h('div.card', { title: `${fmt.count(o[`tasks_skipped@${kk}`])} tasks with fewer than ${kk} samples left out` }, h('span', null, `pass@${kk}`), h('b', null, fmt.pct(o[`pass@${kk}`])))),
    h('div.card', null, h('span', null, 'Mean reward'), h('b', null, fmt.num(o.reward_mean))),
    h('div.card', null, h('span', null, 'Median steps'), h('b', null, fmt.num(o.step_count_median))));
  const box = (title, id) => { const c = h('canvas', { id }); return [h('div.panel', null, h('h2', null, title), h('div.chart-box', null, c)), c]; };
  const [rewardBox, rewardCanvas] = box(`Mean reward by ${x}`, 'chart-reward');
  const [successBox, successCanvas] = box(`Success rate by ${x}`, 'chart-success');
  const [termBox, termCanvas] = box('Termination reasons', 'chart-termination');
  const [histBox, histCanvas] = box('Reward histogram', 'chart-histogram');
  const [stepBox, stepCanvas] = box('Step count distribution', 'chart-steps');
  fill(content, controls, cards, h('div.charts', null, rewardBox, successBox, termBox, histBox, stepBox));

  const series = new Map();
  for (const pt of curve.points) { const s = pt.series ?? '(none)'; if (!series.has(s)) series.set(s, []); series.get(s).push(pt); }
  const xs = [...new Set(curve.points.map((p) => p.x))].sort((a, b) => a - b);
  const lines = (key) => [...series].map(([name, pts], i) => ({ label: String(name), data: xs.map((xv) => { const p = pts.find((q2) => q2.x === xv); return p ? p[key] : null; }), borderColor: chartColors(i), backgroundColor: chartColors(i), spanGaps: true, tension: 0.2 }));
  makeChart(rewardCanvas, { type: 'line', data: { labels: xs, datasets: lines('reward_mean') } });
  makeChart(successCanvas, { type: 'line', data: { labels: xs, datasets: lines('success_rate') }, options: { scales: { y: { min: 0, max: 1 } } } });
  const reasons = Object.entries(o.termination_reasons || {}).sort((a, b) => b[1] - a[1]);
  makeChart(termCanvas, { type: 'bar', data: { labels: reasons.map((r) => r[0]), datasets: [{ label: 'trajectories', data: reasons.map((r) => r[1]), backgroundColor: chartColors(0) }] }, options: { plugins: { legend: { display: false } } } });
  const lo = o.reward_min ?? 0, hi = o.reward_max ?? 1, w = (hi - lo) / 10;
  makeChart(histCanvas, { type: 'bar', data: { labels: (o.reward_histogram || []).map((_, i) => `${fmt.num(lo + i * w, 2)}–${fmt.num(lo + (i + 1) * w, 2)}`), datasets: [{ label: 'trajectories', data: o.reward_histogram || [], backgroundColor: chartColors(2) }] }, options: { plugins: { legend: { display: false } } } });
  const stepGroups = (steps.groups || []).filter((g) => g.step_count !== null).sort((a, b) => a.step_count - b.step_count);
  makeChart(stepCanvas, { type: 'bar', data: { labels: stepGroups.map((g) => g.step_count), datasets: [{ label: 'trajectories', data: stepGroups.map((g) => g.count), backgroundColor: chartColors(4) }] }, options: { plugins: { legend: { display: false } } } });
}

// ---------------------------------------------------------------------------------------
// Import: upload a file or name a server path, then follow the task

function importTaskRow(task) {
  const total = task.bytes_total || 0;
  const done = task.bytes_done || 0;
  const result = task.result;
  return h('div.panel', { dataset: { task: task.task_id, status: task.status }, style: 'margin-bottom:8px' },
    h('div.toolbar', null, h('b', null, task.source || task.task_id), h(`span.pill.${task.status === 'done' ? 'success' : task.status === 'failed' ? 'error' : ''}`, { 'data-status': task.status }, task.status),
      h('span.spacer'), h('span.small.muted', null, `${fmt.count(task.records_done || 0)} records · ${fmt.count(done)}${total ? ' / ' + fmt.count(total) : ''} bytes`)),
    task.status === 'running' || task.status === 'queued' ? h('progress', { max: total || 1, value: total ? done : 0 }) : null,
    result ? h('p.small', null, `Imported ${fmt.count(result.imported)}, skipped ${fmt.count(result.skipped)} duplicates, ${fmt.count(result.failed)} failed.`,
      (result.files || []).length ? h('span.muted', { 'data-formats': (result.files || []).map((f) => f.format).join(',') }, ` Format: ${[...new Set(result.files.map((f) => f.format))].join(', ')}.`) : null) : null,
    task.error ? h('p.small', { style: 'color:var(--bad)' }, task.error) : null,
    result && result.errors && result.errors.length ? h('details', null, h('summary.small', null, `${result.errors.length} errors`),
      h('table.grid', null, h('tbody', null, result.errors.slice(0, 200).map((e) => h('tr', null, h('td.mono.small', null, `${e.file}${e.line ? ':' + e.line : ''}${e.index !== null && e.index !== undefined ? '[' + e.index + ']' : ''}`), h('td.small', null, e.field || ''), h('td.small', null, e.message)))))) : null);
}

async function importPage() {
  const root = app();
  const list = h('div', { id: 'import-tasks' }, loading('imports'));
  const fileInput = h('input', { type: 'file', id: 'import-file', accept: '.jsonl,.json,.ndjson,.gz,.zst,.traj,.eval' });
  const uploadState = h('p.small.muted');
  // The format names come from the API's own description, so the list cannot drift.
  const formatSelect = h('select', { id: 'import-format', 'aria-label': 'Format' }, h('option', { value: 'auto' }, 'auto-detect'));
  api('/api/openapi.json').then((spec) => {
    const param = ((spec.paths['/api/imports'].post || {}).parameters || []).find((p) => p.name === 'format');
    for (const name of ((param && param.schema.enum) || []).filter((n) => n !== 'auto')) add(formatSelect, h('option', { value: name }, name));
  }).catch(() => {});
  const upload = async (file) => {
    uploadState.textContent = `Uploading ${file.name}…`;
    try {
      await api(`/api/imports?format=${encodeURIComponent(formatSelect.value)}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'X-Filename': file.name }, body: file });
      uploadState.textContent = `${file.name} uploaded; importing.`;
      refresh();
    } catch (err) { uploadState.textContent = `Upload failed: ${err.message}`; }
  };
  fileInput.addEventListener('change', () => fileInput.files[0] && upload(fileInput.files[0]));
  const drop = h('div.dropzone', null, 'Drop a JSONL, JSON, .gz or .zst file here, or ', fileInput);
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
  const pathInput = h('input', { placeholder: '/data/rollouts.jsonl', style: 'width:100%', 'aria-label': 'Server path' });
  const pathState = h('p.small.muted');
  const pathForm = h('form', null, pathInput, h('p', null, h('button.primary', { type: 'submit' }, 'Import from server path')), pathState);
  pathForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await api('/api/imports', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ path: pathInput.value, format: formatSelect.value }) }); pathState.textContent = 'Started.'; refresh(); } catch (err) { pathState.textContent = err.message; }
  });
  fill(root, h('h1', null, 'Import'), h('div.toolbar', null, h('label', null, 'Format ', formatSelect), h('span.small.muted', null, 'auto-detect chooses per file from its content: native JSONL, OpenAI chat, tau-bench, tau2, InterCode, Responses, mini-swe-agent, SWE-agent, Inspect, OpenHands, verl, ATIF.')), h('div.import-grid', null,
    h('section.panel', null, h('h2', null, 'Upload a file'), drop, uploadState),
    h('section.panel', null, h('h2', null, 'A file on the server'), h('p.small.muted', null, 'Only below the directories the server was started with (--import-root).'), pathForm)),
  h('h2', null, 'Recent imports'), list);
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const doc = await api('/api/imports');
      const tasks = doc.data || [];
      fill(list, ...(tasks.length ? tasks.map(importTaskRow) : [stateBox('empty', 'No imports yet.')]));
      if (tasks.some((t) => t.status === 'running' || t.status === 'queued')) timer = setTimeout(refresh, 400);
    } catch (err) { fill(list, errorBox(err, 'imports')); }
  }
  onLeave(() => clearTimeout(timer));
  refresh();
}

// ---------------------------------------------------------------------------------------

async function storeInfo() {
  try {
    const hl = await api('/api/health');
    document.getElementById('store-info').textContent = `dataset version ${hl.dataset_version}`;
  } catch { /* the page itself reports errors */ }
}

document.addEventListener('DOMContentLoaded', () => { route(); storeInfo(); });
