// The customer map: Leaflet with marker clustering, customers loaded for the visible area.
// Each view change (debounced) asks /map/customers.json for a padded box; a newer request
// aborts the older one, and a view inside an area already loaded completely needs no
// request at all. Above the server's cap the answer is a grid of counts instead of pins.
import { bboxParam, boxContains, debounce, padBox } from "./geo.js";

/* global L */
const el = document.getElementById("map");
const data = el.dataset;
const filters = /** @type {HTMLFormElement} */ (document.getElementById("map-filters"));
const statusLine = document.getElementById("map-status");
const legend = document.getElementById("map-legend");
const newHere = /** @type {HTMLAnchorElement} */ (document.getElementById("map-new-here"));
const crosshair = document.getElementById("map-crosshair");
const VIEW_KEY = "fieldcrm.map.view";
// Keep fitted pins clear of the status line on top and the legend and buttons below.
const OVERLAY_PADDING = { paddingTopLeft: [16, 56], paddingBottomRight: [16, 150] };
const numberFormat = new Intl.NumberFormat(data.locale);

const map = L.map(el, { zoomControl: true, worldCopyJump: true });
L.tileLayer(data.tileUrl, { attribution: data.attribution, maxZoom: 19 }).addTo(map);
const pins = L.markerClusterGroup({
  chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 50, spiderfyOnMaxZoom: true,
});
const gridLayer = L.layerGroup();
map.addLayer(pins);
map.addLayer(gridLayer);

/** @type {{items: any[], box: any, key: string} | null} */
let loaded = null;
/** @type {AbortController | null} */
let inFlight = null;
/** @type {{box: any, key: string} | null} */
let pending = null;
/** @type {L.Marker | null} */
let you = null;
/** @type {{lat: number, lon: number} | null} */
let position = null;
/** @type {{mode: string, points: {lat: number, lon: number, count?: number}[]} | null} */
let shown = null;
let popupOpen = false;

function restoreView() {
  try {
    const { lat, lon, zoom } = JSON.parse(sessionStorage.getItem(VIEW_KEY) ?? "null") ?? {};
    if ([lat, lon, zoom].every(Number.isFinite)) {
      map.setView([lat, lon], zoom);
      return;
    }
  } catch {
    sessionStorage.removeItem(VIEW_KEY);
  }
  const view = JSON.parse(data.view);
  if (view.bounds) {
    const [s, w, n, e] = view.bounds;
    map.fitBounds([[s, w], [n, e]], { maxZoom: 14, ...OVERLAY_PADDING });
  } else {
    map.setView([view.lat, view.lon], view.zoom);
  }
}

function colourBy() {
  return /** @type {RadioNodeList} */ (filters.elements.namedItem("colour")).value;
}

function filterQuery() {
  const params = new URLSearchParams();
  for (const name of ["status", "abc"]) {
    const value = /** @type {HTMLSelectElement} */ (filters.elements.namedItem(name)).value;
    if (value) params.set(name, value);
  }
  return params;
}

function pinIcon(item) {
  const kind = colourBy() === "abc" ? `pin-abc-${item.abc_class || "none"}` : `pin-status-${item.status}`;
  return L.divIcon({ className: `pin ${kind}`, iconSize: [18, 18], html: "" });
}

function popupUrl(id) {
  return data.popupUrl.replace("__id__", encodeURIComponent(id));
}

async function fillPopup(event) {
  const popup = event.popup;
  const marker = event.target;
  if (marker.popupLoaded) return;
  try {
    const response = await fetch(popupUrl(marker.options.customerId));
    if (!response.ok) throw new Error(String(response.status));
    popup.setContent(await response.text());
    marker.popupLoaded = true;
  } catch {
    popup.setContent(`<p class="error">${data.msgPopupFailed}</p>`);
  }
}

function showRows(items) {
  gridLayer.clearLayers();
  pins.clearLayers();
  const markers = items.map((item) => {
    const marker = L.marker([item.lat, item.lon], {
      icon: pinIcon(item), title: item.name, alt: item.name, customerId: item.id, keyboard: true,
    });
    marker.item = item;
    marker.bindPopup(() => `<p class="muted">${data.msgLoading}</p>`, {
      minWidth: 220, maxWidth: 300,
      autoPanPaddingTopLeft: OVERLAY_PADDING.paddingTopLeft,
      autoPanPaddingBottomRight: OVERLAY_PADDING.paddingBottomRight,
    });
    marker.on("popupopen", fillPopup);
    return marker;
  });
  pins.addLayers(markers);
}

function showGrid(clusters) {
  pins.clearLayers();
  gridLayer.clearLayers();
  for (const cluster of clusters) {
    const size = cluster.count < 100 ? "small" : cluster.count < 1000 ? "medium" : "large";
    const icon = L.divIcon({
      className: `marker-cluster marker-cluster-${size} server-cluster`,
      html: `<div><span>${numberFormat.format(cluster.count)}</span></div>`,
      iconSize: [44, 44],
    });
    const marker = L.marker([cluster.lat, cluster.lon], { icon, keyboard: true });
    const [s, w, n, e] = cluster.bounds;
    marker.on("click", () => map.fitBounds([[s, w], [n, e]], OVERLAY_PADDING));
    gridLayer.addLayer(marker);
  }
}

/** Say how many customers the visible part of the map holds (the loaded box is larger). */
function announce() {
  if (!shown) return;
  const view = map.getBounds();
  const total = shown.points.reduce((sum, p) => sum + (view.contains([p.lat, p.lon]) ? (p.count ?? 1) : 0), 0);
  const count = numberFormat.format(total);
  if (shown.mode === "grid") statusLine.textContent = data.msgGrid.replace("{count}", count);
  else if (total === 0) statusLine.textContent = data.msgNone;
  else if (total === 1) statusLine.textContent = data.msgOne;
  else statusLine.textContent = data.msgCount.replace("{count}", count);
  statusLine.dataset.mode = shown.mode;
}

function viewBox() {
  const b = map.getBounds();
  return { south: b.getSouth(), west: b.getWest(), north: b.getNorth(), east: b.getEast() };
}

async function load() {
  const view = viewBox();
  const key = filterQuery().toString();
  if (loaded && loaded.key === key && boxContains(loaded.box, view)) return;
  if (inFlight && pending.key === key && boxContains(pending.box, view)) return;
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  const box = padBox(view, 0.25);
  pending = { box, key };
  const params = filterQuery();
  params.set("bbox", bboxParam(box));
  statusLine.dataset.loading = "1";
  try {
    const response = await fetch(`${data.customersUrl}?${params}`, {
      signal: controller.signal, headers: { Accept: "application/json" },
    });
    if (response.redirected || !response.headers.get("content-type")?.includes("json")) {
      window.location.reload();  // the session ended: the login page will show
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    const answer = await response.json();
    if (controller !== inFlight) return;
    if (answer.mode === "grid") {
      loaded = null;
      showGrid(answer.clusters);
      shown = { mode: "grid", points: answer.clusters };
    } else {
      loaded = { items: answer.items, box, key };
      showRows(answer.items);
      shown = { mode: "rows", points: answer.items };
    }
    announce();
  } catch (error) {
    if (error.name !== "AbortError") statusLine.textContent = data.msgFailed;
  } finally {
    if (controller === inFlight) {
      inFlight = null;
      delete statusLine.dataset.loading;
    }
  }
}

const loadSoon = debounce(load, 250);

function updateNewHere() {
  const point = position ?? { lat: map.getCenter().lat, lon: map.getCenter().lng };
  const params = new URLSearchParams({ lat: point.lat.toFixed(6), lon: point.lon.toFixed(6) });
  newHere.href = `${data.newHereUrl}?${params}`;
  newHere.querySelector("span").textContent = position ? data.labelHere : data.labelCentre;
  crosshair.hidden = !!position || popupOpen;
}

function locate() {
  if (!("geolocation" in navigator)) {
    statusLine.textContent = data.msgNoPosition;
    return;
  }
  navigator.geolocation.getCurrentPosition((found) => {
    position = { lat: found.coords.latitude, lon: found.coords.longitude };
    const latLng = [position.lat, position.lon];
    if (!you) {
      you = L.marker(latLng, {
        icon: L.divIcon({ className: "you-are-here", iconSize: [20, 20] }),
        title: data.msgYou, alt: data.msgYou, zIndexOffset: 1000, interactive: false,
      }).addTo(map);
    } else {
      you.setLatLng(latLng);
    }
    map.setView(latLng, Math.max(map.getZoom(), 14));
    updateNewHere();
  }, () => {
    statusLine.textContent = data.msgNoPosition;
  }, { enableHighAccuracy: true, timeout: 15_000, maximumAge: 60_000 });
}

map.on("moveend", () => {
  sessionStorage.setItem(VIEW_KEY, JSON.stringify({
    lat: map.getCenter().lat, lon: map.getCenter().lng, zoom: map.getZoom(),
  }));
  updateNewHere();
  announce();
  loadSoon();
});
// The cross marks the map centre for "new customer here"; it would cover an open popup.
map.on("popupopen", () => {
  popupOpen = true;
  crosshair.hidden = true;
});
map.on("popupclose", () => {
  popupOpen = false;
  updateNewHere();
});

filters.addEventListener("change", () => {
  loaded = null;
  loadSoon.cancel();
  load();
});
legend.addEventListener("change", () => {
  legend.dataset.colour = colourBy();
  if (loaded) showRows(loaded.items);
});
filters.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("map-locate").addEventListener("click", locate);

restoreView();
updateNewHere();
load();
navigator.permissions?.query({ name: "geolocation" }).then((status) => {
  if (status.state === "granted") locate();
}).catch(() => {});
