// A trajectory's steps: each with what it said (Markdown for the assistant), its
// reasoning folded apart and its tool calls, patches shown as diffs; all of them rendered
// in chunks with an index beside them.

import { add, h } from './dom.js';
import { contentText, fmt, folded, prettyArgs } from './format.js';
import { onLeave } from './nav.js';
import { diffView, patchArgument } from './patch.js';

const MARKDOWN_MAX = 100_000; // past this, plain text: Markdown of megabytes would stall the page

function markdown(text) {
  if (text.length > MARKDOWN_MAX || !window.marked || !window.DOMPurify) return folded(text);
  const html = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: true }));
  return h('div.markdown', { html });
}

const REASONING_BLOCKS = new Set(['thinking', 'reasoning', 'redacted_thinking']);
const isReasoningBlock = (b) => b !== null && typeof b === 'object' && REASONING_BLOCKS.has(b.type);

function reasoningBlockText(b) {
  if (b.type === 'redacted_thinking') return '[redacted by the provider]';
  for (const k of ['thinking', 'reasoning', 'text']) if (typeof b[k] === 'string') return b[k];
  // OpenAI's reasoning items carry their text in summary (and content) lists.
  const parts = [...(Array.isArray(b.summary) ? b.summary : []), ...(Array.isArray(b.content) ? b.content : [])];
  if (parts.length)
    return parts
      .map((p) => (typeof p === 'string' ? p : p && p.text) || '')
      .filter(Boolean)
      .join('\n\n');
  return JSON.stringify(b, null, 2);
}

/** A step's reasoning (reasoning_content, thinking/reasoning blocks) apart from what it said. */
function splitReasoning(step) {
  const parts = [];
  const rc = step.reasoning_content;
  if (typeof rc === 'string') {
    if (rc.trim()) parts.push(rc);
  } else if (rc !== undefined && rc !== null) parts.push(JSON.stringify(rc, null, 2));
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
  return h(
    'details.reasoning',
    null,
    h('summary', null, 'Reasoning', h('span.muted', null, ` · ${fmt.count(text.length)} chars`)),
    h('div.reasoning-text', null, text),
  );
}

function renderToolCall(c) {
  const name = c.name || (c.function && c.function.name) || 'tool';
  const args = c.arguments !== undefined ? c.arguments : c.function && c.function.arguments;
  const found = patchArgument(name, args);
  const body = found
    ? [found.rest ? folded(prettyArgs(found.rest)) : null, diffView(found.patch)]
    : folded(prettyArgs(args ?? {}));
  return h(
    `div.toolcall${found ? '.patch-call' : ''}`,
    null,
    h('div.name', null, `${name}(…)`, c.id ? h('span.muted', null, `  ${c.id}`) : null),
    body,
  );
}

function renderStep(step, i) {
  const role = String(step.role || 'unknown');
  const roleClass = ['system', 'user', 'assistant', 'tool'].includes(role) ? role : role === 'function' ? 'tool' : '';
  const head = h(
    'div.step-head',
    null,
    h('span.role', null, role),
    h('a', { href: `#step-${i}` }, `#${i}`),
    step.name ? h('span.mono', null, step.name) : null,
    step.tool_call_id ? h('span.mono', null, `↩ ${step.tool_call_id}`) : null,
    step.reward !== undefined && step.reward !== null
      ? h('span.reward-chip', null, `reward ${fmt.num(step.reward)}`)
      : null,
    step.timestamp ? h('span', null, fmt.time(step.timestamp)) : null,
  );
  const { content, reasoning } = splitReasoning(step);
  const text = contentText(content);
  const body = text === '' ? null : role === 'assistant' ? markdown(text) : folded(text);
  const calls = (step.tool_calls || []).map(renderToolCall);
  return h(
    `article.step.${roleClass || 'other'}`,
    { id: `step-${i}`, dataset: { step: i } },
    head,
    reasoningDetails(reasoning),
    body,
    calls,
  );
}

/** The step that `#step-N` in the URL points at, or -1. */
function target() {
  const m = location.hash.match(/^#step-(\d+)$/);
  return m ? Number(m[1]) : -1;
}

/** The step's entry in the index: its number, role and the start of what it said. */
function indexEntry(s, i) {
  const preview =
    contentText(splitReasoning(s).content).slice(0, 60) ||
    ((s.tool_calls || [])[0] ? `→ ${s.tool_calls[0].name || (s.tool_calls[0].function || {}).name || 'tool'}` : '');
  return h('a', { href: `#step-${i}`, title: preview }, h('b', null, `${i} `), `${s.role || ''}: ${preview}`);
}

/**
 * Renders `steps` into `stepList` and their entries into `index`. Steps render in chunks,
 * one per frame, so the first screen appears at once and a 300-step, multi-megabyte
 * trajectory never blocks the page; `#step-N` waits for N. `started` is when the page
 * began loading: the time to the last step goes to window.trajstoreTiming for the tests.
 */
export function renderSteps(steps, stepList, index, started) {
  let rendered = 0;
  let alive = true;
  onLeave(() => {
    alive = false;
  });
  const renderUpTo = (end) => {
    const frag = document.createDocumentFragment();
    const idx = document.createDocumentFragment();
    for (; rendered < Math.min(end, steps.length); rendered++) {
      add(frag, renderStep(steps[rendered], rendered));
      add(idx, indexEntry(steps[rendered], rendered));
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
}
