// ctxscope's service worker: keeps the app shell (HTML, JS, wasm, the engine worker, styles,
// ECharts) in the Cache API so that, after one visit, the page opens and runs offline. The model
// itself is cached by the engine worker (app/src/worker/load.rs), not here.
//
// Why hand-written rather than Workbox: the shell is a fixed list of files known when
// scripts/build-app.sh runs (it fills SHELL and VERSION below), and the whole policy is two
// rules — the page is network-first (a new deploy shows at once) and the versioned assets are
// cache-first; Workbox would add a bundling step and a runtime for the same two rules.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `ctxscope-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("ctxscope-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // The page: the network when there is one (and refresh the copy), else the cached copy.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((c) => c.put("./", copy));
          }
          return response;
        })
        .catch(() => caches.match("./", { cacheName: CACHE })),
    );
    return;
  }
  // Shell assets: the cached copy of this version, else the network.
  event.respondWith(caches.match(request, { cacheName: CACHE, ignoreSearch: true }).then((hit) => hit || fetch(request)));
});
