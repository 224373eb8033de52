// Import: upload a file or name a server path, then follow the task

import { api, errorBox } from './api.js';
import { add, app, fill, h, loading, stateBox } from './dom.js';
import { fmt } from './format.js';
import { onLeave } from './nav.js';

/** An import's errors (the first 200): where, which field, what. */
function importErrors(errors) {
  const where = (e) =>
    `${e.file}${e.line ? ':' + e.line : ''}${e.index !== null && e.index !== undefined ? '[' + e.index + ']' : ''}`;
  return h(
    'details',
    null,
    h('summary.small', null, `${errors.length} errors`),
    h(
      'table.grid',
      null,
      h(
        'tbody',
        null,
        errors
          .slice(0, 200)
          .map((e) =>
            h(
              'tr',
              null,
              h('td.mono.small', null, where(e)),
              h('td.small', null, e.field || ''),
              h('td.small', null, e.message),
            ),
          ),
      ),
    ),
  );
}

function importTaskRow(task) {
  const total = task.bytes_total || 0;
  const done = task.bytes_done || 0;
  const result = task.result;
  return h(
    'div.panel',
    { dataset: { task: task.task_id, status: task.status }, style: 'margin-bottom:8px' },
    h(
      'div.toolbar',
      null,
      h('b', null, task.source || task.task_id),
      h(
        `span.pill.${task.status === 'done' ? 'success' : task.status === 'failed' ? 'error' : ''}`,
        { 'data-status': task.status },
        task.status,
      ),
      h('span.spacer'),
      h(
        'span.small.muted',
        null,
        `${fmt.count(task.records_done || 0)} records · ${fmt.count(done)}${total ? ' / ' + fmt.count(total) : ''} bytes`,
      ),
    ),
    task.status === 'running' || task.status === 'queued'
      ? h('progress', { max: total || 1, value: total ? done : 0 })
      : null,
    result
      ? h(
          'p.small',
          null,
          `Imported ${fmt.count(result.imported)}, skipped ${fmt.count(result.skipped)} duplicates, ${fmt.count(result.failed)} failed.`,
          (result.files || []).length
            ? h(
                'span.muted',
                { 'data-formats': (result.files || []).map((f) => f.format).join(',') },
                ` Format: ${[...new Set(result.files.map((f) => f.format))].join(', ')}.`,
              )
            : null,
        )
      : null,
    task.error ? h('p.small', { style: 'color:var(--bad)' }, task.error) : null,
    result && result.errors && result.errors.length ? importErrors(result.errors) : null,
  );
}

/** The format choice; the names come from the API's own description, so the list cannot drift. */
function formatChoice() {
  const formatSelect = h(
    'select',
    { id: 'import-format', 'aria-label': 'Format' },
    h('option', { value: 'auto' }, 'auto-detect'),
  );
  api('/api/openapi.json')
    .then((spec) => {
      const param = ((spec.paths['/api/imports'].post || {}).parameters || []).find((p) => p.name === 'format');
      for (const name of ((param && param.schema.enum) || []).filter((n) => n !== 'auto'))
        add(formatSelect, h('option', { value: name }, name));
    })
    .catch(() => {});
  return formatSelect;
}

/** Upload by file input or drag and drop; `started()` runs once the server has the file. */
function uploadPanel(formatSelect, started) {
  const fileInput = h('input', {
    type: 'file',
    id: 'import-file',
    accept: '.jsonl,.json,.ndjson,.gz,.zst,.traj,.eval',
  });
  const uploadState = h('p.small.muted');
  const upload = async (file) => {
    uploadState.textContent = `Uploading ${file.name}…`;
    try {
      await api(`/api/imports?format=${encodeURIComponent(formatSelect.value)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'X-Filename': file.name },
        body: file,
      });
      uploadState.textContent = `${file.name} uploaded; importing.`;
      started();
    } catch (err) {
      uploadState.textContent = `Upload failed: ${err.message}`;
    }
  };
  fileInput.addEventListener('change', () => fileInput.files[0] && upload(fileInput.files[0]));
  const drop = h('div.dropzone', null, 'Drop a JSONL, JSON, .gz or .zst file here, or ', fileInput);
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });
  return h('section.panel', null, h('h2', null, 'Upload a file'), drop, uploadState);
}

/** Import from a path on the server; `started()` runs once the task is queued. */
function serverPathPanel(formatSelect, started) {
  const pathInput = h('input', {
    placeholder: '/data/rollouts.jsonl',
    style: 'width:100%',
    'aria-label': 'Server path',
  });
  const pathState = h('p.small.muted');
  const pathForm = h(
    'form',
    null,
    pathInput,
    h('p', null, h('button.primary', { type: 'submit' }, 'Import from server path')),
    pathState,
  );
  pathForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/imports', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ path: pathInput.value, format: formatSelect.value }),
      });
      pathState.textContent = 'Started.';
      started();
    } catch (err) {
      pathState.textContent = err.message;
    }
  });
  return h(
    'section.panel',
    null,
    h('h2', null, 'A file on the server'),
    h('p.small.muted', null, 'Only below the directories the server was started with (--import-root).'),
    pathForm,
  );
}

export async function importPage() {
  const root = app();
  const list = h('div', { id: 'import-tasks' }, loading('imports'));
  const formatSelect = formatChoice();
  fill(
    root,
    h('h1', null, 'Import'),
    h(
      'div.toolbar',
      null,
      h('label', null, 'Format ', formatSelect),
      h(
        'span.small.muted',
        null,
        'auto-detect chooses per file from its content: native JSONL, OpenAI chat, tau-bench, tau2, InterCode, Responses, mini-swe-agent, SWE-agent, Inspect, OpenHands, verl, ATIF.',
      ),
    ),
    h('div.import-grid', null, uploadPanel(formatSelect, refresh), serverPathPanel(formatSelect, refresh)),
    h('h2', null, 'Recent imports'),
    list,
  );
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const doc = await api('/api/imports');
      const tasks = doc.data || [];
      fill(list, ...(tasks.length ? tasks.map(importTaskRow) : [stateBox('empty', 'No imports yet.')]));
      if (tasks.some((t) => t.status === 'running' || t.status === 'queued')) timer = setTimeout(refresh, 400);
    } catch (err) {
      fill(list, errorBox(err, 'imports'));
    }
  }
  onLeave(() => clearTimeout(timer));
  refresh();
}
