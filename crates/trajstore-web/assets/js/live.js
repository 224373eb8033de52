// New data while a page is open. Every few seconds the page asks GET /api/count for the
// number of trajectories matching its filters (cached per dataset version, so a poll
// while nothing changes costs the server a lookup) and says "N new; show them" without
// touching what the reader is looking at. "Follow new data" (kept across pages) reloads
// the page by itself instead.

import { api } from './api.js';
import { h } from './dom.js';
import { fmt } from './format.js';
import { onLeave, route } from './nav.js';

const FOLLOW_KEY = 'trajstore.follow';
/** Tests shorten it through `window.trajstoreLivePollMs`. */
const pollMs = () => window.trajstoreLivePollMs || 3000;

/**
 * The bar for a page showing the trajectories that match `filters` (URLSearchParams of
 * filter parameters only); `baseline` is the count the page shows, or null to take the
 * first poll's.
 */
export function liveBar(filters, baseline = null) {
  const count = h('span', { id: 'live-count' });
  const show = h('button.small', { id: 'live-show', hidden: true, onclick: () => route() }, 'Show them');
  const follow = h('input', {
    type: 'checkbox',
    id: 'live-follow',
    checked: localStorage.getItem(FOLLOW_KEY) === '1',
    onchange: (e) => localStorage.setItem(FOLLOW_KEY, e.target.checked ? '1' : '0'),
  });
  const bar = h('span.live', { role: 'status' }, count, show, h('label.small.muted', null, follow, ' Follow new data'));
  let seen = baseline;
  let stopped = false;
  async function poll() {
    if (stopped || document.hidden) return;
    let total;
    try {
      ({ total } = await api(`/api/count?${filters}`));
    } catch {
      return; // tried again at the next tick; the page reports its own errors
    }
    if (stopped) return;
    // Rows deleted meanwhile lower the baseline, so that what arrives after is counted.
    if (seen === null || (total < seen && show.hidden)) seen = total;
    const fresh = total - seen;
    if (fresh <= 0) return;
    if (follow.checked) {
      stopped = true;
      route();
      return;
    }
    count.textContent = `${fmt.count(fresh)} new`;
    show.hidden = false;
    bar.classList.add('has-new');
  }
  const timer = setInterval(poll, pollMs());
  if (baseline === null) poll();
  onLeave(() => {
    stopped = true;
    clearInterval(timer);
  });
  return bar;
}
