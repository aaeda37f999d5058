// At the customer: check-in with the phone's position, and refusals shown in place.
//
// A form marked data-geolocate asks the phone for its position before it is sent
// (a few seconds at most) and fills its hidden lat/lon fields; without a position
// it is sent anyway and the server records the check-in as "no GPS".
// Parts marked data-swap-errors show the server's 409/413/422 answer in place (the
// answer is the part again, with its messages), which htmx would otherwise drop.

/** How long to wait for a position before checking in without one. */
export const POSITION_TIMEOUT_MS = 6000;
const SWAPPED_ERRORS = new Set([409, 413, 422]);

/**
 * The phone's position, or null when it has none, refuses, or takes too long.
 * @param {number} timeout milliseconds
 * @returns {Promise<{lat: number, lon: number} | null>}
 */
export function currentPosition(timeout = POSITION_TIMEOUT_MS) {
  if (!("geolocation" in navigator)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeout + 500);
    navigator.geolocation.getCurrentPosition(
      (position) => {
        clearTimeout(timer);
        resolve({ lat: position.coords.latitude, lon: position.coords.longitude });
      },
      () => {
        clearTimeout(timer);
        resolve(null);
      },
      { enableHighAccuracy: true, timeout, maximumAge: 60000 },
    );
  });
}

/**
 * Fill the form's hidden lat/lon fields with the phone's position (or leave them empty).
 * @param {HTMLFormElement} form
 * @returns {Promise<void>}
 */
async function locate(form) {
  const button = form.querySelector("button[type=submit]");
  const label = button ? button.textContent : "";
  if (button) {
    button.disabled = true;
    button.textContent = button.dataset.busyText || label;
  }
  const position = await currentPosition();
  form.elements.namedItem("lat").value = position ? String(position.lat) : "";
  form.elements.namedItem("lon").value = position ? String(position.lon) : "";
  if (button) {
    button.disabled = false;
    button.textContent = label;
  }
}

document.addEventListener("htmx:confirm", (event) => {
  const form = event.detail.elt;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-geolocate")) return;
  event.preventDefault();
  locate(form).then(() => event.detail.issueRequest(true));
});

document.addEventListener("submit", (event) => {
  // Only without htmx: then the browser submits the form itself.
  const form = event.target;
  if (window.htmx || !(form instanceof HTMLFormElement) || !form.hasAttribute("data-geolocate")) return;
  if (form.dataset.located) return;
  event.preventDefault();
  locate(form).then(() => {
    form.dataset.located = "1";
    form.submit();
  });
});

document.addEventListener("htmx:beforeSwap", (event) => {
  const { xhr, elt } = event.detail;
  if (SWAPPED_ERRORS.has(xhr.status) && elt instanceof Element && elt.closest("[data-swap-errors]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
