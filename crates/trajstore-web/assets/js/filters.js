// Filters: every filter of the server's columns (GET /api/schema), grouped for the panel
// by the type of the column's values. The names are the API's.

import { add, h } from './dom.js';
import { columns, title } from './schema.js';

// The panel's sections, by the type of a column's values.
const GROUPS = [
  ['Text', ['str', 'str_list']],
  ['Outcome', ['bool']],
  ['Numbers', ['int', 'float']],
  ['Time', ['time']],
];

// What a text filter's value means, by its kind in the schema.
const HINTS = { wildcard: '* wildcard', substring: 'contains', text_list: 'a,b: any of' };

/** The filterable columns of one panel section. */
function groupColumns(types) {
  return columns().filter((c) => c.filters.length && types.includes(c.type));
}

/** Every filter parameter name the panel can set (used by the page and its tests). */
export function panelFilterNames() {
  const names = [];
  for (const [, types] of GROUPS) for (const c of groupColumns(types)) names.push(...c.filters.map((f) => f.name));
  names.push('metadata.KEY');
  return names;
}

const NON_FILTER_PARAMS = new Set([
  'page',
  'page_size',
  'sort',
  'order',
  'cursor',
  'sel',
  'group_by',
  'k',
  'success_threshold',
  'x',
  'series',
  'q',
  'analysis',
  'align',
]);

export function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!NON_FILTER_PARAMS.has(k) && v !== '') out.append(k, v);
  return out;
}

/**
 * The inputs of one column's filters: a yes/no choice, a text box, or for a range an
 * exact value beside a min/max (or after/before) pair.
 */
function filterControl(c, params, input) {
  const byName = (suffix) => c.filters.find((f) => f.name.endsWith(suffix));
  const [min, max] = [byName('_min'), byName('_max')];
  const [after, before] = [byName('_after'), byName('_before')];
  if (after && before) {
    return h('div.pair', null, input(after.name, 'after (RFC 3339)'), input(before.name, 'before'));
  }
  if (min && max) {
    const exact = c.filters.find((f) => f !== min && f !== max);
    return h(
      'div',
      null,
      exact ? input(exact.name, 'exactly', 'number') : null,
      h('div.pair', null, input(min.name, 'min', 'number'), input(max.name, 'max', 'number')),
    );
  }
  const [only] = c.filters;
  if (only.value === 'boolean') {
    return h(
      'select',
      { name: only.name },
      ['', 'true', 'false'].map((v) =>
        h(
          'option',
          { value: v, selected: params.get(only.name) === v },
          v === '' ? 'any' : v === 'true' ? 'yes' : 'no',
        ),
      ),
    );
  }
  return input(only.name, HINTS[only.value] || '');
}

/** The filter panel; `apply(newFilterParams)` is called on submit. */
export function filterPanel(params, apply) {
  const input = (name, placeholder, type = 'text') =>
    h('input', { name, placeholder, type, value: params.get(name) || '', step: type === 'number' ? 'any' : null });
  const form = h('form.panel.filters', { 'aria-label': 'Filters' });
  for (const [group, types] of GROUPS) {
    const cols = groupColumns(types);
    if (!cols.length) continue;
    add(form, h('h3', null, group));
    for (const c of cols) add(form, h('fieldset', null, h('legend', null, title(c)), filterControl(c, params, input)));
  }
  // metadata.KEY=VALUE filters: one "key=value" per line.
  const meta = [...params]
    .filter(([k]) => k.startsWith('metadata.'))
    .map(([k, v]) => `${k.slice(9)}=${v}`)
    .join('\n');
  add(
    form,
    h('h3', null, 'Metadata'),
    h(
      'fieldset',
      null,
      h('legend', null, 'key=value, one per line'),
      h('textarea', { name: '__metadata', rows: 2, style: 'width:100%' }, meta),
    ),
  );
  add(
    form,
    h(
      'div.actions',
      null,
      h('button.primary', { type: 'submit' }, 'Apply'),
      h('button', { type: 'button', onclick: () => apply(new URLSearchParams()) }, 'Clear'),
    ),
  );
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
