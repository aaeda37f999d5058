// The status line: "Synced 2 minutes ago · 3 changes waiting", "Offline · 3 changes
// waiting", "Syncing…", or what went wrong. The server renders the element (base.html
// includes pwa/_status.html) with the translated strings in data-* attributes; this
// module only picks and fills them (syncLogic.describeStatus).
import { onSyncState } from "./sync.js";
import { describeStatus } from "./syncLogic.js";

/** @typedef {import("./syncLogic.js").StatusStrings} StatusStrings */

const REFRESH_MS = 30_000;

/**
 * @param {HTMLElement} element
 * @returns {StatusStrings}
 */
function stringsOf(element) {
  const d = element.dataset;
  return {
    synced: d.synced ?? "", syncedNow: d.syncedNow ?? "", never: d.never ?? "",
    offline: d.offline ?? "", syncing: d.syncing ?? "", retrying: d.retrying ?? "",
    login: d.login ?? "", foreign: d.foreign ?? "",
    waitingOne: d.waitingOne ?? "", waitingOther: d.waitingOther ?? "",
    attentionOne: d.attentionOne, attentionOther: d.attentionOther,
  };
}

/**
 * Keep `element` showing the sync status until the page goes away.
 * @param {HTMLElement} element  #sync-status
 */
export function startStatusLine(element) {
  const strings = stringsOf(element);
  const locale = document.documentElement.lang || navigator.language || "en";
  /** @type {import("./syncLogic.js").SyncState|null} */
  let current = null;

  function render() {
    if (!current) return;
    const { text, tone, login } = describeStatus(current, strings, { now: Date.now(), locale });
    element.dataset.tone = tone;
    element.dataset.phase = current.phase;
    if (login && element.dataset.loginUrl) {
      const link = document.createElement("a");
      link.href = `${element.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
      link.textContent = text;
      element.replaceChildren(link);
    } else if (element.textContent !== text || element.firstElementChild) {
      element.textContent = text;
    }
    element.hidden = false;
  }

  onSyncState((state) => {
    current = state;
    render();
  });
  setInterval(render, REFRESH_MS);
}
