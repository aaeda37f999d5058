// The nearby list: asks for the phone's position after the rep taps "Use my location",
// follows it as the rep moves (reloading the list only after real movement), and falls
// back to the home base or a typed postal code when the position is denied or missing.
// The list itself is server-rendered: this module only fills the form's lat/lon/home
// fields and submits it; htmx swaps the fragment into #nearby-list.
import { shouldRefresh } from "./geo.js";

const root = document.getElementById("nearby");
const form = /** @type {HTMLFormElement} */ (document.getElementById("nearby-form"));
const origin = document.getElementById("nearby-origin");
const list = document.getElementById("nearby-list");
const WATCH_OPTIONS = { enableHighAccuracy: true, maximumAge: 30_000, timeout: 20_000 };
const GRANTED_KEY = "fieldcrm.nearby.located";

/** @type {number | null} */
let watchId = null;
/** @type {import("./geo.js").Fix | null} */
let lastSent = null;

const field = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
const message = (key) => root.dataset[key] ?? "";

/**
 * Show where the list is measured from. `warn` marks a fallback the rep did not choose.
 * @param {string} text
 * @param {string} state  prompt | locating | gps | home | place | denied | unavailable | unsupported
 * @param {boolean} [warn]
 */
function say(text, state, warn = false) {
  origin.textContent = text;
  root.dataset.state = state;
  if (warn) root.dataset.warn = "1";
  else delete root.dataset.warn;
}

function submit() {
  form.requestSubmit();
}

/** Load the list for a place other than the phone's position. */
function useSource({ home = "", lat = "", lon = "" }) {
  field("home").value = home;
  field("lat").value = lat;
  field("lon").value = lon;
}

function useHome(text, warn = false, keepWatching = false) {
  if (!keepWatching) stopWatching();
  useSource({ home: "1" });
  field("place").value = "";
  say(text, "home", warn);
  submit();
}

/**
 * Use the home base (or ask for a place) because the position is missing. For
 * "Unavailable" the watch goes on, so the first fix that arrives takes over again.
 * @param {"Denied" | "Unavailable" | "Unsupported"} reason
 */
function fallback(reason) {
  const hasHome = !!root.dataset.hasHome;
  if (hasHome && !field("place").value) {
    useHome(message(`msg${reason}Home`) || message("msgHome"), true, reason === "Unavailable");
  } else {
    say(message(`msg${reason}`), reason.toLowerCase(), true);
    field("place").focus();
  }
}

/** @param {GeolocationPosition} position */
function onPosition(position) {
  const fix = {
    lat: position.coords.latitude, lon: position.coords.longitude,
    at: position.timestamp || Date.now(), accuracy: position.coords.accuracy,
  };
  sessionStorage.setItem(GRANTED_KEY, "1");
  const accuracy = Math.round(fix.accuracy || 0);
  say(accuracy ? message("msgLocated").replace("{metres}", String(accuracy)) : message("msgLocatedPlain"), "gps");
  if (!shouldRefresh(lastSent, fix)) return;
  lastSent = fix;
  useSource({ lat: fix.lat.toFixed(6), lon: fix.lon.toFixed(6) });
  field("place").value = "";
  submit();
}

/** @param {GeolocationPositionError} error */
function onError(error) {
  if (error.code === error.PERMISSION_DENIED) {
    stopWatching();
    sessionStorage.removeItem(GRANTED_KEY);
    fallback("Denied");
  } else if (!lastSent && !["home", "place", "unavailable"].includes(root.dataset.state)) {
    // Keep watching: a fix may still come (tunnel, cold GPS); meanwhile show a fallback, once.
    fallback("Unavailable");
  }
}

function startWatching() {
  if (!("geolocation" in navigator)) {
    fallback("Unsupported");
    return;
  }
  stopWatching();
  lastSent = null;
  say(message("msgLocating"), "locating");
  watchId = navigator.geolocation.watchPosition(onPosition, onError, WATCH_OPTIONS);
}

function stopWatching() {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
}

/** Start on our own only when the rep already said yes; otherwise explain first and wait. */
async function autoStart() {
  if (root.dataset.state === "listed") return;
  let state = sessionStorage.getItem(GRANTED_KEY) ? "granted" : "prompt";
  try {
    state = (await navigator.permissions.query({ name: "geolocation" })).state;
  } catch {
    // Permissions API missing (older Safari): keep what this tab remembers.
  }
  if (state === "granted") startWatching();
  else if (state === "denied") fallback("Denied");
}

document.getElementById("use-location").addEventListener("click", startWatching);
document.getElementById("use-home")?.addEventListener("click", () => useHome(message("msgHome")));

form.addEventListener("submit", (event) => {
  // A typed place wins over the position: stop following the phone.
  if (event.submitter && field("place").value.trim()) {
    stopWatching();
    useSource({});
    say(message("msgPlace"), "place");
  }
});
field("place").addEventListener("change", (event) => {
  if (field("place").value.trim()) {
    stopWatching();
    useSource({});
    say(message("msgPlace"), "place");
  } else {
    event.stopPropagation();
  }
});

// Nothing to ask the server until there is a place to measure from.
form.addEventListener("htmx:confirm", (event) => {
  const ready = field("lat").value || field("home").value || field("place").value.trim();
  if (!ready) event.preventDefault();
});

// Bad input answers 400 with a message fragment: show it instead of ignoring it.
document.body.addEventListener("htmx:beforeSwap", (event) => {
  const detail = /** @type {CustomEvent} */ (event).detail;
  if (detail.target === list && detail.xhr.status === 400) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});

autoStart();
