// The summary columns as the server declares them (GET /api/schema, built from its one
// column table): the list's columns, the filter panel's inputs, the detail and compare
// pages' fields and the statistics' totals all come from here, so a column added on the
// server appears in the UI without a change to it.

import { api } from './api.js';
import { fmt } from './format.js';

let current = null;
let pending = null;

/** Fetches the schema once; after a failure (a token asked for) the next call retries. */
export async function loadSchema() {
  if (current) return current;
  pending ??= api('/api/schema').then(
    (s) => (current = s),
    (err) => {
      pending = null;
      throw err;
    },
  );
  return pending;
}

/** The columns, in the server's order; `loadSchema()` has resolved before any page renders. */
export function columns() {
  if (!current) throw new Error('the column schema is not loaded yet');
  return current.columns;
}

/** A column's label as a heading: "in tokens" → "In tokens". */
export function title(column) {
  return column.label.charAt(0).toUpperCase() + column.label.slice(1);
}

/** Whether the column's values are numbers (right-aligned, range filters). */
export function isNumeric(column) {
  return column.type === 'int' || column.type === 'float';
}

// Units the table does not carry: how a few columns' numbers read best.
const UNITS = {
  exec_time: fmt.secs,
  cost: (v) => `$${fmt.num(v, 4)}`,
  input_tokens: fmt.count,
  output_tokens: fmt.count,
};

/** One value of `column` as text; '' for none. */
export function cellText(column, v) {
  if (v === null || v === undefined) return '';
  if (UNITS[column.name]) return UNITS[column.name](v);
  switch (column.type) {
    case 'bool':
      return v ? 'yes' : 'no';
    case 'time':
      return fmt.time(v);
    case 'int':
    case 'float':
      return fmt.num(v);
    case 'str_list':
      return (v || []).join(', ');
    case 'json':
      return JSON.stringify(v);
    default:
      return String(v);
  }
}
