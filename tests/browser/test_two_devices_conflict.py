"""Issue 5's conflict journey: the rep changes a phone number offline; a colleague changes
the same field later on another device; when the rep's phone syncs, the later edit wins,
the rep's value is kept in the customer's history, and the rep is told so."""

import re

import sqlalchemy as sa
from playwright.sync_api import expect
from pwa_support import briefcase_ready

from fieldcrm.models import Customer, History

REP_PHONE = "+49 40 111 1111"
MANAGER_PHONE = "+49 40 222 2222"


def test_later_edit_wins_and_the_rep_sees_the_notice(world, db, profile_page, new_page, log_in, artifacts):
    customer_id = world.customer.id
    rep = profile_page
    log_in(rep, "rep1@example.com")
    briefcase_ready(rep)

    # The rep's phone, offline: the first edit.
    rep.context.set_offline(True)
    rep.goto(f"/customers/{customer_id}")
    expect(rep.locator("body.offline-shell")).to_have_count(1)
    edit = rep.locator("form[data-form=customer]")
    edit.get_by_label("Phone").fill(REP_PHONE)
    edit.get_by_role("button", name="Save").click()
    expect(rep.locator("#sync-status")).to_have_text("Offline · 1 change waiting")

    # The manager's device, online: a later edit of the same field.
    manager = new_page()
    log_in(manager, "manager@example.com")
    manager.goto(f"/customers/{customer_id}/edit")
    manager.get_by_label("Phone").fill(MANAGER_PHONE)
    manager.get_by_role("button", name="Save").click()
    expect(manager).to_have_url(re.compile(rf"/customers/{customer_id}$"))

    rep.context.set_offline(False)
    expect(rep.locator("#sync-status")).to_have_text(re.compile(r"^Synced just now"), timeout=15_000)
    notice = rep.locator("#offline-screen [data-notice=conflict]")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text(f"Your change to Phone (“{REP_PHONE}”) was replaced by a later change")
    expect(notice).to_contain_text(MANAGER_PHONE)
    expect(notice).to_be_in_viewport()
    expect(rep.locator("form[data-form=customer]").get_by_label("Phone")).to_have_value(MANAGER_PHONE)
    rep.screenshot(path=artifacts / "conflict_offline_notice.png")

    db.session.expire_all()
    assert db.session.get(Customer, customer_id).phone == MANAGER_PHONE
    entry = db.session.scalars(sa.select(History).where(History.customer_id == customer_id,
                                                        History.kind == "conflict")).one()
    assert (entry.field, entry.old, entry.new, entry.user_id) == ("phone", REP_PHONE, MANAGER_PHONE, world.rep.id)

    # Online pages show the notices too, with the way to the customer; the history keeps both.
    rep.goto("/customers")
    banner = rep.locator("#sync-notices [data-notice=conflict]")
    expect(banner).to_contain_text(REP_PHONE)
    rep.screenshot(path=artifacts / "conflict_online_notice.png")
    banner.get_by_role("link", name="Show").click()
    expect(rep).to_have_url(re.compile(rf"/customers/{customer_id}$"))
    expect(rep.locator("#history")).to_contain_text(REP_PHONE)
    # Dismissed on the phone's customer page (offline), the notice is gone everywhere.
    rep.context.set_offline(True)
    rep.reload()
    notice.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)
    rep.context.set_offline(False)
    rep.goto("/customers")
    expect(rep.locator("#sync-notices")).to_be_hidden()
