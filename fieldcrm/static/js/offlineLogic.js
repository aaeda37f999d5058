// Pure functions behind the offline screens (static/js/offline.js), tested with node --test.
import { haversineMetres } from "./geo.js";

/** Visit interval by ABC class when a customer has none of its own (the server's defaults). */
export const CLASS_INTERVAL_DAYS = Object.freeze({ A: 14, B: 30, C: 90 });
const DAY_MS = 86_400_000;

/**
 * Days overdue for a visit: undefined = not due, null = due and never visited, 0 = due today.
 * @param {{visit_interval_days?: number|null, abc_class?: string|null, last_visited_at?: string|null}} customer
 * @param {Date} now
 */
export function dueDays(customer, now) {
  const interval = customer.visit_interval_days ?? CLASS_INTERVAL_DAYS[customer.abc_class ?? ""];
  if (!interval) return undefined;
  if (!customer.last_visited_at) return null;
  const dueAt = Date.parse(customer.last_visited_at) + interval * DAY_MS;
  if (Number.isNaN(dueAt) || dueAt > now.getTime()) return undefined;
  return Math.floor((now.getTime() - dueAt) / DAY_MS);
}

/**
 * Does a customer match the search text (name, city or postal code, any case)?
 * @param {{name?: string, city?: string, postal_code?: string}} customer
 * @param {string} text
 */
export function matchesSearch(customer, text) {
  const words = String(text ?? "").toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const haystack = [customer.name, customer.city, customer.postal_code].join(" ").toLocaleLowerCase();
  return words.every((word) => haystack.includes(word));
}

/**
 * The `limit` customers nearest to `here` (customers without coordinates left out).
 * @template {{lat?: number|null, lon?: number|null}} C
 * @param {C[]} customers
 * @param {{lat: number, lon: number}} here
 * @param {number} limit
 * @returns {{customer: C, distance: number}[]}
 */
export function nearestRows(customers, here, limit) {
  return customers
    .filter((c) => c.lat != null && c.lon != null)
    .map((customer) => ({ customer, distance: haversineMetres(here, customer) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, limit);
}

/**
 * A line's net value as an estimate on the device (the server prices with Decimal).
 * @param {string|number} netPrice
 * @param {string|number} quantity
 */
export function lineEstimate(netPrice, quantity) {
  const value = Number(netPrice) * Number(quantity);
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : 0;
}

/**
 * The notice of one sync conflict: which field, what the rep typed, what the server kept.
 * @param {{field: string, yours: any, theirs: any, kept: "yours"|"theirs"}} conflict
 * @param {{conflict: string, conflictKept: string}} strings  translated, with {field} {yours} {theirs}
 * @param {Record<string, string>} labels  field labels
 */
export function conflictText(conflict, strings, labels) {
  const values = { field: labels[conflict.field] ?? conflict.field,
    yours: conflict.yours ?? "—", theirs: conflict.theirs ?? "—" };
  const text = conflict.kept === "theirs" ? strings.conflict : strings.conflictKept;
  return String(text ?? "").replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

/**
 * Days until the next birthday (0 = today), or null when none is set or it is more than
 * `within` days away. `birthday` is an ISO date; 29 February counts as 1 March in other years.
 * @param {string|null|undefined} birthday
 * @param {Date} today  local midnight of the day to count from
 * @param {number} within
 */
export function birthdayInDays(birthday, today, within = 14) {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(birthday ?? "");
  if (!match) return null;
  const [month, day] = [Number(match[2]) - 1, Number(match[3])];
  for (const year of [today.getFullYear(), today.getFullYear() + 1]) {
    const next = new Date(year, month, day);
    const days = Math.round((next.getTime() - today.getTime()) / DAY_MS);
    if (days >= 0) return days <= within ? days : null;
  }
  return null;
}

/**
 * The products a customer orders most often (by number of orders), most first.
 * @param {{status?: string, lines?: {product_id: string}[]}[]} orders
 * @param {number} limit
 * @returns {string[]} product ids
 */
export function topProducts(orders, limit = 3) {
  const counts = new Map();
  for (const order of orders) {
    if (order.status === "cancelled") continue;
    for (const id of new Set((order.lines ?? []).map((line) => line.product_id))) {
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
    .slice(0, limit).map(([id]) => id);
}

/**
 * The planned visits still ahead (or missed within the last day), soonest first:
 * planned, not checked in, not deleted.
 * @param {object[]} visits briefcase rows of one customer
 * @param {Date} now
 * @returns {object[]}
 */
export function upcomingPlanned(visits, now) {
  const from = now.getTime() - 24 * 3600 * 1000;
  return visits
    .filter((v) => v.planned_at && !v.checked_in_at && !v.deleted && new Date(v.planned_at).getTime() >= from)
    .sort((a, b) => new Date(a.planned_at) - new Date(b.planned_at));
}
