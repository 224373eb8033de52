// One step of a trajectory: what it said (Markdown for the assistant), its reasoning
// folded apart, and its tool calls, with patches shown as diffs.

import { h } from './dom.js';
import { contentText, fmt, folded, prettyArgs } from './format.js';
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
export function splitReasoning(step) {
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

export function renderStep(step, i) {
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
