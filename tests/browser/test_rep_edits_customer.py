"""On a phone, a rep finds a customer by name, corrects the phone number and sees it saved;
a rep of another territory cannot open that customer."""

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from fieldcrm.models import Customer, History

NEW_PHONE = "+49 40 987654"


def assert_fits_the_phone(page) -> None:
    """Nothing pushes the page wider than the 390 px screen (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def test_rep_finds_customer_and_changes_phone(world, make_customer, db, new_page, log_in,
                                              artifacts):
    for name, city, postal_code in [("Café Krause", "Hamburg", "20099"),
                                    ("Autohaus Petersen", "Norderstedt", "22846"),
                                    ("Blumen Jansen", "Pinneberg", "25421"),
                                    ("Getränke Meyer KG", "Hamburg", "22041")]:
        make_customer(name=name, city=city, postal_code=postal_code, territory_id=world.north.id,
                      owner_id=world.rep.id)
    make_customer(name="Brauhaus Müller", city="München", postal_code="80331",
                  territory_id=world.south.id, owner_id=world.other_rep.id)
    customer_id = world.customer.id

    page = new_page()
    log_in(page, "rep1@example.com")
    page.goto("/customers")
    rows = page.locator("#customer-rows .row")
    expect(rows).to_have_count(5)
    expect(page.get_by_text("Brauhaus Müller")).to_have_count(0)
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "rep_customer_list.png")

    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.get_by_role("searchbox", name="Search customers").fill("Müller")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bäckerei Müller GmbH")
    expect(page).to_have_url(re.compile(r"/customers\?q=M"))
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "rep_customer_search.png")

    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bäckerei Müller GmbH")

    page.get_by_role("article").get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit Bäckerei Müller GmbH")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "rep_customer_edit.png")
    page.get_by_label("Phone").fill(NEW_PHONE)
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(page.get_by_role("status")).to_have_text("Changes saved.")
    expect(page.locator("#customer-phone")).to_have_text(NEW_PHONE)
    expect(page.get_by_role("link", name="Call")).to_have_attribute("href", "tel:+4940987654")
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text(f"changed Phone from “—” to “{NEW_PHONE}”")
    expect(history).to_contain_text("Rita Rep")
    assert_fits_the_phone(page)
    page.screenshot(path=artifacts / "rep_customer_detail.png")
    page.screenshot(path=artifacts / "rep_customer_detail_full.png", full_page=True)

    db.session.expire_all()
    assert db.session.get(Customer, customer_id).phone == NEW_PHONE
    entry = db.session.scalar(sa.select(History).where(History.customer_id == customer_id,
                                                       History.field == "phone"))
    assert (entry.new, entry.user_id) == (NEW_PHONE, world.rep.id)

    other = new_page()
    log_in(other, "rep2@example.com")
    other.goto("/customers")
    expect(other.locator("#customer-rows")).not_to_contain_text("Bäckerei Müller GmbH")
    for path in (f"/customers/{customer_id}", f"/customers/{customer_id}/edit"):
        response = other.goto(path)
        assert response.status == 404
        expect(other.get_by_role("heading", level=1)).to_have_text("404")
        expect(other.get_by_text("Not found.")).to_be_visible()
        expect(other.get_by_text(NEW_PHONE)).to_have_count(0)
    other.screenshot(path=artifacts / "other_rep_customer_404.png")
