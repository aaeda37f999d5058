"""Lifecycle signals: at-risk flags with their reasons, recorded in the history, and cleared."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldcrm.analytics.nightly import run_analytics
from fieldcrm.analytics.revenue import CustomerRevenue
from fieldcrm.analytics.risk import flag_at_risk, risk_signal, risk_text, signal_kind
from fieldcrm.models import Customer, History, Order
from fieldcrm.settings import set_setting

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1000)
D = Decimal


def revenue(last_6m="0", previous_6m="0", last_order_days=None) -> CustomerRevenue:
    last = None if last_order_days is None else NOW - timedelta(days=last_order_days)
    return CustomerRevenue(D(last_6m) + D(previous_6m), D(last_6m), D(previous_6m), last)


def signal(rev, created=CREATED):
    return risk_signal(rev, created, NOW, no_order_days=180, drop_pct=50)


def test_no_order_for_too_long():
    assert signal(revenue(last_order_days=214)) == \
        f"no_order:{(NOW - timedelta(days=214)).isoformat()}"
    assert signal(revenue(last_order_days=180)).startswith("no_order:")
    assert signal(revenue(last_6m="10", last_order_days=179)) is None


def test_never_ordered_counts_from_creation():
    assert signal(revenue(), created=NOW - timedelta(days=200)) == \
        f"never_ordered:{(NOW - timedelta(days=200)).isoformat()}"
    assert signal(revenue(), created=NOW - timedelta(days=20)) is None


@pytest.mark.parametrize(("last", "previous", "expected"), [
    ("380.00", "1000.00", "revenue_drop:62"),
    ("500.00", "1000.00", "revenue_drop:50"),   # exactly the threshold: flagged
    ("500.01", "1000.00", None),
    ("0.00", "10.00", "revenue_drop:100"),
    ("100.00", "0.00", None),                   # nothing before: no drop to speak of
    ("2000.00", "1000.00", None),
])
def test_revenue_drop(last, previous, expected):
    assert signal(revenue(last, previous, last_order_days=20)) == expected


def test_no_order_wins_over_a_drop():
    assert signal(revenue("0", "900", last_order_days=200)).startswith("no_order:")


def test_reasons_read_in_the_viewers_words(app):
    with app.test_request_context():
        since = (NOW - timedelta(days=214)).isoformat()
        assert risk_text(f"no_order:{since}", NOW) == "No order for 214 days"
        assert risk_text(f"never_ordered:{since}", NOW) == "No order yet, created 214 days ago"
        assert risk_text("revenue_drop:62", NOW) == "Revenue −62 % vs. the previous 6 months"
        assert risk_text("Wettbewerber-Angebot liegt vor", NOW) == "Wettbewerber-Angebot liegt vor"
        assert risk_text("no_order:kaputt", NOW) == "no_order:kaputt"
        assert risk_text("", NOW) == ""
        assert risk_text(None, NOW) == ""
    assert signal_kind("revenue_drop:5") == "revenue_drop"
    assert signal_kind("Preis: zu hoch") is None


@pytest.fixture
def accounts(db, world, make_customer):
    """A quiet customer, a shrinking one, a steady one, a lead and one at risk by hand."""
    w = world
    north = {"territory_id": w.north.id, "created_at": CREATED}

    def order(customer, net, days_ago, status="confirmed"):
        at = NOW - timedelta(days=days_ago)
        db.session.add(Order(customer_id=customer.id, user_id=w.rep.id, status=status,
                             net_total=D(net), created_at=at, submitted_at=at))
        db.session.commit()

    w.order = order
    w.quiet = make_customer(name="Still", **north)
    order(w.quiet, "500", 214)
    w.shrinking = make_customer(name="Schrumpft", **north)
    order(w.shrinking, "1000", 250)
    order(w.shrinking, "380", 30)
    w.steady = make_customer(name="Stetig", **north)
    order(w.steady, "100", 200)
    order(w.steady, "100", 10)
    order(w.steady, "900", 5, status="draft")
    w.lead = make_customer(name="Interessent", status="lead", **north)
    w.manual = make_customer(name="Von Hand", status="at_risk",
                             risk_reason="Wettbewerber-Angebot liegt vor", **north)
    return w


def test_flags_at_risk_with_the_reason_and_the_history_records_it(db, accounts):
    result = flag_at_risk(NOW)
    db.session.commit()
    assert (result.flagged, result.cleared, result.updated) == (2, 0, 0)
    quiet = db.session.get(Customer, accounts.quiet.id)
    assert (quiet.status, signal_kind(quiet.risk_reason)) == ("at_risk", "no_order")
    shrinking = db.session.get(Customer, accounts.shrinking.id)
    assert (shrinking.status, shrinking.risk_reason) == ("at_risk", "revenue_drop:62")
    for name in ("steady", "lead"):
        customer = db.session.get(Customer, getattr(accounts, name).id)
        assert customer.risk_reason == "" and customer.status in ("customer", "lead")
    manual = db.session.get(Customer, accounts.manual.id)
    assert manual.risk_reason == "Wettbewerber-Angebot liegt vor"
    changes = db.session.execute(
        sa.select(History.field, History.old, History.new, History.user_id)
        .where(History.customer_id == accounts.shrinking.id, History.kind == "change")
        .order_by(History.field)
    ).all()
    assert changes == [("risk_reason", "", "revenue_drop:62", None),
                       ("status", "customer", "at_risk", None)]


def test_flagging_takes_a_new_version_devices_pull(db, accounts):
    before = db.session.get(Customer, accounts.quiet.id).version
    flag_at_risk(NOW)
    db.session.commit()
    assert db.session.get(Customer, accounts.quiet.id).version > before


def test_a_second_run_changes_nothing(db, accounts):
    flag_at_risk(NOW)
    db.session.commit()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(History))
    result = flag_at_risk(NOW + timedelta(days=1))
    db.session.commit()
    assert (result.flagged, result.cleared, result.updated) == (0, 0, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(History)) == count


def test_ordering_again_clears_the_flag_but_a_flag_by_hand_stays(db, accounts):
    flag_at_risk(NOW)
    db.session.commit()
    accounts.order(db.session.get(Customer, accounts.quiet.id), "700", 1)
    result = flag_at_risk(NOW)
    db.session.commit()
    assert result.cleared == 1
    quiet = db.session.get(Customer, accounts.quiet.id)
    assert (quiet.status, quiet.risk_reason) == ("customer", "")
    assert db.session.get(Customer, accounts.manual.id).status == "at_risk"


def test_a_change_of_signal_rewrites_the_reason(db, accounts):
    flag_at_risk(NOW)
    db.session.commit()
    result = flag_at_risk(NOW + timedelta(days=200))   # the drop is now "no order for 230 days"
    db.session.commit()
    assert result.updated == 1
    assert signal_kind(db.session.get(Customer, accounts.shrinking.id).risk_reason) == "no_order"


def test_thresholds_from_the_settings(db, accounts):
    set_setting("at_risk_no_order_days", 365)
    set_setting("at_risk_revenue_drop_pct", 70)
    db.session.commit()
    assert flag_at_risk(NOW).flagged == 1
    # 214 days without an order is not 365, but its last 6 months fell from 500 to 0.
    assert db.session.get(Customer, accounts.quiet.id).risk_reason == "revenue_drop:100"
    assert db.session.get(Customer, accounts.shrinking.id).status == "customer"   # −62 % < 70 %


def test_the_nightly_run_flags_and_the_customer_page_shows_the_reason(db, client, accounts):
    run_analytics(NOW)
    db.session.commit()
    client.login("rep1@example.com")
    page = client.get(f"/customers/{accounts.shrinking.id}/prepare").get_data(as_text=True)
    assert "At risk: Revenue −62 % vs. the previous 6 months" in page


def test_lead_to_customer_moves_are_recorded_by_the_customer_form(db, client, world):
    client.login("rep1@example.com")
    for old, new in (("lead", "prospect"), ("prospect", "customer")):
        customer = db.session.get(Customer, world.customer.id)
        customer.status = old
        db.session.commit()
        response = client.form(f"/customers/{world.customer.id}/edit",
                               {"name": customer.name, "status": new, "country": "DE",
                                "postal_code": "20095", "city": "Hamburg"})
        assert response.status_code == 303
    moves = db.session.execute(
        sa.select(History.old, History.new, History.user_id)
        .where(History.customer_id == world.customer.id, History.field == "status",
               History.user_id.is_not(None))
        .order_by(History.version)
    ).all()
    assert [(old, new) for old, new, _ in moves] == [("lead", "prospect"), ("prospect", "customer")]
    assert {user_id for *_, user_id in moves} == {world.rep.id}
