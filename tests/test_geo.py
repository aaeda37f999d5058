"""Nearest customers: exact k nearest by geodesic distance, equal to a brute-force ranking."""

import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic

from fieldcrm.geo import (
    GEO_INDEX,
    RTREE_CODE_SCALE,
    RTREE_LAT,
    RTREE_LON,
    Box,
    _Search,
    covering_boxes,
    distance_m,
    nearest_customers,
    rank_nearest,
    rtree_scope,
)
from fieldcrm.models import Customer, History
from fieldcrm.scope import customer_scope


def test_distance_matches_geopy():
    assert distance_m(53.55, 9.99, 48.14, 11.58) == pytest.approx(
        geodesic((53.55, 9.99), (48.14, 11.58)).meters, abs=1e-6)


def test_boxes_split_at_antimeridian():
    boxes = covering_boxes(0.0, 179.99, 50_000)
    assert len(boxes) == 2 and any(b.east == 180.0 for b in boxes) and any(b.west == -180.0 for b in boxes)
    assert covering_boxes(89.9, 0, 50_000) == [Box(pytest.approx(89.9 - 0.4527, abs=0.01), -180.0, 90.0, 180.0)]


def test_nearest_equals_brute_force(db, world):
    rng = random.Random(7)
    admin = world.admin
    rows = [Customer(name=f"K{i}", lat=rng.uniform(47, 55), lon=rng.uniform(6, 15),
                     territory_id=world.north.id) for i in range(300)]
    db.session.add_all(rows)
    db.session.commit()
    everyone = [c for c in db.session.query(Customer).all() if c.lat is not None]
    for _ in range(15):
        lat, lon = rng.uniform(46, 56), rng.uniform(5, 16)
        # The world's two customers share a point: ties go to the older customer (lower seq).
        expected = sorted((geodesic((lat, lon), (c.lat, c.lon)).meters, c.seq) for c in everyone)[:20]
        got = nearest_customers(admin, lat, lon, limit=20)
        assert [c.seq for c, _ in got] == [seq for _, seq in expected]
        assert [d for _, d in got] == pytest.approx([d for d, _ in expected], abs=1e-3)


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_scope_reads_only_role_and_id(role):
    """fieldcrm.geo keeps each user's scope clause by (role, id); that is only right while
    customer_scope reads nothing else of the user. If this fails, widen the key in geo._scope."""

    class OnlyRoleAndId:
        def __init__(self):
            self.role, self.id = role, uuid.uuid4()

        def __getattr__(self, name):
            raise AssertionError(f"customer_scope read user.{name}")

    customer_scope(OnlyRoleAndId())
    rtree_scope(OnlyRoleAndId())


def test_rtree_follows_every_customer_write(db, make_customer, make_user, make_territory):
    """SQLite: the triggers keep customer_geo equal to the live located customers, with
    their positions (to 2^-38 degrees) and their territory's and owner's codes (what the
    search reads: no customer rows)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the R*Tree is SQLite's")
    code = sa.literal_column("code") * RTREE_CODE_SCALE

    def index():
        rows = db.session.execute(sa.select(
            GEO_INDEX.c.seq, RTREE_LAT, RTREE_LON,
            sa.select(sa.literal_column("key")).select_from(sa.table("customer_geo_key"))
            .where(code == GEO_INDEX.c.min_territory).scalar_subquery(),
            sa.select(sa.literal_column("key")).select_from(sa.table("customer_geo_key"))
            .where(code == GEO_INDEX.c.min_owner).scalar_subquery())).all()
        return {(seq, round(lat, 10), round(lon, 10), territory, owner)
                for seq, lat, lon, territory, owner in rows}

    def expected():
        return {(seq, round(lat, 10), round(lon, 10), territory and territory.hex, owner and owner.hex)
                for seq, lat, lon, territory, owner in db.session.execute(
                    sa.select(Customer.seq, Customer.lat, Customer.lon, Customer.territory_id,
                              Customer.owner_id).where(
                        ~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None)))}

    rep, other = make_user(), make_user()
    north, south = make_territory(name="Nord"), make_territory(name="Süd")
    moved = make_customer(lat=53.551234567891234, lon=9.993216549873214, owner_id=rep.id,
                          territory_id=north.id)
    unlocated = make_customer(lat=None, lon=None)
    tombstone = make_customer(lat=48.1, lon=11.5)
    gone = make_customer(lat=52.5, lon=13.4)
    assert index() == expected() and len(index()) == 3
    moved.lat, moved.lon = -33.868820123456789, 151.209295987654321
    unlocated.lat, unlocated.lon = 50.1, 8.6
    tombstone.deleted = True
    db.session.commit()
    # Purging a tombstone removes the row (its history first, for the foreign key).
    db.session.execute(sa.delete(History).where(History.customer_id == gone.id))
    db.session.execute(sa.delete(Customer).where(Customer.id == gone.id))
    db.session.commit()
    assert index() == expected()
    assert (moved.seq, -33.8688201235, 151.2092959877, north.id.hex, rep.id.hex) in index()
    assert {row[0] for row in index()} == {moved.seq, unlocated.seq}
    tombstone.deleted = False
    moved.lat = None
    unlocated.owner_id, unlocated.territory_id = other.id, south.id
    db.session.commit()
    assert index() == expected() and {row[0] for row in index()} == {unlocated.seq, tombstone.seq}
    assert (unlocated.seq, 50.1, 8.6, south.id.hex, other.id.hex) in index()
    unlocated.territory_id = None
    db.session.commit()
    assert (unlocated.seq, 50.1, 8.6, None, other.id.hex) in index()


def test_filters_of_any_value_type(db, world):
    """Scope and filter values are inlined into the search's SQL only when they are plain
    strings, numbers or ids; a date or a decimal goes through SQLAlchemy's binds. Either
    way the answer is the brute-force ranking of the customers that pass."""
    rng = random.Random(11)
    rows = [Customer(name=f"K{i}", lat=rng.uniform(53, 54), lon=rng.uniform(9, 10.5),
                     territory_id=world.north.id, revenue_12m=Decimal(i % 7))
            for i in range(120)]
    db.session.add_all(rows)
    db.session.commit()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    for user in (world.admin, world.rep):
        visible = db.session.scalars(sa.select(Customer).where(customer_scope(user))).all()
        for where, passes, inlined in (
            ([Customer.created_at > since], lambda c: True, False),
            ([Customer.revenue_12m >= Decimal("3.00")], lambda c: c.revenue_12m >= 3, False),
            ([Customer.status == "customer", Customer.revenue_12m < Decimal("2")],
             lambda c: c.status == "customer" and c.revenue_12m < 2, False),
            ([Customer.status == "customer", Customer.abc_class.is_(None)],
             lambda c: c.status == "customer" and c.abc_class is None, True),
            ([Customer.name != "it's 100% __geo_param_k__"], lambda c: True, False),
            ([Customer.name != "it's 100% ?"], lambda c: True, True),
        ):
            assert _Search(user, where).literal is inlined
            lat, lon = rng.uniform(53, 54), rng.uniform(9, 10.5)
            expected = sorted((geodesic((lat, lon), (c.lat, c.lon)).meters, c.seq)
                              for c in visible if c.lat is not None and not c.deleted and passes(c))
            got = rank_nearest(user, lat, lon, limit=15, where=where)
            assert [seq for _, seq in got] == [seq for _, seq in expected[:15]]
            assert [d for d, _ in got] == pytest.approx([d for d, _ in expected[:15]], abs=1e-3)


def test_database_errors_surface_as_sqlalchemy_errors(db, world, monkeypatch):
    """The search runs its statements on the DBAPI connection; a failure there still
    reaches the error handlers as SQLAlchemy's exception, with the statement."""
    from fieldcrm import geo

    def broken(search, *_):
        return search.execute("SELECT * FROM no_such_table", ())

    monkeypatch.setattr(geo, "_sqlite_count", broken)
    monkeypatch.setattr(geo._Search, "walk", broken)
    with pytest.raises(sa.exc.DBAPIError) as raised:
        nearest_customers(world.admin, 53.55, 9.99, limit=5)
    assert "no_such_table" in str(raised.value) or "nowhere" in str(raised.value)
    db.session.rollback()


@pytest.mark.parametrize("switch, few", [(5, 0), (5_000, 0), (5_000, 500)])
def test_a_filter_few_pass_ranks_the_filtered_scope(db, world, monkeypatch, switch, few):
    """A filter that few or no customers pass: on SQLite, when few of the first candidates
    pass, the search asks whether at most FILTERED_FEW customers pass at all and ranks
    those; else, after FILTERED_ROWS_MAX candidate rows, it ranks every customer passing
    the filter (one read) instead of growing the circle over the whole map. Every way
    the answer is the brute-force one."""
    from fieldcrm import geo

    monkeypatch.setattr(geo, "FILTERED_ROWS_MAX", switch)
    monkeypatch.setattr(geo, "FILTERED_FEW", few)
    asked = []
    probe = geo._few_eligible
    monkeypatch.setattr(geo, "_few_eligible", lambda search: asked.append(1) or probe(search))
    rng = random.Random(11)
    rows = [Customer(name=f"K{i}", lat=rng.uniform(47, 55), lon=rng.uniform(6, 15),
                     status="lead" if i % 40 else "customer", territory_id=world.north.id)
            for i in range(400)]
    db.session.add_all(rows)
    db.session.commit()
    everyone = [c for c in db.session.scalars(sa.select(Customer)) if c.lat is not None]
    for status, radius in (("customer", None), ("customer", 150_000.0), ("lost", None)):
        lat, lon = rng.uniform(47, 55), rng.uniform(6, 15)
        expected = sorted((geodesic((lat, lon), (c.lat, c.lon)).meters, c.seq)
                          for c in everyone if c.status == status)
        if radius is not None:
            expected = [hit for hit in expected if hit[0] <= radius]
        got = rank_nearest(world.admin, lat, lon, limit=7, radius_m=radius,
                           where=[Customer.status == status])
        assert [seq for _, seq in got] == [seq for _, seq in expected[:7]]
    # 10 of 400 pass "customer": the first candidates show it, and the probe is asked.
    assert bool(asked) == (db.engine.dialect.name == "sqlite")


def test_sqlite_reads_filtered_candidates_by_seq_without_statistics(tmp_path):
    """The rows of a filtered search's candidates are read by their seq, whatever the
    filters: with no statistics (a new database), SQLite would otherwise take the status
    index and read every customer with that status to check the few candidates. On a
    database of its own: the shared one's statistics are other tests' business."""
    from support import migrated_sqlite

    from fieldcrm import geo
    from fieldcrm.models import User

    with migrated_sqlite(tmp_path / "fresh.sqlite") as fresh_db:
        admin = User(email="admin@example.com", name="Ada", role="admin", password_hash="-")
        fresh_db.session.add(admin)
        fresh_db.session.add_all([Customer(name=f"K{i}", lat=53.5 + i * 1e-3, lon=10.0,
                                           status="lead") for i in range(30)])
        fresh_db.session.commit()
        raw = fresh_db.session.connection().connection.driver_connection
        assert not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall()
        statements = []
        geo.statement_hook = lambda sql, parameters: statements.append((sql, parameters))
        try:
            rank_nearest(admin, 53.5, 10.0, limit=5, where=[Customer.status == "lead"])
        finally:
            geo.statement_hook = None
        by_seq = [(sql, p) for sql, p in statements if "json_each" in sql]
        assert by_seq
        for sql, parameters in by_seq:
            plan = " ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, parameters))
            assert "(seq=?)" in plan, plan


def test_columns_read_on_the_walk_equal_the_loaded_rows(db, world):
    """PostgreSQL's walk brings the JSON's columns along (one statement instead of two);
    what it brings must serialize exactly as the rows load_ranked reads."""
    from fieldcrm import geo
    from fieldcrm.api.serialize import CUSTOMER_JSON_COLUMNS, customer_near_json

    rng = random.Random(5)
    db.session.add_all([
        Customer(name=f"K{i}", lat=rng.uniform(53.4, 53.7), lon=rng.uniform(9.8, 10.2),
                 territory_id=world.north.id, revenue_12m=Decimal(f"{i * 101}.5"),
                 last_visited_at=datetime(2026, 11, 1 + i % 20, 8, 30, tzinfo=UTC),
                 abc_class="ABC"[i % 3]) for i in range(60)])
    db.session.commit()
    for user in (world.admin, world.rep):
        for radius in (None, 5_000.0):
            ranked, carried = geo._ranked(user, 53.55, 9.99, 20, radius, [],
                                          tuple(CUSTOMER_JSON_COLUMNS))
            assert (carried is not None) == (db.engine.dialect.name == "postgresql")
            got = nearest_customers(user, 53.55, 9.99, limit=20, radius_m=radius,
                                    columns=CUSTOMER_JSON_COLUMNS)
            loaded = geo.load_ranked(ranked, CUSTOMER_JSON_COLUMNS)
            assert len(got) == len(ranked) > 0
            assert [customer_near_json(*item) for item in got] == [
                customer_near_json(*item) for item in loaded]
