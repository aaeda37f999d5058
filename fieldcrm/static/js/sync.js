// The sync loop: one sync() = push the outbox, then pull until has_more is false, then
// refresh the rejection list. Never two at once (in this page: one promise; across tabs:
// the Web Locks API). Triggered on start, when the network returns, when the app becomes
// visible, every 5 minutes while visible, shortly after each local change, and by
// Background Sync (the service worker asks an open page to sync). Failures are retried
// with capped exponential backoff and jitter. See docs/SYNC.md.
//
// Pages and offline screens use:
//   recordChange(change)         make a change (row + outbox in one transaction) and sync soon
//   sync(reason) / requestSync() sync now / soon
//   onSyncState(listener)        the status: phase, pending, attention, lastSyncedAt
//   dismissRejection(id), retryRejection(id)
// and listen for the window event "fieldcrm:briefcase" ({entities, source, reset}) to
// re-render after rows changed.
import { HttpError, NetworkError, createApi } from "./api.js";
import * as briefcase from "./db.js";
import { flush } from "./outbox.js";
import { classifyFailure, retryDelay } from "./syncLogic.js";

/** @typedef {import("./syncLogic.js").SyncState} SyncState */
/** @typedef {import("./db.js").Db} Db */
/** @typedef {import("./db.js").LocalChange} LocalChange */

export const SYNC_TAG = "fieldcrm-sync";
const LOCK_NAME = "fieldcrm-sync";
const PERIOD_MS = 5 * 60_000;
const CHANGE_DELAY_MS = 800;

/** @type {SyncState} */
let state = { phase: "idle", pending: 0, attention: 0, lastSyncedAt: null };
/** @type {Set<(state: SyncState) => void>} */
const listeners = new Set();
/** @type {import("./api.js").Api|null} */
let api = null;
/** @type {Promise<boolean>|null} */
let running = null;
let again = false;
/** Why the last sync was asked for (start, online, visible, periodic, change, background, retry). */
export let lastReason = "";
let attempt = 0;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let retryTimer;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let soonTimer;
/** Whether the briefcase on this device belongs to the user of this page. */
let owned = true;
/** @type {Promise<void>|null} */
let ready = null;

/** @returns {import("./api.js").Api} */
function client() {
  api ??= createApi();
  return api;
}

/** The current status (a snapshot). */
export function getSyncState() {
  return state;
}

/**
 * Call `listener` now and on every change of the status; returns the unsubscribe function.
 * @param {(state: SyncState) => void} listener
 */
export function onSyncState(listener) {
  listeners.add(listener);
  listener(state);
  return () => listeners.delete(listener);
}

/** @param {Partial<SyncState>} patch */
function update(patch) {
  state = { ...state, ...patch };
  for (const listener of listeners) listener(state);
  window.dispatchEvent(new CustomEvent("fieldcrm:sync-state", { detail: state }));
}

/**
 * Tell the screens which stores changed, so they re-read what they show.
 * @param {{entities: string[], source: "sync"|"local", reset?: boolean, entity_id?: string}} detail
 */
function announce(detail) {
  window.dispatchEvent(new CustomEvent("fieldcrm:briefcase", { detail }));
}

/** @param {Db} db */
async function refreshCounts(db) {
  update({ pending: await briefcase.pendingCount(db), attention: await briefcase.attentionCount(db) });
}

/** Ask the browser to wake the service worker when the network is back (where supported). */
async function registerBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.getRegistration();
    // @ts-ignore  SyncManager is not in every browser's types
    if (registration && "sync" in registration) await registration.sync.register(SYNC_TAG);
  } catch {
    // Not supported or not allowed: the online event and the next start sync instead.
  }
}

/**
 * Pull pages until has_more is false; each page and its cursor are stored together.
 * @param {Db} db
 * @param {import("./api.js").Api} [api]
 * @returns {Promise<{entities: Set<string>, reset: boolean}>}
 */
export async function pull(db, api = client()) {
  const clientId = await briefcase.getMeta(db, "client_id");
  let cursor = (await briefcase.getMeta(db, "cursor")) ?? null;
  const entities = new Set();
  let reset = false;
  for (;;) {
    const page = await api.pull({ cursor, client_id: clientId });
    const applied = await briefcase.applyPullPage(db, page);
    applied.entities.forEach((name) => entities.add(name));
    reset ||= Boolean(page.reset);
    cursor = page.cursor;
    if (!page.has_more) return { entities, reset };
  }
}

/** @param {Db} db */
async function pullRejections(db) {
  const { items } = await client().rejections();
  await briefcase.replaceRejections(db, items);
}

/**
 * @param {unknown} error
 */
function handleFailure(error) {
  const kind = error instanceof HttpError ? classifyFailure(error)
    : error instanceof NetworkError ? "offline" : "fatal";
  if (kind === "auth") {
    update({ phase: "auth" });  // no timer: the next trigger (e.g. after logging in) tries again
    return;
  }
  if (kind === "fatal") console.error("fieldcrm sync failed", error);
  attempt += 1;
  const retryAfter = error instanceof HttpError ? error.retryAfterMs : null;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void sync("retry"), retryDelay(attempt, retryAfter));
  // No answer at all counts as offline, whatever navigator.onLine claims (captive portals,
  // dead spots with a signal bar).
  update({ phase: kind === "offline" ? "offline" : kind === "fatal" ? "error" : "retrying" });
  if (state.pending > 0) void registerBackgroundSync();
}

/** @returns {Promise<boolean>} */
async function runOnce() {
  clearTimeout(retryTimer);
  const db = await briefcase.openDb();
  await refreshCounts(db);
  if (!navigator.onLine) {
    update({ phase: "offline" });
    if (state.pending > 0) await registerBackgroundSync();
    return false;
  }
  update({ phase: "syncing" });
  /** @type {Set<string>} */
  const entities = new Set();
  let reset = false;
  try {
    const session = await client().session();
    owned = await briefcase.claimBriefcase(db, session.user_id);
    if (!owned) {
      update({ phase: "foreign" });
      return false;
    }
    try {
      const pushed = await flush(db, client());
      pushed.entities.forEach((name) => entities.add(name));
    } catch (error) {
      if (error instanceof HttpError && error.code === "foreign_client") {
        // The server has this client id bound to someone else: start a new numbering.
        await briefcase.renumberOutbox(db, 1, { clientId: briefcase.newId() });
      }
      throw error;
    }
    const pulled = await pull(db, client());
    pulled.entities.forEach((name) => entities.add(name));
    reset = pulled.reset;
    await pullRejections(db);
    const now = new Date().toISOString();
    await briefcase.setMeta(db, "last_synced_at", now);
    attempt = 0;
    await refreshCounts(db);
    update({ phase: "idle", lastSyncedAt: now });
    return true;
  } catch (error) {
    await refreshCounts(db).catch(() => {});
    handleFailure(error);
    return false;
  } finally {
    if (entities.size || reset) announce({ entities: [...entities], source: "sync", reset });
  }
}

/**
 * Sync now. While a sync runs, another call returns the running one and makes it go
 * round once more (so a change made meanwhile is pushed too).
 * @param {string} [reason]  for debugging: start, online, visible, periodic, change, background, retry
 * @returns {Promise<boolean>} whether it completed
 */
export function sync(reason = "manual") {
  if (running) {
    again = true;
    return running;
  }
  lastReason = reason;
  running = (async () => {
    await ready;
    let ok = false;
    do {
      again = false;
      ok = await (navigator.locks?.request
        ? navigator.locks.request(LOCK_NAME, runOnce)
        : runOnce());
    } while (again);
    return ok;
  })().finally(() => {
    running = null;
  });
  return running;
}

/**
 * Sync in `delayMs` (debounced: a burst of changes goes in one push).
 * @param {string} [reason]
 * @param {number} [delayMs]
 */
export function requestSync(reason = "soon", delayMs = 0) {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(() => {
    sync(reason).catch((error) => console.error("fieldcrm sync failed", error));
  }, delayMs);
}

/**
 * Make a change on the device and have it synced: the row and its outbox mutation are
 * written in one transaction (db.applyLocalChange); the screens hear "fieldcrm:briefcase".
 * @param {LocalChange} change
 * @returns {Promise<{mutation: import("./syncLogic.js").OutboxEntry, row: import("./syncLogic.js").Row|null}>}
 * @throws {Error} when the briefcase holds another user's waiting changes
 */
export async function recordChange(change) {
  await ready;
  if (!owned) throw new Error("This device holds changes of another user.");
  const db = await briefcase.openDb();
  const result = await briefcase.applyLocalChange(db, change);
  await refreshCounts(db);
  announce({ entities: [change.entity], source: "local", entity_id: change.entity_id });
  if (navigator.onLine) requestSync("change", CHANGE_DELAY_MS);
  else await registerBackgroundSync();
  return result;
}

/**
 * Dismiss a rejection notice (on the server too, which needs a connection for those the
 * server knows; the device's own are dismissed offline).
 * @param {string} id
 */
export async function dismissRejection(id) {
  const db = await briefcase.openDb();
  const row = await db.get("rejections", id);
  if (!row) return;
  if (row.local && String(row.id).startsWith("local:")) {
    await db.delete("rejections", id);
  } else {
    if (row.local) await pullRejections(db);  // learn the server's id of this rejection
    const server = row.local
      ? (await db.getAll("rejections")).find((r) => !r.local && r.entity_id === row.entity_id
          && r.mutation_id === row.mutation_id)
      : row;
    if (server) await client().dismissRejection(server.id);
    await db.delete("rejections", id);
    if (server) await db.delete("rejections", server.id);
  }
  await refreshCounts(db);
}

/**
 * Send a rejected change again as a new change (e.g. after fixing what made it invalid:
 * pass `fields` to replace what is sent), then dismiss the notice.
 * @param {string} id
 * @param {{fields?: Record<string, any>}} [options]
 */
export async function retryRejection(id, { fields } = {}) {
  const db = await briefcase.openDb();
  const row = await db.get("rejections", id);
  if (!row) return null;
  const result = await recordChange({ entity: row.entity, op: row.op, entity_id: row.entity_id,
    fields: fields ?? row.fields });
  await dismissRejection(id).catch(() => db.delete("rejections", id));
  return result;
}

/** @param {MessageEvent} event */
function onWorkerMessage(event) {
  if (event.data?.type !== "SYNC") return;
  const port = event.ports?.[0];
  sync("background").then(
    (ok) => port?.postMessage({ ok }),
    () => port?.postMessage({ ok: false }),
  );
}

let started = false;

/**
 * Start syncing for the logged-in user of this page: sync now and on every trigger.
 * Safe to call more than once.
 * @param {{userId?: string, sessionUrl?: string, periodMs?: number}} [options]
 * @returns {Promise<void>} resolved once the briefcase's owner and counts are known
 */
export function startSync({ userId, sessionUrl, periodMs = PERIOD_MS } = {}) {
  if (started) return /** @type {Promise<void>} */ (ready);
  started = true;
  api = createApi({ sessionUrl });
  ready = (async () => {
    const db = await briefcase.openDb();
    const owner = await briefcase.getMeta(db, "user_id");
    owned = !owner || !userId || owner === userId;  // confirmed with the server at each sync
    update({
      pending: await briefcase.pendingCount(db),
      attention: await briefcase.attentionCount(db),
      lastSyncedAt: (await briefcase.getMeta(db, "last_synced_at")) ?? null,
      phase: !owned ? "foreign" : navigator.onLine ? "idle" : "offline",
    });
  })();
  window.addEventListener("online", () => requestSync("online"));
  window.addEventListener("offline", () => update({ phase: "offline" }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") requestSync("visible");
  });
  setInterval(() => {
    if (document.visibilityState === "visible") requestSync("periodic");
  }, periodMs);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", onWorkerMessage);
    navigator.serviceWorker.startMessages();
  }
  ready.then(() => requestSync("start"), (error) => console.error("fieldcrm briefcase", error));
  return ready;
}
