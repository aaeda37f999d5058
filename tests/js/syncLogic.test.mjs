// Pure decisions of the offline sync (fieldcrm/static/js/syncLogic.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  backoffDelay, classifyFailure, confirmMutation, describeStatus, formatAgo, isNewer, nextBatch,
  overlay, parseRetryAfter, planNumbering, retryDelay, serverRowOf, shrinkBatch, wireMutation,
} from "../../fieldcrm/static/js/syncLogic.js";

const CUSTOMER = "7b0c5a7e-3a2f-4c55-9a53-0d8f3f0b8c11";

/** @returns {import("../../fieldcrm/static/js/syncLogic.js").OutboxEntry} */
function mutation(id, fields, extra = {}) {
  return { id, entity: "customer", op: "upsert", entity_id: CUSTOMER, base_version: 7,
    changed_at: "2026-11-23T10:00:00.000Z", fields, customer_id: CUSTOMER, ...extra };
}

test("backoff doubles per attempt, keeps half of each step fixed, and is capped", () => {
  const low = { random: () => 0 };
  const high = { random: () => 0.999999 };
  assert.equal(backoffDelay(1, low), 1000);
  assert.equal(backoffDelay(1, high), 2000);
  assert.equal(backoffDelay(2, low), 2000);
  assert.equal(backoffDelay(4, high), 16000);
  assert.equal(backoffDelay(30, low), 150_000);
  assert.equal(backoffDelay(30, high), 300_000);
  for (let attempt = 1; attempt < 40; attempt += 1) {
    const delay = backoffDelay(attempt);
    assert.ok(delay >= 1000 && delay <= 300_000, `${attempt}: ${delay}`);
  }
});

test("jitter spreads a fleet of phones over the step", () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5)));
  assert.ok(delays.size > 40);
});

test("Retry-After is a floor, in seconds or as a date", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter("Mon, 23 Nov 2026 10:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Mon, 23 Nov 2026 09:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(retryDelay(1, 60_000, { random: () => 0 }), 60_000);
  assert.equal(retryDelay(1, null, { random: () => 0 }), 1000);
});

test("a batch is the consecutive run from the lowest id, at most max long", () => {
  const ids = (list) => list.map((m) => m.id);
  const outbox = [4, 5, 6, 7, 8].map((id) => ({ id }));
  assert.deepEqual(ids(nextBatch(outbox, 1000)), [4, 5, 6, 7, 8]);
  assert.deepEqual(ids(nextBatch(outbox, 2)), [4, 5]);
  assert.deepEqual(ids(nextBatch([{ id: 1 }, { id: 2 }, { id: 5 }], 10)), [1, 2]);
  assert.deepEqual(nextBatch([], 10), []);
});

test("a 413 halves the batch down to one mutation, then sets that one aside", () => {
  const sizes = [];
  for (let size = 1000; size; size = shrinkBatch(size)) sizes.push(size);
  assert.deepEqual(sizes, [1000, 500, 250, 125, 62, 31, 15, 7, 3, 1]);
  assert.equal(shrinkBatch(1), null);
});

test("numbering: a gap renumbers from server last + 1", () => {
  assert.deepEqual(planNumbering({ pendingIds: [8, 9, 10], localLast: 10, serverLast: 4 }),
    { action: "renumber", start: 5 });
  assert.deepEqual(planNumbering({ pendingIds: [5, 6], localLast: 6, serverLast: 4 }), { action: "ok" });
  // Replays (ids at or below the server's last) are fine: the server answers "duplicate".
  assert.deepEqual(planNumbering({ pendingIds: [3, 4, 5], localLast: 5, serverLast: 4 }), { action: "ok" });
  assert.deepEqual(planNumbering({ pendingIds: [1, 2], localLast: 2, serverLast: null }), { action: "ok" });
});

test("numbering: a device behind the server takes a new client id", () => {
  // New ids would look like replays and be skipped as duplicates: never reuse them.
  assert.deepEqual(planNumbering({ pendingIds: [3], localLast: 3, serverLast: 9 }), { action: "new_client" });
  assert.deepEqual(planNumbering({ pendingIds: [], localLast: 0, serverLast: 2 }), { action: "new_client" });
});

test("numbering: a hole in the outbox is closed", () => {
  assert.deepEqual(planNumbering({ pendingIds: [5, 6, 9], localLast: 9, serverLast: 4 }),
    { action: "renumber", start: 5 });
  assert.deepEqual(planNumbering({ pendingIds: [], localLast: 4, serverLast: 4 }), { action: "ok" });
});

test("failures are classified as the sync must treat them", () => {
  assert.equal(classifyFailure({ network: true }), "offline");
  assert.equal(classifyFailure({ status: 401 }), "auth");
  assert.equal(classifyFailure({ status: 403, code: "forbidden" }), "auth");
  assert.equal(classifyFailure({ status: 403, code: "foreign_client" }), "foreign");
  assert.equal(classifyFailure({ status: 400, code: "csrf_failed" }), "csrf");
  assert.equal(classifyFailure({ status: 409, code: "mutation_gap" }), "gap");
  assert.equal(classifyFailure({ status: 413, code: "batch_too_large" }), "too_large");
  assert.equal(classifyFailure({ status: 400, code: "unknown_field" }), "bad_mutation");
  assert.equal(classifyFailure({ status: 400, code: "invalid_mutation" }), "bad_mutation");
  for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(classifyFailure({ status }), "retry");
  assert.equal(classifyFailure({ status: 400, code: "not_consecutive" }), "fatal");
});

test("the wire mutation has exactly the contract's keys", () => {
  const wire = wireMutation(mutation(3, { phone: "+49 40 1" }));
  assert.deepEqual(Object.keys(wire).sort(),
    ["base_version", "changed_at", "entity", "entity_id", "fields", "id", "op"]);
  assert.equal(wireMutation({ ...mutation(4, undefined), base_version: null }).base_version, null);
  assert.deepEqual(wireMutation({ ...mutation(4, undefined) }).fields, {});
});

test("overlay lays pending fields over the server row, in order, and marks it", () => {
  const server = { id: CUSTOMER, version: 7, name: "Bäckerei Müller", phone: "+49 40 111", city: "Hamburg" };
  const row = overlay(server, [mutation(1, { phone: "+49 40 222" }), mutation(2, { phone: "+49 40 333", city: "Altona" })]);
  assert.equal(row.phone, "+49 40 333");
  assert.equal(row.city, "Altona");
  assert.equal(row.name, "Bäckerei Müller");
  assert.equal(row.version, 7);
  assert.equal(row._pending, true);
  assert.deepEqual(row._server, server);
  assert.deepEqual(serverRowOf(row), server);
  assert.equal(overlay(server, []), server);
  assert.equal(serverRowOf(server), server);
  assert.equal(overlay(null, []), null);
});

test("overlay of a new row and of a pending delete", () => {
  const created = overlay(null, [mutation(1, { name: "Neu GmbH" }, { base_version: null })]);
  assert.deepEqual(created, { id: CUSTOMER, version: null, name: "Neu GmbH", _pending: true, _server: null });
  assert.equal(serverRowOf(created), null);
  const gone = overlay({ id: CUSTOMER, version: 3, name: "Alt" }, [mutation(2, {}, { op: "delete" })]);
  assert.equal(gone._deleted, true);
});

test("a confirmed mutation becomes the server's row; a lost conflict keeps theirs", () => {
  const server = { id: CUSTOMER, version: 7, phone: "+49 40 111", email: "a@example.com" };
  const applied = confirmMutation(server, mutation(1, { phone: "+49 40 222" }),
    { id: 1, status: "applied", entity_id: CUSTOMER, version: 12 });
  assert.deepEqual(applied, { id: CUSTOMER, version: 12, phone: "+49 40 222", email: "a@example.com" });
  const lost = confirmMutation(server, mutation(2, { phone: "+49 40 333", email: "b@example.com" }), {
    id: 2, status: "conflict", entity_id: CUSTOMER, version: 13,
    conflicts: [{ field: "phone", yours: "+49 40 333", theirs: "+49 40 999", kept: "theirs" }],
  });
  assert.equal(lost.phone, "+49 40 999");
  assert.equal(lost.email, "b@example.com");
  assert.equal(lost.version, 7, "the device has not seen the whole row at version 13");
  const merged = confirmMutation(server, mutation(6, { email: "c@example.com" }),
    { id: 6, status: "merged", entity_id: CUSTOMER, version: 14 });
  assert.equal(merged.version, 7);
  const created = confirmMutation(null, mutation(3, { name: "Neu" }, { base_version: null }),
    { id: 3, status: "applied", entity_id: CUSTOMER, version: 20 });
  assert.deepEqual(created, { id: CUSTOMER, name: "Neu", version: 20 });
  assert.equal(confirmMutation(server, mutation(4, {}, { op: "delete" }),
    { id: 4, status: "applied", entity_id: CUSTOMER, version: 21 }), null);
  const replay = confirmMutation(server, mutation(5, { city: "Kiel" }),
    { id: 5, status: "duplicate", entity_id: CUSTOMER, version: null });
  assert.equal(replay.version, 7);
});

test("a pulled row never replaces a newer one", () => {
  assert.ok(isNewer(null, 3));
  assert.ok(isNewer({ version: null }, 3));
  assert.ok(isNewer({ version: 3 }, 3));
  assert.ok(!isNewer({ version: 9 }, 3));
});

const EN = {
  synced: "Synced {ago}", syncedNow: "Synced just now", never: "Not synced yet", offline: "Offline",
  syncing: "Syncing…", retrying: "Sync failed, trying again soon", login: "Log in again to sync",
  foreign: "Changes of another user are waiting", waitingOne: "{count} change waiting",
  waitingOther: "{count} changes waiting", attentionOne: "{count} needs your attention",
  attentionOther: "{count} need your attention",
};
const DE = { ...EN, synced: "Synchronisiert {ago}", offline: "Offline",
  waitingOne: "{count} Änderung wartet", waitingOther: "{count} Änderungen warten" };

test("the status line says when it last synced and what is waiting", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  const state = { phase: "idle", pending: 3, attention: 0, lastSyncedAt: "2026-11-23T09:58:00Z" };
  const context = { now, locale: "en" };
  assert.equal(describeStatus(state, EN, context).text, "Synced 2 minutes ago · 3 changes waiting");
  assert.equal(describeStatus({ ...state, pending: 0 }, EN, context).text, "Synced 2 minutes ago");
  assert.equal(describeStatus({ ...state, phase: "offline", pending: 1 }, EN, context).text, "Offline · 1 change waiting");
  assert.equal(describeStatus({ ...state, phase: "offline" }, EN, context).tone, "offline");
  assert.equal(describeStatus({ ...state, phase: "syncing", pending: 0 }, EN, context).text, "Syncing…");
  assert.equal(describeStatus({ ...state, lastSyncedAt: "2026-11-23T09:59:30Z", pending: 0 }, EN, context).text, "Synced just now");
  assert.equal(describeStatus({ ...state, lastSyncedAt: null, pending: 0 }, EN, context).text, "Not synced yet");
  const auth = describeStatus({ ...state, phase: "auth", pending: 2 }, EN, context);
  assert.equal(auth.text, "Log in again to sync · 2 changes waiting");
  assert.equal(auth.login, true);
  assert.equal(auth.tone, "error");
  const attention = describeStatus({ ...state, pending: 0, attention: 1 }, EN, context);
  assert.equal(attention.text, "Synced 2 minutes ago · 1 needs your attention");
  assert.equal(attention.tone, "warn");
});

test("the status line speaks German with German numbers and times", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  const state = { phase: "idle", pending: 1200, attention: 0, lastSyncedAt: "2026-11-23T07:00:00Z" };
  assert.equal(describeStatus(state, DE, { now, locale: "de" }).text,
    "Synchronisiert vor 3 Stunden · 1.200 Änderungen warten");
  assert.equal(describeStatus({ ...state, pending: 1 }, DE, { now, locale: "de" }).text,
    "Synchronisiert vor 3 Stunden · 1 Änderung wartet");
  assert.equal(formatAgo(26 * 3_600_000, "de"), "gestern");
  assert.equal(formatAgo(30_000, "en"), "1 minute ago");
});
