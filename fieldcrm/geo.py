"""Distances and "who is near": the one place that measures the earth.

Distances are geodesic on the WGS84 ellipsoid (Karney's algorithm, the one
geopy.distance.geodesic uses), computed by pyproj's C implementation, which
is about 200 times faster than the pure-Python one and gives the same metres.

Nearest-customer search (``rank_nearest``, ``nearest_customers``) is exact:
every answer is the brute-force geodesic ranking of the customers in scope.
An index proposes candidates, every candidate is measured exactly, and a
candidate is left unread only when a bound proves it cannot be nearer than
the k-th customer found:

- SQLite: the R*Tree ``customer_geo`` lists the entries in a circle's
  covering boxes. When everyone is eligible their exact positions (auxiliary
  columns) rank them without reading a row; with a scope or filters the rows
  are read in the rough order of the (32-bit) boxes until the k-th exact
  distance is below every unread lower bound. The circle grows while it is
  too small.
- PostgreSQL: a GiST index on each customer's ellipsoidal Mercator position
  (``fieldcrm_mercator``, conformal: locally the same scale in every
  direction) walks customers in nearly the order of metres (index-only); the
  walk's last distance bounds what it has not returned, so most searches end
  after one query of about ``limit`` + 3 rows, the rest (near the poles and
  the antimeridian, or ties) after one circle query.

``covering_boxes`` is the geometry both rely on: boxes that contain every
point within a distance, also across the antimeridian and over the poles.
See docs/GEO.md for why this design and what it measures.
"""

import json
import math
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from pyproj import Geod
from sqlalchemy.dialects import postgresql

from .extensions import db
from .models import Customer, User
from .scope import customer_scope, team_ids_query, territory_ids_query

GEOD = Geod(ellps="WGS84")
# Smallest radius of curvature of the WGS84 ellipsoid (meridional, at the equator), less
# a margin: degrees computed with it over-cover the circle, never under-cover it.
SAFE_RADIUS_M = 6_335_439 * 0.99
HALF_EQUATOR_M = 20_037_508
# WGS84: semi-major axis, first eccentricity (e² = f (2 − f), f = 1 / 298.257223563) and
# the smallest radius of curvature, a (1 − e²) (meridional, at the equator).
WGS84_A = 6_378_137.0
WGS84_E = 0.08181919084262149
WGS84_M_MIN = WGS84_A * (1 - WGS84_E * WGS84_E)
# Slack for the Mercator bound: PostgreSQL's and Python's trigonometry may differ by an ulp
# or two (1e-9 m at these magnitudes) and pyproj's geodesic is good to ~15 nm; a millimetre
# is 10^5 times that, and the precision to which the search promises distances anyway.
MERCATOR_MARGIN_M = 1e-3
FIRST_RING_M = 700.0

GEO_INDEX = sa.table(
    "customer_geo", *(sa.column(name, sa.Float) for name in (
        "min_lat", "max_lat", "min_lon", "max_lon", "min_fine", "max_fine", "min_territory",
        "min_owner")), sa.column("seq", sa.BigInteger),
)


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle that does not cross the antimeridian."""

    south: float
    west: float
    north: float
    east: float


def valid_point(lat, lon) -> bool:
    """True for finite coordinates on the globe."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in (lat, lon)) and -90 <= lat <= 90 and -180 <= lon <= 180


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres between two points."""
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def covering_boxes(lat: float, lon: float, radius_m: float) -> list[Box]:
    """Boxes that together contain every point within ``radius_m`` of (lat, lon)."""
    angle = math.degrees(radius_m / SAFE_RADIUS_M)
    south, north = lat - angle, lat + angle
    if south <= -90 or north >= 90 or radius_m >= HALF_EQUATOR_M:
        return [Box(max(south, -90.0), -180.0, min(north, 90.0), 180.0)]
    # Widest longitude reach of a spherical cap (tangent meridians), on the safe radius.
    reach = math.sin(radius_m / SAFE_RADIUS_M) / math.cos(math.radians(lat))
    if reach >= 1:
        return [Box(south, -180.0, north, 180.0)]
    dlon = math.degrees(math.asin(reach))
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return [Box(south, west + 360, north, 180.0), Box(south, -180.0, north, east)]
    if east > 180:
        return [Box(south, west, north, 180.0), Box(south, -180.0, north, east - 360)]
    return [Box(south, west, north, east)]


def _in_box(box: Box, dialect: str) -> sa.ColumnElement[bool]:
    """A WHERE clause for customers inside ``box`` that the spatial index answers."""
    if dialect == "sqlite":
        inside = Customer.seq.in_(sa.select(GEO_INDEX.c.seq).where(_rtree_in(box)))
    else:
        inside = _in_gist(box)
    return sa.and_(inside, Customer.lat.between(box.south, box.north),
                   Customer.lon.between(box.west, box.east))


def _rtree_overlaps(south, north, west, east) -> sa.ColumnElement[bool]:
    """R*Tree entries overlapping the box of these bounds (values or query parameters)."""
    return sa.and_(GEO_INDEX.c.max_lat >= south, GEO_INDEX.c.min_lat <= north,
                   GEO_INDEX.c.max_lon >= west, GEO_INDEX.c.min_lon <= east)


def _rtree_in(box: Box) -> sa.ColumnElement[bool]:
    """R*Tree entries whose (coarse) point may lie in ``box``: the box widened by RTREE_PAD_DEG."""
    return _rtree_overlaps(*_padded(box))


def _live_located() -> sa.ColumnElement[bool]:
    # The same predicate as the partial GiST index, so PostgreSQL can use it.
    return sa.and_(~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None))


def _in_gist(box: Box) -> sa.ColumnElement[bool]:
    """``point(lon, lat) <@ box``: what PostgreSQL's GiST index answers, and nothing more."""
    corner = sa.func.point
    return sa.func.point(Customer.lon, Customer.lat).op("<@")(
        sa.func.box(corner(box.west, box.south), corner(box.east, box.north)))


def _box_parameters(count: int, param) -> list[Box]:
    """``count`` boxes of query parameters (s0, w0, n0, e0, s1, …), filled in per query."""
    return [Box(*(param(f"{side}{number}", sa.Float) for side in "swne"))
            for number in range(count)]


def _box_values(boxes: list[Box]) -> dict[str, float]:
    values = {}
    for number, box in enumerate(boxes):
        values.update({f"s{number}": box.south, f"w{number}": box.west,
                       f"n{number}": box.north, f"e{number}": box.east})
    return values


def _bound_key(clause: sa.ColumnElement) -> tuple:
    """What makes two clauses the same SQL with the same values: structure and bound values."""
    key = clause._generate_cache_key()
    return key.key, tuple(bind.effective_value for bind in key.bindparams)


# Statements by (dialect, kind, scope, filters), compiled to the driver's SQL. Building a
# statement and deriving its SQLAlchemy cache key costs more than the index query itself,
# and a user's scope is the same SQL from request to request (territory membership is a
# subquery the database evaluates), so statements are reused. The key holds the bound
# values (the user id), so one user's statement never serves another.
_STATEMENTS: dict[tuple, tuple[str, tuple[str, ...]] | sa.Select] = {}
_STATEMENTS_MAX = 1024
# A user's scope clauses (on the customer table and on the R*Tree) and their key, by (role,
# id): what ``customer_scope`` reads of a user (tests/test_geo.py checks that it reads
# nothing else).
_SCOPES: dict[tuple, tuple[sa.ColumnElement[bool], tuple, sa.ColumnElement[bool]]] = {}
# Called with (sql, parameters) before each statement a search runs on the DBAPI
# connection, which SQLAlchemy's events do not see: the bench counts and explains them.
statement_hook = None
_LITERAL_TYPES = (str, int, float, uuid.UUID, type(None))
_MARKER = re.compile(r"__geo_param_(\w+?)__")


def _scope(user: User) -> tuple[sa.ColumnElement[bool], tuple, sa.ColumnElement[bool]]:
    """``customer_scope(user)``, its key and ``rtree_scope(user)``, built once per role and
    user id."""
    found = _SCOPES.get((user.role, user.id))
    if found is None:
        scope = customer_scope(user)
        found = scope, _bound_key(scope), rtree_scope(user)
        if len(_SCOPES) >= _STATEMENTS_MAX:
            _SCOPES.clear()
        _SCOPES[(user.role, user.id)] = found
    return found


def _driver_sql(statement: sa.Select, dialect: sa.Dialect) -> tuple[str, tuple[str, ...]]:
    """``statement`` as the driver's SQL: the scope's and filters' values inlined as literals
    (rendered by their types), the search's own values (markers left by ``_Search.param``)
    as positional placeholders; and the names of those in order."""
    text = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    names = tuple(_MARKER.findall(text))
    return _MARKER.sub("?" if dialect.name == "sqlite" else "%s", text), names


class _Search:
    """One nearest-customer search: the user's scope and filters, and the statements for them.

    Every statement selects lean (seq, lat, lon) tuples of live located customers:
    ``seq`` is unique and indexed on both databases and cheaper to fetch than a UUID.

    The statements run on the DBAPI connection of the session's transaction, as SQL
    compiled once per user and filters: SQLAlchemy's execution path costs about as much
    as the index query itself (0.1–0.2 ms a statement), and a search takes one to three.
    Conditions with other values than strings, numbers and ids take the ordinary path.
    """

    def __init__(self, user: User, where: list, carry: tuple = (),
                 owner_id: uuid.UUID | None = None):
        self.connection = db.session.connection()
        # Customer columns the PostgreSQL walk brings along for its rows (``carried``),
        # so that a caller who wants them needs no second statement.
        self.carry = carry
        self.carried: dict[int, tuple] | None = None
        self.dialect = self.connection.dialect.name
        self.scope, scope_key, self.rtree_scope = _scope(user)
        # ``where`` are the filters SQLite checks on customer rows; ``conditions`` all that
        # select the eligible customers. The owner is in both indexes (an R*Tree code on
        # SQLite, an included column of the PostgreSQL walk), so it needs no row.
        self.where = where
        self.conditions = where
        if owner_id is not None:
            self.conditions = [*where, Customer.owner_id == owner_id]
            self.rtree_scope = sa.and_(self.rtree_scope, GEO_INDEX.c.min_owner.in_(
                _codes(sa.select(sa.literal(owner_id, sa.Uuid)))))
        try:
            self.key = (self.dialect, scope_key, *(_bound_key(w) for w in self.conditions))
            hash(self.key)
        except TypeError:
            self.key = None
        # Values inlined into driver SQL: only those whose literal is plainly the value.
        # Anything else (dates, decimals, JSON) goes through SQLAlchemy's binds.
        self.literal = self.key is not None and all(
            isinstance(value, _LITERAL_TYPES) and "__geo_param_" not in str(value)
            for part in self.key[1:] for value in part[1])
        self.raw = self.connection.connection.driver_connection
        # psycopg: results in binary form (floats need no parsing from text).
        self.binary = {} if self.dialect == "sqlite" else {"binary": True}

    def run(self, kind: tuple, build, values: dict) -> list:
        """Rows of the statement ``build(param)`` makes (``param(name, type)`` stands for one
        of ``values``), compiled once per kind, user and filters."""
        key = None if self.key is None else (*self.key, *kind)
        found = _STATEMENTS.get(key) if key else None
        if found is None:
            if self.literal:
                found = _driver_sql(build(self._marker), self.connection.dialect)
            else:
                found = build(lambda name, type_: sa.bindparam(name, type_=type_))
            if key:
                if len(_STATEMENTS) >= _STATEMENTS_MAX:
                    _STATEMENTS.clear()
                _STATEMENTS[key] = found
        if isinstance(found, tuple):
            sql, names = found
            return self.execute(sql, tuple(values[name] for name in names))
        return self.connection.execute(found, values).all()

    def execute(self, sql: str, parameters: tuple) -> list:
        """Rows of driver SQL on the session's DBAPI connection."""
        if statement_hook is not None:
            statement_hook(sql, parameters)
        try:
            return self.raw.execute(sql, parameters, **self.binary).fetchall()
        except self.connection.dialect.loaded_dbapi.Error as error:
            # As SQLAlchemy would raise it (OperationalError, …), for the error handlers.
            raise sa.exc.DBAPIError.instance(
                sql, parameters, error, self.connection.dialect.loaded_dbapi.Error) from error

    @staticmethod
    def _marker(name: str, type_) -> sa.ColumnElement:
        return sa.literal_column(f"__geo_param_{name}__", type_=type_)

    def _eligible(self, likely: bool = False) -> sa.Select:
        """(seq, lat, lon) of eligible customers. ``likely``: SQLite is told that the scope
        and filters hold for most rows, so that it reads rows by the seq list given with
        them: without statistics (a new database, a new index) it would otherwise take a
        status or territory index and read 250,000 rows (0.6 s at 1M) to check 100."""
        conditions = [self.scope, *self.conditions]
        if likely:
            conditions = [sa.func.likely(condition) for condition in conditions]
        return sa.select(Customer.seq, Customer.lat, Customer.lon).where(
            _live_located(), *conditions)

    def measured(self, lat: float, lon: float, rows) -> list[tuple[float, int]]:
        """(exact distance, seq) of (seq, lat, lon) rows, nearest first, ties by seq."""
        if not rows:
            return []
        seqs, lats, lons = zip(*rows, strict=True)
        found = GEOD.inv([lon] * len(rows), [lat] * len(rows), lons, lats)[2]
        return sorted(zip(found, seqs, strict=True))

    def by_seq(self, seqs: list[int]) -> list[tuple[int, float, float]]:
        """(seq, lat, lon) of those of ``seqs`` that are eligible (in scope, live, filtered).

        SQLite only. The list goes in as one JSON parameter, so the statement stays the
        same whatever its length (an expanding IN would be rewritten on every call).
        """
        def build(param):
            listed = sa.select(sa.literal_column("value")).select_from(
                sa.func.json_each(param("seqs", sa.String)))
            return self._eligible(likely=True).where(Customer.seq.in_(listed))

        return self.run(("seq",), build, {"seqs": json.dumps(seqs)})

    def in_circle(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, int]]:
        """(distance, seq) of every eligible customer within ``radius_m``, nearest first.

        PostgreSQL only: the GiST index on point(lon, lat) answers the boxes; every row is
        measured anyway, so the boxes need not be exact. They cover a millimetre more: a
        customer 1e-300° away is at a distance of 0.0 m, but not in a box of radius 0.
        """
        boxes = covering_boxes(lat, lon, radius_m + MERCATOR_MARGIN_M)

        def build(param):
            return self._eligible().where(
                sa.or_(*(_in_gist(box) for box in _box_parameters(len(boxes), param))))

        rows = self.run(("circle", len(boxes)), build, _box_values(boxes))
        return [(d, seq) for d, seq in self.measured(lat, lon, rows) if d <= radius_m]

    def walk(self, lat: float, lon: float, limit: int,
             box: Box | None = None) -> list[tuple[int, float, float]]:
        """(seq, lat, lon) of the ``limit`` eligible customers (inside ``box``) nearest to
        (lat, lon) in Mercator degrees, nearest first: PostgreSQL's walk of the Mercator
        GiST index (``point <-> point``). With a box the walk ends at the box's edge.

        Only ``<@`` on the Mercator box here: the exact latitude/longitude ranges of
        ``_in_box`` make the planner expect a single row and trade the ordered walk for a
        scan and sort of the box.
        """
        def build(param):
            position = sa.func.fieldcrm_mercator(Customer.lat, Customer.lon)
            query = sa.func.point(param("qx", sa.Float), param("qy", sa.Float))
            statement = self._eligible()
            if box is not None:
                corners = _box_parameters(1, param)[0]
                statement = statement.where(position.op("<@")(sa.func.box(
                    sa.func.point(corners.west, corners.south),
                    sa.func.point(corners.east, corners.north))))
            order = position.op("<->", return_type=sa.Float)(query)
            statement = statement.order_by(order).limit(param("k", sa.Integer))
            if not self.carry:
                return statement
            # The walk stays index-only; its few rows then fetch the carried columns.
            walked = statement.add_columns(order.label("walked")).subquery()
            row = sa.orm.aliased(Customer)
            return (sa.select(walked.c.seq, walked.c.lat, walked.c.lon,
                              *(getattr(row, column.key) for column in self.carry))
                    .join(row, row.seq == walked.c.seq).order_by(walked.c.walked))

        x, y = mercator(lat, lon)
        values = {"qx": x, "qy": y, "k": limit}
        if box is not None:
            # In Mercator degrees (y grows with latitude), a hair wider for rounding.
            pad = 1e-9
            values.update(_box_values([Box(mercator(box.south, 0)[1] - pad, box.west - pad,
                                           mercator(box.north, 0)[1] + pad, box.east + pad)]))
        rows = self.run(("walk", box is not None, *(c.key for c in self.carry)), build, values)
        if self.carry:
            self.carried = {row[0]: tuple(row[3:]) for row in rows}
            rows = [row[:3] for row in rows]
        return rows


# SQLite's R*Tree (migration 0008) keeps 32-bit floats, so each position is split in two:
# a coarse point, round(x * 2^16) / 2^16, which float32 holds exactly (the entry's box),
# and the rest (|rest| <= 2^-17 degrees, up to 0.85 m) in a third dimension, offset by
# 2^-16 so that min < max: min_fine = rest_lat - 2^-16, max_fine = rest_lon + 2^-16. The
# R*Tree rounds those outwards by up to two float32 steps, so a decoded position is within
# 2^-38 degrees (0.4 µm) of the customer's: distances within a micrometre, which the
# exactness promise (ties below a millimetre) absorbs. Reading a cell costs ~0.2 µs; the
# auxiliary columns of 0006 cost a rowid-table lookup (~5 µs) each.
# The territory and owner are codes (customer_geo_key) in the fourth and fifth dimensions,
# as code * 2^-40, so a scope is checked inside the walk without reading customer rows.
RTREE_OFFSET = 2.0 ** -16
RTREE_CODE_SCALE = 2.0 ** -40
# Query boxes are widened by RTREE_PAD_DEG: far more than the coarse point's 2^-17 degrees.
RTREE_PAD_DEG = 1e-4
GEO_KEY = sa.table("customer_geo_key", sa.column("code", sa.Integer), sa.column("key", sa.Uuid))
# A bound is proven with this much to spare: float rounding in the SQL and the decoded
# positions' micrometre are far below it.
PROOF_MARGIN_M = 1e-3
_OFFSET = sa.literal_column(repr(RTREE_OFFSET), sa.Float)
RTREE_LAT = GEO_INDEX.c.min_lat + (GEO_INDEX.c.min_fine + _OFFSET).self_group()
RTREE_LON = GEO_INDEX.c.min_lon + (GEO_INDEX.c.max_fine - _OFFSET).self_group()


def _padded(box: Box) -> tuple[float, float, float, float]:
    """(south, north, west, east) of ``box`` widened by RTREE_PAD_DEG, for the R*Tree."""
    pad = RTREE_PAD_DEG
    return box.south - pad, box.north + pad, box.west - pad, box.east + pad


def _codes(ids: sa.Select) -> sa.Select:
    """The R*Tree values of the territories or users ``ids`` selects."""
    return sa.select(GEO_KEY.c.code * sa.literal_column(repr(RTREE_CODE_SCALE), sa.Float)).where(
        GEO_KEY.c.key.in_(ids))


def rtree_scope(user: User) -> sa.ColumnElement[bool]:
    """``customer_scope(user)`` on the R*Tree's territory and owner codes."""
    if user.role == "admin":
        return sa.true()
    owners = team_ids_query(user) if user.role == "manager" else sa.select(sa.literal(user.id, sa.Uuid))
    return sa.or_(GEO_INDEX.c.min_territory.in_(_codes(territory_ids_query(user))),
                  GEO_INDEX.c.min_owner.in_(_codes(owners)))


def _ellipsoid_radii(lat: float) -> tuple[float, float]:
    """(meridional, prime vertical) radius of curvature of WGS84 at ``lat``, in metres."""
    a, e2 = GEOD.a, GEOD.es
    w = 1 - e2 * math.sin(math.radians(lat)) ** 2
    return a * (1 - e2) / w ** 1.5, a / math.sqrt(w)


def planar_bound(lat: float, radius_m: float) -> tuple[float, float] | None:
    """(A, B) with A·Δlat² + B·Δlon² <= geodesic² (degrees, metres²) for every point within
    ``radius_m`` of latitude ``lat`` (Δlon the shorter way round); None near a pole.

    Why: on the ellipsoid ds² = M(φ)² dφ² + N(φ)² cos²φ dλ². A geodesic of length at most
    the radius stays within radius / M(0) radians of the start's latitude (M is least at
    the equator), and in that band M >= M(φ_low), N cos φ >= N(φ_low) cos φ_high (M and N
    grow with |φ|). The path's length is then at least its straight length in that
    constant metric, which is the bound. The band is narrow, so the bound is tight (within
    0.03 % at 2 km): a search reads little more than the customers it returns.
    """
    band = math.degrees(radius_m / _ellipsoid_radii(0.0)[0])
    low, high = max(abs(lat) - band, 0.0), abs(lat) + band
    if high >= 89.0:
        return None
    meridional, vertical = _ellipsoid_radii(low)
    scale = math.radians(1) * (1 - 1e-9)
    return (meridional * scale) ** 2, (vertical * math.cos(math.radians(high)) * scale) ** 2


def _rtree_box(param) -> sa.ColumnElement[bool]:
    """R*Tree entries in a box of query parameters s, n, w, e (``_box_values_padded``)."""
    return _rtree_overlaps(*(param(side, sa.Float) for side in "snwe"))


def _box_values_padded(box: Box) -> dict[str, float]:
    return dict(zip("snwe", _padded(box), strict=True))


def _near_longitude(lon: float, box: Box) -> float:
    """``lon`` moved by a turn, if need be, to the side of the antimeridian ``box`` is on, so
    that ``lon - point's lon`` is the shorter way round for the points in it."""
    middle = (box.west + box.east) / 2
    return min((lon - 360, lon, lon + 360), key=lambda moved: abs(moved - middle))


def _sqlite_entries(search: _Search, lat: float, lon: float, radius: float,
                    bound: tuple[float, float] | None, wanted: int) -> tuple[list, float]:
    """(seq, lat, lon) of eligible R*Tree entries in the circle's boxes, and ``cut``: with a
    bound, the entries come in order of it, at most ``wanted`` per box, and every entry not
    returned has a bound of at least ``cut`` metres (infinite when all were returned)."""
    def entries(param):
        return sa.select(GEO_INDEX.c.seq, RTREE_LAT.label("lat"), RTREE_LON.label("lon")).where(
            _rtree_box(param), search.rtree_scope)

    def ordered(param):
        inner = entries(param).subquery()
        north = inner.c.lat - param("qlat", sa.Float)
        east = inner.c.lon - param("qlon", sa.Float)
        planar = (param("a", sa.Float) * north * north
                  + param("b", sa.Float) * east * east).label("planar")
        # By the label: the expression is computed once per entry, not again for the order.
        return sa.select(inner.c.seq, inner.c.lat, inner.c.lon, planar).order_by(
            "planar").limit(param("wanted", sa.Integer))

    rows, cut = [], math.inf
    for box in covering_boxes(lat, lon, radius):
        values = _box_values_padded(box)
        if bound is None:
            rows += search.run(("entries",), entries, values)
            continue
        found = search.run(("ordered",), ordered, {
            **values, "qlat": lat, "qlon": _near_longitude(lon, box),
            "a": bound[0], "b": bound[1], "wanted": wanted})
        if len(found) == wanted:
            cut = min(cut, math.sqrt(found[-1][3]))
        rows += [row[:3] for row in found]
    return rows, cut


def _sqlite_count(search: _Search, lat: float, lon: float, radius: float) -> int:
    """Eligible R*Tree entries (in scope) in the boxes of a circle: cheap, ~0.15 µs each."""
    def build(param):
        return sa.select(sa.func.count()).select_from(GEO_INDEX).where(
            _rtree_box(param), search.rtree_scope)

    return sum(search.run(("count",), build, _box_values_padded(box))[0][0]
               for box in covering_boxes(lat, lon, radius))


def _first_ring(search: _Search, lat: float, lon: float, limit: int, ceiling: float) -> float:
    """A circle that should hold about 1.4 × ``limit`` eligible customers (plus a few), sized
    by counting the entries of a small one: reading an entry in order costs four times as
    much as counting it, so a ring far too big or too small costs more than the count."""
    radius = min(FIRST_RING_M * math.sqrt(max(limit, 20) / 20), ceiling)
    count = _sqlite_count(search, lat, lon, radius)
    return _resized(radius, ceiling, limit, count * math.pi / 4)


def _resized(radius: float, ceiling: float, limit: int, inside: float) -> float:
    """The circle that should hold 1.4 × ``limit`` + 4 customers where one of ``radius``
    holds ``inside``: by the density seen, at most eight times wider, as the density may
    change beyond what was seen."""
    step = math.sqrt((limit * 1.4 + 4) / max(inside, 0.5))
    return min(radius * min(step, 8.0), ceiling)


# A filtered search reads at most this many candidates' rows (~5 µs each) before it ranks
# the whole filtered scope instead: with a filter that few customers pass, the circle
# would otherwise grow to the whole map, reading every row one by one (35 s at 1M).
FILTERED_ROWS_MAX = 5_000
# When fewer than FEW_SHARE of a filtered search's first candidates pass, it asks once
# whether FILTERED_FEW customers or fewer pass at all (the status index of migration 0009
# answers that at once for a rare status) and then ranks just those.
FILTERED_FEW = 500
FEW_SHARE = 0.1


def _ranked_rows(search: _Search, lat: float, lon: float, limit: int, ceiling: float,
                 rows) -> list[tuple[float, int]]:
    """Exact k nearest among ``rows``, every eligible customer (seq, lat, lon)."""
    return [hit for hit in search.measured(lat, lon, rows) if hit[0] <= ceiling][:limit]


def _rank_all(search: _Search, lat: float, lon: float, limit: int,
              ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest by measuring every eligible customer (scope and filters, in SQL)."""
    rows = search.run(("all",), lambda param: search._eligible(), {})
    return _ranked_rows(search, lat, lon, limit, ceiling, rows)


def _few_eligible(search: _Search) -> list | None:
    """Every eligible customer (seq, lat, lon) if at most FILTERED_FEW are, else None."""
    rows = search.run(("few",), lambda param: search._eligible().limit(param("k", sa.Integer)),
                      {"k": FILTERED_FEW + 1})
    return rows if len(rows) <= FILTERED_FEW else None


def _rank_sqlite(search: _Search, lat: float, lon: float, limit: int,
                 ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest on SQLite from the R*Tree, in scope (codes in the index).

    The R*Tree lists the entries of a circle's covering boxes; SQLite orders them by a
    planar lower bound of the geodesic (``planar_bound``) and returns the first few, with
    their positions. Those are measured exactly. When the ``limit``-th exact distance
    lies inside the circle and below ``cut`` (the bound of every entry not returned),
    no other customer can be nearer: the answer is proven. Otherwise more entries are
    asked for, or the circle grows. Filters (status, class) are not in the index: the
    candidates' rows are read, in order, to apply them (``by_seq``); when that has read
    FILTERED_ROWS_MAX rows (a filter few customers pass), every customer passing the
    filters is ranked instead, in one read (``_rank_all``). Before that, a filter few of
    the first candidates pass asks whether few customers pass it at all
    (``_few_eligible``), and ranks those.
    """
    radius = _first_ring(search, lat, lon, limit, ceiling)
    share = 1.0  # of the entries, the part passing the filters
    wanted = limit + 3
    checked = 0
    probed = False
    while True:
        bound = planar_bound(lat, radius)
        rows, cut = _sqlite_entries(search, lat, lon, radius, bound,
                                    int(wanted / share) + 3)
        if search.where and rows:
            checked += len(rows)
            if checked > FILTERED_ROWS_MAX:
                return _rank_all(search, lat, lon, limit, ceiling)
            passing = search.by_seq([row[0] for row in rows])
            if len(passing) < FEW_SHARE * len(rows) and not probed:
                probed = True
                few = _few_eligible(search)
                if few is not None:
                    return _ranked_rows(search, lat, lon, limit, ceiling, few)
            share = max(len(passing) / len(rows), 0.02)
            rows = passing
        inside = [hit for hit in search.measured(lat, lon, rows) if hit[0] <= radius]
        if len(inside) >= limit:
            if inside[limit - 1][0] + PROOF_MARGIN_M < cut:
                return inside[:limit]
            wanted *= 2  # the ordered entries ran out before the proof: ask for more
        elif cut <= radius:
            wanted *= 2  # entries not returned may still lie in the circle
        elif radius >= ceiling:
            return inside
        else:
            radius = _resized(radius, ceiling, limit, len(inside))


def mercator(lat: float, lon: float) -> tuple[float, float]:
    """(x, y) in degrees on the ellipsoidal Mercator projection: x the longitude, y the
    isometric latitude ψ = asinh(tan φ) − e atanh(e sin φ) in degrees. The same formula as
    the SQL function ``fieldcrm_mercator`` of migration 0007, which takes coordinates
    nearer to 0 than 1e-100° as 0 (PostgreSQL raises an error on float underflow)."""
    phi = math.radians(0.0 if abs(lat) < 1e-100 else lat)
    psi = math.asinh(math.tan(phi)) - WGS84_E * math.atanh(WGS84_E * math.sin(phi))
    return (0.0 if abs(lon) < 1e-100 else lon), math.degrees(psi)


def parallel_radius_m(lat: float) -> float:
    """N cos φ: the radius of the parallel at ``lat``, the scale of the Mercator projection
    (metres per radian of Mercator distance, in every direction)."""
    phi = math.radians(lat)
    return WGS84_A * math.cos(phi) / math.sqrt(1 - (WGS84_E * math.sin(phi)) ** 2)


def mercator_reach_m(lat: float, lon: float, degrees: float) -> float:
    """A radius such that every point within it of (lat, lon) is nearer than ``degrees`` in
    Mercator degrees (x, y of ``mercator``), the metric of the PostgreSQL walk.

    Why: the projection is conformal, ds = N cos φ · |(dx, dy)| (in radians), and N cos φ
    falls with |φ|. Let δ = radians(degrees) and D ≤ δ · a. A geodesic shorter than D
    changes latitude by less than D / M_min (ds ≥ M dφ ≥ M_min dφ), so along it |φ| stays
    below φ' = |lat| + degrees(δ · a / M_min) and N cos φ above N cos φ'. Its Mercator length
    is then below D / (N cos φ') = δ for D = δ · N cos φ', and the straight Mercator distance
    is at most that, provided the path does not wrap at ±180° (its longitude moves by less
    than ``degrees``, so |lon| + degrees < 180 suffices). 0 when φ' reaches a pole or the
    disc reaches ±180°. Less a relative 1e-9 and MERCATOR_MARGIN_M for rounding.
    """
    if abs(lon) + degrees >= 180:
        return 0.0
    delta = math.radians(degrees)
    far = abs(lat) + math.degrees(delta * WGS84_A / WGS84_M_MIN)
    if far >= 90:
        return 0.0
    return max(delta * parallel_radius_m(far) * (1 - 1e-9) - MERCATOR_MARGIN_M, 0.0)


def walk_rows(limit: int) -> int:
    """How many rows the Mercator walk fetches for ``limit`` customers: a few more, since its
    order is that of metres to within the scale's change across the disc (tan φ · δ, 0.3 %
    of the radius for 10 km at 51° N) and ``mercator_reach_m`` gives up as much again."""
    return limit + 3 + limit // 25


def _rank_postgres(search: _Search, lat: float, lon: float, limit: int,
                   ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest on PostgreSQL, most often in one query of about ``limit`` + 3 rows.

    The GiST index walks customers in order of Mercator degrees, which is the order of
    metres up to the change of scale with latitude across the walk. Every customer the
    walk did not return is at least as far in Mercator degrees as the last one it did, so
    outside the circle of ``mercator_reach_m``. When the ``limit``-th exact distance (or
    the radius) is inside that circle, the answer is among the rows read. Otherwise (near
    a pole or ±180°, or customers tied at the ``limit``-th distance) one circle query of
    that distance collects every candidate. With a radius the walk stays inside the
    radius's covering box.
    """
    wanted = walk_rows(limit)
    boxes = covering_boxes(lat, lon, ceiling + MERCATOR_MARGIN_M) if ceiling < HALF_EQUATOR_M else []
    rows = search.walk(lat, lon, wanted, boxes[0] if len(boxes) == 1 else None)
    ranked = search.measured(lat, lon, rows)
    if len(rows) < wanted:
        # Fewer eligible customers than asked for (in the box): these are all of them.
        return [hit for hit in ranked[:limit] if hit[0] <= ceiling]
    needed = min(ranked[limit - 1][0], ceiling)
    x, y = mercator(lat, lon)
    last_x, last_y = mercator(rows[-1][1], rows[-1][2])
    if needed < mercator_reach_m(lat, lon, math.hypot(last_x - x, last_y - y)):
        return [hit for hit in ranked[:limit] if hit[0] <= ceiling]
    search.carried = None
    return search.in_circle(lat, lon, needed)[:limit]


def rank_nearest(user: User, lat: float, lon: float, *, limit: int = 20,
                 radius_m: float | None = None, where: list | None = None,
                 owner_id: uuid.UUID | None = None) -> list[tuple[float, int]]:
    """(distance in metres, seq) of the customers in ``user``'s scope nearest to (lat, lon).

    Exactly the ``limit`` nearest, nearest first, ties by ``seq`` (the older customer
    first); with ``radius_m`` only those within it. Live customers with coordinates only;
    ``where`` holds further SQL conditions on Customer; ``owner_id`` keeps that owner's
    customers only (a condition both indexes answer without reading rows).
    """
    return _ranked(user, lat, lon, limit, radius_m, where or [], owner_id=owner_id)[0]


def _ranked(user: User, lat: float, lon: float, limit: int, radius_m: float | None,
            where: list, carry: tuple = (),
            owner_id: uuid.UUID | None = None) -> tuple[list[tuple[float, int]], dict | None]:
    """``rank_nearest``'s ranking, and the ``carry`` columns of its customers by seq when
    the search read them on the way (PostgreSQL's walk, most searches), else None."""
    if limit <= 0 or (radius_m is not None and radius_m < 0):
        return [], None
    ceiling = HALF_EQUATOR_M if radius_m is None else min(radius_m, HALF_EQUATOR_M)
    search = _Search(user, where, carry, owner_id)
    if search.dialect == "sqlite":
        return _rank_sqlite(search, lat, lon, limit, ceiling), None
    return _rank_postgres(search, lat, lon, limit, ceiling), search.carried


def load_ranked(ranked: list[tuple[float, int]],
                columns: list | None = None) -> list[tuple[Customer | tuple, float]]:
    """The Customer rows of a ranking by ``rank_nearest``, in its order, with the distance.

    With ``columns`` (Customer attributes) each row is a plain tuple of those values
    instead of a Customer: no identity map, no instance state, no field_meta JSON to
    decode, about half the cost of loading objects. For readers that only serialize
    (the API's near search); the web pages, which need the objects, pass none.
    """
    if not ranked:
        return []
    seqs = [seq for _, seq in ranked]
    if db.session.get_bind().dialect.name == "sqlite":
        statement, values = _ROWS_SQLITE, {"seqs": json.dumps(seqs)}
    else:
        statement, values = _ROWS_POSTGRES, {"seqs": seqs}
    if columns is None:
        by_seq = {c.seq: c for c in db.session.scalars(statement, values)}
    else:
        # One statement object per column list: a new one per call would cost its cache
        # key and the adaptation of the cached result columns, more than the query.
        key = (statement, *columns)
        narrow = _ROWS_NARROW.get(key)
        if narrow is None:
            narrow = _ROWS_NARROW[key] = statement.with_only_columns(Customer.seq, *columns)
        rows = db.session.connection().execute(narrow, values)
        by_seq = {row[0]: row[1:] for row in rows}
    return [(by_seq[seq], d) for d, seq in ranked]


# The rows of a ranking, by one list parameter (an expanding IN is rewritten on every call).
_ROWS_SQLITE = sa.select(Customer).where(Customer.seq.in_(
    sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(sa.bindparam("seqs", type_=sa.String)))))
_ROWS_POSTGRES = sa.select(Customer).where(
    Customer.seq == sa.any_(sa.bindparam("seqs", type_=postgresql.ARRAY(sa.BigInteger))))
# The same with only some columns, by (statement, *columns); callers pass fixed lists.
_ROWS_NARROW: dict[tuple, sa.Select] = {}


def nearest_customers(user: User, lat: float, lon: float, *, limit: int = 20,
                      radius_m: float | None = None, where: list | None = None,
                      owner_id: uuid.UUID | None = None,
                      columns: list | None = None) -> list[tuple[Customer | tuple, float]]:
    """The customers in ``user``'s scope nearest to (lat, lon), with their distance in metres.

    With ``radius_m`` only those within it (still nearest first, at most ``limit``);
    without, exactly the ``limit`` nearest. Ties are broken by ``seq`` (creation order),
    so the order is stable. ``where`` holds further SQL conditions on Customer (status,
    class) and ``owner_id`` an owner (``rank_nearest``). With ``columns``, tuples of those
    columns instead of Customers (``load_ranked``).
    """
    if columns is None:
        return load_ranked(rank_nearest(user, lat, lon, limit=limit, radius_m=radius_m,
                                        where=where, owner_id=owner_id))
    ranked, carried = _ranked(user, lat, lon, limit, radius_m, where or [], tuple(columns),
                              owner_id)
    if carried is not None and all(seq in carried for _, seq in ranked):
        return [(carried[seq], d) for d, seq in ranked]
    return load_ranked(ranked, columns)


def customers_in_box(user: User, box: Box, *, limit: int, where: list | None = None) -> list:
    """Light rows (id, name, lat, lon, status, abc_class) of customers in scope inside ``box``."""
    dialect = db.session.get_bind().dialect.name
    return db.session.execute(
        sa.select(Customer.id, Customer.name, Customer.lat, Customer.lon, Customer.status,
                  Customer.abc_class)
        .where(_live_located(), _in_box(box, dialect), customer_scope(user), *(where or []))
        .limit(limit)
    ).all()
