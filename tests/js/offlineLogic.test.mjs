// Pure helpers of the offline screens (fieldcrm/static/js/offlineLogic.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  birthdayInDays, conflictText, dueDays, lineEstimate, matchesSearch, nearestRows, topProducts,
  upcomingPlanned,
} from "../../fieldcrm/static/js/offlineLogic.js";

const NOW = new Date("2026-11-23T10:00:00Z");

test("due: own interval first, else the class's; never visited is due", () => {
  assert.equal(dueDays({ visit_interval_days: 7, last_visited_at: "2026-11-20T10:00:00Z" }, NOW), undefined);
  assert.equal(dueDays({ visit_interval_days: 7, last_visited_at: "2026-11-16T10:00:00Z" }, NOW), 0);
  assert.equal(dueDays({ abc_class: "A", last_visited_at: "2026-11-01T09:00:00Z" }, NOW), 8);
  assert.equal(dueDays({ abc_class: "C", last_visited_at: "2026-11-01T09:00:00Z" }, NOW), undefined);
  assert.equal(dueDays({ abc_class: "B", last_visited_at: null }, NOW), null);
  assert.equal(dueDays({ abc_class: null, visit_interval_days: null }, NOW), undefined);
});

test("search matches every word in name, city or postal code, any case", () => {
  const customer = { name: "Bäckerei Müller GmbH", city: "Hamburg", postal_code: "20095" };
  assert.ok(matchesSearch(customer, ""));
  assert.ok(matchesSearch(customer, "müller hamb"));
  assert.ok(matchesSearch(customer, "2009"));
  assert.ok(!matchesSearch(customer, "müller berlin"));
});

test("nearest: by distance, without the customers that have no position, at most the limit", () => {
  const here = { lat: 53.5503, lon: 9.9925 };
  const rows = nearestRows([
    { id: "far", lat: 53.6, lon: 10.1 }, { id: "none", lat: null, lon: null },
    { id: "near", lat: 53.551, lon: 9.993 }, { id: "mid", lat: 53.56, lon: 10.0 },
  ], here, 2);
  assert.deepEqual(rows.map((r) => r.customer.id), ["near", "mid"]);
  assert.ok(rows[0].distance < rows[1].distance);
});

test("line estimate rounds to cents and survives bad input", () => {
  assert.equal(lineEstimate("12.34", "3"), 37.02);
  assert.equal(lineEstimate("0.10", "0.5"), 0.05);
  assert.equal(lineEstimate("abc", "1"), 0);
});

test("conflict notices name the field and both values, by who won", () => {
  const strings = { conflict: "{field}: yours “{yours}” lost to “{theirs}”", conflictKept: "{field}: yours “{yours}” kept over “{theirs}”" };
  const labels = { phone: "Phone" };
  assert.equal(conflictText({ field: "phone", yours: "1", theirs: "2", kept: "theirs" }, strings, labels),
    "Phone: yours “1” lost to “2”");
  assert.equal(conflictText({ field: "fax", yours: null, theirs: "2", kept: "yours" }, strings, labels),
    "fax: yours “—” kept over “2”");
});

test("birthday hint: today, within two weeks, across the new year, not beyond", () => {
  const today = new Date(2026, 11, 28);
  assert.equal(birthdayInDays("1980-12-28", today), 0);
  assert.equal(birthdayInDays("1975-01-05", today), 8);
  assert.equal(birthdayInDays("1990-02-01", today), null);
  assert.equal(birthdayInDays(null, today), null);
});

test("top products: by the number of orders, cancelled ones left out", () => {
  const orders = [
    { status: "submitted", lines: [{ product_id: "a" }, { product_id: "b" }] },
    { status: "confirmed", lines: [{ product_id: "b" }, { product_id: "b" }] },
    { status: "cancelled", lines: [{ product_id: "c" }, { product_id: "c" }] },
  ];
  assert.deepEqual(topProducts(orders), ["b", "a"]);
});

test("planned visits: ahead or missed within a day, not checked in, soonest first", () => {
  const visits = [
    { id: "later", planned_at: "2026-11-30T09:00:00Z" },
    { id: "done", planned_at: "2026-11-24T09:00:00Z", checked_in_at: "2026-11-24T09:05:00Z" },
    { id: "soon", planned_at: "2026-11-24T08:00:00Z" },
    { id: "missed-today", planned_at: "2026-11-23T08:00:00Z" },
    { id: "long-ago", planned_at: "2026-11-20T08:00:00Z" },
    { id: "visit", checked_in_at: "2026-11-23T09:00:00Z" },
    { id: "gone", planned_at: "2026-11-25T08:00:00Z", deleted: true },
  ];
  assert.deepEqual(upcomingPlanned(visits, NOW).map((v) => v.id), ["missed-today", "soon", "later"]);
});
