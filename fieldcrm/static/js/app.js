// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  if (status === 401) window.location.reload();
});

// A button with data-fill-position="latInputId lonInputId" fills them from the phone's GPS.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-fill-position]");
  if (!button || !navigator.geolocation) return;
  const [latId, lonId] = button.dataset.fillPosition.split(" ");
  navigator.geolocation.getCurrentPosition((position) => {
    document.getElementById(latId).value = position.coords.latitude.toFixed(6);
    document.getElementById(lonId).value = position.coords.longitude.toFixed(6);
  });
});
