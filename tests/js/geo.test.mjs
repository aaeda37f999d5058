// Pure helpers of the nearby list and the map (fieldcrm/static/js/geo.js).
import assert from "node:assert/strict";
import { mock, test } from "node:test";

import {
  bboxParam, boxContains, clampBox, debounce, formatDistance, haversineMetres, padBox, shouldRefresh,
} from "../../fieldcrm/static/js/geo.js";

const RATHAUS = { lat: 53.5503, lon: 9.9925 };
const NBSP = "\u00a0";

test("haversine is close to the geodesic distance", () => {
  // Geodesic (WGS84) Hamburg Rathaus → Altona fish market: 2732.7 m; the sphere is within 0.5 %.
  const metres = haversineMetres(RATHAUS, { lat: 53.5446, lon: 9.9524 });
  assert.ok(Math.abs(metres - 2732.7) < 2732.7 * 0.005, String(metres));
  assert.equal(haversineMetres(RATHAUS, RATHAUS), 0);
});

test("distances: metres below one kilometre, else km with one decimal, per locale", () => {
  assert.equal(formatDistance(850.4, "de"), `850${NBSP}m`);
  assert.equal(formatDistance(0, "en"), `0${NBSP}m`);
  assert.equal(formatDistance(999.4, "de"), `999${NBSP}m`);
  assert.equal(formatDistance(999.6, "de"), `1,0${NBSP}km`);
  assert.equal(formatDistance(1234, "de"), `1,2${NBSP}km`);
  assert.equal(formatDistance(1250, "de"), `1,3${NBSP}km`);
  assert.equal(formatDistance(1234, "en"), `1.2${NBSP}km`);
  assert.equal(formatDistance(1_234_567, "de"), `1.234,6${NBSP}km`);
  assert.equal(formatDistance(1_234_567, "en"), `1,234.6${NBSP}km`);
});

test("the first fix always loads the list", () => {
  assert.equal(shouldRefresh(null, { ...RATHAUS, at: 0 }), true);
});

test("moving 200 m reloads at once, 150 m does not", () => {
  const last = { ...RATHAUS, at: 0 };
  const north = (metres) => ({ lat: RATHAUS.lat + metres / 111_200, lon: RATHAUS.lon, at: 5_000, accuracy: 10 });
  assert.equal(shouldRefresh(last, north(205)), true);
  assert.equal(shouldRefresh(last, north(150)), false);
});

test("after a minute, real movement reloads but GPS jitter does not", () => {
  const last = { ...RATHAUS, at: 0 };
  const moved = (metres, at, accuracy) => ({ lat: RATHAUS.lat + metres / 111_200, lon: RATHAUS.lon, at, accuracy });
  assert.equal(shouldRefresh(last, moved(60, 59_000, 10)), false, "not yet a minute");
  assert.equal(shouldRefresh(last, moved(60, 61_000, 10)), true, "a minute and 60 m");
  assert.equal(shouldRefresh(last, moved(15, 600_000, 10)), false, "parked: jitter only");
  assert.equal(shouldRefresh(last, moved(60, 61_000, 80)), false, "inside the fix's uncertainty");
});

test("thresholds can be changed", () => {
  const last = { ...RATHAUS, at: 0 };
  const next = { lat: RATHAUS.lat + 0.001, lon: RATHAUS.lon, at: 1_000 };
  assert.equal(shouldRefresh(last, next, { minMetres: 100 }), true);
  assert.equal(shouldRefresh(last, next, { minMetres: 500, maxAgeMs: 500 }), true);
  assert.equal(shouldRefresh(last, next, { minMetres: 500 }), false);
});

test("bbox parameter is south,west,north,east rounded to 5 decimals", () => {
  assert.equal(bboxParam({ south: 53.4, west: 9.712345678, north: 53.7, east: 10.2 }), "53.4,9.71235,53.7,10.2");
});

test("bbox is clamped to the globe, also when the world repeats", () => {
  assert.equal(bboxParam({ south: -95, west: -200, north: 95, east: 10 }), "-90,-180,90,10");
  assert.deepEqual(clampBox({ south: 0, west: -400, north: 10, east: 400 }),
    { south: 0, west: -180, north: 10, east: 180 });
  assert.deepEqual(clampBox({ south: 0, west: 100, north: 10, east: 470 }),
    { south: 0, west: -180, north: 10, east: 180 });
});

test("padding grows the box on every side and stays on the globe", () => {
  assert.deepEqual(padBox({ south: 50, west: 8, north: 52, east: 12 }, 0.25),
    { south: 49.5, west: 7, north: 52.5, east: 13 });
  assert.deepEqual(padBox({ south: 80, west: 170, north: 89, east: 179 }, 0.5),
    { south: 75.5, west: 165.5, north: 90, east: 180 });
});

test("box containment", () => {
  const outer = { south: 50, west: 8, north: 52, east: 12 };
  assert.equal(boxContains(outer, { south: 50.5, west: 9, north: 51.5, east: 11 }), true);
  assert.equal(boxContains(outer, outer), true);
  assert.equal(boxContains(outer, { south: 49.9, west: 9, north: 51.5, east: 11 }), false);
  assert.equal(boxContains(outer, { south: 50.5, west: 9, north: 51.5, east: 12.1 }), false);
  assert.equal(boxContains(null, outer), false);
});

test("debounce calls once, with the last arguments, after the quiet time", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const calls = [];
    const debounced = debounce((...args) => calls.push(args), 250);
    debounced(1);
    mock.timers.tick(100);
    debounced(2);
    mock.timers.tick(249);
    assert.deepEqual(calls, []);
    mock.timers.tick(1);
    assert.deepEqual(calls, [[2]]);
    debounced(3);
    debounced.cancel();
    mock.timers.tick(1000);
    assert.deepEqual(calls, [[2]]);
  } finally {
    mock.timers.reset();
  }
});
