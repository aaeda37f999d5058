"""ABC analysis: hand-computed classes, what counts as revenue, manual classes, the nightly job."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldcrm.analytics.abc import classify, recompute_abc
from fieldcrm.analytics.nightly import JOB_KIND, next_run_at, run_analytics, schedule_nightly
from fieldcrm.analytics.periods import month_starts, months_before
from fieldcrm.jobs import work
from fieldcrm.models import Customer, History, Job, Order
from fieldcrm.settings import set_setting

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
D = Decimal


def keys(n: int) -> list[str]:
    return [f"c{i}" for i in range(1, n + 1)]


def test_classes_of_a_known_data_set():
    """Total 1,000: c1 and c2 make exactly the first 80 % (A), c3 and c4 the next 15 % (B)."""
    revenues = dict(zip(keys(7), map(D, ("500", "300", "100", "50", "30", "20", "0")), strict=True))
    assert classify(revenues.items(), (80, 95)) == {
        "c1": "A", "c2": "A", "c3": "B", "c4": "B", "c5": "C", "c6": "C", "c7": "C"}


def test_the_customer_crossing_a_threshold_takes_the_better_class():
    """c2 starts at 60 % and ends at 90 %: it is part of the first 80 %, so A."""
    revenues = {"c1": D(600), "c2": D(300), "c3": D(60), "c4": D(40)}
    assert classify(revenues.items(), (80, 95)) == {"c1": "A", "c2": "A", "c3": "B", "c4": "C"}


def test_one_customer_with_most_of_the_revenue_is_a():
    assert classify([("big", D(900)), ("small", D(100))], (80, 95)) == {"big": "A", "small": "B"}


def test_ties_at_a_threshold_share_the_class_of_the_first_of_them():
    """700, then three customers with 100 each: the group starts at 70 % < 80 %, so all A,
    whatever their names or ids; ranked singly they would have been A, B and C."""
    revenues = [("z", D(100)), ("top", D(700)), ("a", D(100)), ("m", D(100))]
    assert classify(revenues, (80, 95)) == dict.fromkeys(("top", "z", "a", "m"), "A")
    assert classify([("x", D(50)), ("y", D(50))], (80, 95)) == {"x": "A", "y": "A"}


def test_a_tie_just_at_the_line_goes_below():
    """The group of ties starts exactly at 80 %: B, not A (A is "below 80 % before it")."""
    revenues = [("a", D(400)), ("b", D(400)), ("c", D(100)), ("d", D(100))]
    assert classify(revenues, (80, 95)) == {"a": "A", "b": "A", "c": "B", "d": "B"}


def test_zero_revenue_is_c_even_when_nobody_has_revenue():
    assert classify([("a", D(0)), ("b", D(0))], (80, 95)) == {"a": "C", "b": "C"}
    assert classify([], (80, 95)) == {}


def test_thresholds_come_from_the_caller():
    revenues = dict(zip(keys(4), map(D, ("500", "300", "150", "50")), strict=True))
    assert classify(revenues.items(), (50, 80)) == {"c1": "A", "c2": "B", "c3": "C", "c4": "C"}


def test_months_before_clamps_to_the_end_of_the_month():
    assert months_before(datetime(2026, 5, 31, 8, tzinfo=UTC), 3) == datetime(2026, 2, 28, 8, tzinfo=UTC)
    assert months_before(datetime(2028, 2, 29, tzinfo=UTC), 12) == datetime(2027, 2, 28, tzinfo=UTC)
    assert months_before(NOW, 12) == datetime(2025, 6, 15, 12, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 10, tzinfo=UTC), 1) == datetime(2025, 12, 10, tzinfo=UTC)
    assert month_starts(datetime(2026, 2, 3).date(), 3) == [
        datetime(2025, 12, 1).date(), datetime(2026, 1, 1).date(), datetime(2026, 2, 1).date()]


@pytest.fixture
def order_for(db, world):
    def make(customer, net, *, status="submitted", at=NOW - timedelta(days=30), deleted=False):
        order = Order(customer_id=customer.id, user_id=world.rep.id, status=status,
                      net_total=Decimal(net), created_at=at, deleted=deleted,
                      submitted_at=at if status in ("submitted", "confirmed", "cancelled") else None)
        db.session.add(order)
        db.session.commit()
        return order
    return make


@pytest.fixture
def shop(world, make_customer, order_for):
    """Five customers with known revenue: 600, 200, 100 (confirmed), 100, 0 of 1,000."""
    w = world
    w.c600 = w.customer
    w.c200 = w.other_customer
    w.c100 = make_customer(name="Café Kranz", territory_id=w.north.id)
    w.c100b = make_customer(name="Blumen Berg", territory_id=w.north.id)
    w.c0 = make_customer(name="Kiosk Null", territory_id=w.north.id)
    order_for(w.c600, "600.00")
    order_for(w.c200, "150.00")
    order_for(w.c200, "50.00", status="confirmed")
    order_for(w.c100, "100.00", status="confirmed")
    order_for(w.c100b, "100.00")
    return w


def test_recompute_stores_classes_and_revenue(db, shop):
    result = recompute_abc(NOW)
    db.session.commit()
    got = {c.name: (c.abc_class, c.revenue_12m) for c in db.session.scalars(sa.select(Customer))}
    assert got == {
        shop.c600.name: ("A", D("600.00")),   # 0 % before it
        shop.c200.name: ("A", D("200.00")),   # 60 % before: part of the first 80 %
        "Café Kranz": ("B", D("100.00")),     # tie with Blumen Berg at 80 % before: both B
        "Blumen Berg": ("B", D("100.00")),
        "Kiosk Null": ("C", D("0.00")),
    }
    assert result.class_changes == 5 and result.customers == 5
    assert result.classes == {"A": 2, "B": 2, "C": 1}


def test_drafts_cancelled_deleted_and_old_orders_do_not_count(db, world, make_customer, order_for):
    start = months_before(NOW, 12)
    counted = make_customer(name="Zählt", territory_id=world.north.id)
    order_for(counted, "10.00", at=start)                          # the window's first instant
    order_for(counted, "1000.00", status="draft", at=NOW - timedelta(days=1))
    order_for(counted, "1000.00", status="cancelled", at=NOW - timedelta(days=1))
    order_for(counted, "1000.00", deleted=True)
    order_for(counted, "1000.00", at=start - timedelta(seconds=1))  # one second too old
    order_for(counted, "1000.00", at=NOW + timedelta(days=1))        # not placed yet at NOW
    recompute_abc(NOW)
    db.session.commit()
    assert db.session.get(Customer, counted.id).revenue_12m == D("10.00")


def test_a_draft_created_long_ago_and_submitted_lately_counts_from_its_submission(db, world, order_for):
    order = order_for(world.customer, "80.00", at=NOW - timedelta(days=3))
    order.created_at = NOW - timedelta(days=500)
    db.session.commit()
    recompute_abc(NOW)
    db.session.commit()
    assert db.session.get(Customer, world.customer.id).revenue_12m == D("80.00")


def test_a_manual_class_is_kept_and_its_revenue_still_stored(db, shop):
    shop.c0.abc_class, shop.c0.abc_manual = "A", True
    db.session.commit()
    version = db.session.get(Customer, shop.c0.id).version
    shop_big = db.session.get(Customer, shop.c600.id)
    shop_big.abc_class, shop_big.abc_manual = "C", True
    db.session.commit()
    recompute_abc(NOW)
    db.session.commit()
    assert db.session.get(Customer, shop.c0.id).abc_class == "A"
    assert db.session.get(Customer, shop.c0.id).version == version
    big = db.session.get(Customer, shop.c600.id)
    assert (big.abc_class, big.revenue_12m) == ("C", D("600.00"))
    # Its revenue still ranks: the 200 customer starts at 60 % and stays A.
    assert db.session.get(Customer, shop.c200.id).abc_class == "A"


def test_class_changes_take_a_version_and_a_history_entry_revenue_alone_does_not(db, shop, order_for):
    recompute_abc(NOW)
    db.session.commit()
    before = {c.id: c.version for c in db.session.scalars(sa.select(Customer))}
    counter = db.session.execute(sa.text("SELECT value FROM sync_counter")).scalar_one()
    order_for(shop.c600, "60.00")          # 660 of 1,060: still A, revenue changes
    order_for(shop.c0, "5.00")             # 5 of 1,065: C stays C, revenue changes
    recompute_abc(NOW)
    db.session.commit()
    after = {c.id: (c.version, c.revenue_12m) for c in db.session.scalars(sa.select(Customer))}
    assert after[shop.c600.id] == (before[shop.c600.id], D("660.00"))
    assert after[shop.c0.id] == (before[shop.c0.id], D("5.00"))
    order_for(shop.c100b, "400.00")        # 500 of 1,465: B → A (0 % before it now)
    recompute_abc(NOW)
    db.session.commit()
    moved = db.session.get(Customer, shop.c100b.id)
    assert moved.abc_class == "A" and moved.version > counter
    assert moved.updated_at is not None
    entries = db.session.scalars(sa.select(History).where(
        History.customer_id == shop.c100b.id, History.field == "abc_class")
        .order_by(History.version)).all()
    # The first class (from none) is no entry; the move from B to A is one, by "System".
    assert [(e.old, e.new, e.user_id, e.kind) for e in entries] == [("B", "A", None, "change")]
    assert entries[-1].version > moved.version


def test_deleted_customers_are_left_alone(db, shop):
    shop.c0.deleted = True
    db.session.commit()
    version = db.session.get(Customer, shop.c0.id).version
    recompute_abc(NOW)
    db.session.commit()
    gone = db.session.get(Customer, shop.c0.id)
    assert (gone.abc_class, gone.version) == (None, version)


def test_thresholds_from_the_settings(db, shop):
    set_setting("abc_thresholds_pct", [50, 70])
    db.session.commit()
    recompute_abc(NOW)
    db.session.commit()
    assert db.session.get(Customer, shop.c600.id).abc_class == "A"
    assert db.session.get(Customer, shop.c200.id).abc_class == "B"   # 60 % before: < 70 %
    assert db.session.get(Customer, shop.c100.id).abc_class == "C"   # 80 % before


def test_customers_loaded_before_the_bulk_update_are_refreshed(db, shop):
    loaded = db.session.get(Customer, shop.c600.id)
    recompute_abc(NOW)
    assert loaded.abc_class == "A"


def test_the_job_runs_abc_and_queues_the_next_night(db, shop):
    db.session.add(Job(kind=JOB_KIND, payload={"nightly": True}, run_at=NOW - timedelta(hours=1)))
    db.session.commit()
    before = datetime.now(UTC)
    assert work(once=True) == 1
    after = datetime.now(UTC)
    assert db.session.get(Customer, shop.c600.id).abc_class == "A"
    queued = db.session.scalars(sa.select(Job).where(Job.kind == JOB_KIND, Job.status == "queued")).all()
    assert len(queued) == 1
    assert queued[0].run_at in {next_run_at(before), next_run_at(after)}
    assert queued[0].payload == {"nightly": True}
    done = db.session.scalars(sa.select(Job).where(Job.status == "done")).all()
    assert [j.kind for j in done] == [JOB_KIND]


def test_scheduling_never_doubles_the_chain(db, world):
    assert schedule_nightly(NOW) is not None
    db.session.commit()
    assert schedule_nightly(NOW) is None
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 1, 10, 12, 0, tzinfo=UTC), datetime(2026, 1, 11, 1, 0, tzinfo=UTC)),     # CET
    (datetime(2026, 1, 10, 0, 30, tzinfo=UTC), datetime(2026, 1, 10, 1, 0, tzinfo=UTC)),     # 01:30 local
    (datetime(2026, 7, 1, 10, 0, tzinfo=UTC), datetime(2026, 7, 2, 0, 0, tzinfo=UTC)),       # CEST
    (datetime(2026, 7, 1, 0, 0, tzinfo=UTC), datetime(2026, 7, 2, 0, 0, tzinfo=UTC)),        # 02:00 sharp
    # Summer time starts at 02:00 on 29 March 2026: that night's run is at 03:00 CEST.
    (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    # Summer time ends on 25 October 2026: 02:00 CEST comes first.
    (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
])
def test_next_run_is_at_two_in_berlin(now, expected):
    assert next_run_at(now) == expected


def test_the_command_recomputes_and_schedules(db, shop, runner):
    result = runner.invoke(args=["fieldcrm", "abc"])
    assert result.exit_code == 0, result.output
    assert "5 customers (A 2, B 2, C 1)" in result.output
    assert "nightly run queued for" in result.output
    assert db.session.get(Customer, shop.c600.id).abc_class == "A"
    result = runner.invoke(args=["fieldcrm", "abc", "--schedule"])
    assert result.exit_code == 0 and result.output == ""


def test_the_nightly_run_does_abc_then_the_risk_signals(db, shop):
    later = NOW + timedelta(days=200)          # every order is more than 180 days old then
    result = run_analytics(later)
    db.session.commit()
    assert result.abc.customers == 5
    assert result.risk.flagged == 4           # the one without any order was created just now
    assert str(result).startswith("ABC: 5 customers")
    assert db.session.get(Customer, shop.c600.id).status == "at_risk"


def test_a_class_set_by_hand_during_the_run_is_kept(db, shop, monkeypatch):
    """Between reading and writing, someone sets a class by hand: the write leaves it."""
    import fieldcrm.analytics.abc as abc

    real = abc.classify

    def classify_then_edit(*args):
        db.session.execute(sa.update(Customer).where(Customer.id == shop.c0.id)
                           .values(abc_class="A", abc_manual=True))
        return real(*args)

    monkeypatch.setattr(abc, "classify", classify_then_edit)
    recompute_abc(NOW)
    db.session.commit()
    kept = db.session.get(Customer, shop.c0.id)
    assert (kept.abc_class, kept.abc_manual) == ("A", True)
    assert db.session.get(Customer, shop.c600.id).abc_class == "A"
