"""Scripts and waits shared by the PWA browser tests (imported: conftest modules collide)."""

import time

BRIEFCASE_NAMES = """async () => {
  const { openDb } = await import("/static/js/db.js");
  const db = await openDb();
  return (await db.getAll("customer")).map((row) => row.name).sort();
}"""

OUTBOX = """async () => {
  const { openDb } = await import("/static/js/db.js");
  return (await openDb()).getAll("outbox");
}"""

SHELL_CACHED = """async () => {
  for (const name of await caches.keys()) {
    if (await (await caches.open(name)).match("/offline")) return true;
  }
  return false;
}"""


def wait_until(page, script: str, timeout_s: float = 10, arg=None):
    """Evaluate an async script until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(script, arg)
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(100)


def wait_for_worker(page) -> None:
    """Until the service worker is active and controls the page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    assert wait_until(page, "() => navigator.serviceWorker.controller !== null"), "no controller"


def briefcase_ready(page) -> None:
    """After login: the service worker controls the page, the briefcase is synced and
    the app shell is cached, so the page can go offline."""
    from playwright.sync_api import expect

    page.goto("/customers")
    wait_for_worker(page)
    expect(page.locator("#sync-status")).to_have_text("Synced just now")
    assert wait_until(page, SHELL_CACHED), "the app shell was not cached"
