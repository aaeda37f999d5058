"""Issue 5's offline journey: a rep loads the briefcase online, loses the network, and on
the phone finds the nearest customer, checks in, writes a note, takes an order of two
products and changes the phone number; the changes survive a reload; meanwhile a colleague
changes the email on the server; back online everything syncs once, nothing is lost."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from playwright.sync_api import expect
from pwa_support import OUTBOX, briefcase_ready

from fieldcrm.models import Contact, Customer, Note, Order, Visit

HAMBURG = {"latitude": 53.5502, "longitude": 9.9902}
NEW_PHONE = "+49 40 555 0199"
CONTACT_PHONE = "+49 170 555 0123"
THEIR_EMAIL = "einkauf@baeckerei-mueller.example"


def pending_badges(page):
    return page.locator("#offline-screen .badge.pending")


def test_rep_works_offline_and_everything_syncs_once(world, make_customer, make_product, db,
                                                     profile_page, log_in, artifacts):
    make_customer(name="Café Krause", lat=53.57, lon=10.02, territory_id=world.north.id, owner_id=world.rep.id)
    make_customer(name="Autohaus Petersen", lat=53.60, lon=10.10, territory_id=world.north.id,
                  owner_id=world.rep.id)
    coffee = make_product(sku="KAF-1", name="Kaffee 1 kg", net_price=Decimal("12.50"))
    cups = make_product(sku="BEC-6", name="Becher 6er", unit="Pack", net_price=Decimal("8.00"),
                        vat_rate=Decimal("19.00"))
    customer_id = world.customer.id
    world.customer.revenue_12m = Decimal("1234.50")  # as the nightly analysis leaves it
    db.session.add(Visit(customer_id=customer_id, user_id=world.rep.id,
                         planned_at=datetime.now(UTC) + timedelta(days=2)))
    db.session.commit()

    page = profile_page
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation(HAMBURG)
    log_in(page, "rep1@example.com")
    briefcase_ready(page)

    # Offline: the app opens on the nearby list, computed on the phone.
    page.context.set_offline(True)
    page.goto("/nearby")
    expect(page.locator("body.offline-shell")).to_have_count(1)
    rows = page.locator("#offline-screen li.row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Bäckerei Müller GmbH")
    expect(rows.first.locator("[data-slot=distance]")).to_have_text(re.compile(r"^\d+\s?m$"))
    page.screenshot(path=artifacts / "offline_nearby.png")

    rows.first.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(page.get_by_role("heading", name="Bäckerei Müller GmbH")).to_be_visible()
    expect(page.locator("[data-slot=planned]")).to_contain_text("Planned visit:")
    expect(page.locator("[data-slot=revenue]")).to_have_text("Revenue, last 12 months: €1,234.50")

    page.get_by_role("button", name="Check in").click()
    expect(page.locator("[data-slot=visit-state]")).to_contain_text("Checked in since")

    page.get_by_role("textbox", name="Note").fill("Wants the Christmas mix in December.")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("[data-slot=activity]")).to_contain_text("Wants the Christmas mix")

    order = page.locator("form[data-form=order]")
    for product, quantity in ((coffee, "2"), (cups, "3")):
        order.get_by_label("Product").fill(product.sku)
        order.get_by_label("Quantity").fill(quantity)
        order.get_by_role("button", name="Add product").click()
    expect(order.locator("[data-slot=lines] li")).to_have_count(2)
    expect(order.locator("[data-slot=estimate]")).to_contain_text("€49.00")
    page.screenshot(path=artifacts / "offline_order.png", full_page=True)
    order.get_by_role("button", name="Submit order").click()
    expect(page.locator("[data-slot=activity] li[data-kind=order]")).to_have_count(1)

    edit = page.locator("form[data-form=customer]")
    edit.get_by_label("Phone").fill(NEW_PHONE)
    edit.get_by_role("button", name="Save").click()
    contact = page.locator("[data-slot=contacts] li", has_text="Anna Schmidt")
    contact.locator("summary").click()
    contact.get_by_label("Phone").fill(CONTACT_PHONE)
    contact.get_by_role("button", name="Save").click()
    expect(page.locator("#sync-status")).to_have_text("Offline · 5 changes waiting")
    expect(pending_badges(page).first).to_be_visible()
    page.screenshot(path=artifacts / "offline_customer_waiting.png", full_page=True)

    # Closed and opened again, still offline: the changes are on the phone.
    page.reload()
    expect(page.locator("#sync-status")).to_have_text("Offline · 5 changes waiting")
    assert [m["entity"] for m in page.evaluate(OUTBOX)] == ["visit", "note", "order", "customer", "contact"]
    expect(page.locator("form[data-form=customer]").get_by_label("Phone")).to_have_value(NEW_PHONE)
    expect(page.locator("[data-slot=activity]")).to_contain_text("Wants the Christmas mix")

    # Meanwhile a colleague changes the email on the server.
    db.session.info["actor_id"] = world.manager.id
    db.session.get(Customer, customer_id).email = THEIR_EMAIL
    db.session.commit()
    db.session.info.pop("actor_id")

    page.context.set_offline(False)
    expect(page.locator("#sync-status")).to_have_text("Synced just now", timeout=15_000)
    assert page.evaluate(OUTBOX) == []
    db.session.expire_all()
    saved = db.session.get(Customer, customer_id)
    assert (saved.phone, saved.email) == (NEW_PHONE, THEIR_EMAIL)
    assert db.session.get(Contact, world.contact.id).phone == CONTACT_PHONE
    visits = db.session.scalars(sa.select(Visit).where(Visit.customer_id == customer_id,
                                                       Visit.checked_in_at.is_not(None))).all()
    assert len(visits) == 1 and visits[0].checked_in_at is not None and visits[0].lat is not None
    notes = db.session.scalars(sa.select(Note).where(Note.customer_id == customer_id)).all()
    assert [n.body for n in notes] == ["Wants the Christmas mix in December."]
    assert notes[0].visit_id == visits[0].id
    orders = db.session.scalars(sa.select(Order).where(Order.customer_id == customer_id)).all()
    assert len(orders) == 1 and orders[0].status == "submitted"
    assert sorted((line.product_id, line.quantity) for line in orders[0].lines) == sorted(
        [(coffee.id, Decimal("2")), (cups.id, Decimal("3"))])
    assert orders[0].net_total == Decimal("49.00")

    # Syncing again sends nothing twice; the screen shows it all as synced.
    page.evaluate("""async () => (await import("/static/js/sync.js")).sync("test")""")
    db.session.expire_all()
    for model, expected in ((Visit, 2), (Note, 1), (Order, 1)):  # visits: the planned one too
        count = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.customer_id == customer_id))
        assert count == expected, model
    page.reload()
    expect(page.get_by_role("heading", name="Bäckerei Müller GmbH")).to_be_visible()
    expect(pending_badges(page)).to_have_count(0)
    page.screenshot(path=artifacts / "offline_customer_synced.png", full_page=True)
    assert uuid.UUID(str(customer_id))
