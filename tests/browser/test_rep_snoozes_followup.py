"""On the follow-ups list, a snooze the server refuses shows its reason in the row,
as it does on the customer page (visit.js swaps the 422 in; htmx alone drops it)."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from fieldcrm.models import Followup


def test_a_refused_snooze_says_why_in_the_list(world, db, new_page, log_in):
    followup = Followup(customer_id=world.customer.id, title="Muster bringen",
                        due_at=datetime.now(UTC) + timedelta(hours=2),
                        assignee_id=world.rep.id, created_by_id=world.rep.id)
    db.session.add(followup)
    db.session.commit()

    page = new_page()
    log_in(page, "rep1@example.com")
    page.goto("/followups")
    row = page.locator(f"#followup-{followup.id}")
    expect(row).to_contain_text("Muster bringen")
    row.get_by_text("Snooze", exact=True).click()
    row.get_by_role("button", name="Snooze until then").click()
    expect(row.locator(".error")).to_have_text("Choose a date and time.")
    expect(row.locator("details.fu-snooze")).to_have_attribute("open", "")

    row.get_by_label("Snooze until").fill("2031-03-14T09:30")
    row.get_by_role("button", name="Snooze until then").click()
    expect(row.get_by_role("status")).to_be_visible()
    expect(row.locator(".error")).to_have_count(0)
