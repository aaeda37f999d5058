// The order form's small helpers. No money math here: the server prices every change
// (the totals section re-posts the form on "input" and on "lines-changed").

document.addEventListener("click", (event) => {
  const remove = event.target.closest("[data-remove-line]");
  if (remove) {
    remove.closest(".order-line").remove();
    document.body.dispatchEvent(new CustomEvent("lines-changed"));
    document.getElementById("product-search")?.focus();
    return;
  }
  if (event.target.closest("[data-print]")) window.print();
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// A line just added: put the cursor in its quantity so the rep can type right away.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target.id !== "order-lines") return;
  const inputs = event.detail.target.querySelectorAll("input[name=quantity]");
  inputs[inputs.length - 1]?.select();
});
