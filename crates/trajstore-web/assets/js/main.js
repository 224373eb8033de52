// trajstore web UI: renders every page from the JSON API. A page's whole state lives in
// its URL (the same query parameters as its JSON twin under /api/), so views can be
// shared and reloaded. No framework: a small DOM helper and one module per page.
// Routing: the path picks the page; links with data-link navigate without a reload.

import { api, errorBox } from './api.js';
import { comparePage } from './compare.js';
import { detailPage } from './detail.js';
import { failureModesPage } from './failure_modes.js';
import { app, fill, stateBox } from './dom.js';
import { panelFilterNames } from './filters.js';
import { importPage } from './import.js';
import { listPage } from './list.js';
import { navigate, route, setRouter } from './nav.js';
import { loadSchema } from './schema.js';
import { sqlPage } from './sql.js';
import { statsPage } from './statistics.js';
import { runsPage, trainingPage } from './training.js';

async function renderPage() {
  const path = location.pathname;
  const section =
    ['statistics', 'failure-modes', 'training', 'runs', 'sql', 'import'].find((s) => path.startsWith(`/${s}`)) ||
    'trajectories';
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === section));
  const params = new URLSearchParams(location.search);
  try {
    await loadSchema();
  } catch (err) {
    fill(app(), errorBox(err, 'the column schema'));
    return;
  }
  if (path === '/' || path === '/trajectories') return listPage(params);
  if (path.startsWith('/trajectories/'))
    return detailPage(decodeURIComponent(path.slice('/trajectories/'.length)), params);
  if (path === '/compare') return comparePage(params);
  if (path === '/statistics') return statsPage(params);
  if (path === '/training') return trainingPage(params);
  if (path === '/runs') return runsPage(params);
  if (path === '/failure-modes') return failureModesPage(params);
  if (path === '/sql') return sqlPage(params);
  if (path === '/import') return importPage();
  fill(app(), stateBox('error', `No page at ${path}.`));
}
setRouter(renderPage);

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => route());

/** Every filter parameter name the panel can set, for the browser tests. */
window.trajstorePanelFilters = panelFilterNames;

async function storeInfo() {
  try {
    const hl = await api('/api/health');
    document.getElementById('store-info').textContent = `dataset version ${hl.dataset_version}`;
  } catch {
    /* the page itself reports errors */
  }
}

// Module scripts run after the document is parsed, before DOMContentLoaded.
document.addEventListener('DOMContentLoaded', () => {
  route();
  storeInfo();
});
