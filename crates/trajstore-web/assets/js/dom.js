// The DOM helpers every page uses: one element builder and the page's state boxes.

/** h('div.cls', {attr}, child, ...): builds an element; strings become text nodes. */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'html')
        el.innerHTML = v; // only ever given sanitised HTML
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Children as given to h(): nested arrays flattened, null/undefined/false dropped. */
const kids = (xs) => xs.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
export function fill(el, ...xs) {
  el.replaceChildren(...kids(xs));
  return el;
}
export function add(el, ...xs) {
  el.append(...kids(xs));
  return el;
}

export const app = () => document.getElementById('app');
export const stateBox = (kind, text) => h(`div.state.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
export const loading = (what) => stateBox('loading', `Loading ${what}…`);
