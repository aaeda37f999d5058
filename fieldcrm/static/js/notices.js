// Sync conflict notices on the online pages: "Your change to Phone was replaced by a later
// change of a colleague — Show · Dismiss", for every conflict the sync stored on this
// device (db.js "conflicts"). The offline screens show them on the customer's page.
import { dismissConflict, listConflicts, openDb } from "./db.js";
import { conflictText } from "./offlineLogic.js";

/**
 * Keep `element` (#sync-notices, strings in its data-*) listing the device's conflicts.
 * @param {HTMLElement} element
 */
export function startNotices(element) {
  const strings = { ...element.dataset };
  // Rendered at the end of the body (the same include on every page); shown on top of the page.
  document.querySelector("main")?.prepend(element);
  const labels = JSON.parse(strings.labels ?? "{}");

  async function render() {
    const db = await openDb();
    const conflicts = await listConflicts(db);
    element.replaceChildren(...conflicts.map((conflict) => {
      const p = document.createElement("p");
      p.className = "notice conflict";
      p.dataset.notice = "conflict";
      p.append(conflictText(conflict, strings, labels), " ");
      if (conflict.customer_id) {
        const show = document.createElement("a");
        show.href = `/customers/${conflict.customer_id}`;
        show.textContent = strings.show;
        p.append(show, " ");
      }
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "small";
      dismiss.textContent = strings.dismiss;
      dismiss.addEventListener("click", async () => {
        await dismissConflict(db, conflict.id);
        render();
      });
      p.append(dismiss);
      return p;
    }));
    element.hidden = conflicts.length === 0;
  }

  window.addEventListener("fieldcrm:briefcase", () => render().catch(() => {}));
  return render();
}
