// The statistics page's tool panel: per tool over the filtered set (GET /api/tools), its
// calls, the share of trajectories that use it, its error rate, and its share in
// successful against failed trajectories. It loads on its own, so that the rest of the
// page does not wait for it.

import { api, errorBox } from './api.js';
import { fill, h, loading, stateBox } from './dom.js';
import { fmt } from './format.js';

function toolRow(t) {
  const lift =
    t.share_in_successful !== null && t.share_in_failed !== null ? t.share_in_successful - t.share_in_failed : null;
  return h(
    'tr',
    { dataset: { tool: t.tool_name ?? '' } },
    h('td.mono', null, t.tool_name ?? '(no name)'),
    h('td.num', null, fmt.count(t.calls)),
    h('td.num', null, fmt.pct(t.trajectory_share)),
    h('td.num', { title: `${t.errors} of ${t.calls_with_error_flag} calls that say` }, fmt.pct(t.error_rate)),
    h('td.num', null, fmt.pct(t.share_in_successful)),
    h('td.num', null, fmt.pct(t.share_in_failed)),
    h('td.num', null, lift === null ? '–' : `${lift > 0 ? '+' : ''}${(lift * 100).toFixed(1)} pts`),
  );
}

/** The panel for the filters in `params` (a URLSearchParams of filters). */
export function toolsPanel(params) {
  const body = h('div', null, loading('tool use'));
  const panel = h('div.panel', { id: 'tools-panel' }, h('h2', null, 'Tools'), body);
  api(`/api/tools?${params}`)
    .then((report) => {
      if (!report.tools.length) {
        fill(body, stateBox('empty', 'These trajectories make no tool calls.'));
        return;
      }
      fill(
        body,
        h(
          'p.small.muted',
          null,
          `${fmt.count(report.trajectories)} trajectories: ${fmt.count(report.successful)} successful, `,
          `${fmt.count(report.failed)} failed. Error rate: over the calls whose result says. `,
          h('a', { href: `/api/tools?${params}` }, 'JSON'),
        ),
        h(
          'div.table-wrap',
          null,
          h(
            'table.grid',
            { id: 'tools-table' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, 'Tool'),
                h('th.num', null, 'Calls'),
                h('th.num', null, 'Trajectories using it'),
                h('th.num', null, 'Error rate'),
                h('th.num', null, 'In successful'),
                h('th.num', null, 'In failed'),
                h('th.num', null, 'Successful − failed'),
              ),
            ),
            h('tbody', null, report.tools.map(toolRow)),
          ),
        ),
      );
    })
    .catch((err) => fill(body, errorBox(err, 'tool use')));
  return panel;
}
