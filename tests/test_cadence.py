"""Visit cadence: intervals, due and overdue on the user's calendar (zones, summer time),
and the "due for a visit" list."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldcrm.analytics.cadence import (
    DueVisit,
    due_head,
    due_page,
    due_visit,
    due_visits,
    interval_days,
    next_visit,
    visit_due_for,
)
from fieldcrm.models import Customer, User
from fieldcrm.settings import set_setting
from fieldcrm.visits_due import VisitDue

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
INTERVALS = {"A": 14, "B": 30, "C": 90}
ID = uuid.UUID(int=1)


@pytest.mark.parametrize(("abc", "own", "status", "expected"), [
    ("A", None, "customer", 14),
    ("B", None, "at_risk", 30),
    ("C", None, "prospect", 90),
    ("A", 7, "customer", 7),          # the customer's own interval wins
    ("C", None, "lead", None),         # leads and lost customers: no class cadence
    ("B", None, "lost", None),
    (None, 21, "lead", 21),            # but their own interval counts
    (None, None, "customer", None),    # no class yet, no interval
])
def test_interval(abc, own, status, expected):
    assert interval_days(abc, own, status, INTERVALS) == expected


def test_due_on_the_day_and_overdue_by_calendar_days_whatever_the_hour():
    last = datetime(2026, 2, 2, 16, 0, tzinfo=UTC)              # 17:00 in Berlin
    at = lambda y, m, d, h: datetime(y, m, d, h, tzinfo=UTC)    # noqa: E731
    assert due_visit(ID, 14, last, at(2026, 2, 15, 22), BERLIN) is None          # 23:00 the day before
    assert due_visit(ID, 14, last, at(2026, 2, 15, 23), BERLIN).overdue_days == 0  # 00:00 on the day
    assert due_visit(ID, 14, last, at(2026, 2, 16, 8), BERLIN).overdue_days == 0   # before 17:00
    late = due_visit(ID, 14, last, at(2026, 2, 19, 6), BERLIN)
    assert (late.overdue_days, late.due_on, late.interval_days) == (3, date(2026, 2, 16), 14)


def test_summer_time_does_not_move_the_due_day():
    """Visited at 23:30 CET on 15 March; 14 days later is 29 March, the night summer time
    starts. Counting 14 × 24 hours would land at 00:30 CEST on 30 March, a day late."""
    last = datetime(2026, 3, 15, 22, 30, tzinfo=UTC)
    morning = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)            # 10:00 CEST on 29 March
    due = due_visit(ID, 14, last, morning, BERLIN)
    assert (due.overdue_days, due.due_on) == (0, date(2026, 3, 29))
    before = datetime(2026, 3, 28, 22, 59, tzinfo=UTC)           # 23:59 CET on 28 March
    assert due_visit(ID, 14, last, before, BERLIN) is None
    # Summer time ends on 25 October: visited 23:30 CEST on 11 October, due on the 25th.
    autumn = datetime(2026, 10, 11, 21, 30, tzinfo=UTC)
    assert due_visit(ID, 14, autumn, datetime(2026, 10, 24, 21, 59, tzinfo=UTC), BERLIN) is None
    assert due_visit(ID, 14, autumn, datetime(2026, 10, 24, 22, 0, tzinfo=UTC), BERLIN).due_on == \
        date(2026, 10, 25)
    # 22:00 CET on the 26th is one calendar day late, though only 23.5 hours after 14 × 24 h.
    assert due_visit(ID, 14, autumn, datetime(2026, 10, 26, 21, 0, tzinfo=UTC), BERLIN).overdue_days == 1


def test_the_same_moment_is_due_in_one_zone_and_not_yet_in_another():
    """Visited at 23:30 UTC on 10 January: 11 January in Berlin, 10 January in New York."""
    last = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)
    now = datetime(2026, 1, 17, 20, 0, tzinfo=UTC)               # 21:00 Berlin, 15:00 New York
    assert due_visit(ID, 7, last, now, BERLIN) is None           # due 18 January there
    assert due_visit(ID, 7, last, now, NEW_YORK).due_on == date(2026, 1, 17)
    assert next_visit(7, last, now, BERLIN).days_left == 1
    assert next_visit(7, last, now, NEW_YORK).days_left == 0


def test_never_visited_is_due_now_and_no_interval_never_due():
    now = datetime(2026, 5, 5, 9, tzinfo=UTC)
    due = due_visit(ID, 30, None, now, BERLIN)
    assert (due.overdue_days, due.due_on) == (None, date(2026, 5, 5))
    assert isinstance(due, VisitDue)      # the nearby list's badges read it as they are
    assert due_visit(ID, None, None, now, BERLIN) is None
    assert next_visit(None, None, now, BERLIN).interval_days is None
    assert next_visit(30, None, now, BERLIN).is_due


def test_visit_due_for_a_loaded_customer_uses_the_class_setting(db, world):
    customer = db.session.get(Customer, world.customer.id)
    customer.abc_class = "B"
    customer.last_visited_at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    now = datetime(2026, 2, 3, 10, tzinfo=UTC)
    assert visit_due_for(customer, now, BERLIN).overdue_days == 3
    set_setting("visit_interval_days", {"A": 14, "B": 40, "C": 90})
    assert visit_due_for(customer, now, BERLIN) is None


NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def route(world, make_customer):
    """Rita's customers with a known order of due visits, and some that are not due."""
    w = world
    north = {"territory_id": w.north.id}
    ago = lambda days: NOW - timedelta(days=days)   # noqa: E731
    w.late_c = make_customer(name="C spät", abc_class="C", last_visited_at=ago(100), **north)  # 10
    w.late_a = make_customer(name="A spät", abc_class="A", last_visited_at=ago(24), **north)   # 10
    w.today_b = make_customer(name="B heute", abc_class="B", last_visited_at=ago(30), **north)  # 0
    w.never = make_customer(name="Nie besucht", abc_class="A", **north)                      # None
    w.own = make_customer(name="Eigener Takt", visit_interval_days=7, abc_class="C",
                          last_visited_at=ago(12), **north)                                   # 5
    make_customer(name="Nicht fällig", abc_class="A", last_visited_at=ago(3), **north)
    make_customer(name="Lead", status="lead", abc_class="C", **north)
    make_customer(name="Verloren", status="lost", abc_class="B", last_visited_at=ago(300), **north)
    make_customer(name="Ohne Klasse", **north)
    make_customer(name="Gelöscht", abc_class="A", deleted=True, **north)
    world.customer.abc_class = None
    return w


def test_the_due_list_is_sorted_by_how_overdue(db, route):
    due = due_visits(route.rep, NOW, BERLIN)
    names = [db.session.get(Customer, d.customer_id).name for d in due]
    assert names == ["A spät", "C spät", "Eigener Takt", "B heute", "Nie besucht"]
    assert [d.overdue_days for d in due] == [10, 10, 5, 0, None]
    assert all(isinstance(d, DueVisit) for d in due)
    assert due[0].due_on == date(2026, 6, 5)


def test_the_due_list_keeps_to_the_scope(db, route, make_customer):
    make_customer(name="Süden fällig", abc_class="A", territory_id=route.south.id)
    assert "Süden fällig" not in _names(db, due_visits(route.rep, NOW, BERLIN))
    assert "Süden fällig" in _names(db, due_visits(route.other_rep, NOW, BERLIN))
    manager = db.session.get(User, route.manager.id)
    assert "Süden fällig" not in _names(db, due_visits(manager, NOW, BERLIN))
    admin = db.session.get(User, route.admin.id)
    assert "Süden fällig" in _names(db, due_visits(admin, NOW, BERLIN))


def test_the_due_list_of_one_owner(db, route, make_customer):
    make_customer(name="Ritas eigener", abc_class="A", owner_id=route.rep.id,
                  territory_id=route.north.id)
    own = _names(db, due_visits(route.manager, NOW, BERLIN, owner_id=route.rep.id))
    assert own == ["Ritas eigener"]


@pytest.fixture
def frozen(monkeypatch):
    """The views see NOW as the current time."""
    monkeypatch.setattr("fieldcrm.routes.insights.utcnow", lambda: NOW)


def _names(db, due):
    return [db.session.get(Customer, d.customer_id).name for d in due]


def test_due_page_loads_whole_customers_for_the_page_only(db, route):
    rows, total = due_page(route.rep, NOW, BERLIN, offset=1, limit=2)
    assert total == 5
    assert [r.customer.name for r in rows] == ["C spät", "Eigener Takt"]


def test_the_due_page(client, route, frozen):
    client.login("rep1@example.com")
    page = client.get("/due").get_data(as_text=True)
    order = [page.index(name) for name in ("A spät", "C spät", "Eigener Takt", "B heute",
                                            "Nie besucht")]
    assert order == sorted(order)
    assert "Nicht fällig" not in page and "Lead" not in page and "Verloren" not in page
    assert "5 customers are due for a visit" in page
    assert 'data-action="navigate"' in page and 'data-action="prepare"' in page
    assert f'/customers/{route.late_a.id}/prepare' in page
    assert "Overdue by" in page


def test_the_due_page_loads_more_with_htmx(client, route, frozen, monkeypatch):
    monkeypatch.setattr("fieldcrm.routes.insights.DUE_PAGE", 2)
    client.login("rep1@example.com")
    first = client.get("/due").get_data(as_text=True)
    assert "Eigener Takt" not in first and 'id="more-due"' in first
    more = client.get("/due?offset=2", headers={"HX-Request": "true", "HX-Target": "more-due"})
    body = more.get_data(as_text=True)
    assert "HX-Request" in more.headers["Vary"]
    assert "<html" not in body and "Eigener Takt" in body and "B heute" in body
    assert "offset=4" in body
    last = client.get("/due?offset=4", headers={"HX-Request": "true", "HX-Target": "more-due"})
    assert "Nie besucht" in last.get_data(as_text=True)
    assert "more-due" not in last.get_data(as_text=True)


def test_the_due_page_is_empty_politely(client, world):
    client.login("rep2@example.com")
    assert "No customer is due for a visit." in client.get("/due").get_data(as_text=True)


def test_bad_paging_and_owner_values_are_ignored(client, route):
    client.login("manager@example.com")
    for query in ("?offset=-3", "?offset=abc", "?owner=nobody", f"?owner={uuid.uuid4()}"):
        assert client.get("/due" + query).status_code == 200


def test_a_rep_never_sees_another_owner_filter(client, route, frozen):
    client.login("rep1@example.com")
    page = client.get(f"/due?owner={route.other_rep.id}").get_data(as_text=True)
    assert 'name="owner"' not in page
    assert "A spät" in page


def test_the_due_page_counts_days_in_the_users_zone(client, db, world, make_customer, frozen):
    """Visited at 02:00 UTC on 16 May: that is 16 May in Berlin but 15 May in New York,
    so at NOW (15 June) the visit is due today for a rep in Berlin and a day late in New York."""
    make_customer(name="Zeitzone", abc_class="B", territory_id=world.south.id,
                  last_visited_at=datetime(2026, 5, 16, 2, 0, tzinfo=UTC))
    client.login("rep2@example.com")
    assert "Due today" in client.get("/due").get_data(as_text=True)
    db.session.get(User, world.other_rep.id).timezone = "America/New_York"
    db.session.commit()
    assert "Overdue by 1 day" in client.get("/due").get_data(as_text=True)


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, ZoneInfo("Pacific/Auckland")])
def test_the_sql_narrowing_keeps_exactly_the_due_customers(db, world, zone):
    """The per-class bounds in SQL agree with the rule in Python for last visits scattered
    hour by hour around the due days, over the start of summer time."""
    now = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    rng = random.Random(7)
    customers = []
    for n in range(240):
        grade = "ABC"[n % 3]
        days = INTERVALS[grade] + rng.choice((-1, 0, 1))
        last = now - timedelta(days=days, hours=rng.randint(-30, 30))
        own = rng.choice((None, None, None, 10))
        customers.append(Customer(name=f"K{n}", abc_class=grade, status="customer",
                                  territory_id=world.north.id, last_visited_at=last,
                                  visit_interval_days=own))
    db.session.add_all(customers)
    db.session.commit()
    expected = {c.id for c in customers if visit_due_for(c, now, zone, INTERVALS)}
    got = {d.customer_id for d in due_visits(world.rep, now, zone)}
    assert got == expected
    assert 0 < len(expected) < len(customers)


@pytest.mark.parametrize("margin", [0, 1, 20])
@pytest.mark.parametrize("zone", [BERLIN, ZoneInfo("Pacific/Auckland")])
def test_the_head_of_the_due_list_is_the_head_of_the_whole_list(db, world, monkeypatch, zone,
                                                                   margin):
    """due_head() reads only the first rows per class (plus a margin, plus the customers
    visited on the same local day as the last one it needs, plus the never visited when
    they reach into the page): for any page length it equals the whole list's head.
    Many customers share a visiting day and a name, so the ties decide; margin 0 and 1
    make it read the tie days itself."""
    monkeypatch.setattr("fieldcrm.analytics.cadence.TIE_MARGIN", margin)
    now = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    rng = random.Random(11)
    customers = []
    for _ in range(150):
        grade = rng.choice("ABC")
        last = None if rng.random() < 0.15 else \
            now - timedelta(days=INTERVALS[grade] + rng.randint(-1, 4), hours=rng.choice((0, 5, 11, 23)))
        customers.append(Customer(
            name=rng.choice(("Adler", "Bäcker", "Müller", "Zeh")), abc_class=grade,
            status=rng.choice(("customer", "customer", "prospect", "lead")),
            territory_id=world.north.id, last_visited_at=last,
            visit_interval_days=rng.choice((None,) * 6 + (INTERVALS[grade] + 1,))))
    db.session.add_all(customers)
    db.session.commit()
    whole = due_visits(world.rep, now, zone)
    assert len(whole) > 60
    for count in (1, 2, 3, 5, 8, 13, 21, 40, len(whole), len(whole) + 5):
        head, total = due_head(world.rep, now, zone, count)
        assert (head, total) == (whole[:count], len(whole)), count
