// The decisions of the offline sync, as pure functions: no DOM, no IndexedDB, no network.
// Unit-tested with `node --test tests/js/`; used by db.js, outbox.js, sync.js and status.js.
// The protocol is DESIGN.md "Offline sync"; the client side is described in docs/SYNC.md.

/**
 * A mutation as the server expects it (POST /api/v1/sync/push).
 * @typedef {object} Mutation
 * @property {number} id               the device's counter: 1, 2, 3, … without gaps
 * @property {string} entity           customer, contact, visit, note, order, followup, …
 * @property {"upsert"|"delete"} op
 * @property {string} entity_id        the row's UUID (made on the device for new rows)
 * @property {number|null} base_version the server version the device last saw; null for a new row
 * @property {string} changed_at       RFC 3339
 * @property {Record<string, any>} fields only the changed fields
 */

/**
 * An outbox entry: the mutation plus what the device keeps for itself (never sent).
 * @typedef {Mutation & {customer_id?: string|null}} OutboxEntry
 */

/**
 * A row as the briefcase stores it: the server's row with the device's pending
 * mutations laid over it (see overlay).
 * @typedef {Record<string, any> & {id: string, version?: number|null, _pending?: boolean,
 *   _server?: Record<string, any>|null, _deleted?: boolean}} Row
 */

/**
 * One entry of a push response.
 * @typedef {{id: number, status: "applied"|"merged"|"conflict"|"rejected"|"duplicate",
 *   entity_id: string, version: number|null, reason?: string, details?: object,
 *   conflicts?: {field: string, yours: any, theirs: any, kept: "yours"|"theirs"}[]}} PushResult
 */

export const MUTATION_KEYS = Object.freeze(
  ["id", "entity", "op", "entity_id", "base_version", "changed_at", "fields"]);
export const MAX_BATCH = 1000;

/**
 * The mutation as sent: the outbox entry without the device's own bookkeeping.
 * @param {OutboxEntry} entry
 * @returns {Mutation}
 */
export function wireMutation(entry) {
  return /** @type {Mutation} */ (Object.fromEntries(MUTATION_KEYS.map((key) => [key, entry[key] ?? (key === "fields" ? {} : null)])));
}

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so a
 * fleet of phones coming back online does not hit the server in step, yet every retry
 * waits at least half its step. attempt 1 → 1–2 s, 2 → 2–4 s, … capped at `capMs`.
 * @param {number} attempt  1 for the first retry
 * @param {{baseMs?: number, capMs?: number, random?: () => number}} [options]
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, { baseMs = 2000, capMs = 5 * 60_000, random = Math.random } = {}) {
  const step = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * How long to wait before retry number `attempt`: the backoff, but never less than the
 * server's Retry-After.
 * @param {number} attempt
 * @param {number|null} retryAfterMs
 * @param {{baseMs?: number, capMs?: number, random?: () => number}} [options]
 * @returns {number}
 */
export function retryDelay(attempt, retryAfterMs, options = {}) {
  return Math.max(backoffDelay(attempt, options), retryAfterMs ?? 0);
}

/**
 * A Retry-After header (seconds, or an HTTP date) in milliseconds from `now`; null if absent or unreadable.
 * @param {string|null|undefined} value
 * @param {number} now  ms since epoch
 * @returns {number|null}
 */
export function parseRetryAfter(value, now) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * The next batch to push: from the lowest id, the consecutive ids only, at most `max`.
 * @template {{id: number}} T
 * @param {T[]} entries  the outbox, sorted by id
 * @param {number} max
 * @returns {T[]}
 */
export function nextBatch(entries, max = MAX_BATCH) {
  const batch = [];
  for (const entry of entries) {
    if (batch.length >= max) break;
    if (batch.length && entry.id !== batch[batch.length - 1].id + 1) break;
    batch.push(entry);
  }
  return batch;
}

/**
 * The batch size after a 413: half, or null when a single mutation is already too large
 * (then that mutation is set aside as rejected, so it never blocks the queue).
 * @param {number} size
 * @returns {number|null}
 */
export function shrinkBatch(size) {
  return size <= 1 ? null : Math.floor(size / 2);
}

/**
 * What to do about the device's mutation numbering before (or after) a push.
 *
 * - `new_client`: the server has seen more ids than the device ever handed out (the
 *   phone's storage was restored from an older state, or two devices share a client id).
 *   New mutations would be taken for replays and silently skipped, so the device takes a
 *   new client id and numbers its pending mutations from 1.
 * - `renumber` from `start`: the pending mutations do not follow the server's last id
 *   (409 mutation_gap: the server is behind, e.g. restored from a backup, or a mutation
 *   was set aside locally), or have a hole. Ids above the server's last id were never
 *   processed, so giving the pending ones consecutive ids from server last + 1 is safe.
 * - `ok`: push as they are.
 * @param {{pendingIds: number[], localLast: number, serverLast: number|null}} state
 *   pendingIds sorted; localLast the device's counter; serverLast the server's
 *   last_mutation_id as last reported (null if never)
 * @returns {{action: "ok"} | {action: "new_client"} | {action: "renumber", start: number}}
 */
export function planNumbering({ pendingIds, localLast, serverLast }) {
  if (serverLast != null && serverLast > localLast) return { action: "new_client" };
  if (!pendingIds.length) return { action: "ok" };
  if (serverLast != null && pendingIds[0] > serverLast + 1) {
    return { action: "renumber", start: serverLast + 1 };
  }
  const holes = pendingIds.some((id, i) => i > 0 && id !== pendingIds[i - 1] + 1);
  return holes ? { action: "renumber", start: pendingIds[0] } : { action: "ok" };
}

/**
 * What a failed request means for the sync.
 * @param {{network?: boolean, status?: number, code?: string}} failure
 * @returns {"offline"|"retry"|"auth"|"csrf"|"foreign"|"gap"|"too_large"|"bad_mutation"|"fatal"}
 */
export function classifyFailure({ network = false, status = 0, code = "" }) {
  if (network) return "offline";
  if (status === 401) return "auth";
  if (status === 403) return code === "foreign_client" ? "foreign" : "auth";
  if (status === 400 && code === "csrf_failed") return "csrf";
  if (status === 409 && code === "mutation_gap") return "gap";
  if (status === 413) return "too_large";
  if (status === 400 && ["invalid_mutation", "unknown_field"].includes(code)) return "bad_mutation";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  return "fatal";
}

/**
 * The server's row inside a stored row (which may carry pending changes).
 * @param {Row|null|undefined} stored
 * @returns {Record<string, any>|null}
 */
export function serverRowOf(stored) {
  if (!stored) return null;
  if (stored._pending) return stored._server ?? null;
  return stored;
}

/**
 * A row as the device shows it: the server's row with the pending mutations applied in
 * order. Marked `_pending: true` with the server's row kept in `_server` (to rebuild it
 * when a mutation is acknowledged or rejected); a pending delete sets `_deleted: true`.
 * Without pending mutations it is the server row unchanged; null if there is neither.
 * @param {Record<string, any>|null} server
 * @param {OutboxEntry[]} pending  of this row, sorted by id
 * @returns {Row|null}
 */
export function overlay(server, pending) {
  if (!pending.length) return server ? /** @type {Row} */ (server) : null;
  /** @type {Record<string, any>} */
  let row = server ? { ...server } : { id: pending[0].entity_id, version: null };
  for (const m of pending) {
    if (m.op === "delete") row = { ...row, _deleted: true };
    else row = { ...row, ...m.fields };
  }
  return /** @type {Row} */ ({ ...row, _pending: true, _server: server ?? null });
}

/**
 * The server's row after it processed `mutation` with `result` (applied, merged,
 * duplicate or conflict); null when the row is gone (an applied delete). A conflict the
 * server's value won keeps that value.
 *
 * The row's version moves to the result's only for `applied` (nothing else changed
 * since base_version, so the device now knows the whole row). After `merged`,
 * `conflict` or `duplicate` the server's row has changes the device has not seen: it
 * keeps its old version, so a further edit still names the old base_version and is
 * checked for conflicts, until the pull that follows brings the whole row.
 * @param {Record<string, any>|null} server  the server's row as the device knew it
 * @param {OutboxEntry} mutation
 * @param {PushResult} result
 * @returns {Record<string, any>|null}
 */
export function confirmMutation(server, mutation, result) {
  if (mutation.op === "delete") return null;
  const row = { ...(server ?? { id: mutation.entity_id }), ...mutation.fields };
  for (const conflict of result.conflicts ?? []) {
    row[conflict.field] = conflict.kept === "theirs" ? conflict.theirs : conflict.yours;
  }
  const known = server?.version ?? null;
  const version = result.status === "applied" ? result.version ?? known : known;
  return { ...row, version };
}

/**
 * Whether a pulled row should replace the stored server row (never go back in version).
 * @param {Record<string, any>|null} server
 * @param {number} version
 */
export function isNewer(server, version) {
  return !server || server.version == null || version >= server.version;
}

/**
 * @typedef {object} SyncState
 * @property {"idle"|"syncing"|"offline"|"retrying"|"auth"|"foreign"|"error"} phase
 * @property {number} pending     mutations waiting in the outbox
 * @property {number} attention   conflicts and rejections not yet dismissed
 * @property {string|null} lastSyncedAt  RFC 3339
 */

/**
 * The strings of the status line, rendered by the server (so they are translated):
 * `{ago}` and `{count}` are filled in here.
 * @typedef {{synced: string, syncedNow: string, never: string, offline: string, syncing: string,
 *   retrying: string, login: string, foreign: string, waitingOne: string, waitingOther: string,
 *   attentionOne?: string, attentionOther?: string}} StatusStrings
 */

/**
 * "2 minutes ago" in the page's language.
 * @param {number} ms  how long ago (positive)
 * @param {string} locale
 */
export function formatAgo(ms, locale) {
  const format = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return format.format(-Math.max(1, minutes), "minute");
  const hours = Math.round(minutes / 60);
  if (hours < 24) return format.format(-hours, "hour");
  return format.format(-Math.round(hours / 24), "day");
}

/**
 * @param {number} count
 * @param {string} one
 * @param {string} other
 * @param {string} locale
 */
function plural(count, one, other, locale) {
  const form = new Intl.PluralRules(locale).select(count) === "one" ? one : other;
  return form.replace("{count}", new Intl.NumberFormat(locale).format(count));
}

/**
 * The status line's text and tone, e.g. "Synced 2 minutes ago · 3 changes waiting".
 * @param {SyncState} state
 * @param {StatusStrings} strings
 * @param {{now: number, locale: string}} context
 * @returns {{text: string, tone: "ok"|"busy"|"offline"|"warn"|"error", login: boolean}}
 */
export function describeStatus(state, strings, { now, locale }) {
  /** @type {string} */
  let head;
  /** @type {"ok"|"busy"|"offline"|"warn"|"error"} */
  let tone = "ok";
  switch (state.phase) {
    case "syncing": head = strings.syncing; tone = "busy"; break;
    case "offline": head = strings.offline; tone = "offline"; break;
    case "retrying": head = strings.retrying; tone = "warn"; break;
    case "auth": head = strings.login; tone = "error"; break;
    case "foreign": head = strings.foreign; tone = "error"; break;
    case "error": head = strings.retrying; tone = "error"; break;
    default: {
      const at = state.lastSyncedAt ? Date.parse(state.lastSyncedAt) : NaN;
      if (Number.isNaN(at)) head = strings.never;
      else if (now - at < 60_000) head = strings.syncedNow;
      else head = strings.synced.replace("{ago}", formatAgo(now - at, locale));
    }
  }
  const parts = [head];
  if (state.pending > 0) parts.push(plural(state.pending, strings.waitingOne, strings.waitingOther, locale));
  if (state.attention > 0 && strings.attentionOne && strings.attentionOther) {
    parts.push(plural(state.attention, strings.attentionOne, strings.attentionOther, locale));
    if (tone === "ok") tone = "warn";
  }
  return { text: parts.join(" · "), tone, login: state.phase === "auth" };
}
