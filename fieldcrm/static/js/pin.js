// The customer's pin on the customer page: drag it to correct the location. The new
// coordinates are posted to the server (status "set by hand"), which answers with the
// geocode status line; a refusal puts the pin back where it was.
/* global L */
const el = document.getElementById("customer-pin");
const GERMANY = { lat: 51.16, lon: 10.45 };

if (el && window.L) {
  const data = el.dataset;
  const located = data.lat !== "" && data.lon !== "";
  let at = located ? { lat: Number(data.lat), lon: Number(data.lon) } : GERMANY;
  const map = L.map(el, { zoomControl: true, scrollWheelZoom: false })
    .setView([at.lat, at.lon], located ? 16 : 6);
  L.tileLayer(data.tileUrl, { attribution: data.attribution, maxZoom: 19 }).addTo(map);
  const pin = L.marker([at.lat, at.lon], { draggable: true, keyboard: true, title: data.label, alt: data.label })
    .addTo(map);
  pin.on("dragend", async () => {
    const { lat, lng } = pin.getLatLng();
    const body = new URLSearchParams({ lat: lat.toFixed(6), lon: (((lng + 180) % 360 + 360) % 360 - 180).toFixed(6) });
    const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
    try {
      const response = await fetch(data.url, { method: "POST", body, headers: { "X-CSRFToken": csrf },
                                               credentials: "same-origin" });
      const status = document.getElementById("geocode-status");
      if (status && response.headers.get("content-type")?.startsWith("text/html")) {
        status.outerHTML = await response.text();
      }
      if (response.ok) at = { lat, lon: lng };
      else pin.setLatLng([at.lat, at.lon]);
    } catch {
      pin.setLatLng([at.lat, at.lon]);
    }
  });
}
