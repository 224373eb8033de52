// Values and text as the pages show them: numbers, times, message content, long text.

import { h } from './dom.js';

export const fmt = {
  num(v, digits = 3) {
    return v === null || v === undefined
      ? ''
      : Number.isInteger(v)
        ? String(v)
        : Number(v)
            .toFixed(digits)
            .replace(/\.?0+$/, '');
  },
  pct(v) {
    return v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
  },
  time(v) {
    return v ? String(v).replace('T', ' ').replace(/\.\d+/, '').replace('Z', '') : '';
  },
  secs(v) {
    return v === null || v === undefined ? '' : v >= 100 ? `${Math.round(v)}s` : `${Number(v).toFixed(1)}s`;
  },
  count(v) {
    return v === null || v === undefined ? '' : Number(v).toLocaleString('en-US');
  },
};

export function terminationPill(reason) {
  return reason ? h(`span.pill.${String(reason).replace(/[^a-z_]/gi, '')}`, null, reason) : '';
}

const FOLD_LINES = 12;
const FOLD_CHARS = 1500;

export function contentText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b) =>
        b && typeof b === 'object'
          ? (b.text ??
            b.content ??
            (b.type === 'image_url' || b.type === 'image' ? '[image]' : JSON.stringify(b, null, 2)))
          : String(b),
      )
      .map((t) => (typeof t === 'string' ? t : JSON.stringify(t, null, 2)))
      .join('\n');
  }
  return JSON.stringify(content, null, 2);
}

/** Long text shows its first lines and a control that expands it in place. */
export function folded(text, cls = 'pre') {
  const lines = text.split('\n');
  const long = lines.length > FOLD_LINES || text.length > FOLD_CHARS;
  if (!long) return h(cls, null, text);
  const head = lines.slice(0, FOLD_LINES).join('\n').slice(0, FOLD_CHARS);
  const pre = h(cls, null, head + ' …');
  const btn = h(
    'button.link.small',
    { 'aria-expanded': 'false' },
    `Show all ${fmt.count(lines.length)} lines (${fmt.count(text.length)} chars)`,
  );
  btn.addEventListener('click', () => {
    const open = btn.getAttribute('aria-expanded') === 'true';
    pre.textContent = open ? head + ' …' : text;
    btn.setAttribute('aria-expanded', String(!open));
    btn.textContent = open ? `Show all ${fmt.count(lines.length)} lines (${fmt.count(text.length)} chars)` : 'Fold';
  });
  return h('div', null, pre, h('div.fold-note', null, btn));
}

export function prettyArgs(args) {
  if (typeof args === 'string') {
    try {
      return JSON.stringify(JSON.parse(args), null, 2);
    } catch {
      return args;
    }
  }
  return JSON.stringify(args, null, 2);
}

/** A link to a trajectory's page, by its id. */
export function trajectoryLink(id) {
  return h('a', { href: `/trajectories/${encodeURIComponent(id)}`, 'data-link': true }, id);
}
