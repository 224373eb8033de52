// Filters: every query-engine filter, grouped for the panel. The names are the API's.

import { add, h } from './dom.js';

const FILTER_GROUPS = [
  [
    'Text',
    [
      ['question', 'Question contains'],
      ['trajectory_id', 'ID contains'],
      ['data_id', 'Task (data_id, * wildcard)'],
      ['agent_name', 'Agent (* wildcard)'],
      ['training_id', 'Run (training_id, * wildcard)'],
      ['termination_reason', 'Termination (comma list)'],
      ['tags', 'Tags (comma list, any)'],
    ],
  ],
  [
    'Outcome',
    [
      ['is_success', 'Success', 'bool'],
      ['is_bookmarked', 'Bookmarked', 'bool'],
    ],
  ],
  [
    'Rewards',
    [
      ['reward', 'Reward', 'range'],
      ['toolcall_reward', 'Tool-call reward', 'range'],
      ['res_reward', 'Result reward', 'range'],
    ],
  ],
  [
    'Training',
    [
      ['epoch_id', 'Epoch', 'range+'],
      ['iteration_id', 'Iteration', 'range+'],
      ['sample_id', 'Sample', 'range+'],
    ],
  ],
  [
    'Size and time',
    [
      ['step_count', 'Steps', 'range'],
      ['exec_time', 'Exec time (s)', 'range'],
      ['created', 'Created', 'dates'],
    ],
  ],
];

/** Every filter parameter name the panel can set (used by the page and its tests). */
export function panelFilterNames() {
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
]);

export function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!NON_FILTER_PARAMS.has(k) && v !== '') out.append(k, v);
  return out;
}

/** The filter panel; `apply(newFilterParams)` is called on submit. */
export function filterPanel(params, apply) {
  const input = (name, placeholder, type = 'text') =>
    h('input', { name, placeholder, type, value: params.get(name) || '', step: type === 'number' ? 'any' : null });
  const form = h('form.panel.filters', { 'aria-label': 'Filters' });
  for (const [group, fields] of FILTER_GROUPS) {
    add(form, h('h3', null, group));
    for (const [name, label, kind] of fields) {
      let control;
      if (kind === 'bool') {
        control = h(
          'select',
          { name },
          ['', 'true', 'false'].map((v) =>
            h('option', { value: v, selected: params.get(name) === v }, v === '' ? 'any' : v === 'true' ? 'yes' : 'no'),
          ),
        );
      } else if (kind === 'range' || kind === 'range+') {
        control = h(
          'div',
          null,
          kind === 'range+' ? input(name, 'exactly', 'number') : null,
          h('div.pair', null, input(`${name}_min`, 'min', 'number'), input(`${name}_max`, 'max', 'number')),
          ['reward', 'toolcall_reward', 'res_reward'].includes(name)
            ? input(`${name}_exact`, 'exactly', 'number')
            : null,
        );
      } else if (kind === 'dates') {
        control = h('div.pair', null, input('created_after', 'after (RFC 3339)'), input('created_before', 'before'));
      } else {
        control = input(name, '');
      }
      add(form, h('fieldset', null, h('legend', null, label), control));
    }
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
