// The installable app, on every page: registers the service worker, offers a new version
// ("A new version is available — reload"), shows the install hint on phones, and for a
// logged-in user asks for persistent storage once, keeps the offline shell fresh and
// starts the sync with its status line. Every step fails quietly (console only): the
// pages work without any of it.

const INSTALL_DISMISSED = "fieldcrm.install-hint-dismissed";
const PERSIST_ASKED = "fieldcrm.persist-asked";
const UPDATE_CHECK_MS = 30 * 60_000;

const statusLine = document.getElementById("sync-status");
const updateBanner = document.getElementById("pwa-update");
const installHint = document.getElementById("pwa-install");

/** @param {unknown} error */
const quietly = (error) => console.warn("fieldcrm app:", error);

/**
 * Offer the waiting version; on tap it takes over and the page reloads once it controls it.
 * @param {ServiceWorker} worker
 */
function offerUpdate(worker) {
  if (!updateBanner) return;
  updateBanner.hidden = false;
  updateBanner.querySelector("[data-action=reload]")?.addEventListener("click", () => {
    worker.postMessage({ type: "SKIP_WAITING" });
  }, { once: true });
}

/** @param {ServiceWorkerRegistration} registration */
function watchForUpdates(registration) {
  if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offerUpdate(worker);
    });
  });
  // A page that ran on the old version reloads when the new one takes over, so it never
  // mixes old markup with new files. The very first install (no controller yet) does not.
  let hadController = Boolean(navigator.serviceWorker.controller);
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (hadController && !reloading) {
      reloading = true;
      location.reload();
    }
    hadController = true;
  });
  const check = () => {
    if (navigator.onLine && document.visibilityState === "visible") registration.update().catch(quietly);
  };
  document.addEventListener("visibilitychange", check);
  setInterval(check, UPDATE_CHECK_MS);
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  const url = document.querySelector('meta[name="fieldcrm-service-worker"]')?.getAttribute("content") ?? "/sw.js";
  const registration = await navigator.serviceWorker.register(url, { scope: "/", updateViaCache: "none" });
  watchForUpdates(registration);
  const ready = await navigator.serviceWorker.ready;
  // A page that started loading while the worker was activating is not controlled yet.
  if (!navigator.serviceWorker.controller) ready.active?.postMessage({ type: "CLAIM" });
  return registration;
}

/**
 * Have the service worker cache the app shell for this user (it refreshes it when it is
 * missing, older than an hour, or was made for another user).
 * @param {string} userId
 */
async function cacheShell(userId) {
  if (!navigator.onLine || document.body.classList.contains("offline-shell")) return;
  const registration = await navigator.serviceWorker.ready;
  registration.active?.postMessage({ type: "CACHE_SHELL", user: userId });
}

function isPhone() {
  return matchMedia("(pointer: coarse)").matches && matchMedia("(max-width: 800px)").matches;
}

function setUpInstallHint() {
  if (!installHint) return;
  /** @type {any} */
  let prompt = null;
  const hide = () => { installHint.hidden = true; };
  const remember = () => {
    localStorage.setItem(INSTALL_DISMISSED, new Date().toISOString());
    hide();
  };
  window.addEventListener("beforeinstallprompt", (event) => {
    if (localStorage.getItem(INSTALL_DISMISSED) || !isPhone()) return;
    event.preventDefault();  // our own hint instead of the browser's mini-infobar
    prompt = event;
    installHint.hidden = false;
  });
  installHint.querySelector("[data-action=install]")?.addEventListener("click", async () => {
    if (!prompt) return hide();
    prompt.prompt();
    const choice = await prompt.userChoice.catch(() => null);
    prompt = null;
    if (choice?.outcome === "dismissed") remember();
    else hide();
  });
  installHint.querySelector("[data-action=dismiss]")?.addEventListener("click", remember);
  window.addEventListener("appinstalled", remember);
}

/** Ask once per browser that the briefcase is not evicted under storage pressure. */
async function askPersistentStorage() {
  if (!navigator.storage?.persist || localStorage.getItem(PERSIST_ASKED)) return;
  const granted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
  localStorage.setItem(PERSIST_ASKED, String(granted));
}

async function startLoggedIn() {
  if (!statusLine) return;
  const userId = statusLine.dataset.userId ?? "";
  askPersistentStorage().catch(quietly);
  const [{ startSync }, { startStatusLine }] = await Promise.all([import("./sync.js"), import("./status.js")]);
  startStatusLine(statusLine);
  const notices = document.getElementById("sync-notices");
  if (notices && !document.body.classList.contains("offline-shell")) {
    import("./notices.js").then(({ startNotices }) => startNotices(notices)).catch(quietly);
  }
  await startSync({ userId, sessionUrl: statusLine.dataset.sessionUrl });
  if ("serviceWorker" in navigator) cacheShell(userId).catch(quietly);
}

document.querySelector("#offline-fallback [data-action=retry]")?.addEventListener("click", () => location.reload());
setUpInstallHint();
registerWorker().catch(quietly);
startLoggedIn().catch(quietly);
