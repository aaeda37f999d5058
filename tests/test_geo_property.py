"""Property tests: nearest customers equal a brute-force geodesic ranking, on both databases.

For random customers (clusters, several at one point, near the antimeridian and the
poles, without coordinates, tombstoned, out of scope) and random query points,
``nearest_customers`` must return exactly what ranking every eligible customer by
geopy's geodesic distance returns: the same customers in the same order, where two
customers whose distances differ by less than a millimetre may swap.
"""

import importlib.util
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from geopy.distance import geodesic
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy.dialects import sqlite as sqlite_dialect

from fieldcrm.customers.operations import CUSTOMER_FIELDS
from fieldcrm.geo import (
    GEO_INDEX,
    RTREE_CODE_SCALE,
    RTREE_LAT,
    RTREE_LON,
    RTREE_PAD_DEG,
    _near_longitude,
    covering_boxes,
    mercator,
    mercator_reach_m,
    nearest_customers,
    planar_bound,
    rank_nearest,
)
from fieldcrm.models import Customer
from fieldcrm.scope import customer_scope
from fieldcrm.validation import clean
from fieldcrm.versioning import allocate_versions

TIE_M = 1e-3
GEOD = Geod(ellps="WGS84")
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)


@st.composite
def places(draw, centres):
    """A point: near one of ``centres``, at the antimeridian, at a pole, or anywhere."""
    kind = draw(st.sampled_from(["cluster", "cluster", "cluster", "antimeridian", "pole", "anywhere"]))
    if kind == "cluster":
        lat, lon = draw(st.sampled_from(centres))
        bearing = draw(st.floats(0, 360))
        metres = draw(st.sampled_from([0.0, 0.5, 5.0, 50.0]) | st.floats(0, 30_000))
        lon, lat, _ = GEOD.fwd(lon, lat, bearing, metres)
        return float(np.clip(lat, -90, 90)), float(((lon + 180) % 360) - 180)
    if kind == "antimeridian":
        side = draw(st.sampled_from([-1, 1]))
        return draw(st.floats(-70, 70)), side * draw(st.floats(179.0, 180.0))
    if kind == "pole":
        side = draw(st.sampled_from([-1, 1]))
        return side * draw(st.floats(89.0, 90.0)), draw(longitudes)
    return draw(latitudes), draw(longitudes)


centre_lists = st.lists(st.tuples(st.floats(-85, 85), longitudes) |
                        st.sampled_from([(53.55, 9.99), (0.0, 179.99), (-0.5, -179.9),
                                         (89.99, 0.0), (-89.95, 120.0)]),
                        min_size=1, max_size=4)


@st.composite
def customer_sets(draw):
    """Customers as dicts (point or None, deleted, scope slot, status) and the cluster centres."""
    centres = draw(centre_lists)
    customers = []
    for _ in range(draw(st.integers(0, 40))):
        if customers and draw(st.integers(0, 5)) == 0:
            point = draw(st.sampled_from(customers))["point"]
        elif draw(st.integers(0, 9)) == 0:
            point = None
        else:
            point = draw(places(centres))
        customers.append({
            "point": point,
            "deleted": draw(st.integers(0, 9)) == 0,
            "slot": draw(st.sampled_from(["mine", "owned", "team", "other", "nobody"])),
            "status": draw(st.sampled_from(["customer", "lead"])),
        })
    return customers, centres


@st.composite
def queries(draw, customers, centres):
    """A query point, a limit and maybe a radius (sometimes exactly a customer's distance)."""
    located = [c["point"] for c in customers if c["point"]]
    if located and draw(st.booleans()):
        lat, lon = draw(st.sampled_from(located))
        if draw(st.booleans()):
            lon, lat, _ = GEOD.fwd(lon, lat, draw(st.floats(0, 360)), draw(st.floats(0, 5_000)))
            lat, lon = float(np.clip(lat, -90, 90)), float(((lon + 180) % 360) - 180)
    else:
        lat, lon = draw(places(centres))
    limit = draw(st.integers(1, 8) | st.integers(1, 60))
    radius = draw(st.none() | st.sampled_from([0.0, 1.0, 500.0, 25_000.0, 1_000_000.0,
                                               10_000_000.0, 20_000_000.0]) | st.floats(0, 3e6))
    if radius is not None and located and draw(st.booleans()):
        target = draw(st.sampled_from(located))
        radius = geodesic((lat, lon), target).meters
    return lat, lon, limit, radius


@pytest.fixture
def people(make_user, make_territory):
    """Who asks: an admin, a rep of territory A, the manager of A, and a rep of territory B."""
    class People:
        pass

    p = People()
    p.admin = make_user("admin")
    p.manager = make_user("manager")
    p.rep = make_user("rep")
    p.other = make_user("rep")
    p.mine = make_territory("A", manager=p.manager, reps=[p.rep])
    p.theirs = make_territory("B", reps=[p.other])
    return p


def replace_customers(db, people, customers: list[dict]) -> list[dict]:
    """Delete every customer and insert ``customers`` in one executemany; the rows as inserted."""
    db.session.execute(sa.delete(Customer))
    if not customers:
        return []
    first = allocate_versions(db.session, len(customers))
    slots = {
        "mine": {"territory_id": people.mine.id, "owner_id": people.other.id},
        "owned": {"territory_id": people.theirs.id, "owner_id": people.rep.id},
        "team": {"territory_id": None, "owner_id": people.manager.id},
        "other": {"territory_id": people.theirs.id, "owner_id": people.other.id},
        "nobody": {"territory_id": None, "owner_id": None},
    }
    rows = []
    for number, customer in enumerate(customers):
        lat, lon = customer["point"] or (None, None)
        rows.append({"name": f"K{number}", "lat": lat, "lon": lon, "deleted": customer["deleted"],
                     "status": customer["status"], "version": first + number,
                     "seq": first + number, **slots[customer["slot"]]})
    db.session.execute(sa.insert(Customer.__table__), rows)
    ids = db.session.execute(sa.select(Customer.seq, Customer.id)).all()
    by_seq = dict(ids)
    for row in rows:
        row["id"] = by_seq[row["seq"]]
    return rows


def visible_ids(db, user, where=()) -> set:
    return set(db.session.scalars(sa.select(Customer.id).where(customer_scope(user), *where)))


def brute_force(rows: list[dict], visible: set, lat: float, lon: float,
                status: str | None, owner_id=None) -> list[tuple[float, int]]:
    """(geopy geodesic metres, seq) of every live located visible customer, nearest first."""
    return sorted(
        (geodesic((lat, lon), (row["lat"], row["lon"])).meters, row["seq"])
        for row in rows
        if row["id"] in visible and not row["deleted"] and row["lat"] is not None
        and row["lon"] is not None and (status is None or row["status"] == status)
        and (owner_id is None or row["owner_id"] == owner_id)
    )


def assert_same_ranking(got: list[tuple[float, int]], expected: list[tuple[float, int]],
                        limit: int, radius: float | None) -> None:
    """``got`` is the brute-force answer, up to ties closer than a millimetre.

    With a radius, customers within a millimetre of its edge may be in or out.
    """
    truth = {seq: d for d, seq in expected}
    seqs = [seq for _, seq in got]
    assert len(set(seqs)) == len(seqs), "a customer appears twice"
    for d, seq in got:
        assert seq in truth, "a customer that is out of scope, deleted or unlocated was returned"
        assert d == pytest.approx(truth[seq], abs=TIE_M)
    distances = [d for d, _ in got]
    assert distances == sorted(distances)
    for (d1, s1), (d2, s2) in zip(got, got[1:], strict=False):
        assert d1 < d2 or s1 < s2, "exact ties must be ordered by seq"
    if radius is not None:
        assert all(d <= radius for d in distances)
        sure = [(d, s) for d, s in expected if d <= radius - TIE_M]
        possible = [(d, s) for d, s in expected if d <= radius + TIE_M]
    else:
        sure = possible = expected
    assert min(limit, len(sure)) <= len(got) <= min(limit, len(possible))
    for position, (d, _) in enumerate(got):
        assert d == pytest.approx(possible[position][0], abs=TIE_M)
    cutoff = distances[-1] - TIE_M if len(got) == limit else math.inf
    missing = [s for d, s in sure if d < cutoff and s not in set(seqs)]
    assert not missing, "a customer closer than the last one returned is missing"


def test_nearest_equals_brute_force(db, people):
    users = [people.admin, people.rep, people.manager, people.other]
    owners = [people.rep.id, people.other.id, people.manager.id]

    @SETTINGS
    @given(data=st.data(), drawn=customer_sets())
    def check(data, drawn):
        customers, centres = drawn
        rows = replace_customers(db, people, customers)
        visible = {user.id: visible_ids(db, user) for user in users}
        for _ in range(3):
            lat, lon, limit, radius = data.draw(queries(customers, centres))
            status = data.draw(st.none() | st.just("customer"))
            where = [Customer.status == status] if status else []
            # The owner filter is in the indexes (SQLite: the R*Tree's owner code).
            owner = data.draw(st.none() | st.sampled_from(owners))
            user = data.draw(st.sampled_from(users))
            expected = brute_force(rows, visible[user.id], lat, lon, status, owner)
            got = rank_nearest(user, lat, lon, limit=limit, radius_m=radius, where=where,
                               owner_id=owner)
            assert_same_ranking(got, expected, limit, radius)

    check()


def test_nearest_customers_returns_rows_in_ranking_order(db, people):
    rows = replace_customers(db, people, [
        {"point": (53.55 + i * 0.001, 9.99), "deleted": False, "slot": "mine", "status": "lead"}
        for i in range(5)
    ])
    found = nearest_customers(people.rep, 53.55, 9.99, limit=3)
    assert [c.seq for c, _ in found] == [r["seq"] for r in rows[:3]]
    assert [d for _, d in found] == pytest.approx(
        [geodesic((53.55, 9.99), (r["lat"], r["lon"])).meters for r in rows[:3]], abs=TIE_M)


def test_many_customers_many_points(db, people):
    """One larger data set (dense clusters, sparse background, the antimeridian, the poles)
    and many random points, limits and radii: the search takes several rounds here."""
    rng = np.random.default_rng(3)
    centres = [(48.14, 11.58), (53.55, 9.99), (0.0, 179.95), (89.9, 10.0), (-89.9, -170.0)]
    points = []
    for lat, lon in centres:
        count = 300
        bearings = rng.uniform(0, 360, count)
        metres = rng.exponential(3_000, count)
        lons, lats, _ = GEOD.fwd(np.full(count, lon), np.full(count, lat), bearings, metres)
        points += list(zip(np.clip(lats, -90, 90), ((lons + 180) % 360) - 180, strict=True))
    points += list(zip(rng.uniform(-90, 90, 300), rng.uniform(-180, 180, 300), strict=True))
    slots = ["mine", "owned", "team", "other", "nobody"]
    customers = [{"point": (float(lat), float(lon)), "deleted": rng.random() < 0.05,
                  "slot": slots[n % 5], "status": "customer"} for n, (lat, lon) in enumerate(points)]
    rows = replace_customers(db, people, customers)
    users = [people.admin, people.rep, people.manager]
    visible = {user.id: visible_ids(db, user) for user in users}

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(user=st.sampled_from(users), near=st.sampled_from(centres + [None]),
           offset=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)),
           anywhere=st.tuples(latitudes, longitudes), limit=st.integers(1, 120),
           radius=st.none() | st.sampled_from([100.0, 2_000.0, 10_000.0, 10_000_000.0]))
    def check(user, near, offset, anywhere, limit, radius):
        if near is None:
            lat, lon = anywhere
        else:
            lat = float(np.clip(near[0] + offset[0], -90, 90))
            lon = ((near[1] + offset[1] + 180) % 360) - 180
        assume(-90 <= lat <= 90)
        expected = sorted_exact(rows, visible[user.id], lat, lon)
        got = rank_nearest(user, lat, lon, limit=limit, radius_m=radius)
        assert_same_ranking(got, expected, limit, radius)

    check()


@pytest.mark.parametrize("lon", [179.9, -179.99999, 10.0])
def test_crowd_a_metre_apart(db, people, lon):
    """Eighty customers half a metre apart, where SQLite's 32-bit R*Tree positions are off by
    up to a metre and so list them slightly out of order: every limit still gets exactly the
    nearest ones (the search must read past the rough order, not stop at it)."""
    customers = [{"point": (0.3 + n * 4.5e-6, lon + (n % 7) * 3e-6), "deleted": False,
                  "slot": "mine" if n % 3 else "other", "status": "customer"} for n in range(80)]
    rows = replace_customers(db, people, customers)
    for user in (people.admin, people.rep):
        visible = visible_ids(db, user)
        for lat_, lon_ in ((0.3, lon), (0.3 + 40 * 4.5e-6, lon + 1e-5), (0.2999, lon)):
            expected = brute_force(rows, visible, lat_, lon_, None)
            for limit in (1, 2, 5, 13, 20, 33, 60):
                got = rank_nearest(user, lat_, lon_, limit=limit)
                assert_same_ranking(got, expected, limit, None)
                got = rank_nearest(user, lat_, lon_, limit=limit, radius_m=8.0)
                assert_same_ranking(got, expected, limit, 8.0)


def sorted_exact(rows, visible, lat, lon):
    """The brute force of ``brute_force`` for many rows: pyproj for all, geopy for the nearest.

    pyproj and geopy implement the same algorithm (Karney 2013); geopy re-measures the
    nearest 150 so that the answer is still checked against geopy's numbers.
    """
    eligible = [r for r in rows if r["id"] in visible and not r["deleted"]]
    lats = np.array([r["lat"] for r in eligible])
    lons = np.array([r["lon"] for r in eligible])
    coarse = GEOD.inv(np.full(len(eligible), lon), np.full(len(eligible), lat), lons, lats)[2]
    order = np.argsort(coarse)
    near = [(geodesic((lat, lon), (eligible[i]["lat"], eligible[i]["lon"])).meters,
             eligible[i]["seq"]) for i in order[:150]]
    far = [(float(coarse[i]), eligible[i]["seq"]) for i in order[150:]]
    return sorted(near) + far


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lat=latitudes | st.sampled_from([89.0, 89.9, 89.999, -89.99, 75.0, 85.0, 0.0]),
       lon=longitudes | st.sampled_from([-180.0, 180.0, 179.999, -179.999, 0.0]),
       radius=st.floats(0.5, 12_000_000) | st.sampled_from([1.0, 1_000.0, 100_000.0, 5e6, 1e7]))
def test_covering_boxes_contain_the_circle(lat, lon, radius):
    """Points at exactly ``radius`` in 360 bearings, and inside it, all lie in one of the boxes."""
    boxes = covering_boxes(lat, lon, radius)
    bearings = np.arange(0, 360, 1.0)
    for fraction in (1.0, 0.999, 0.7, 0.3):
        lons, lats, _ = GEOD.fwd(np.full(bearings.shape, lon), np.full(bearings.shape, lat),
                                 bearings, np.full(bearings.shape, radius * fraction))
        lons = ((lons + 180) % 360) - 180
        inside = np.zeros(bearings.shape, dtype=bool)
        for box in boxes:
            for shifted in (lons, lons + 360, lons - 360):
                inside |= ((box.south <= lats) & (lats <= box.north)
                           & (box.west <= shifted) & (shifted <= box.east))
        outside = [(float(a), float(b)) for a, b in zip(lats[~inside], lons[~inside], strict=True)]
        assert not outside, f"points of the circle outside {boxes}: {outside[:3]}"
    for box in boxes:
        assert -90 <= box.south <= box.north <= 90 and -180 <= box.west <= box.east <= 180


@pytest.mark.parametrize("lat, lon, radius", [
    (89.5, 0.0, 60_000), (89.5, 0.0, 50_000), (-89.99, 45.0, 2_000), (75.0, 179.9, 100_000),
    (0.0, -180.0, 10_000), (60.0, 180.0, 1_000_000), (0.0, 0.0, 20_000_000),
])
def test_covering_boxes_at_poles_and_antimeridian(lat, lon, radius):
    boxes = covering_boxes(lat, lon, radius)
    bearings = np.linspace(0, 360, 3601)
    lons, lats, _ = GEOD.fwd(np.full(bearings.shape, lon), np.full(bearings.shape, lat), bearings,
                             np.full(bearings.shape, float(radius)))
    lons = ((lons + 180) % 360) - 180
    for a, b in zip(lats, lons, strict=True):
        assert any(box.south <= a <= box.north and (box.west <= b <= box.east
                                                    or box.west <= b + 360 <= box.east
                                                    or box.west <= b - 360 <= box.east)
                   for box in boxes), (a, b, boxes)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lat=latitudes | st.sampled_from([0.0, 51.0, 85.0, -88.0]),
       lon=longitudes | st.sampled_from([0.0, 179.9, -179.99]), degrees=st.floats(1e-7, 60))
def test_mercator_reach_lies_inside_the_mercator_disc(lat, lon, degrees):
    """PostgreSQL ends a search after one query only inside this radius: every point of
    its circle must be nearer than ``degrees`` in Mercator degrees, unwrapped."""
    radius = mercator_reach_m(lat, lon, degrees)
    assume(radius > 0)
    x, y = mercator(lat, lon)
    bearings = np.arange(0, 360, 1.0)
    for fraction in (1.0, 0.6):
        lons, lats, _ = GEOD.fwd(np.full(bearings.shape, lon), np.full(bearings.shape, lat),
                                 bearings, np.full(bearings.shape, radius * fraction))
        assert np.all(np.abs(lons) <= 180)
        for a, b in zip(lats, lons, strict=True):
            bx, by = mercator(float(a), float(b))
            assert math.hypot(bx - x, by - y) < degrees


def test_mercator_reach_is_zero_where_the_walk_would_wrap_and_nearly_whole_elsewhere():
    assert mercator_reach_m(0.0, 179.99, 1.0) == 0.0
    assert mercator_reach_m(-10.0, -179.9, 5.0) == 0.0
    assert mercator_reach_m(89.9, 10.0, 0.5) == 0.0
    # 10 km around Hanover: the Mercator disc's radius there, less only the change of scale
    # across it (tan φ · δ, 0.3 %): why a few spare rows are enough.
    x, y = mercator(52.37, 9.73)
    lon2, lat2, _ = GEOD.fwd(9.73, 52.37, 0.0, 10_000.0)
    degrees = math.hypot(*np.subtract(mercator(lat2, lon2), (x, y)))
    assert 9_950 < mercator_reach_m(52.37, 9.73, degrees) < 10_000


def test_mercator_is_the_isometric_latitude():
    assert mercator(0.0, 0.0) == (0.0, 0.0)
    assert mercator(10.0, -180.0) == (-180.0, pytest.approx(mercator(10.0, 180.0)[1]))
    assert mercator(-45.0, 3.0)[1] == pytest.approx(-mercator(45.0, 3.0)[1])
    # pyproj's Mercator on WGS84 (metres) gives the same y: a · ψ.
    from pyproj import Transformer
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3395", always_xy=True)
    for lat in (1.0, 30.0, 51.5, 80.0, -70.0):
        _, y = to_mercator.transform(0.0, lat)
        assert math.radians(mercator(lat, 0.0)[1]) * 6_378_137.0 == pytest.approx(y, abs=1e-6)


def test_postgres_mercator_agrees_with_python(db):
    """PostgreSQL's ``fieldcrm_mercator`` (the index) against ``mercator`` (the bound): they
    must agree far below a millimetre's worth of Mercator degrees."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("the Mercator index is PostgreSQL's")
    rng = np.random.default_rng(7)
    points = [(float(lat), float(lon)) for lat, lon in
              zip(rng.uniform(-89, 89, 500), rng.uniform(-180, 180, 500), strict=True)]
    points += [(0.0, 180.0), (0.0, -180.0), (51.5, 9.9), (88.9, 179.9), (5e-324, -5e-324), (1e-200, 0.0)]
    worst = 0.0
    for lat, lon in points:
        x, y = db.session.execute(sa.text(
            "SELECT m[0], m[1] FROM (SELECT fieldcrm_mercator(:lat, :lon) AS m) AS p"),
            {"lat": lat, "lon": lon}).one()
        px, py = mercator(lat, lon)
        worst = max(worst, abs(x - px), abs(y - py))
    # 1e-12° of Mercator is at most 1e-7 m on the ground.
    assert worst < 1e-12


def test_far_away_the_walk_order_is_not_the_geodesic_order(db, people):
    """Thousands of kilometres away the walk's order (Mercator degrees) is far from the order
    of metres: customers north of the query point come late in it, and one to the east
    that is nearer than those to the north must still be found, for every limit and radius."""
    lat, lon = 0.0, 0.0
    placed = [(0.0, 5_000_000.0), (0.0, 5_000_100.0), (0.0, 5_000_200.0), (0.0, 5_000_300.0),
              (90.0, 4_999_500.0), (90.0, 6_000_000.0), (180.0, 7_000_000.0), (30.0, 800_000.0),
              (120.0, 800_100.0)]
    points = []
    for bearing, metres in placed:
        lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, metres)
        points.append((float(lat2), float(lon2)))
    rows = replace_customers(db, people, [{"point": point, "deleted": False, "slot": "mine",
                                           "status": "customer"} for point in points])
    for user in (people.admin, people.rep):
        expected = brute_force(rows, visible_ids(db, user), lat, lon, None)
        for query_lat, query_lon in ((lat, lon), (20.0, 0.0), (-60.0, 30.0)):
            expected = brute_force(rows, visible_ids(db, user), query_lat, query_lon, None)
            for limit in (1, 2, 3, 4, 5, 8):
                got = rank_nearest(user, query_lat, query_lon, limit=limit)
                assert_same_ranking(got, expected, limit, None)
                for radius in (4_999_600.0, 5_000_050.0, 5_500_000.0):
                    got = rank_nearest(user, query_lat, query_lon, limit=limit, radius_m=radius)
                    assert_same_ranking(got, expected, limit, radius)


def test_tiny_coordinates_are_stored_and_found(db, people):
    """Subnormal and tiny coordinates written to the table directly: the row is stored (the
    Mercator index expression must not raise PostgreSQL's float underflow error) and found.
    (Forms, the API, sync and imports make them 0: test_tiny_input_coordinates_are_zero.)"""
    tiny = [5e-324, -5e-324, -1.8e-184, 1e-100, 2e-300]
    customers = [{"point": point, "deleted": False, "slot": "mine", "status": "customer"}
                 for point in [(t, 10.0) for t in tiny] + [(10.0, t) for t in tiny] + [(5e-324, -5e-324)]]
    rows = replace_customers(db, people, customers)
    try:
        visible = visible_ids(db, people.admin)
        for lat, lon in [(0.0, 0.0), (1e-300, 10.0), (10.0, -1e-200)]:
            expected = brute_force(rows, visible, lat, lon, None)
            for limit in (1, 4, 11, 30):
                assert_same_ranking(rank_nearest(people.admin, lat, lon, limit=limit), expected, limit, None)
                got = rank_nearest(people.admin, lat, lon, limit=limit, radius_m=1_200_000.0)
                assert_same_ranking(got, expected, limit, 1_200_000.0)
    finally:
        db.session.rollback()
        replace_customers(db, people, [])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # Subnormal keys stay in the point index's inner pages after the rows are gone
            # and make later inserts fail with "underflow": rebuild it for the next tests.
            db.session.execute(sa.text("REINDEX INDEX ix_customer_geo"))
            db.session.commit()


def test_tiny_input_coordinates_are_zero():
    """What users and devices send goes through the customer fields: coordinates within
    1e-9° of 0 become 0, so no subnormal value reaches PostgreSQL's point index."""
    values = clean(CUSTOMER_FIELDS, {"name": "K", "lat": 5e-324, "lon": -1e-12},
                   partial=False, form=False)
    assert (values["lat"], values["lon"]) == (0.0, 0.0)
    values = clean(CUSTOMER_FIELDS, {"lat": "-1e-300", "lon": "0,0000000001"}, partial=True,
                   form=True)
    assert (values["lat"], values["lon"]) == (0.0, 0.0)
    values = clean(CUSTOMER_FIELDS, {"name": "K", "lat": 2e-9, "lon": -1e-8}, partial=False,
                   form=False)
    assert (values["lat"], values["lon"]) == (2e-9, -1e-8)


@pytest.mark.parametrize("lat, lon", [(0.0, 180.0), (0.2, -179.9999), (89.9999, 45.0),
                                      (-90.0, 0.0), (51.5, 9.9)])
def test_rings_at_the_kth_distance(db, people, lat, lon):
    """Customers on rings at exactly the same distances, several at each point, around
    the poles and the antimeridian: the limit-th distance is shared by many customers,
    so the walk's spare rows cannot prove the answer and the circle query runs (PostgreSQL),
    and every limit and radius still gets the brute-force answer, ties by seq."""
    customers = []
    for metres in (0.0, 30.0, 500.0, 20_000.0):
        for bearing in range(0, 360, 45):
            lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, metres)
            for copy in range(3):
                customers.append({"point": (float(np.clip(lat2, -90, 90)),
                                            float(((lon2 + 180) % 360) - 180)),
                                  "deleted": False, "slot": ["mine", "other", "owned"][copy],
                                  "status": "customer"})
    rows = replace_customers(db, people, customers)
    for user in (people.admin, people.rep):
        visible = visible_ids(db, user)
        expected = brute_force(rows, visible, lat, lon, None)
        for limit in (1, 3, 5, 20, 24, 25, 49, 70, 96, 97, 200):
            assert_same_ranking(rank_nearest(user, lat, lon, limit=limit), expected, limit, None)
            for radius in (0.0, 30.0, 499.999, 500.0, 19_999.0, 20_000.0, 5_000_000.0):
                got = rank_nearest(user, lat, lon, limit=limit, radius_m=radius)
                assert_same_ranking(got, expected, limit, radius)


def _exact_rtree_migration():
    """Migration 0008's module: its statements are what these tests run."""
    path = Path(__file__).parents[1] / "fieldcrm/migrations/versions/0008_exact_rtree.py"
    spec = importlib.util.spec_from_file_location("exact_rtree", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=200, deadline=None, derandomize=True)
@given(points=st.lists(st.tuples(latitudes, longitudes), min_size=1, max_size=50))
def test_rtree_cells_give_the_position_back(points):
    """SQLite's R*Tree (migration 0008) keeps 32-bit floats: the coarse point is held
    exactly and lies within 2^-17 degrees of the customer (well inside RTREE_PAD_DEG, by
    which query boxes are widened), and the decoded position (RTREE_LAT, RTREE_LON, what
    the search reads) is within 2^-38 degrees of the customer's."""
    migration = _exact_rtree_migration()
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE customer (seq INTEGER PRIMARY KEY, lat FLOAT, lon FLOAT, "
                 "deleted BOOLEAN, territory_id TEXT, owner_id TEXT)")
    for statement in migration.EXACT + migration.FILL:
        conn.execute(statement)
    conn.executemany("INSERT INTO customer VALUES (?, ?, ?, 0, NULL, NULL)",
                     [(n, lat, lon) for n, (lat, lon) in enumerate(points)])
    decode = sa.select(GEO_INDEX.c.seq, GEO_INDEX.c.min_lat, GEO_INDEX.c.max_lat,
                       GEO_INDEX.c.min_lon, GEO_INDEX.c.max_lon, RTREE_LAT, RTREE_LON)
    sql = str(decode.compile(dialect=sqlite_dialect.dialect()))
    for seq, south, north, west, east, lat_, lon_ in conn.execute(sql):
        lat, lon = points[seq]
        assert south == north and west == east
        assert abs(south - lat) <= 2.0 ** -17 < RTREE_PAD_DEG
        assert abs(west - lon) <= 2.0 ** -17
        assert abs(lat_ - lat) <= 2.0 ** -38 and abs(lon_ - lon) <= 2.0 ** -38


def test_rtree_codes_are_exact_up_to_the_checked_limit():
    """Territory and owner codes are stored as code * 2^-40: exact in float32 below 2^24,
    which the key table's CHECK keeps; above it, codes would merge."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING rtree(id, a, b)")
    codes = [1, 2, 3, 2 ** 20 + 1, 2 ** 24 - 1]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                     [(c, c * RTREE_CODE_SCALE, c * RTREE_CODE_SCALE + 2.0 ** -20) for c in codes])
    assert [row[0] for row in conn.execute("SELECT a FROM t ORDER BY id")] == [
        c * RTREE_CODE_SCALE for c in codes]
    conn.execute("INSERT INTO t VALUES (99, ?, ?)", ((2 ** 24 + 1) * RTREE_CODE_SCALE, 1.0))
    assert conn.execute("SELECT a FROM t WHERE id = 99").fetchone()[0] != (2 ** 24 + 1) * RTREE_CODE_SCALE
    keys = sqlite3.connect(":memory:")
    keys.execute(_exact_rtree_migration().EXACT[0])
    keys.execute("INSERT INTO customer_geo_key VALUES (16777215, 'last')")
    with pytest.raises(sqlite3.IntegrityError):
        keys.execute("INSERT INTO customer_geo_key (key) VALUES ('one too many')")


@settings(max_examples=400, deadline=None, derandomize=True)
@given(lat=latitudes | st.sampled_from([0.0, 45.0, 60.0, 80.0, 87.9, -88.5]), lon=longitudes,
       radius=st.sampled_from([1.0, 700.0, 2_000.0, 10_000.0, 100_000.0, 2_000_000.0])
       | st.floats(1, 5e6), bearing=st.floats(0, 360), share=st.floats(0, 1))
def test_planar_bound_never_exceeds_the_geodesic(lat, lon, radius, bearing, share):
    """For every point within the radius (the shorter way round the antimeridian, as the
    search passes the longitude), A·Δlat² + B·Δlon² <= geodesic²: a lower bound, so the
    search can stop at it. It is also tight where searches use it (within 0.1 % up to
    2 km below 70°, 0.5 % up to 10 km below 60°): a bound 1 % too large or too small
    fails here."""
    bound = planar_bound(lat, radius)
    if bound is None:
        assert abs(lat) + math.degrees(radius / 6_335_439) >= 89.0
        return
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, radius * share)
    geodesic_m = GEOD.inv(lon, lat, lon2, lat2)[2]
    box = covering_boxes(lat, lon, radius)
    near = _near_longitude(lon, next(b for b in box if b.west - 1e-9 <= lon2 <= b.east + 1e-9)
                           ) if len(box) > 1 else lon
    planar = math.sqrt(bound[0] * (lat2 - lat) ** 2 + bound[1] * (lon2 - near) ** 2)
    assert planar <= geodesic_m + 1e-6
    if radius <= 2_000 and abs(lat) < 70 and geodesic_m > 1:
        assert planar >= geodesic_m * 0.999
    if radius <= 10_000 and abs(lat) < 60 and geodesic_m > 1:
        assert planar >= geodesic_m * 0.995
