// The briefcase: IndexedDB "fieldcrm" over the vendored idb. One object store per entity
// (rows keyed by id), the outbox of mutations waiting to be pushed, meta (client id,
// cursor, counters), and the conflict and rejection notices shown to the rep.
//
// The rule that makes "never lose a keystroke" hold: a local change writes the row AND
// appends its outbox mutation in ONE transaction (applyLocalChange). Rows always show the
// server's row with the pending mutations laid over it (syncLogic.overlay), so a pull
// never hides a change that is still waiting, and a rejected change falls back to the
// server's value. See docs/SYNC.md.
import { openDB } from "/static/vendor/idb/index.js";

import { confirmMutation, isNewer, overlay, serverRowOf } from "./syncLogic.js";

/** @typedef {import("./syncLogic.js").OutboxEntry} OutboxEntry */
/** @typedef {import("./syncLogic.js").Row} Row */
/** @typedef {import("./syncLogic.js").PushResult} PushResult */
/** @typedef {import("/static/vendor/idb/index.js").IDBPDatabase} Db */

export const DB_NAME = "fieldcrm";
/** Bump when stores or indexes change; an upgrade also forgets the cursor (full pull). */
export const DB_VERSION = 1;

/** Entity stores and their indexes (index name = key path; arrays are compound). */
export const ENTITY_INDEXES = Object.freeze({
  customer: ["territory_id", "owner_id", "postal_code"],
  contact: ["customer_id"],
  product: ["sku"],
  territory: [],
  history: ["customer_id", ["customer_id", "at"]],
  visit: ["customer_id", "planned_at", ["customer_id", "planned_at"]],
  note: ["customer_id", "visit_id"],
  order: ["customer_id", "status"],
  followup: ["customer_id", "due_at", "assignee_id"],
});
export const ENTITY_STORES = Object.freeze(Object.keys(ENTITY_INDEXES));
/** Stores that hang below a customer: emptied with it when the customer is revoked. */
const CUSTOMER_CHILDREN = ENTITY_STORES.filter((name) =>
  ENTITY_INDEXES[name].includes("customer_id"));

/**
 * Meta keys: client_id (this device's UUID, bound to user_id on the server), user_id,
 * cursor (opaque, from the last pull), last_mutation_id (the device's counter: the last
 * id handed out), server_last_mutation_id (the server's last processed id, as last
 * reported), last_synced_at (RFC 3339).
 * @typedef {"client_id"|"user_id"|"cursor"|"last_mutation_id"|"server_last_mutation_id"|"last_synced_at"} MetaKey
 */

/** @param {string|string[]} path */
const indexName = (path) => (Array.isArray(path) ? path.join("+") : path);

/** @type {Promise<Db>|null} */
let opening = null;

/**
 * The briefcase database, opened (and created or upgraded) once per page.
 * @returns {Promise<Db>}
 */
export function openDb() {
  opening ??= openDB(DB_NAME, DB_VERSION, {
    upgrade(db, oldVersion, _newVersion, tx) {
      for (const [name, indexes] of Object.entries(ENTITY_INDEXES)) {
        const store = db.objectStoreNames.contains(name)
          ? tx.objectStore(name) : db.createObjectStore(name, { keyPath: "id" });
        for (const path of indexes) {
          if (!store.indexNames.contains(indexName(path))) store.createIndex(indexName(path), path);
        }
      }
      if (!db.objectStoreNames.contains("outbox")) {
        // Keys are the mutation ids, handed out from meta.last_mutation_id in the same
        // transaction (not an autoIncrement generator: it could not restart at 1 for a new
        // client id, nor renumber after a gap).
        const outbox = db.createObjectStore("outbox", { keyPath: "id" });
        outbox.createIndex("entity_key", ["entity", "entity_id"]);
        outbox.createIndex("customer_id", "customer_id");
      }
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
      if (!db.objectStoreNames.contains("conflicts")) {
        const conflicts = db.createObjectStore("conflicts", { keyPath: "id", autoIncrement: true });
        conflicts.createIndex("customer_id", "customer_id");
        conflicts.createIndex("entity_key", ["entity", "entity_id"]);
      }
      if (!db.objectStoreNames.contains("rejections")) {
        const rejections = db.createObjectStore("rejections", { keyPath: "id" });
        rejections.createIndex("customer_id", "customer_id");
        rejections.createIndex("entity_key", ["entity", "entity_id"]);
      }
      if (oldVersion > 0) tx.objectStore("meta").delete("cursor");
    },
    blocking() {
      // A newer version of the app wants to upgrade the database in another tab.
      opening?.then((db) => db.close());
      opening = null;
    },
    terminated() {
      opening = null;
    },
  });
  return opening;
}

/**
 * @param {Db} db
 * @param {MetaKey} key
 * @returns {Promise<any>}
 */
export function getMeta(db, key) {
  return db.get("meta", key);
}

/**
 * @param {Db} db
 * @param {MetaKey} key
 * @param {any} value
 */
export async function setMeta(db, key, value) {
  await db.put("meta", value, key);
}

/** A new UUID for a row made on this device (the server keeps it as the row's id). */
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; plain-http development still gets a v4 UUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * @param {string} entity
 */
function checkEntity(entity) {
  if (!ENTITY_STORES.includes(entity)) throw new TypeError(`unknown entity ${entity}`);
}

/**
 * All pending outbox entries per row, keyed "entity:id" (read once per transaction).
 * @param {any} tx  a transaction that includes "outbox"
 * @returns {Promise<Map<string, OutboxEntry[]>>}
 */
async function pendingByRow(tx) {
  /** @type {OutboxEntry[]} */
  const entries = await tx.objectStore("outbox").getAll();
  const map = new Map();
  for (const entry of entries) {
    const key = `${entry.entity}:${entry.entity_id}`;
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(entry);
  }
  return map;
}

/**
 * Store `server` with `pending` laid over it; delete the row when nothing is left.
 * @param {any} store
 * @param {string} id
 * @param {Record<string, any>|null} server
 * @param {OutboxEntry[]} pending
 */
async function writeRow(store, id, server, pending) {
  const row = overlay(server, pending);
  if (row) await store.put(row);
  else await store.delete(id);
  return row;
}

/**
 * The customer a row belongs to (for indexes of the outbox, conflicts and rejections).
 * @param {string} entity
 * @param {string} entityId
 * @param {Record<string, any>|null|undefined} row
 * @param {Record<string, any>} [fields]
 * @returns {string|null}
 */
function customerOf(entity, entityId, row, fields = {}) {
  if (entity === "customer") return entityId;
  return fields.customer_id ?? row?.customer_id ?? null;
}

/**
 * @typedef {object} LocalChange
 * @property {string} entity     one of ENTITY_STORES (the server must know it to accept it)
 * @property {"upsert"|"delete"} [op]  default "upsert"
 * @property {string} entity_id  newId() for a new row
 * @property {Record<string, any>} [fields]  only the changed fields
 * @property {number|null} [base_version]  default: the version of the server's row on
 *   the device (null for a row the server has not confirmed yet)
 * @property {string} [changed_at]  default: now
 */

/**
 * Make a change on the device: write the row (shown at once, marked `_pending`) and
 * append its mutation to the outbox, numbered with the next id of this device, all in
 * one IndexedDB transaction — either both are stored or neither.
 * Most callers want sync.js recordChange(), which also schedules the sync.
 * @param {Db} db
 * @param {LocalChange} change
 * @returns {Promise<{mutation: OutboxEntry, row: Row|null}>}
 */
export async function applyLocalChange(db, change) {
  const { entity, op = "upsert", entity_id: entityId, fields = {} } = change;
  checkEntity(entity);
  if (op !== "upsert" && op !== "delete") throw new TypeError(`unknown op ${op}`);
  if (typeof entityId !== "string" || !entityId) throw new TypeError("entity_id must be a UUID string");
  const tx = db.transaction([entity, "outbox", "meta"], "readwrite");
  const rows = tx.objectStore(entity);
  const outbox = tx.objectStore("outbox");
  const meta = tx.objectStore("meta");
  const last = (await meta.get("last_mutation_id")) ?? 0;
  const stored = await rows.get(entityId);
  const server = serverRowOf(stored);
  /** @type {OutboxEntry} */
  const mutation = {
    id: last + 1,
    entity,
    op,
    entity_id: entityId,
    base_version: change.base_version !== undefined ? change.base_version : (server?.version ?? null),
    changed_at: change.changed_at ?? new Date().toISOString(),
    fields: op === "delete" ? {} : { ...fields },
    customer_id: customerOf(entity, entityId, stored, fields),
  };
  await outbox.add(mutation);
  await meta.put(mutation.id, "last_mutation_id");
  const pending = await outbox.index("entity_key").getAll([entity, entityId]);
  const row = await writeRow(rows, entityId, server, pending);
  await tx.done;
  return { mutation, row };
}

/**
 * Store rows as the server sent them, keeping pending changes laid over them.
 * @param {Db} db
 * @param {string} entity
 * @param {Record<string, any>[]} rows
 */
export async function putRows(db, entity, rows) {
  checkEntity(entity);
  const tx = db.transaction([entity, "outbox"], "readwrite");
  const pending = await pendingByRow(tx);
  const store = tx.objectStore(entity);
  for (const row of rows) await writeRow(store, row.id, row, pending.get(`${entity}:${row.id}`) ?? []);
  await tx.done;
}

/**
 * @param {Db} db
 * @param {string} entity
 * @param {string[]} ids
 */
export async function deleteRows(db, entity, ids) {
  checkEntity(entity);
  const tx = db.transaction(entity, "readwrite");
  for (const id of ids) await tx.store.delete(id);
  await tx.done;
}

/**
 * Remove a customer and every row hanging below it (contacts, history, visits, notes,
 * orders, follow-ups), inside an open transaction that includes those stores.
 * @param {any} tx
 * @param {string} customerId
 */
async function revokeInTx(tx, customerId) {
  await tx.objectStore("customer").delete(customerId);
  for (const name of CUSTOMER_CHILDREN) {
    const index = tx.objectStore(name).index("customer_id");
    for (let cursor = await index.openKeyCursor(customerId); cursor; cursor = await cursor.continue()) {
      await tx.objectStore(name).delete(cursor.primaryKey);
    }
  }
}

/**
 * Drop a customer that left the user's scope, with everything under it. Pending outbox
 * entries stay: the server rejects them and the rejection keeps what the rep typed.
 * @param {Db} db
 * @param {string} customerId
 */
export async function revokeCustomer(db, customerId) {
  const tx = db.transaction(ENTITY_STORES, "readwrite");
  await revokeInTx(tx, customerId);
  await tx.done;
}

/**
 * @typedef {{entity: string, entity_id: string, op: "upsert"|"delete"|"revoke",
 *   version: number, data: Record<string, any>|null}} Change
 * @typedef {{changes: Change[], cursor: string, has_more: boolean, last_mutation_id: number,
 *   reset?: boolean}} PullPage
 */

/**
 * Apply one page of a pull in one transaction, together with the new cursor, so the
 * briefcase and the cursor never disagree. `reset` empties the entity stores first
 * (the outbox stays, and its pending rows are laid back in).
 * @param {Db} db
 * @param {PullPage} page
 * @returns {Promise<{entities: Set<string>, skipped: number}>}  stores that changed;
 *   changes of entities this app version has no store for
 */
export async function applyPullPage(db, page) {
  const tx = db.transaction([...ENTITY_STORES, "outbox", "meta"], "readwrite");
  const pending = await pendingByRow(tx);
  const entities = new Set();
  let skipped = 0;
  if (page.reset) {
    for (const name of ENTITY_STORES) await tx.objectStore(name).clear();
    for (const entries of pending.values()) {
      const { entity, entity_id: id } = entries[0];
      if (ENTITY_STORES.includes(entity)) await writeRow(tx.objectStore(entity), id, null, entries);
    }
    ENTITY_STORES.forEach((name) => entities.add(name));
  }
  for (const change of page.changes) {
    if (!ENTITY_STORES.includes(change.entity)) {
      skipped += 1;
      continue;
    }
    entities.add(change.entity);
    const store = tx.objectStore(change.entity);
    if (change.op === "revoke") {
      await revokeInTx(tx, change.entity_id);
      CUSTOMER_CHILDREN.forEach((name) => entities.add(name));
    } else if (change.op === "delete") {
      await store.delete(change.entity_id);
    } else {
      const stored = await store.get(change.entity_id);
      if (!isNewer(serverRowOf(stored), change.version)) continue;
      await writeRow(store, change.entity_id, change.data,
        pending.get(`${change.entity}:${change.entity_id}`) ?? []);
    }
  }
  const meta = tx.objectStore("meta");
  await meta.put(page.cursor, "cursor");
  await meta.put(page.last_mutation_id, "server_last_mutation_id");
  await tx.done;
  return { entities, skipped };
}

/**
 * The oldest outbox entries, lowest id first.
 * @param {Db} db
 * @param {number} [limit]
 * @returns {Promise<OutboxEntry[]>}
 */
export function readOutbox(db, limit) {
  return db.getAll("outbox", null, limit);
}

/**
 * Pending mutations: all, or those of one customer (its own and its rows' changes).
 * @param {Db} db
 * @param {{customer_id?: string}} [filter]
 * @returns {Promise<OutboxEntry[]>}
 */
export function pendingMutations(db, filter = {}) {
  if (filter.customer_id) return db.getAllFromIndex("outbox", "customer_id", filter.customer_id);
  return db.getAll("outbox");
}

/** @param {Db} db */
export function pendingCount(db) {
  return db.count("outbox");
}

/**
 * Give the pending mutations consecutive ids from `start`, in one transaction; with
 * `clientId`, the device takes that new client id (its numbering restarts); with
 * `serverLast`, the server's last id as just reported is remembered.
 * @param {Db} db
 * @param {number} start
 * @param {{clientId?: string, serverLast?: number}} [options]
 */
export async function renumberOutbox(db, start, { clientId, serverLast } = {}) {
  const tx = db.transaction(["outbox", "meta"], "readwrite");
  const outbox = tx.objectStore("outbox");
  const entries = await outbox.getAll();
  await outbox.clear();
  let id = start;
  for (const entry of entries) await outbox.add({ ...entry, id: id++ });
  await tx.objectStore("meta").put(id - 1, "last_mutation_id");
  if (clientId) {
    await tx.objectStore("meta").put(clientId, "client_id");
    await tx.objectStore("meta").delete("server_last_mutation_id");
  } else if (serverLast !== undefined) {
    await tx.objectStore("meta").put(serverLast, "server_last_mutation_id");
  }
  await tx.done;
}

/**
 * Take in a push response: drop the processed mutations from the outbox, move each row
 * to what the server now has, keep conflict and rejection notices. One transaction.
 * @param {Db} db
 * @param {OutboxEntry[]} batch  what was sent
 * @param {{last_mutation_id: number, results: PushResult[]}} response
 * @param {{clientId: string, now?: string}} context
 * @returns {Promise<{entities: Set<string>, conflicts: number, rejected: number}>}
 */
export async function acknowledge(db, batch, response, { clientId, now = new Date().toISOString() }) {
  const byId = new Map(batch.map((m) => [m.id, m]));
  const results = response.results.filter((r) => byId.has(r.id));
  const touched = [...new Set(results.map((r) => byId.get(r.id).entity))].filter((e) => ENTITY_STORES.includes(e));
  const tx = db.transaction([...touched, "outbox", "meta", "conflicts", "rejections"], "readwrite");
  const pending = await pendingByRow(tx);
  /** @type {Map<string, {entity: string, id: string, server: Record<string, any>|null}>} */
  const servers = new Map();
  let conflicts = 0;
  let rejected = 0;
  for (const result of results) {
    const m = byId.get(result.id);
    const key = `${m.entity}:${m.entity_id}`;
    await tx.objectStore("outbox").delete(m.id);
    pending.set(key, (pending.get(key) ?? []).filter((p) => p.id !== m.id));
    if (!ENTITY_STORES.includes(m.entity)) continue;
    if (!servers.has(key)) {
      const stored = await tx.objectStore(m.entity).get(m.entity_id);
      servers.set(key, { entity: m.entity, id: m.entity_id, server: serverRowOf(stored) });
    }
    const entry = servers.get(key);
    if (result.status === "rejected") {
      rejected += 1;
      await tx.objectStore("rejections").put({
        id: `${clientId}:${m.id}`, mutation_id: m.id, entity: m.entity, entity_id: m.entity_id,
        customer_id: m.customer_id ?? null, op: m.op, fields: m.fields, reason: result.reason ?? "rejected",
        details: result.details ?? {}, created_at: now, local: true,
      });
      continue;
    }
    entry.server = confirmMutation(entry.server, m, result);
    for (const conflict of result.conflicts ?? []) {
      conflicts += 1;
      await tx.objectStore("conflicts").add({
        entity: m.entity, entity_id: m.entity_id, customer_id: m.customer_id ?? null,
        field: conflict.field, yours: conflict.yours, theirs: conflict.theirs, kept: conflict.kept,
        at: now, mutation_id: m.id,
      });
    }
  }
  for (const [key, { entity, id, server }] of servers) {
    await writeRow(tx.objectStore(entity), id, server, pending.get(key) ?? []);
  }
  await tx.objectStore("meta").put(response.last_mutation_id, "server_last_mutation_id");
  await tx.done;
  return { entities: new Set(touched), conflicts, rejected };
}

/**
 * Set a mutation aside as rejected on the device (the server cannot take it: unknown
 * entity or field for this server, or too large), keeping what the rep typed. Removes
 * it from the outbox; the caller renumbers the rest. One transaction.
 * @param {Db} db
 * @param {OutboxEntry} m
 * @param {{reason: string, details?: object}} why
 */
export async function setAside(db, m, { reason, details = {} }) {
  const stores = ["outbox", "rejections", ...(ENTITY_STORES.includes(m.entity) ? [m.entity] : [])];
  const tx = db.transaction(stores, "readwrite");
  await tx.objectStore("outbox").delete(m.id);
  await tx.objectStore("rejections").put({
    id: `local:${newId()}`, mutation_id: m.id, entity: m.entity, entity_id: m.entity_id,
    customer_id: m.customer_id ?? null, op: m.op, fields: m.fields, reason, details,
    created_at: new Date().toISOString(), local: true,
  });
  if (ENTITY_STORES.includes(m.entity)) {
    const store = tx.objectStore(m.entity);
    const stored = await store.get(m.entity_id);
    const rest = await tx.objectStore("outbox").index("entity_key").getAll([m.entity, m.entity_id]);
    await writeRow(store, m.entity_id, serverRowOf(stored), rest);
  }
  await tx.done;
}

/**
 * Merge the server's list of rejections (GET /api/v1/sync/rejections) into the store:
 * server entries replace the device's own copies of the same mutation (matched by
 * entity id and mutation id); rejections dismissed elsewhere disappear. Rejections the
 * device set aside itself (never seen by the server) stay.
 * @param {Db} db
 * @param {{id: string, mutation_id: number, entity: string, entity_id: string, op: string,
 *   fields: object, reason: string, details?: object, created_at?: string}[]} items
 */
export async function replaceRejections(db, items) {
  const tx = db.transaction(["rejections", ...ENTITY_STORES], "readwrite");
  const store = tx.objectStore("rejections");
  const seen = new Set(items.map((r) => `${r.entity_id}:${r.mutation_id}`));
  for (const row of await store.getAll()) {
    const fromServer = !row.local;
    const pushed = row.local && !String(row.id).startsWith("local:");
    if (fromServer || (pushed && seen.has(`${row.entity_id}:${row.mutation_id}`))) await store.delete(row.id);
  }
  for (const item of items) {
    let customerId = item.entity === "customer" ? item.entity_id : item.fields?.customer_id ?? null;
    if (!customerId && ENTITY_STORES.includes(item.entity)) {
      customerId = (await tx.objectStore(item.entity).get(item.entity_id))?.customer_id ?? null;
    }
    await store.put({ ...item, details: item.details ?? {}, customer_id: customerId, local: false });
  }
  await tx.done;
}

/**
 * Conflict notices ("your change to Phone was replaced by a later change"), newest first.
 * @param {Db} db
 * @param {{customer_id?: string}} [filter]
 */
export async function listConflicts(db, filter = {}) {
  const rows = filter.customer_id
    ? await db.getAllFromIndex("conflicts", "customer_id", filter.customer_id)
    : await db.getAll("conflicts");
  return rows.reverse();
}

/**
 * Rejected changes with the fields the rep typed and the reason, newest first.
 * @param {Db} db
 * @param {{customer_id?: string}} [filter]
 */
export async function listRejections(db, filter = {}) {
  const rows = filter.customer_id
    ? await db.getAllFromIndex("rejections", "customer_id", filter.customer_id)
    : await db.getAll("rejections");
  return rows.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

/**
 * @param {Db} db
 * @param {number} id
 */
export function dismissConflict(db, id) {
  return db.delete("conflicts", id);
}

/** @param {Db} db */
export async function attentionCount(db) {
  return (await db.count("conflicts")) + (await db.count("rejections"));
}

/**
 * One row as shown on the device (pending changes included), or undefined.
 * @param {Db} db
 * @param {string} entity
 * @param {string} id
 * @returns {Promise<Row|undefined>}
 */
export function getRow(db, entity, id) {
  checkEntity(entity);
  return db.get(entity, id);
}

/**
 * Rows of an entity, optionally by index (e.g. {index: "customer_id", query: id}).
 * Rows with a pending delete are left out unless `includeDeleted`.
 * @param {Db} db
 * @param {string} entity
 * @param {{index?: string, query?: any, includeDeleted?: boolean}} [options]
 * @returns {Promise<Row[]>}
 */
export async function listRows(db, entity, { index, query, includeDeleted = false } = {}) {
  checkEntity(entity);
  const rows = index ? await db.getAllFromIndex(entity, index, query) : await db.getAll(entity);
  return includeDeleted ? rows : rows.filter((row) => !row._deleted);
}

/**
 * A row without the device's bookkeeping (`_pending`, `_server`, `_deleted`).
 * @param {Row} row
 */
export function plainRow(row) {
  const { _pending, _server, _deleted, ...plain } = row;
  return plain;
}

/**
 * Make sure the briefcase belongs to `userId`. On first use it is claimed (and gets a
 * client id). For another user, an empty outbox means the briefcase is wiped and starts
 * over with a new client id; pending changes of the other user are never dropped: then
 * this returns false and nothing syncs until that user logs in again.
 * @param {Db} db
 * @param {string} userId
 * @returns {Promise<boolean>}
 */
export async function claimBriefcase(db, userId) {
  const tx = db.transaction([...ENTITY_STORES, "outbox", "meta", "conflicts", "rejections"], "readwrite");
  const meta = tx.objectStore("meta");
  const owner = await meta.get("user_id");
  let mine = true;
  if (owner && owner !== userId) {
    if ((await tx.objectStore("outbox").count()) > 0) {
      mine = false;
    } else {
      for (const name of [...ENTITY_STORES, "conflicts", "rejections"]) await tx.objectStore(name).clear();
      await meta.clear();
      await meta.put(userId, "user_id");
      await meta.put(newId(), "client_id");
      await meta.put(0, "last_mutation_id");
    }
  } else {
    if (!owner) await meta.put(userId, "user_id");
    if (!(await meta.get("client_id"))) await meta.put(newId(), "client_id");
  }
  await tx.done;
  return mine;
}
