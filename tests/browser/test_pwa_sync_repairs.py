"""The phone's sync in the browser against the real server, when things go wrong: a field
changed by both sides (the later edit wins, the rep gets a notice), an invalid change
(rejected, kept with what was typed), a change this server cannot read (set aside, the
queue goes on), and a server that is behind the phone's numbering (renumbered, resent)."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from fieldcrm.models import Contact, Customer, SyncClient

RECORD = """async (changes) => {
  const { recordChange } = await import("/static/js/sync.js");
  for (const change of changes) await recordChange(change);
}"""
SYNC = """async () => (await import("/static/js/sync.js")).sync("test")"""
STORE = """async (name) => (await (await import("/static/js/db.js")).openDb()).getAll(name)"""
META = """async (key) => (await (await import("/static/js/db.js")).openDb()).get("meta", key)"""


def synced(page, timeout_s: float = 20) -> None:
    """Wait until the first sync after login is done."""
    deadline = time.monotonic() + timeout_s
    while page.evaluate(META, "last_synced_at") is None:
        assert time.monotonic() < deadline, "no first sync: " + page.locator("#sync-status").inner_text()
        page.wait_for_timeout(100)


def test_conflicts_rejections_and_numbering_repairs(world, db, new_page, log_in, artifacts):
    page = new_page()
    log_in(page, "rep1@example.com")
    synced(page)
    customer_id = str(world.customer.id)
    base = world.customer.version

    # The manager changes the phone on the server after the rep's (older) offline edit.
    world.customer.phone = "+49 40 999"
    db.session.commit()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact_id = str(uuid.uuid4())
    page.evaluate("() => { window.__offline = true; }")
    page.context.set_offline(True)
    page.evaluate(RECORD, [
        {"entity": "customer", "entity_id": customer_id, "fields": {"phone": "+49 40 222"},
         "changed_at": an_hour_ago},
        {"entity": "customer", "entity_id": customer_id, "fields": {"email": "not an email"}},
        {"entity": "customer", "entity_id": customer_id, "fields": {"colour": "red"}},
        {"entity": "contact", "entity_id": contact_id,
         "fields": {"customer_id": customer_id, "name": "Nach dem Fehler"}},
    ])
    outbox = page.evaluate(STORE, "outbox")
    assert [m["id"] for m in outbox] == [1, 2, 3, 4]
    assert all(m["base_version"] == base for m in outbox[:3])
    page.context.set_offline(False)

    assert page.evaluate(SYNC) is True
    assert page.evaluate(STORE, "outbox") == []
    db.session.expire_all()
    saved = db.session.get(Customer, world.customer.id)
    assert saved.phone == "+49 40 999", "the later edit (the manager's) wins"
    assert db.session.get(Contact, uuid.UUID(contact_id)).name == "Nach dem Fehler"
    # The unreadable change was set aside and the queue renumbered: the server saw 1, 2, 3.
    client_id = page.evaluate(META, "client_id")
    assert db.session.get(SyncClient, uuid.UUID(client_id)).last_mutation_id == 3

    [conflict] = page.evaluate(STORE, "conflicts")
    assert {k: conflict[k] for k in ("entity", "entity_id", "customer_id", "field", "yours", "theirs", "kept")} == {
        "entity": "customer", "entity_id": customer_id, "customer_id": customer_id, "field": "phone",
        "yours": "+49 40 222", "theirs": "+49 40 999", "kept": "theirs"}
    row = page.evaluate("""async (id) => (await (await import("/static/js/db.js")).openDb()).get("customer", id)""",
                        customer_id)
    assert row["phone"] == "+49 40 999" and row["email"] != "not an email" and "_pending" not in row

    rejections = {r["reason"]: r for r in page.evaluate(STORE, "rejections")}
    assert set(rejections) == {"invalid", "unknown_field"}
    assert rejections["invalid"]["fields"] == {"email": "not an email"}
    assert rejections["invalid"]["local"] is False, "replaced by the server's own record"
    assert rejections["unknown_field"]["fields"] == {"colour": "red"}
    assert rejections["unknown_field"]["local"] is True
    expect(page.locator("#sync-status")).to_have_text("Synced just now · 3 need your attention")
    page.screenshot(path=artifacts / "pwa_sync_attention.png")

    # Dismissing: the server's rejection is dismissed on the server too.
    page.evaluate("""async (id) => (await import("/static/js/sync.js")).dismissRejection(id)""",
                  rejections["invalid"]["id"])
    listed = page.evaluate("fetch('/api/v1/sync/rejections').then((r) => r.json())")
    assert listed["items"] == []

    # The server is behind the phone (e.g. restored from a backup): 409 mutation_gap, and
    # the phone resends from the server's last id + 1.
    page.evaluate("""async () => {
      const db = await (await import("/static/js/db.js")).openDb();
      await db.put("meta", 9, "last_mutation_id");
      await db.delete("meta", "server_last_mutation_id");
    }""")
    page.evaluate(RECORD, [{"entity": "customer", "entity_id": customer_id, "fields": {"city": "Altona"}}])
    assert [m["id"] for m in page.evaluate(STORE, "outbox")] == [10]
    assert page.evaluate(SYNC) is True
    assert page.evaluate(STORE, "outbox") == []
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).city == "Altona"
    assert db.session.scalar(sa.select(SyncClient.last_mutation_id).where(
        SyncClient.id == uuid.UUID(client_id))) == 4
    assert page.evaluate(META, "last_mutation_id") == 4
