"""Visit preparation: the phone screen a rep reads before walking in."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fieldcrm.analytics.preparation import bar_heights, next_birthday, visit_preparation
from fieldcrm.models import Customer, Followup, Note, Order, OrderLine, Visit

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)      # Monday 10:00 in Berlin
D = Decimal


@pytest.mark.parametrize(("born", "today", "expected"), [
    (date(1970, 6, 15), date(2026, 6, 15), (date(2026, 6, 15), 0, 56)),
    (date(1980, 6, 29), date(2026, 6, 15), (date(2026, 6, 29), 14, 46)),
    (date(1980, 6, 30), date(2026, 6, 15), None),                          # 15 days away
    (date(1990, 6, 14), date(2026, 6, 15), None),                          # yesterday
    (date(1990, 1, 3), date(2026, 12, 25), (date(2027, 1, 3), 9, 37)),     # over New Year
    (date(1988, 2, 29), date(2027, 2, 20), (date(2027, 2, 28), 8, 39)),    # no 29 Feb in 2027
    (date(1988, 2, 29), date(2028, 2, 20), (date(2028, 2, 29), 9, 40)),
    (None, date(2026, 6, 15), None),
])
def test_birthday_hint(born, today, expected):
    found = next_birthday(born, today)
    assert (found and (found.on, found.in_days, found.age)) == expected


def test_bar_heights():
    months = [type("M", (), {"amount": D(a)})() for a in ("0", "1", "50", "100")]
    assert bar_heights(months, D(100), 60) == [0, 2, 30, 60]
    assert bar_heights(months[:1], D(0), 60) == [0]


@pytest.fixture
def customer_file(db, world, make_contact, make_product):
    """Rita's customer with six visits, notes, orders of three products and follow-ups."""
    w = world
    customer = db.session.get(Customer, w.customer.id)
    customer.abc_class = "A"
    customer.last_visited_at = NOW - timedelta(days=20)
    w.birthday = make_contact(customer, name="Berta Geburtstag", birthday=date(1966, 6, 18))
    w.coffee = make_product(name="Kaffee 1 kg", sku="KAF-1", net_price=D("12.50"))
    w.tea = make_product(name="Tee 500 g", sku="TEE-1", net_price=D("8.00"), unit="pc")
    w.sugar = make_product(name="Zucker", sku="ZUC-1", net_price=D("1.00"))
    for n in range(6):
        at = NOW - timedelta(days=20 + 14 * n)
        visit = Visit(customer_id=customer.id, user_id=w.rep.id, checked_in_at=at,
                      checked_out_at=at + timedelta(minutes=30), outcome="order_taken")
        db.session.add(visit)
        db.session.flush()
        db.session.add(Note(customer_id=customer.id, visit_id=visit.id, user_id=w.rep.id,
                            body=f"Besuch {n}: alles gut", created_at=at + timedelta(minutes=20)))
    db.session.add(Note(customer_id=customer.id, user_id=w.rep.id, channel="phone",
                        body="Telefonat: will Angebot", created_at=NOW - timedelta(days=2)))
    db.session.commit()

    def order(status, lines, at, net=None):
        o = Order(customer_id=customer.id, user_id=w.rep.id, status=status, created_at=at,
                  submitted_at=at if status != "draft" else None)
        total = D(0)
        for position, (product, quantity) in enumerate(lines):
            amount = product.net_price * quantity
            total += amount
            o.lines.append(OrderLine(position=position, product_id=product.id, quantity=D(quantity),
                                     unit_price=product.net_price, vat_rate=D("7.00"), net=amount,
                                     vat=D("0")))
        o.net_total = net if net is not None else total
        db.session.add(o)
        db.session.commit()
        return o

    w.order = order
    # 31 March 23:30 in Berlin is 21:30 UTC: March on the rep's calendar.
    order("confirmed", [(w.coffee, 10), (w.tea, 2)], datetime(2026, 3, 31, 21, 30, tzinfo=UTC))
    order("submitted", [(w.tea, 20)], NOW - timedelta(days=3))
    order("confirmed", [(w.sugar, 100)], NOW - timedelta(days=130))     # 6 February
    order("cancelled", [(w.sugar, 1000)], NOW - timedelta(days=5))
    order("confirmed", [(w.sugar, 5000)], NOW - timedelta(days=400))    # older than 12 months
    w.draft = order("draft", [(w.coffee, 1)], NOW - timedelta(days=1))
    db.session.add_all([
        Followup(customer_id=customer.id, title="Angebot schicken", due_at=NOW + timedelta(days=1),
                 assignee_id=w.rep.id),
        Followup(customer_id=customer.id, title="Erledigt", due_at=NOW - timedelta(days=9),
                 done_at=NOW - timedelta(days=8), assignee_id=w.rep.id),
    ])
    db.session.commit()
    return w


def test_what_the_preparation_holds(db, customer_file):
    w = customer_file
    prep = visit_preparation(db.session.get(Customer, w.customer.id), now=NOW, zone=BERLIN)
    assert len(prep.visits) == 5
    assert prep.visits[0].visit.checked_in_at == NOW - timedelta(days=20)
    assert [n.body for n in prep.visits[0].notes] == ["Besuch 0: alles gut"]
    assert [n.body for n in prep.other_notes] == ["Telefonat: will Angebot"]
    assert {o.status for o in prep.open_orders} == {"draft", "submitted"}
    assert [f.title for f in prep.followups] == ["Angebot schicken"]
    assert [(p.sku, p.quantity, p.revenue) for p in prep.products] == [
        ("TEE-1", D(22), D("176.00")), ("KAF-1", D(10), D("125.00")), ("ZUC-1", D(100), D("100.00"))]
    months = {m.month: m.amount for m in prep.months}
    assert list(months)[0] == date(2025, 7, 1) and list(months)[-1] == date(2026, 6, 1)
    assert months[date(2026, 3, 1)] == D("141.00")
    assert months[date(2026, 2, 1)] == D("100.00")
    assert months[date(2026, 4, 1)] == D("0.00")
    assert months[date(2026, 6, 1)] == D("160.00")
    assert prep.revenue_total == D("401.00")
    assert [c.name for c in prep.contacts][0] == "Berta Geburtstag"
    assert prep.birthdays[w.birthday.id].in_days == 3
    assert (prep.next_visit.interval_days, prep.next_visit.days_left) == (14, -6)


def test_a_customer_with_nothing_yet(db, world):
    prep = visit_preparation(db.session.get(Customer, world.other_customer.id), now=NOW, zone=BERLIN)
    assert prep.visits == prep.other_notes == prep.open_orders == prep.products == []
    assert prep.revenue_total == D(0) and len(prep.months) == 12
    assert prep.next_visit.interval_days is None


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("fieldcrm.routes.insights.utcnow", lambda: NOW)


def test_the_preparation_page(client, customer_file, frozen):
    client.login("rep1@example.com")
    response = client.get(f"/customers/{customer_file.customer.id}/prepare")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("Class A", "Overdue by 6 days", "Was due on Jun 9, 2026", "every 14 days",
                 "Birthday in 3 days (18 June)", "turns 60", "Angebot schicken",
                 "Besuch 0: alles gut", "Telefonat: will Angebot", "Tee 500 g", "KAF-1",
                 "<svg class=\"revenue-chart\"", "March 2026: €141.00", "€401.00"):
        assert text in page, text
    assert "Besuch 5" not in page and "Erledigt" not in page
    assert page.count("<rect ") == 12


def test_the_customer_page_links_to_it(client, world):
    client.login("rep1@example.com")
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert f'href="/customers/{world.customer.id}/prepare"' in page


def count_statements(db, call) -> int:
    seen = []
    listener = lambda *args: seen.append(args[2])   # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)


def test_the_page_takes_the_same_few_queries_however_much_history(db, client, customer_file, frozen,
                                                                  make_contact, make_product):
    client.login("rep1@example.com")
    path = f"/customers/{customer_file.customer.id}/prepare"
    client.get(path)
    few = count_statements(db, lambda: client.get(path))
    customer = db.session.get(Customer, customer_file.customer.id)
    for n in range(5):
        make_contact(customer, name=f"Person {n}", birthday=date(1980, 6, 16))
        product = make_product(name=f"Artikel {n}", sku=f"ART-{n}")
        customer_file.order("submitted", [(product, n + 1), (customer_file.coffee, 1)],
                            NOW - timedelta(days=n + 1))
        db.session.add(Followup(customer_id=customer.id, title=f"Aufgabe {n}",
                                due_at=NOW + timedelta(days=n), assignee_id=customer_file.manager.id))
    db.session.commit()
    many = count_statements(db, lambda: client.get(path))
    assert many == few
    assert few <= 14, few
