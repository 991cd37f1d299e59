// The field app's service worker: keeps the app shell in a cache named for its contents, so the
// app opens with no signal. Only the shell's own files are served from the cache; the API
// (/auth, /sync, /uploads, …) always goes to the network: its data lives in IndexedDB.
// SHELL_HASH is the sha256 of the shell's files (tests/test_app_shell.py checks it): a change to
// any file changes this file, so the browser installs the new shell and drops the old cache.

const SHELL_HASH = "8f46aaca1e35";
const CACHE = `doorstep-app-${SHELL_HASH}`;
const SHELL = [
  "./",
  "app.css",
  "manifest.webmanifest",
  "icon.svg",
  "icon-192.png",
  "icon-512.png",
  "js/actions.js",
  "js/api.js",
  "js/app.js",
  "js/casework.js",
  "js/db.js",
  "js/dom.js",
  "js/factors.js",
  "js/resources.js",
  "js/screens.js",
  "js/sync.js",
  "js/tus.js",
  "js/view.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: "reload" })))).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("doorstep-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  // Every page of the app is the one shell; its screens are in the hash.
  const wanted = request.mode === "navigate" ? new Request(scope.href) : request;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => (await cache.match(wanted, { ignoreSearch: true })) || fetch(request)),
  );
});
