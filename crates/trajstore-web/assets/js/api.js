// The JSON API: requests with the token, errors with the server's message.

import { fill, h, stateBox } from './dom.js';
import { route } from './nav.js';

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.parameter = e.parameter;
  }
}

export function token() {
  return localStorage.getItem('trajstore-token') || '';
}

/** Calls the JSON API; throws ApiError with the server's message and parameter. */
export async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 204) return null;
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok && res.status !== 207) {
    if (res.status === 401) askToken();
    throw new ApiError(res.status, body);
  }
  return body;
}

export function errorBox(err, what) {
  const where = err.parameter ? ` (parameter “${err.parameter}”)` : '';
  return stateBox('error', `Could not load ${what}: ${err.message}${where}`);
}

function askToken() {
  const banner = document.getElementById('banner');
  banner.hidden = false;
  fill(
    banner,
    'This server needs a token.',
    h('input', { type: 'password', placeholder: 'token', id: 'token-input' }),
    h(
      'button.primary',
      {
        onclick: () => {
          localStorage.setItem('trajstore-token', document.getElementById('token-input').value);
          banner.hidden = true;
          route();
        },
      },
      'Use token',
    ),
  );
}
