"""On a phone at the customer's door, a rep checks in, writes a note, takes an order of two
products, sets a follow-up, checks out with an outcome and finds all of it in the customer's
history."""

import re
from decimal import Decimal

import sqlalchemy as sa
from playwright.sync_api import expect

from fieldcrm.models import Followup, History, Note, Order, Visit

AT_THE_DOOR = {"latitude": 53.5501, "longitude": 9.9902}  # about 15 m from the customer (53.55, 9.99)
NOTE = "Inhaber möchte die neue Herbstkollektion sehen.\nLager ist fast leer."
FOLLOWUP = "Muster der Herbstkollektion bringen"


def assert_fits_the_phone(page) -> None:
    """Nothing pushes the page wider than the 390 px screen (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def assert_not_covered(locator) -> None:
    """Nothing lies on top of the element, top to bottom (no sticky bar or status line)."""
    assert locator.evaluate("""element => {
        const box = element.getBoundingClientRect();
        const x = box.x + box.width / 2;
        return [box.top + 2, box.top + box.height / 2, box.bottom - 2].every(
            (y) => element.contains(document.elementFromPoint(x, y)));
    }"""), f"{locator} is covered"


def add_product(page, query: str, name: str) -> None:
    """Search the catalogue for ``query`` and add the product ``name`` as a new line."""
    with page.expect_response(lambda r: "/orders/products" in r.url and "q=" in r.url):
        page.get_by_role("searchbox", name="Search the catalogue").fill(query)
    results = page.locator("#product-results")
    expect(results.locator(".row")).to_have_count(1)
    results.get_by_role("button", name=f"Add {name}").click()
    line = page.locator("#order-lines .order-line", has_text=name)
    expect(line).to_have_count(1)
    # The new line takes the cursor, ready for the quantity (order.js, after htmx settles).
    expect(line.get_by_label("Quantity")).to_be_focused()


def test_rep_visits_customer_and_sees_it_all_in_the_history(world, make_product, db, new_page,
                                                             live_server, log_in, artifacts):
    coffee = make_product(sku="KAF-1000", name="Filterkaffee Hausmarke", unit="kg",
                          net_price=Decimal("12.50"), vat_rate=Decimal("7.00"))
    cups = make_product(sku="TAS-200", name="Kaffeebecher to go", unit="pc",
                        net_price=Decimal("0.40"), vat_rate=Decimal("19.00"))
    make_product(sku="TEE-300", name="Grüner Tee", net_price=Decimal("8.00"))
    customer_id = world.customer.id

    page = new_page()
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation(AT_THE_DOOR)
    log_in(page, "rep1@example.com")
    page.goto(f"/customers/{customer_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bäckerei Müller GmbH")

    panel = page.locator("#visit-panel")
    panel.get_by_role("button", name="Check in").click()
    expect(panel).to_contain_text("Checked in since")
    expect(panel).to_contain_text(re.compile(r"\d+\s?m from the customer's address\."))
    expect(panel.locator(".far-away")).to_have_count(0)
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "visit_checked_in.png")

    notes = page.locator("#note-panel")
    expect(notes.get_by_label("Channel")).to_have_value("visit")
    notes.get_by_label("What happened?").fill(NOTE)
    notes.get_by_role("button", name="Save note").click()
    expect(notes.get_by_role("status")).to_have_text("Note saved.")
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("added a note: Inhaber möchte die neue Herbstkollektion sehen.")
    page.screenshot(path=artifacts / "visit_note_saved.png")

    page.get_by_role("link", name="New order").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New order")
    add_product(page, "Filterkaffee", coffee.name)
    add_product(page, "tas-200", cups.name)  # the SKU, typed in lower case
    lines = page.locator("#order-lines .order-line")
    expect(lines).to_have_count(2)
    lines.filter(has_text=coffee.name).get_by_label("Quantity").fill("3")
    lines.filter(has_text=cups.name).get_by_label("Quantity").fill("50")
    # 3 × 12.50 = 37.50 + 7 % VAT 2.63; 50 × 0.40 = 20.00 + 19 % VAT 3.80 → 63.93
    totals = page.locator("#order-totals")
    expect(totals.locator(".net-total")).to_have_text("€57.50")
    expect(totals.locator(".gross-total")).to_have_text("€63.93")
    assert_fits_the_phone(page)
    assert_not_covered(page.get_by_role("button", name="Submit order"))  # stuck above the nav
    page.screenshot(path=artifacts / "visit_order_form.png")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(totals.locator(".gross-total")).to_be_in_viewport()
    assert_not_covered(totals.locator(".gross-total"))
    page.screenshot(path=artifacts / "visit_order_totals.png")
    page.get_by_role("button", name="Submit order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]+$"))
    expect(page.get_by_role("status")).to_have_text("Order submitted.")
    expect(page.locator("main")).to_contain_text("€63.93")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "visit_order_submitted.png")

    page.get_by_role("link", name=world.customer.name).first.click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(panel).to_contain_text("Checked in since")

    followups = page.locator("#customer-followups")
    followups.get_by_text("New follow-up").click()
    followups.get_by_label("What to do").fill(FOLLOWUP)
    followups.get_by_label("Due").fill("2031-03-14T09:30")
    followups.get_by_role("button", name="Add follow-up").click()
    expect(followups.get_by_role("status")).to_have_text("Follow-up added.")
    expect(followups).to_contain_text(FOLLOWUP)
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "visit_followup_added.png")

    panel.get_by_label("Order taken").check()
    panel.get_by_role("button", name="Check out").click()
    expect(panel.get_by_role("button", name="Check in")).to_be_visible()
    expect(history).to_contain_text("checked out: Order taken")

    expected = [  # newest first
        "checked out: Order taken",
        f"added the follow-up “{FOLLOWUP}”",
        "submitted an order",
        "created an order",
        "added a note: Inhaber möchte die neue Herbstkollektion sehen.",
        "checked in",
    ]
    events = history.locator("li.event")
    for text in expected:
        expect(history).to_contain_text(text)
    texts = [" ".join(t.split()) for t in events.all_inner_texts()]
    positions = [next(n for n, t in enumerate(texts) if text in t) for text in expected]
    assert positions == sorted(positions), texts
    expect(history.locator("li.event.order-submitted")).to_contain_text("€63.93")
    expect(history.locator("li.event.visit-checked_in")).to_contain_text("from the address")
    expect(history).not_to_contain_text("Lager ist fast leer")
    expect(history).to_contain_text("Rita Rep")
    assert_fits_the_phone(page)
    page.locator("#history").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "visit_history.png")
    page.screenshot(path=artifacts / "visit_customer_full.png", full_page=True)

    db.session.expire_all()
    [visit] = db.session.scalars(sa.select(Visit).where(Visit.customer_id == customer_id))
    assert visit.user_id == world.rep.id and visit.outcome == "order_taken"
    assert visit.checked_in_at is not None and visit.checked_out_at is not None
    assert (round(visit.lat, 4), round(visit.lon, 4)) == (53.5501, 9.9902)
    assert visit.distance_m < 50 and not visit.far_away
    [note] = db.session.scalars(sa.select(Note).where(Note.customer_id == customer_id))
    assert (note.body, note.channel, note.visit_id, note.user_id) == (NOTE, "visit", visit.id,
                                                                      world.rep.id)
    [order] = db.session.scalars(sa.select(Order).where(Order.customer_id == customer_id))
    assert (order.status, order.user_id) == ("submitted", world.rep.id)
    assert (order.net_total, order.gross_total) == (Decimal("57.50"), Decimal("63.93"))
    assert [(line.product_id, line.quantity) for line in order.lines] == [
        (coffee.id, Decimal("3")), (cups.id, Decimal("50"))]
    [followup] = db.session.scalars(sa.select(Followup).where(Followup.customer_id == customer_id))
    assert (followup.title, followup.assignee_id, followup.done_at) == (FOLLOWUP, world.rep.id, None)
    activity = db.session.execute(
        sa.select(History.kind, History.field, History.ref_id, History.user_id)
        .where(History.customer_id == customer_id, History.kind != "change",
               History.kind != "created")
        .order_by(History.at, History.version)).all()
    assert activity == [
        ("visit", "checked_in", visit.id, world.rep.id),
        ("note", "created", note.id, world.rep.id),
        ("order", "created", order.id, world.rep.id),
        ("order", "submitted", order.id, world.rep.id),
        ("followup", "created", followup.id, world.rep.id),
        ("visit", "checked_out", visit.id, world.rep.id),
    ]


def test_check_in_shows_only_once_it_can_send_the_position(world, db, new_page, live_server,
                                                           log_in):
    """A rep who taps "Check in" the moment it shows gets the position recorded.

    The panel arrives after the page (htmx). visit.js, which adds the position, once
    came with it and ran only after its own fetch: a quick tap went out without the
    position ("no GPS", seen in CI). Here visit.js is held back; meanwhile the button
    must not be offered.
    """
    page = new_page(service_workers="block")  # visit.js from the network, where it is held
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation(AT_THE_DOOR)
    log_in(page, "rep1@example.com")
    held = []
    page.route("**/static/js/visit.js*", lambda route: held.append(route))
    page.goto(f"/customers/{world.customer.id}", wait_until="commit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bäckerei Müller GmbH")
    check_in = page.get_by_role("button", name="Check in")
    page.wait_for_timeout(1500)  # the panel, were it loaded early, shows within this
    expect(check_in).to_have_count(0)
    assert held, "visit.js was never asked for"
    for route in held:
        route.continue_()
    check_in.click()
    panel = page.locator("#visit-panel")
    expect(panel).to_contain_text(re.compile(r"\d+\s?m from the customer's address\."))
