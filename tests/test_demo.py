"""`flask fieldcrm demo` fills an empty database once and never touches real data.

Loading the demo takes a few seconds, so each test that needs it loads it once
and checks several things.
"""

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from markupsafe import escape

from fieldcrm.demo import DEMO_EMAILS, DEMO_PASSWORD
from fieldcrm.models import (
    Contact,
    Customer,
    Followup,
    History,
    Order,
    Product,
    Territory,
    User,
    Visit,
)
from fieldcrm.visits_due import visit_due

pytestmark = pytest.mark.slow

MODELS = (User, Territory, Customer, Contact, Product, Visit, Order, Followup, History)


def counts(db) -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in MODELS}


def load(runner):
    result = runner.invoke(args=["fieldcrm", "demo"])
    assert result.exit_code == 0, result.output
    return result


def test_demo_loads_once_with_plausible_data(runner, db):
    first = load(runner)
    assert "rep1@example.com" in first.output and DEMO_PASSWORD in first.output
    loaded = counts(db)
    assert loaded["user"] == 7 and loaded["territory"] == 5
    assert 250 <= loaded["customer"] <= 400
    assert loaded["contact"] >= loaded["customer"]
    assert loaded["product"] >= 40
    assert loaded["visit"] and loaded["order"] and loaded["followup"]
    assert loaded["history"] > loaded["customer"]
    assert set(db.session.scalars(sa.select(User.email))) == DEMO_EMAILS

    again = load(runner)
    assert "already loaded" in again.output
    assert counts(db) == loaded

    customers = db.session.scalars(sa.select(Customer)).all()
    addresses_are_german_and_in_their_territory(db, customers)
    activity_is_consistent(db, customers)


def addresses_are_german_and_in_their_territory(db, customers):
    territories = {t.id: t for t in db.session.scalars(sa.select(Territory))}
    for customer in customers:
        assert re.fullmatch(r"\d{5}", customer.postal_code), customer.postal_code
        assert 47.27 < customer.lat < 55.06 and 5.87 < customer.lon < 15.04, customer.city
        territory = territories[customer.territory_id]
        assert customer.postal_code[:2] in territory.postal_codes
        assert [rep.id for rep in territory.reps] == [customer.owner_id]
        assert customer.phone.startswith("+49 ")
        if customer.abc_class:
            assert customer.visit_interval_days == {"A": 14, "B": 30, "C": 90}[customer.abc_class]
    assert len({c.city for c in customers}) >= 10
    assert {c.status for c in customers} == {"lead", "prospect", "customer", "at_risk", "lost"}
    assert len({c.name for c in customers}) == len(customers)


def activity_is_consistent(db, customers):
    for order in db.session.scalars(sa.select(Order)):
        assert order.lines
        assert sum(line.net for line in order.lines) == order.net_total
        assert sum(line.vat for line in order.lines) == order.vat_total
        assert order.net_total + order.vat_total == order.gross_total
    last_visits = dict(db.session.execute(
        sa.select(Visit.customer_id, sa.func.max(Visit.checked_in_at))
        .where(Visit.outcome != "not_met").group_by(Visit.customer_id)
    ).all())
    for customer in customers:
        assert customer.last_visited_at == last_visits.get(customer.id)
    now = datetime.now(UTC)
    due = [c for c in customers if visit_due(c.visit_interval_days, c.last_visited_at, now)]
    assert 0 < len(due) < len(customers) / 2
    open_followups = db.session.scalars(sa.select(Followup).where(Followup.done_at.is_(None))).all()
    assert any(f.due_at < now for f in open_followups)
    assert any(f.due_at > now for f in open_followups)


def test_demo_logins_work_and_a_rep_sees_only_own_customers(runner, db, make_client):
    load(runner)
    for email in sorted(DEMO_EMAILS):
        client = make_client()
        assert client.login(email, DEMO_PASSWORD).status_code == 302, email
        assert client.get("/customers").status_code == 200, email

    rep = db.session.scalar(sa.select(User).where(User.email == "rep1@example.com"))
    client = make_client()
    client.login("rep1@example.com", DEMO_PASSWORD)
    page = client.get("/customers").get_data(as_text=True)
    customers = db.session.scalars(sa.select(Customer)).all()
    own = [c for c in customers if c.owner_id == rep.id]
    others = [c for c in customers if c.owner_id != rep.id]
    assert own and others
    shown = [c for c in own if f">{escape(c.name)}<" in page]
    assert len(shown) >= min(len(own), 10)
    assert not [c.name for c in others if f">{escape(c.name)}<" in page]


def test_demo_refuses_a_database_with_other_users(runner, db, make_user):
    make_user("admin", email="chefin@firma.de")
    before = counts(db)
    result = runner.invoke(args=["fieldcrm", "demo"])
    assert result.exit_code != 0
    assert "refusing" in result.output and "chefin@firma.de" in result.output
    db.session.rollback()
    assert counts(db) == before


def test_demo_refuses_when_only_some_demo_users_exist(runner, db, make_user):
    make_user("rep", email="rep1@example.com")
    result = runner.invoke(args=["fieldcrm", "demo"])
    assert result.exit_code != 0
    db.session.rollback()
    assert counts(db)["customer"] == 0
