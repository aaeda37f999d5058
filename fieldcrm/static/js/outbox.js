// Pushing the outbox: batches of consecutive mutation ids from the lowest waiting one,
// each response taken in with one IndexedDB transaction (db.acknowledge). Failures that
// concern the batch are repaired here (gap, too large, a mutation this server cannot
// read); everything else (offline, 5xx, 401) is thrown to sync.js, which retries.
import { HttpError } from "./api.js";
import { acknowledge, getMeta, newId, readOutbox, renumberOutbox, setAside } from "./db.js";
import { MAX_BATCH, classifyFailure, nextBatch, planNumbering, shrinkBatch, wireMutation } from "./syncLogic.js";

/** @typedef {import("./db.js").Db} Db */
/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./syncLogic.js").OutboxEntry} OutboxEntry */

const MAX_GAP_REPAIRS = 3;

/**
 * Make the outbox's numbering acceptable to the server (see syncLogic.planNumbering).
 * @param {Db} db
 */
async function checkNumbering(db) {
  const pendingIds = /** @type {number[]} */ (await db.getAllKeys("outbox"));
  const plan = planNumbering({
    pendingIds,
    localLast: (await getMeta(db, "last_mutation_id")) ?? 0,
    serverLast: (await getMeta(db, "server_last_mutation_id")) ?? null,
  });
  if (plan.action === "new_client") await renumberOutbox(db, 1, { clientId: newId() });
  else if (plan.action === "renumber") await renumberOutbox(db, plan.start);
}

/**
 * Take a mutation the server cannot accept out of the queue, keeping it as a rejection.
 * An empty push tells the server's last id: if it already processed this id (a replay
 * that no longer parses), it is simply done; otherwise the rest are renumbered from
 * server last + 1, as the server never saw them.
 * @param {Db} db
 * @param {Api} api
 * @param {OutboxEntry} m
 * @param {string} clientId
 * @param {{reason: string, details?: object}} why
 */
async function takeOut(db, api, m, clientId, why) {
  const { last_mutation_id: last } = await api.push({ client_id: clientId, mutations: [] });
  if (last >= m.id) {
    await acknowledge(db, [m], { last_mutation_id: last, results: [
      { id: m.id, status: "duplicate", entity_id: m.entity_id, version: null }] }, { clientId });
    return;
  }
  await setAside(db, m, why);
  await renumberOutbox(db, last + 1, { serverLast: last });
}

/**
 * @typedef {{pushed: number, conflicts: number, rejected: number, entities: Set<string>}} FlushSummary
 */

/**
 * Push everything in the outbox, oldest first.
 * @param {Db} db
 * @param {Api} api
 * @param {{maxBatch?: number}} [options]
 * @returns {Promise<FlushSummary>}
 * @throws {HttpError|import("./api.js").NetworkError} when the sync should stop and retry later
 */
export async function flush(db, api, { maxBatch = MAX_BATCH } = {}) {
  /** @type {FlushSummary} */
  const summary = { pushed: 0, conflicts: 0, rejected: 0, entities: new Set() };
  let size = maxBatch;
  let nextOnly = 0;  // send only the mutations before a malformed one, once
  let gapRepairs = 0;
  for (;;) {
    await checkNumbering(db);
    const batch = nextBatch(await readOutbox(db, nextOnly || size), nextOnly || size);
    nextOnly = 0;
    if (!batch.length) return summary;
    const clientId = await getMeta(db, "client_id");
    let response;
    try {
      response = await api.push({ client_id: clientId, mutations: batch.map(wireMutation) });
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      const kind = classifyFailure(error);
      const index = error.body?.error?.index;
      if (kind === "too_large") {
        const smaller = shrinkBatch(batch.length);
        if (smaller) size = smaller;
        else await takeOut(db, api, batch[0], clientId, { reason: "too_large" });
        continue;
      }
      if (kind === "gap" && gapRepairs < MAX_GAP_REPAIRS) {
        gapRepairs += 1;
        const last = Number(error.body.error.last_mutation_id);
        await renumberOutbox(db, last + 1, { serverLast: last });
        continue;
      }
      if (kind === "bad_mutation" && Number.isInteger(index) && index >= 0 && index < batch.length) {
        if (index > 0) nextOnly = index;
        else await takeOut(db, api, batch[0], clientId, {
          reason: error.code, details: { message: error.message, ...(error.body?.error ?? {}) } });
        continue;
      }
      throw error;
    }
    const taken = await acknowledge(db, batch, response, { clientId });
    summary.pushed += batch.length;
    summary.conflicts += taken.conflicts;
    summary.rejected += taken.rejected;
    taken.entities.forEach((name) => summary.entities.add(name));
  }
}
