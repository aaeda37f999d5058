// The offline screens: when the service worker shows the app shell (no network), this
// module renders the page at location.pathname from the briefcase (IndexedDB): the nearby
// list, the customer list, and the customer page with check-in/out, notes, orders,
// follow-ups and field edits. Every change goes through sync.js recordChange (row and
// outbox in one transaction) and is sent when the network returns. Markup and translated
// strings come from the server-rendered <template>s in pwa/_screens.html.
import { dismissConflict, getRow, listConflicts, listRejections, listRows, newId, openDb } from "./db.js";
import { formatDistance, haversineMetres } from "./geo.js";
import { recordChange } from "./sync.js";
import {
  birthdayInDays, conflictText, dueDays, lineEstimate, matchesSearch, nearestRows, topProducts,
  upcomingPlanned,
} from "./offlineLogic.js";

const NEAREST = 20;
const ACTIVITY_LIMIT = 30;
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

const screen = document.getElementById("offline-screen");
const stringsEl = document.getElementById("offline-strings");
const S = { ...(stringsEl?.dataset ?? {}) };
const LABELS = {
  fields: JSON.parse(S.labels ?? "{}"), statuses: JSON.parse(S.statuses ?? "{}"),
  outcomes: JSON.parse(S.outcomes ?? "{}"), channels: JSON.parse(S.channels ?? "{}"),
};
const NOTICE_STRINGS = { ...(document.getElementById("sync-notices")?.dataset ?? {}) };
const ACTIONS = { ...(document.getElementById("offline-action-labels")?.dataset ?? {}) };
const locale = document.documentElement.lang || navigator.language || "en";
const userId = document.getElementById("sync-status")?.dataset.userId ?? "";

/** "{name}" placeholders of a translated string filled in. */
function fill(text, values) {
  return String(text ?? "").replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

/** A clone of <template id=tpl-…> */
function clone(name) {
  return document.getElementById(`tpl-${name}`).content.cloneNode(true);
}

/** @param {ParentNode} root */
function slot(root, name) {
  return root.querySelector(`[data-slot="${name}"]`);
}

function when(iso) {
  return iso ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso)) : "";
}

function badge(text, className = "") {
  const span = document.createElement("span");
  span.className = `badge ${className}`.trim();
  span.textContent = text;
  return span;
}

function pendingBadge(row) {
  return row?._pending ? badge(S.pending, "pending") : null;
}

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve(null), { enableHighAccuracy: true, timeout: 8000, maximumAge: 60_000 });
  });
}

function dueBadge(customer, now) {
  const days = dueDays(customer, now);
  if (days === undefined) return null;
  if (days === null) return badge(S.dueNever, "due");
  if (days === 0) return badge(S.dueToday, "due");
  return badge(fill(S.overdue, { n: days }), "due overdue");
}

function customerRow(customer, distance, now) {
  const row = clone("offline-row");
  row.querySelector("li").dataset.customerId = customer.id;
  slot(row, "link").href = `/customers/${customer.id}`;
  slot(row, "name").textContent = customer.name;
  slot(row, "address").textContent = [customer.postal_code, customer.city].filter(Boolean).join(" ");
  const badges = slot(row, "badges");
  badges.append(badge(LABELS.statuses[customer.status] ?? customer.status, `status-${customer.status}`));
  if (customer.abc_class) badges.append(badge(customer.abc_class, "abc"));
  for (const extra of [dueBadge(customer, now), pendingBadge(customer)]) if (extra) badges.append(extra);
  if (distance !== undefined) slot(row, "distance").textContent = formatDistance(distance, locale);
  return row;
}

/** Nearby (the home screen) and the customer list: both from the briefcase. */
async function listScreen(mode) {
  const db = await openDb();
  const view = clone("offline-list");
  slot(view, "title").textContent = mode === "nearby" ? ACTIONS.nearby : ACTIONS.customers;
  const search = slot(view, "search");
  const rowsEl = slot(view, "rows");
  screen.replaceChildren(view);
  const customers = await listRows(db, "customer");
  const here = mode === "nearby" ? await position() : null;
  if (mode === "nearby" && !here) slot(screen, "hint").textContent = S.noGps;
  const render = () => {
    const now = new Date();
    const found = customers.filter((c) => matchesSearch(c, search.value));
    const ranked = here ? nearestRows(found, here, NEAREST) : found
      .sort((a, b) => a.name.localeCompare(b.name, locale)).map((customer) => ({ customer }));
    rowsEl.replaceChildren(...ranked.map(({ customer, distance }) => customerRow(customer, distance, now)));
  };
  search.addEventListener("input", render);
  render();
}

function showError(form, name, message) {
  const el = form.querySelector(`[data-error="${name}"]`);
  if (!el) return;
  el.textContent = message ?? "";
  el.hidden = !message;
}

function openVisit(visits) {
  return visits.find((v) => v.checked_in_at && !v.checked_out_at && (!v.user_id || v.user_id === userId));
}

function activityItems({ visits, notes, orders, followups, history }) {
  const items = [];
  for (const v of visits) {
    if (!v.checked_in_at) continue;
    const text = v.outcome ? `${S.visit}: ${LABELS.outcomes[v.outcome] ?? v.outcome}` : S.visit;
    items.push({ at: v.checked_out_at ?? v.checked_in_at, text, row: v, kind: "visit" });
  }
  for (const n of notes) items.push({ at: n.created_at ?? n._changed_at, text: `${LABELS.channels[n.channel] ?? ""}: ${n.body}`, row: n, kind: "note" });
  for (const o of orders) {
    const count = (o.lines ?? []).length;
    items.push({ at: o.submitted_at ?? o.created_at, text: `${S.order} (${count})`, row: o, kind: "order" });
  }
  for (const f of followups) items.push({ at: f.created_at, text: `${S.followup}: ${f.title}`, row: f, kind: "followup" });
  for (const h of history) {
    if (h.kind !== "change" && h.kind !== "conflict") continue;
    const label = LABELS.fields[h.field] ?? h.field;
    items.push({ at: h.at, text: `${label}: ${h.old ?? "—"} → ${h.new ?? "—"}`, row: h, kind: h.kind });
  }
  const now = new Date().toISOString();
  return items.map((i) => ({ ...i, at: i.at ?? now }))
    .sort((a, b) => String(b.at).localeCompare(String(a.at))).slice(0, ACTIVITY_LIMIT);
}

/** The customer page offline. */
async function customerScreen(customerId) {
  const db = await openDb();
  const customer = await getRow(db, "customer", customerId);
  if (!customer || customer._deleted) return false;
  const byCustomer = (entity) => listRows(db, entity, { index: "customer_id", query: customerId });
  const [visits, notes, orders, followups, history, products, contacts, conflicts, rejections] = await Promise.all([
    byCustomer("visit"), byCustomer("note"), byCustomer("order"), byCustomer("followup"),
    byCustomer("history"), listRows(db, "product"), byCustomer("contact"),
    listConflicts(db, { customer_id: customerId }), listRejections(db, { customer_id: customerId })]);
  if (draftFor !== customerId) draftLines.splice(0);
  draftFor = customerId;
  const view = clone("offline-customer");
  const root = document.createElement("div");
  root.append(view);

  slot(root, "name").textContent = customer.name;
  const badges = slot(root, "badges");
  badges.append(badge(LABELS.statuses[customer.status] ?? customer.status, `status-${customer.status}`));
  if (customer.abc_class) badges.append(badge(customer.abc_class, "abc"));
  for (const extra of [dueBadge(customer, new Date()), pendingBadge(customer)]) if (extra) badges.append(extra);
  slot(root, "address").textContent = [customer.street, [customer.postal_code, customer.city].filter(Boolean).join(" ")]
    .filter(Boolean).join(", ");
  const actions = slot(root, "actions");
  const link = (label, href) => {
    const a = clone("offline-action").querySelector("a");
    a.textContent = label;
    a.href = href;
    actions.append(a);
  };
  if (customer.phone) link(ACTIONS.call, `tel:${customer.phone.replace(/\s/g, "")}`);
  if (customer.lat != null && customer.lon != null) link(ACTIONS.navigate, `geo:${customer.lat},${customer.lon}`);
  if (customer.email) link(ACTIONS.email, `mailto:${customer.email}`);

  const notices = slot(root, "notices");
  for (const c of conflicts) {
    const p = document.createElement("p");
    p.className = "notice conflict";
    p.dataset.notice = "conflict";
    p.textContent = `${conflictText(c, NOTICE_STRINGS, LABELS.fields)} `;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "small";
    dismiss.textContent = NOTICE_STRINGS.dismiss;
    dismiss.addEventListener("click", async () => {
      await dismissConflict(db, c.id);
      p.remove();
    });
    p.append(dismiss);
    notices.append(p);
  }
  for (const r of rejections) {
    const p = document.createElement("p");
    p.className = "notice rejected";
    p.dataset.notice = "rejected";
    const typed = Object.entries(r.fields ?? {}).map(([k, v]) => `${LABELS.fields[k] ?? k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
    p.textContent = `${fill(S.rejected, { reason: r.reason })} ${typed.join("; ")}`;
    notices.append(p);
  }

  // Visit: check in / check out.
  const current = openVisit(visits);
  const checkIn = root.querySelector("[data-action=check-in]");
  const checkOut = root.querySelector("[data-form=check-out]");
  checkIn.hidden = Boolean(current);
  checkOut.hidden = !current;
  if (current) {
    let text = fill(S.checkedIn, { time: when(current.checked_in_at) });
    if (current.lat != null && customer.lat != null) {
      const metres = haversineMetres(current, customer);
      text += ` · ${fill(S.far, { distance: formatDistance(metres, locale) })}`;
    }
    slot(root, "visit-state").textContent = text;
    slot(root, "visit-state").append(" ", pendingBadge(current) ?? "");
  }
  slot(root, "planned").replaceChildren(...upcomingPlanned(visits, new Date()).map((v) => {
    const li = document.createElement("li");
    li.className = "row";
    li.textContent = fill(S.planned, { time: when(v.planned_at) });
    return li;
  }));
  checkIn.addEventListener("click", async () => {
    checkIn.disabled = true;
    const here = await position();
    await recordChange({ entity: "visit", entity_id: newId(), fields: {
      customer_id: customerId, checked_in_at: new Date().toISOString(), ...(here ?? {}) } });
  });
  checkOut.addEventListener("submit", async (event) => {
    event.preventDefault();
    await recordChange({ entity: "visit", entity_id: current.id, fields: {
      checked_out_at: new Date().toISOString(), outcome: checkOut.elements.outcome.value } });
  });

  // Note.
  const noteForm = root.querySelector("[data-form=note]");
  noteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = noteForm.elements.body.value.trim();
    showError(noteForm, "body", body ? "" : S.required);
    if (!body) return;
    noteForm.reset();
    await recordChange({ entity: "note", entity_id: newId(), fields: {
      customer_id: customerId, channel: noteForm.elements.channel.value, body,
      ...(current ? { visit_id: current.id } : {}) } });
  });

  // Order: lines from the catalogue; the server prices it when it arrives.
  const orderForm = root.querySelector("[data-form=order]");
  const active = products.filter((p) => p.active !== false);
  slot(root, "products").replaceChildren(...active.map((p) => {
    const option = document.createElement("option");
    option.value = `${p.sku} · ${p.name}`;
    return option;
  }));
  const lines = draftLines;
  const linesEl = slot(root, "lines");
  const estimateEl = slot(root, "estimate");
  const drawLines = () => {
    linesEl.replaceChildren(...lines.map((line, index) => {
      const li = document.createElement("li");
      li.className = "row";
      li.dataset.line = String(index);
      li.textContent = `${line.quantity} × ${line.product.name} (${line.product.sku})`;
      return li;
    }));
    const total = lines.reduce((sum, line) => sum + lineEstimate(line.product.net_price, line.quantity), 0);
    estimateEl.textContent = lines.length ? fill(S.estimate, {
      total: new Intl.NumberFormat(locale, { style: "currency", currency: "EUR" }).format(total) }) : "";
  };
  root.querySelector("[data-action=add-line]").addEventListener("click", () => {
    const text = orderForm.elements.product.value.trim().toLowerCase();
    const product = active.find((p) => `${p.sku} · ${p.name}`.toLowerCase() === text)
      ?? active.find((p) => p.sku.toLowerCase() === text || p.name.toLowerCase() === text)
      ?? active.find((p) => p.name.toLowerCase().includes(text) || p.sku.toLowerCase().includes(text));
    const quantity = Number(String(orderForm.elements.quantity.value).replace(",", "."));
    if (!text || !product) return showError(orderForm, "lines", S.noLines);
    if (!(quantity > 0)) return showError(orderForm, "lines", S.quantity);
    showError(orderForm, "lines", "");
    lines.push({ product, quantity: String(quantity) });
    orderForm.elements.product.value = "";
    orderForm.elements.quantity.value = "1";
    drawLines();
  });
  orderForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!lines.length) return showError(orderForm, "lines", S.noLines);
    const ordered = lines.splice(0).map((line) => ({ product_id: line.product.id, quantity: line.quantity }));
    orderForm.reset();
    await recordChange({ entity: "order", entity_id: newId(), fields: {
      customer_id: customerId, status: "submitted", ...(current ? { visit_id: current.id } : {}),
      lines: ordered } });
  });

  // Follow-ups: the open ones with done / tomorrow, and a new one.
  slot(root, "followups").replaceChildren(...followups.filter((f) => !f.done_at).map((f) => {
    const item = clone("offline-followup");
    slot(item, "title").textContent = f.title;
    slot(item, "due").textContent = when(f.due_at);
    const pending = pendingBadge(f);
    if (pending) slot(item, "due").append(" ", pending);
    item.querySelector("[data-action=done]").addEventListener("click", () =>
      recordChange({ entity: "followup", entity_id: f.id, fields: { done_at: new Date().toISOString() } }));
    item.querySelector("[data-action=snooze]").addEventListener("click", () => {
      const due = new Date(Math.max(Date.parse(f.due_at) || 0, Date.now()) + 86_400_000);
      recordChange({ entity: "followup", entity_id: f.id, fields: { due_at: due.toISOString() } });
    });
    return item;
  }));
  const followForm = root.querySelector("[data-form=followup]");
  followForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = followForm.elements.title.value.trim();
    const due = followForm.elements.due_at.value ? new Date(followForm.elements.due_at.value) : null;
    showError(followForm, "title", title ? "" : S.required);
    showError(followForm, "due_at", due && !Number.isNaN(due.getTime()) ? "" : S.required);
    if (!title || !due || Number.isNaN(due.getTime())) return;
    followForm.reset();
    await recordChange({ entity: "followup", entity_id: newId(), fields: {
      customer_id: customerId, title, due_at: due.toISOString(), assignee_id: userId } });
  });

  // Contacts (with a birthday hint) and what the customer buys most: visit preparation.
  const productNames = new Map(products.map((p) => [p.id, p.name]));
  const top = topProducts(orders).map((id) => productNames.get(id)).filter(Boolean);
  slot(root, "top-products").textContent = top.length ? fill(S.buysMost, { products: top.join(", ") }) : "";
  slot(root, "revenue").textContent = customer.revenue_12m == null ? "" : fill(S.revenue, {
    amount: new Intl.NumberFormat(locale, { style: "currency", currency: "EUR" }).format(Number(customer.revenue_12m)) });
  const midnight = new Date(new Date().toDateString());
  slot(root, "contacts").replaceChildren(...contacts.sort((a, b) => a.name.localeCompare(b.name, locale)).map((contact) => {
    const item = clone("offline-contact");
    slot(item, "name").textContent = contact.name;
    slot(item, "role").textContent = contact.role ?? "";
    const days = birthdayInDays(contact.birthday, midnight);
    if (days !== null) {
      const hint = slot(item, "birthday");
      hint.hidden = false;
      hint.textContent = days === 0 ? S.birthdayToday : fill(S.birthday, {
        n: days, date: new Intl.DateTimeFormat(locale, { day: "numeric", month: "long" })
          .format(new Date(midnight.getTime() + days * 86_400_000)) });
    }
    const pending = pendingBadge(contact);
    if (pending) slot(item, "role").after(" ", pending);
    const form = item.querySelector("form");
    for (const input of form.elements) if (input.name) input.defaultValue = contact[input.name] ?? "";
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = {};
      for (const input of form.elements) {
        if (input.name && input.value.trim() !== (contact[input.name] ?? "")) fields[input.name] = input.value.trim();
      }
      showError(form, "name", fields.name === "" ? S.required : "");
      if (fields.name === "" || !Object.keys(fields).length) return;
      for (const input of form.elements) if (input.name) input.defaultValue = input.value;
      await recordChange({ entity: "contact", entity_id: contact.id, fields });
    });
    return item;
  }));

  // Customer fields.
  const editForm = root.querySelector("[data-form=customer]");
  for (const input of editForm.elements) if (input.name) input.defaultValue = customer[input.name] ?? "";
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = {};
    for (const input of editForm.elements) {
      if (input.name && input.value.trim() !== (customer[input.name] ?? "")) fields[input.name] = input.value.trim();
    }
    if (!Object.keys(fields).length) return;
    for (const input of editForm.elements) if (input.name) input.defaultValue = input.value;
    await recordChange({ entity: "customer", entity_id: customerId, fields });
  });

  slot(root, "activity").replaceChildren(...activityItems({ visits, notes, orders, followups, history }).map((item) => {
    const li = document.createElement("li");
    li.className = `event kind-${item.kind}`;
    li.dataset.kind = item.kind;
    const time = document.createElement("time");
    time.textContent = when(item.at);
    li.append(time, " ", item.text);
    const pending = pendingBadge(item.row);
    if (pending) li.append(" ", pending);
    return li;
  }));

  drawLines();
  screen.replaceChildren(...root.childNodes);
  return true;
}

/** Lines of the order being typed: kept when the screen is drawn again. */
const draftLines = [];
let draftFor = "";

/** Does the screen hold typing that a redraw would lose? */
function typing() {
  if (draftLines.length) return true;
  return [...screen.querySelectorAll("form [name]")].some((el) =>
    el.tagName === "SELECT" ? false : el.value !== el.defaultValue);
}

async function render() {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const customer = path.match(new RegExp(`^/customers/(${UUID})$`));
  if (customer) return customerScreen(customer[1]);
  if (path === "/" || path === "/nearby") return listScreen("nearby").then(() => true);
  if (path === "/customers") return listScreen("customers").then(() => true);
  return false;
}

if (screen && document.body.classList.contains("offline-shell") && stringsEl) {
  const fallback = document.getElementById("offline-fallback");
  let busy = Promise.resolve();
  const draw = () => {
    busy = busy.then(render).catch(() => false).then((shown) => {
      if (!shown && fallback && !screen.contains(fallback)) screen.replaceChildren(fallback);
    });
  };
  draw();
  // Local changes and synced rows: the screen shows them at once (scroll position kept),
  // unless the rep is typing: then once the form is sent or left.
  let stale = false;
  const redraw = () => {
    if (typing()) { stale = true; return; }
    stale = false;
    const y = window.scrollY;
    const noticesBefore = screen.querySelectorAll("[data-notice]").length;
    draw();
    busy.then(() => {
      // A new conflict or rejection is brought into view; otherwise the rep stays where they were.
      const notices = screen.querySelectorAll("[data-notice]");
      if (notices.length > noticesBefore) notices[0].scrollIntoView({ block: "center" });
      else window.scrollTo(0, y);
    });
  };
  window.addEventListener("fieldcrm:briefcase", redraw);
  screen.addEventListener("focusout", () => { if (stale) setTimeout(redraw, 0); });
}
