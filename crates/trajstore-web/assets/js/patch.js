// Patches rendered as diffs: the run's final patch and the patches tool calls carry.
// All of it is text from the data: every line goes in through textContent, never as HTML.

import { add, h } from './dom.js';
import { fmt } from './format.js';

/** A unified diff (git or plain) or Codex's apply_patch envelope. */
export function looksLikePatch(text) {
  if (typeof text !== 'string' || text.length < 10) return false;
  return (
    /^\*\*\* Begin Patch/m.test(text) ||
    /^diff --git /m.test(text) ||
    (/^--- .*\n\+\+\+ /m.test(text) && /^@@/m.test(text))
  );
}

const UNIFIED_HEADER =
  /^(diff |index |--- |\+\+\+ |(new|deleted) file mode|old mode|new mode|(dis)?similarity index|rename (from|to) |copy (from|to) |Binary files )/;
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
  let codex = false,
    loose = false,
    oldLeft = 0,
    newLeft = 0;
  for (const line of lines) {
    let kind;
    if (oldLeft > 0 || newLeft > 0) {
      kind = bodyKind(line);
      if (kind !== 'add' && kind !== 'meta') oldLeft--;
      if (kind !== 'del' && kind !== 'meta') newLeft--;
    } else if (/^\*\*\* (Begin|End) Patch/.test(line)) {
      codex = line.startsWith('*** Begin');
      kind = 'meta';
    } else if (codex && line.startsWith('*** ')) {
      kind = line.startsWith('*** End of File') ? 'meta' : 'file';
    } else if (line.startsWith('@@')) {
      kind = 'hunk';
      const m = codex ? null : line.match(HUNK_RANGE);
      if (m) {
        oldLeft = m[1] === undefined ? 1 : Number(m[1]);
        newLeft = m[2] === undefined ? 1 : Number(m[2]);
      }
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
export function diffView(text) {
  const lines = patchLineKinds(text);
  const count = (kind) => lines.filter(([k]) => k === kind).length;
  const starts = lines.filter(
    ([k, l]) => k === 'file' && /^(diff --git |\*\*\* (Update|Add|Delete) File: )/.test(l),
  ).length;
  const files = starts || lines.filter(([k, l]) => k === 'file' && l.startsWith('+++ ')).length;
  const row = ([kind, line]) => h(`div.${kind}`, null, line);
  const view = h('div.patch', null, lines.slice(0, PATCH_PREVIEW_LINES).map(row));
  const summary = h(
    'div.small.muted.patch-summary',
    null,
    `${fmt.count(files)} ${files === 1 ? 'file' : 'files'} · +${fmt.count(count('add'))} −${fmt.count(count('del'))}`,
  );
  if (lines.length <= PATCH_PREVIEW_LINES) return h('div', null, summary, view);
  const btn = h('button.link.small', null, `Show all ${fmt.count(lines.length)} lines`);
  btn.addEventListener('click', () => {
    add(view, lines.slice(PATCH_PREVIEW_LINES).map(row));
    btn.parentElement.remove();
  });
  return h('div', null, summary, view, h('div.fold-note', null, btn));
}

/** The final patch of the run (metadata.patch) in a panel of its own. */
export function patchPanel(patch) {
  if (typeof patch !== 'string' || !patch.trim()) return null;
  return h(
    'section.panel',
    { id: 'patch', 'aria-label': 'Patch', style: 'margin-top:12px' },
    h('h3', null, 'Patch'),
    diffView(patch),
  );
}

/**
 * The patch a tool call carries, as {patch, rest} (rest: its other arguments, or null),
 * or null. apply_patch takes it as {"input": ...} or a bare string; any other tool counts
 * when an argument, or a string in an argument list (Codex's shell ["apply_patch", ...]),
 * looks like a patch.
 */
export function patchArgument(name, args) {
  let v = args;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      /* a bare string */
    }
  }
  const isApply = /(^|[.:/])apply_patch$/.test(String(name));
  if (typeof v === 'string') return isApply || looksLikePatch(v) ? { patch: v, rest: null } : null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const entries = Object.entries(v);
  const pick =
    (isApply && entries.find(([k, x]) => (k === 'input' || k === 'patch') && typeof x === 'string')) ||
    entries.find(([, x]) => looksLikePatch(x)) ||
    entries.find(([, x]) => Array.isArray(x) && x.some(looksLikePatch));
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
