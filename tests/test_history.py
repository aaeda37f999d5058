"""One shared history per customer: every visit, note, follow-up and order event is written
once, shown to every colleague newest first with a link to what it is about, page by page."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from fieldcrm.followups import operations as followups
from fieldcrm.history import ACTIVITY_KINDS, record_activity
from fieldcrm.models import History, Territory
from fieldcrm.visits import operations as visits

HTMX = {"HX-Request": "true"}


def entries(db, customer) -> list[tuple[str, str | None]]:
    return [(e.kind, e.field) for e in db.session.scalars(
        sa.select(History).where(History.customer_id == customer.id,
                                 History.kind.in_(ACTIVITY_KINDS))
        .order_by(History.at, History.version)
    )]


def test_every_change_through_the_pages_writes_one_entry(client, world, db):
    client.login("rep1@example.com")
    customer = world.customer
    due = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    client.form(f"/customers/{customer.id}/visits", {"planned_at": due})
    client.form(f"/customers/{customer.id}/check-in", {"lat": "53.55", "lon": "9.99"})
    client.form(f"/customers/{customer.id}/notes", {"body": "Neue Preisliste gewünscht"})
    client.form(f"/customers/{customer.id}/followups", {"title": "Preisliste schicken", "due_at": due})
    [visit_id] = [e.ref_id for e in db.session.scalars(
        sa.select(History).where(History.field == "checked_in"))]
    [followup_id] = [e.ref_id for e in db.session.scalars(
        sa.select(History).where(History.kind == "followup"))]
    client.form(f"/followups/{followup_id}/snooze", {"by": "1d"})
    client.form(f"/followups/{followup_id}/done")
    client.form(f"/visits/{visit_id}/check-out", {"outcome": "followup_agreed"})
    [planned_id] = [e.ref_id for e in db.session.scalars(
        sa.select(History).where(History.field == "planned"))]
    client.form(f"/visits/{planned_id}/cancel")
    assert entries(db, customer) == [
        ("visit", "planned"), ("visit", "checked_in"), ("note", "created"),
        ("followup", "created"), ("followup", "snoozed"), ("followup", "done"),
        ("visit", "checked_out"), ("visit", "cancelled"),
    ]
    users = set(db.session.scalars(sa.select(History.user_id).where(
        History.customer_id == customer.id, History.kind.in_(ACTIVITY_KINDS))))
    assert users == {world.rep.id}


def test_reassign_writes_an_entry(world, db):
    followup = followups.create_followup(world.manager, {
        "customer_id": str(world.customer.id), "title": "x", "due_at": "2026-10-26T09:00:00Z"})
    followups.reassign_followup(world.manager, followup, {"assignee_id": str(world.rep.id)})
    db.session.commit()
    assert entries(db, world.customer) == [("followup", "created"), ("followup", "reassigned")]


def test_timeline_renders_every_kind_with_a_link_newest_first(client, world, db):
    customer = world.customer
    start = datetime.now(UTC) - timedelta(hours=1)
    far = visits.check_in(world.rep, customer, {"lat": 53.561, "lon": 9.99}, form=False, now=start)
    visits.check_out(world.rep, far, {"outcome": "order_taken"}, form=False)
    no_gps = visits.check_in(world.manager, customer, {}, form=False)
    note = visits.create_note(world.rep, {"customer_id": str(customer.id), "channel": "phone",
                                          "body": "Erste Zeile\nzweite Zeile"})
    followup = followups.create_followup(world.rep, {
        "customer_id": str(customer.id), "title": "Muster schicken", "due_at": "2026-10-26T09:00:00Z"})
    followups.snooze_followup(world.rep, followup, {"by": "1w"})
    followups.reassign_followup(world.manager, followup, {"assignee_id": str(world.manager.id)})
    followups.complete_followup(world.manager, followup)
    order_id = uuid.uuid4()
    record_activity(customer.id, "order", order_id, user_id=world.rep.id, field="submitted",
                    summary="119.00")
    db.session.commit()

    client.login("manager@example.com")
    page = client.customer_page(customer.id)
    timeline = page[page.index('id="history"'):]
    expected = [
        "submitted an order",
        "completed the follow-up “Muster schicken”",
        "reassigned a follow-up from Rita Rep to Max Manager",
        "snoozed a follow-up to",
        "added the follow-up “Muster schicken”",
        "added a note:",
        "checked in without GPS position",
        "checked out: Order taken",
        "checked in 1.2 km from the address",
    ]
    positions = [timeline.index(text) for text in expected]
    assert positions == sorted(positions), "newest first"
    assert "Erste Zeile" in timeline and "zweite Zeile" not in timeline
    assert "€119.00" in timeline
    assert f'href="/visits/{far.id}"' in timeline and f'href="/visits/{no_gps.id}"' in timeline
    assert f'href="/notes/{note.id}"' in timeline
    assert f'href="/followups/{followup.id}"' in timeline
    if "orders.show" in client.application.view_functions:
        assert f'href="/orders/{order_id}"' in timeline
    for kind in ("visit", "note", "followup", "order"):
        assert f"kind-{kind}" in timeline


def test_order_entries_link_only_when_orders_have_a_page(app, client, world, db):
    record_activity(world.customer.id, "order", world.customer.id, user_id=world.rep.id,
                    field="created", summary="10.00")
    db.session.commit()
    show = app.view_functions.pop("orders.show", None)
    try:
        client.login("rep1@example.com")
        response = client.get(f"/customers/{world.customer.id}/history")
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "created an order" in body and "/orders/" not in body
    finally:
        if show is not None:
            app.view_functions["orders.show"] = show


def test_history_pages_load_older_entries(client, world, db):
    for number in range(25):
        visits.create_note(world.rep, {"customer_id": str(world.customer.id), "body": f"Notiz {number:02d}"})
    db.session.commit()
    client.login("rep1@example.com")
    page = client.customer_page(world.customer.id)
    first = re.findall(r"Notiz (\d\d)", page)
    assert first == [f"{n:02d}" for n in range(24, 4, -1)]
    more = re.search(r'hx-get="([^"]+/history\?after=[^"]+)"', page).group(1).replace("&amp;", "&")
    rest = client.get(more, headers=HTMX).get_data(as_text=True)
    assert re.findall(r"Notiz (\d\d)", rest) == ["04", "03", "02", "01", "00"]
    assert "Older entries" not in rest


def test_customer_page_reloads_its_history_after_an_action(client, world, db):
    client.login("rep1@example.com")
    page = client.customer_page(world.customer.id)
    assert 'hx-trigger="fieldcrm:history from:body"' in page
    assert f'hx-get="/customers/{world.customer.id}/history"' in page
    response = client.form(f"/customers/{world.customer.id}/notes", {"body": "neu"}, headers=HTMX)
    assert response.headers["HX-Trigger"] == "fieldcrm:history"
    assert "neu" in client.get(f"/customers/{world.customer.id}/history").get_data(as_text=True)


def test_colleagues_see_the_same_history_and_others_see_none(client, make_client, world, db):
    visits.create_note(world.rep, {"customer_id": str(world.customer.id), "body": "für alle"})
    db.session.commit()
    for email in ("manager@example.com", "admin@example.com"):
        colleague = make_client()
        colleague.login(email)
        assert "für alle" in colleague.get(f"/customers/{world.customer.id}/history").get_data(as_text=True)
    outsider = make_client()
    outsider.login("rep2@example.com")
    assert outsider.get(f"/customers/{world.customer.id}/history").status_code == 404


def test_changes_show_labels_in_the_users_language_not_stored_values(client, world, db):
    customer = world.customer
    customer.status, customer.geocode_status = "prospect", "pending"
    db.session.commit()
    db.session.refresh(customer)  # history records the old value the session has loaded
    customer.status, customer.geocode_status, customer.marketing_consent = "at_risk", "ok", True
    customer.postal_code, customer.territory_id = "20097", world.south.id
    db.session.commit()
    db.session.add(History(customer_id=customer.id, user_id=world.rep.id, kind="conflict",
                           entity="customer", entity_id=customer.id, field="status",
                           old="lead", new="lost"))
    far = visits.check_in(world.rep, customer, {"lat": 53.55, "lon": 9.99}, form=False)
    visits.check_out(world.rep, far, {"outcome": "followup_agreed"}, form=False)
    db.session.commit()
    client.login("admin@example.com")

    def timeline(language: str) -> str:
        page = client.get(f"/customers/{customer.id}/history",
                          headers={"Accept-Language": language}).get_data(as_text=True)
        return " ".join(re.sub(r"<[^>]+>", " ", page).split())

    english = timeline("en")
    for text in ("changed Status from “Prospect” to “At risk”",
                 "changed Location from “Locating address…” to “Located from the address”",
                 "changed Marketing consent from “No” to “Yes”",
                 "changed Postal code from “20095” to “20097”",
                 f"changed Territory from “{world.north.name}” to “{world.south.name}”",
                 "conflict on Status: “Lead” was replaced by “Lost”",
                 "checked out: Follow-up agreed"):
        assert text in english, text
    german = timeline("de")
    for text in ("hat Status von „Interessent“ auf „Gefährdet“ geändert",
                 "hat Standort von „Adresse wird gesucht …“ auf „Aus der Adresse ermittelt“ geändert",
                 "hat Werbeeinwilligung von „Nein“ auf „Ja“ geändert",
                 "hat PLZ von „20095“ auf „20097“ geändert",
                 "Konflikt bei Status: „Lead“ wurde durch „Verloren“ ersetzt",
                 "hat ausgecheckt: Wiedervorlage vereinbart"):
        assert text in german, text
    raw = ("prospect", "at_risk", "geocode_status", "pending", "postal_code", "territory_id",
           "marketing_consent", "“true”", "“false”", "followup_agreed", "“lost”",
           str(world.south.id))
    for page in (english, german):
        assert [value for value in raw if value in page] == []
    assert db.session.get(Territory, world.south.id).name in english


def test_derived_fields_change_without_field_history(world, db):
    """last_visited_at (from the visits) and revenue_12m (from the orders) are kept by the
    server; a change of them is not something a person did, so it gets no "change" entry,
    while a real field in the same flush still does."""
    customer = world.customer
    customer.last_visited_at = datetime.now(UTC)
    customer.revenue_12m = customer.revenue_12m + 100
    customer.phone = "040 999999"
    db.session.commit()
    changed = db.session.scalars(sa.select(History.field).where(
        History.entity_id == customer.id, History.kind == "change")).all()
    assert changed == ["phone"]
