"""On a phone, the rep's app is installable, loads the briefcase, opens without a network,
keeps a change made offline across a reload and syncs it when the network returns; a new
version of the app is offered and taken over on reload."""

import re
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from pwa_support import BRIEFCASE_NAMES, OUTBOX, SHELL_CACHED, wait_for_worker, wait_until

from fieldcrm.models import Contact, Customer
from fieldcrm.routes import pwa

NEW_PHONE = "+49 40 555 0101"

def status_line(page):
    return page.locator("#sync-status")


def test_rep_installs_works_offline_and_syncs(world, make_customer, db, profile_page, log_in,
                                              artifacts):
    for name, postal_code in [("Café Krause", "20099"), ("Autohaus Petersen", "22846")]:
        make_customer(name=name, postal_code=postal_code, territory_id=world.north.id, owner_id=world.rep.id)
    make_customer(name="Brauhaus Huber", city="München", postal_code="80331",
                  territory_id=world.south.id, owner_id=world.other_rep.id)
    customer_id = str(world.customer.id)

    page = profile_page
    log_in(page, "rep1@example.com")
    page.goto("/customers")
    wait_for_worker(page)

    cdp = page.context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"].endswith("/manifest.webmanifest") and not manifest["errors"]
    cdp.detach()  # an extra CDP session left attached makes navigator.onLine ignore set_offline

    expect(status_line(page)).to_have_text("Synced just now")
    assert page.evaluate(BRIEFCASE_NAMES) == ["Autohaus Petersen", "Bäckerei Müller GmbH", "Café Krause"]
    assert wait_until(page, SHELL_CACHED), "the app shell was not cached"
    page.screenshot(path=artifacts / "pwa_online_synced.png")

    page.context.set_offline(True)
    response = page.reload()
    assert response.status == 200 and response.from_service_worker
    expect(page.locator("body.offline-shell")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/customers$"))
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(status_line(page)).to_have_text(re.compile(r"^Offline"))
    expect(status_line(page)).to_have_attribute("data-tone", "offline")

    contact_id = str(uuid.uuid4())
    page.evaluate("""async ([customerId, contactId, phone]) => {
      const { recordChange } = await import("/static/js/sync.js");
      await recordChange({ entity: "customer", entity_id: customerId, fields: { phone } });
      await recordChange({ entity: "contact", entity_id: contactId,
                           fields: { customer_id: customerId, name: "Jana Offline", role: "Einkauf" } });
    }""", [customer_id, contact_id, NEW_PHONE])
    expect(status_line(page)).to_have_text("Offline · 2 changes waiting")
    page.screenshot(path=artifacts / "pwa_offline_changes_waiting.png")

    page.reload()
    expect(page.locator("body.offline-shell")).to_have_count(1)
    outbox = page.evaluate(OUTBOX)
    assert [(m["id"], m["entity"], m["base_version"]) for m in outbox] == [
        (1, "customer", world.customer.version), (2, "contact", None)]
    assert outbox[0]["fields"] == {"phone": NEW_PHONE}
    row = page.evaluate("""async (id) => (await (await import("/static/js/db.js")).openDb()).get("customer", id)""",
                        customer_id)
    assert row["phone"] == NEW_PHONE and row["_pending"] is True
    expect(status_line(page)).to_have_text("Offline · 2 changes waiting")

    page.context.set_offline(False)
    expect(status_line(page)).to_have_text("Synced just now", timeout=15_000)
    assert page.evaluate(OUTBOX) == []
    db.session.expire_all()
    saved = db.session.get(Customer, world.customer.id)
    assert saved.phone == NEW_PHONE
    contact = db.session.get(Contact, uuid.UUID(contact_id))
    assert contact is not None and contact.name == "Jana Offline"
    row = page.evaluate("""async (id) => (await (await import("/static/js/db.js")).openDb()).get("customer", id)""",
                        customer_id)
    assert row["phone"] == NEW_PHONE and "_pending" not in row and row["version"] == saved.version
    page.screenshot(path=artifacts / "pwa_back_online_synced.png")

    page.evaluate("""async () => (await import("/static/js/sync.js")).sync("test")""")
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.id == uuid.UUID(contact_id)))
    assert count == 1


@pytest.fixture
def own_static(app, tmp_path):
    """The live server serving a copy of its static files, which the test may change."""
    original = app.static_folder
    copy = tmp_path / "static"
    shutil.copytree(original, copy)
    app.static_folder = str(copy)
    yield copy
    app.static_folder = original


def test_a_new_version_is_offered_and_taken_over_on_reload(world, new_page, log_in, own_static, artifacts):
    page = new_page()
    log_in(page, "rep1@example.com")
    page.goto("/customers")
    wait_for_worker(page)
    first = pwa.current_release().version
    assert wait_until(page, "async () => (await caches.keys()).join(',')") == f"fieldcrm-{first}"
    expect(page.locator("#pwa-update")).to_be_hidden()

    css = Path(own_static, "css", "app.css")
    css.write_text(css.read_text() + "\n.released-marker { color: inherit; }\n")
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    banner = page.get_by_role("button", name="A new version is available — reload")
    expect(banner).to_be_visible()
    page.screenshot(path=artifacts / "pwa_update_offered.png")
    second = pwa.current_release().version
    assert second != first

    with page.expect_navigation():
        banner.click()
    wait_for_worker(page)
    assert wait_until(page, "async () => (await caches.keys()).join(',')") == f"fieldcrm-{second}"
    served = page.evaluate("fetch('/static/css/app.css').then((r) => r.text())")
    assert ".released-marker" in served
    expect(page.locator("#pwa-update")).to_be_hidden()
