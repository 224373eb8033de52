// Moving between pages without a reload. The router itself lives in main.js, which
// imports every page; pages reach it through here, so no module imports its importer.

let router = () => {};
let cleanup = [];

/** Sets the function that renders the page for the current URL (main.js does, once). */
export function setRouter(fn) {
  router = fn;
}

/** Runs what the previous page left to clean up, then renders the current URL's page. */
export function route() {
  cleanup.forEach((fn) => fn());
  cleanup = [];
  return router();
}

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

/** `fn` runs when the user leaves the current page (timers, listeners, charts). */
export function onLeave(fn) {
  cleanup.push(fn);
}
