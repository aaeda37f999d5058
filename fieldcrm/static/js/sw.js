// fieldcrm's service worker, served at /sw.js (root scope) by fieldcrm/routes/pwa.py, which
// replaces the RELEASE line with this deployment's version, the shell's address and the
// precache list (each file with its SHA-256, checked by the browser: a file of another
// deployment fails the install instead of being cached). See docs/SYNC.md.
//
// - install: every precached file of this version goes into the cache "fieldcrm-<version>",
//   plus the app shell if a user is logged in; activate: the other versions' caches go.
// - static files: from this version's cache only (never a mix of old and new files).
// - page loads: network first; after a timeout or without a network, the cached shell.
// - /api/ and everything else: straight to the network, never cached.
// - Background Sync "fieldcrm-sync": asks the open pages to sync (they hold the CSRF token
//   and the sync code); with no page open there is nothing to do until the app opens.

/** @type {{version: string, shell: string, navigationTimeoutMs: number, precache: {url: string, integrity: string}[]}} */
const RELEASE = /*__FIELDCRM_RELEASE__*/ { version: "unreleased", shell: "/offline", navigationTimeoutMs: 3000, precache: [] };

const PREFIX = "fieldcrm-";
const CACHE = `${PREFIX}${RELEASE.version}`;
const SYNC_TAG = "fieldcrm-sync";
const SHELL_MAX_AGE_MS = 60 * 60_000;
const SYNC_ANSWER_MS = 120_000;
const PRECACHED = new Set(RELEASE.precache.map(({ url }) => new URL(url, self.location.href).href));
const SHELL_URL = new URL(RELEASE.shell, self.location.href).href;

/**
 * Fetch the shell for the logged-in user and keep it, if it belongs to this version.
 * A logged-out browser gets a redirect to the login page: nothing is cached then.
 * @param {Cache} cache
 */
async function storeShell(cache) {
  const response = await fetch(SHELL_URL, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
  if (response.ok && response.headers.get("X-Fieldcrm-Version") === RELEASE.version) {
    await cache.put(SHELL_URL, response);
    return true;
  }
  return false;
}

/**
 * Refresh the cached shell when it is missing, older than an hour, or another user's.
 * @param {string|undefined} user
 */
async function refreshShell(user) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(SHELL_URL);
  const age = cached ? Date.now() - Date.parse(cached.headers.get("Date") ?? "") : Infinity;
  const sameUser = !user || cached?.headers.get("X-Fieldcrm-User") === user;
  if (!(age < SHELL_MAX_AGE_MS) || !sameUser) await storeShell(cache);
}

async function install() {
  const cache = await caches.open(CACHE);
  try {
    await Promise.all(RELEASE.precache.map(async ({ url, integrity }) => {
      const response = await fetch(new Request(url, { cache: "reload", integrity, credentials: "same-origin" }));
      if (!response.ok) throw new Error(`precache ${url}: HTTP ${response.status}`);
      await cache.put(url, response);
    }));
  } catch (error) {
    await caches.delete(CACHE);  // a half-filled cache of this version is never used
    throw error;
  }
  await storeShell(cache).catch(() => false);
}

self.addEventListener("install", (event) => {
  event.waitUntil(install());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith(PREFIX) && name !== CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

/** @param {Request} request */
async function fromCache(request) {
  const cache = await caches.open(CACHE);
  return (await cache.match(request, { ignoreVary: true })) ?? fetch(request);
}

/** A last resort when there is no cached shell (the user never opened the app logged in). */
function offlinePage() {
  const html = "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    + "<title>fieldcrm</title><body style='font-family:system-ui;padding:24px'>"
    + "<h1>fieldcrm</h1><p>Offline. Open the app once with a network to use it offline.</p>"
    + "<p>Offline. Öffnen Sie die App einmal mit Netz, um sie offline zu nutzen.</p>";
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

/** @returns {Promise<Response>} */
async function shell() {
  const cache = await caches.open(CACHE);
  return (await cache.match(SHELL_URL)) ?? offlinePage();
}

/**
 * Network first; the shell if the network fails, is too slow, or the server is down.
 * @param {FetchEvent} event
 */
async function navigate(event) {
  if (self.navigator.onLine === false) return shell();
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), RELEASE.navigationTimeoutMs);
  });
  try {
    const response = await Promise.race([fetch(event.request), timeout]);
    if (!response || [502, 503, 504].includes(response.status)) return shell();
    return response;
  } catch {
    return shell();
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(event));
  } else if (PRECACHED.has(url.href)) {
    event.respondWith(fromCache(request));
  }
});

/**
 * Ask a page to sync; resolves with its answer, or null if it does not answer in time.
 * @param {Client} client
 * @returns {Promise<{ok: boolean}|null>}
 */
function askToSync(client) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), SYNC_ANSWER_MS);
    channel.port1.onmessage = (message) => {
      clearTimeout(timer);
      resolve(message.data);
    };
    client.postMessage({ type: "SYNC" }, [channel.port2]);
  });
}

self.addEventListener("sync", (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil((async () => {
    const pages = await self.clients.matchAll({ type: "window" });
    if (!pages.length) return;  // the app syncs when it is next opened
    const answers = await Promise.all(pages.map(askToSync));
    // Failing makes the browser try this sync again later (with its own backoff).
    if (!answers.some((answer) => answer?.ok)) throw new Error("sync did not complete");
  })());
});

self.addEventListener("message", (event) => {
  const type = event.data?.type;
  if (type === "SKIP_WAITING") {
    self.skipWaiting();
  } else if (type === "CLAIM") {
    // A page that loaded while this worker was activating missed the claim in activate.
    event.waitUntil(self.clients.claim());
  } else if (type === "CACHE_SHELL") {
    event.waitUntil(refreshShell(event.data.user).catch(() => undefined));
  }
});
