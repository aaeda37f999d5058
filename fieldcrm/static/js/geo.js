// Pure geometry and timing helpers for the nearby list and the map: no DOM, no network,
// unit-tested with `node --test tests/js/`. Distances shown in lists come from the server
// (geodesic); the haversine here only decides whether the phone moved enough to ask again.

const EARTH_RADIUS_M = 6371008.8;

/**
 * @typedef {{lat: number, lon: number}} Point
 * @typedef {{lat: number, lon: number, at: number, accuracy?: number}} Fix  at: ms since epoch
 * @typedef {{south: number, west: number, north: number, east: number}} Box
 */

/**
 * Great-circle distance in metres (good to 0.5 %, enough to decide on refreshing).
 * @param {Point} a
 * @param {Point} b
 * @returns {number}
 */
export function haversineMetres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * "850 m" below one kilometre, else kilometres with one decimal ("1,2 km" in German),
 * the same rule as the server's format_distance.
 * @param {number} metres
 * @param {string} locale  e.g. "de" or "en"
 * @returns {string}
 */
export function formatDistance(metres, locale) {
  const whole = Math.round(metres);
  if (whole < 1000) {
    return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(whole)}\u00a0m`;
  }
  const km = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  return `${km.format(Math.round(metres / 100) / 10)}\u00a0km`;
}

/**
 * Whether a new position fix should refresh the list: always for the first fix; after
 * moving `minMetres` (200 m); or, once `maxAgeMs` (60 s) have passed, after any movement
 * larger than the fix's own uncertainty (at least `jitterMetres`), so a parked car with a
 * wandering GPS does not reload the list every few seconds.
 * @param {Fix | null} last  the fix the list was last loaded for
 * @param {Fix} next
 * @param {{minMetres?: number, maxAgeMs?: number, jitterMetres?: number}} [options]
 * @returns {boolean}
 */
export function shouldRefresh(last, next, options = {}) {
  const { minMetres = 200, maxAgeMs = 60_000, jitterMetres = 25 } = options;
  if (!last) return true;
  const moved = haversineMetres(last, next);
  if (moved >= minMetres) return true;
  const noise = Math.max(jitterMetres, next.accuracy ?? 0);
  return next.at - last.at >= maxAgeMs && moved > noise;
}

/**
 * A box clamped to the globe: Leaflet's bounds can run past ±180° when the world repeats.
 * @param {Box} box
 * @returns {Box}
 */
export function clampBox(box) {
  const clamp = (v, limit) => Math.min(limit, Math.max(-limit, v));
  const wide = box.east - box.west >= 360;
  return {
    south: clamp(box.south, 90),
    west: wide ? -180 : clamp(box.west, 180),
    north: clamp(box.north, 90),
    east: wide ? 180 : clamp(box.east, 180),
  };
}

/**
 * The box grown by `ratio` of its size on every side (then clamped), so that small pans
 * stay inside what was already loaded.
 * @param {Box} box
 * @param {number} ratio  0.25 adds a quarter of the height above and below, etc.
 * @returns {Box}
 */
export function padBox(box, ratio) {
  const dLat = (box.north - box.south) * ratio;
  const dLon = (box.east - box.west) * ratio;
  return clampBox({
    south: box.south - dLat, west: box.west - dLon, north: box.north + dLat, east: box.east + dLon,
  });
}

/**
 * Whether `inner` lies completely inside `outer`.
 * @param {Box | null} outer
 * @param {Box} inner
 * @returns {boolean}
 */
export function boxContains(outer, inner) {
  return !!outer && inner.south >= outer.south && inner.north <= outer.north &&
    inner.west >= outer.west && inner.east <= outer.east;
}

/**
 * The `bbox` query value "south,west,north,east", clamped to the globe, 5 decimals (1 m).
 * @param {Box} box
 * @returns {string}
 */
export function bboxParam(box) {
  const b = clampBox(box);
  return [b.south, b.west, b.north, b.east].map((v) => Number(v.toFixed(5))).join(",");
}

/**
 * Call `fn` once calls have stopped for `ms`; `.cancel()` drops a pending call.
 * @template {(...args: any[]) => void} F
 * @param {F} fn
 * @param {number} ms
 * @returns {F & {cancel: () => void}}
 */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  debounced.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return /** @type {any} */ (debounced);
}
