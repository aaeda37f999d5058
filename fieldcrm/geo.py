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
- PostgreSQL: the GiST index on ``point(lon, lat)`` walks customers in order
  of plain degrees (index-only); the walk's last distance bounds what it has
  not returned, so most searches end after one query, the rest after one
  circle query.

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
from .scope import customer_scope

GEOD = Geod(ellps="WGS84")
# Smallest radius of curvature of the WGS84 ellipsoid (meridional, at the equator), less
# a margin: degrees computed with it over-cover the circle, never under-cover it.
SAFE_RADIUS_M = 6_335_439 * 0.99
HALF_EQUATOR_M = 20_037_508
FIRST_RING_M = 700.0

GEO_INDEX = sa.table(
    "customer_geo", sa.column("seq"), sa.column("min_lat"), sa.column("max_lat"),
    sa.column("min_lon"), sa.column("max_lon"),
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
        hits = sa.select(GEO_INDEX.c.seq).where(
            GEO_INDEX.c.max_lat >= box.south, GEO_INDEX.c.min_lat <= box.north,
            GEO_INDEX.c.max_lon >= box.west, GEO_INDEX.c.min_lon <= box.east,
        )
        inside = Customer.seq.in_(hits)
    else:
        inside = _in_gist(box)
    return sa.and_(inside, Customer.lat.between(box.south, box.north),
                   Customer.lon.between(box.west, box.east))


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
# A user's scope clause and its key, by (role, id): what ``customer_scope`` reads of a
# user (tests/test_geo.py checks that it reads nothing else).
_SCOPES: dict[tuple, tuple[sa.ColumnElement[bool], tuple]] = {}
# Called with (sql, parameters) before each statement a search runs on the DBAPI
# connection, which SQLAlchemy's events do not see: the bench counts and explains them.
statement_hook = None
_LITERAL_TYPES = (str, int, float, uuid.UUID, type(None))
_MARKER = re.compile(r"__geo_param_(\w+?)__")


def _scope(user: User) -> tuple[sa.ColumnElement[bool], tuple]:
    """``customer_scope(user)`` and its key, built once per role and user id."""
    found = _SCOPES.get((user.role, user.id))
    if found is None:
        scope = customer_scope(user)
        found = scope, _bound_key(scope)
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

    def __init__(self, user: User, where: list):
        self.connection = db.session.connection()
        self.dialect = self.connection.dialect.name
        self.scope, scope_key = _scope(user)
        self.where = where
        # Everyone in scope and no filters (the admin's plain search): every live located
        # customer is eligible, and SQLite needs no customer rows at all.
        self.filtered = bool(where) or not isinstance(self.scope, sa.sql.elements.True_)
        try:
            self.key = (self.dialect, scope_key, *(_bound_key(w) for w in where))
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

    def rtree(self, sql: str, lat: float, lon: float, radius_m: float) -> list:
        """Rows of a fixed R*Tree query for each box of the circle (SQLite)."""
        return [row for box in covering_boxes(lat, lon, radius_m)
                for row in self.execute(sql, _padded(box))]

    def _eligible(self) -> sa.Select:
        return sa.select(Customer.seq, Customer.lat, Customer.lon).where(
            _live_located(), self.scope, *self.where)

    def measured(self, lat: float, lon: float, rows) -> list[tuple[float, int]]:
        """(exact distance, seq) of (seq, lat, lon) rows, nearest first, ties by seq."""
        if not rows:
            return []
        seqs, lats, lons = zip(*rows, strict=True)
        found = GEOD.inv([lon] * len(rows), [lat] * len(rows), lons, lats)[2]
        return sorted(zip(found, seqs, strict=True))

    def in_circle(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, int]]:
        """(distance, seq) of every eligible customer within ``radius_m``, nearest first.

        PostgreSQL only: the GiST index answers the boxes; every row is measured anyway,
        so the boxes need not be exact.
        """
        boxes = covering_boxes(lat, lon, radius_m)

        def build(param):
            return self._eligible().where(
                sa.or_(*(_in_gist(box) for box in _box_parameters(len(boxes), param))))

        rows = self.run(("circle", len(boxes)), build, _box_values(boxes))
        return [(d, seq) for d, seq in self.measured(lat, lon, rows) if d <= radius_m]

    def by_seq(self, seqs: list[int]) -> list[tuple[int, float, float]]:
        """(seq, lat, lon) of those of ``seqs`` that are eligible (in scope, live, filtered).

        SQLite only. The list goes in as one JSON parameter, so the statement stays the
        same whatever its length (an expanding IN would be rewritten on every call).
        """
        def build(param):
            listed = sa.select(sa.literal_column("value")).select_from(
                sa.func.json_each(param("seqs", sa.String)))
            return self._eligible().where(Customer.seq.in_(listed))

        return self.run(("seq",), build, {"seqs": json.dumps(seqs)})

    def knn(self, lat: float, lon: float, limit: int,
            box: Box | None = None) -> list[tuple[int, float, float, float]]:
        """(seq, lat, lon, degrees) of the ``limit`` eligible customers (inside ``box``)
        nearest in plain degrees, the order PostgreSQL's GiST index walks in
        (``point <-> point``). With a box the walk ends at the box's edge.

        Only ``<@`` here: the exact lat/lon ranges of ``_in_box`` make the planner expect
        a single row and trade the ordered index walk for a scan and sort of the box.
        """
        def build(param):
            point = sa.func.point(Customer.lon, Customer.lat)
            query = sa.func.point(param("qlon", sa.Float), param("qlat", sa.Float))
            degrees = point.op("<->", return_type=sa.Float)(query)
            statement = self._eligible().add_columns(degrees)
            if box is not None:
                statement = statement.where(_in_gist(_box_parameters(1, param)[0]))
            return statement.order_by(degrees).limit(param("k", sa.Integer))

        values = {"qlat": lat, "qlon": lon, "k": limit, **(_box_values([box]) if box else {})}
        return self.run(("knn", box is not None), build, values)


# The R*Tree keeps its boxes in 32-bit floats, rounded outwards: the true point lies in
# the stored box, a few float32 ulps wide (at 180°, one ulp is 1.5e-5°, 1.7 m), so the
# centre of the stored box is within about 6 m of the customer. Rough distances use twice
# that. Query boxes are widened by RTREE_PAD_DEG, far more than float32 rounding (and than
# values too small for float32, which it stores as 0). The exact positions sit beside the
# boxes as auxiliary columns (+lat, +lon, stored as given, 64-bit), read only when asked
# for: each costs a lookup in the R*Tree's rowid table, about twice the entry itself.
RTREE_SLACK_M = 12.0
RTREE_PAD_DEG = 1e-4
RTREE_BOXES = ("SELECT seq, min_lat, max_lat, min_lon, max_lon FROM customer_geo "
               "WHERE max_lat >= ? AND min_lat <= ? AND max_lon >= ? AND min_lon <= ?")
RTREE_POINTS = ("SELECT seq, lat, lon FROM customer_geo "
                "WHERE max_lat >= ? AND min_lat <= ? AND max_lon >= ? AND min_lon <= ?")
RTREE_POINTS_BEYOND = RTREE_POINTS + (" AND NOT (min_lat >= ? AND max_lat <= ? "
                                      "AND min_lon >= ? AND max_lon <= ?)")
RTREE_COUNT = ("SELECT count(*) FROM customer_geo "
               "WHERE max_lat >= ? AND min_lat <= ? AND max_lon >= ? AND min_lon <= ?")


def _padded(box: Box) -> tuple[float, float, float, float]:
    """(south, north, west, east) of ``box`` widened by RTREE_PAD_DEG, for the R*Tree."""
    pad = RTREE_PAD_DEG
    return box.south - pad, box.north + pad, box.west - pad, box.east + pad


def _grown(search: _Search, lat: float, lon: float, radius: float, ceiling: float, limit: int,
           expected: float) -> float:
    """The next, larger circle when the one of ``radius`` holds about ``expected`` eligible
    customers and ``limit`` are wanted: by the density seen, with a little to spare (at
    least a quarter wider, at most eight-fold); a count on the R*Tree keeps a big step
    from landing on tens of thousands of entries."""
    step = min(max(1.25, math.sqrt(limit * 1.4 / max(expected, 0.5))), 8.0)
    bigger = min(radius * step, ceiling)
    if step > 2:
        most = 20 * limit + 200
        count = sum(row[0] for row in search.rtree(RTREE_COUNT, lat, lon, bigger))
        if count > most:
            bigger = min(max(radius * 2, bigger * math.sqrt(most / count)), ceiling)
    return bigger


def _first_ring(limit: int, ceiling: float) -> float:
    """Where a search starts: a circle that holds 20 customers in about half of the bench's
    searches (German cities); sparser places take one or two more rounds."""
    return min(FIRST_RING_M * math.sqrt(max(limit, 20) / 20), ceiling)


def _rank_sqlite_everyone(search: _Search, lat: float, lon: float, limit: int,
                          ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest on SQLite when every live located customer is eligible: from the
    R*Tree alone. It lists every customer in a circle's covering boxes with the exact
    position; those within the circle are then known exactly, and when there are
    ``limit`` of them they are the answer (everyone outside is farther). A larger circle
    reads only the entries not wholly inside the box read before (their positions cost a
    lookup each)."""
    radius = _first_ring(limit, ceiling)
    seen: dict[int, float] = {}
    inner: tuple | None = None
    while True:
        boxes = [_padded(box) for box in covering_boxes(lat, lon, radius)]
        rows = []
        for box in boxes:
            if inner is not None:
                rows += search.execute(RTREE_POINTS_BEYOND, box + inner)
            else:
                rows += search.execute(RTREE_POINTS, box)
        seen.update((seq, d) for d, seq in search.measured(lat, lon, rows))
        ranked = sorted((d, seq) for seq, d in seen.items() if d <= radius)
        if len(ranked) >= limit or radius >= ceiling:
            return ranked[:limit]
        inner = boxes[0] if len(boxes) == 1 else None
        radius = _grown(search, lat, lon, radius, ceiling, limit, len(ranked))


def _rank_sqlite(search: _Search, lat: float, lon: float, limit: int,
                 ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest on SQLite with a scope or filters: R*Tree boxes, then rows.

    The R*Tree lists every live located customer in a circle's boxes cheaply, with its
    position to within RTREE_SLACK_M. Candidates are taken in that rough order and only
    their rows are read (with scope and filters), a batch at a time, until the
    ``limit``-th exact distance is below the rough lower bound of every unread candidate
    and inside the circle: then no unread customer can be nearer. When the circle cannot
    hold ``limit`` customers it grows first (``_grown``).
    """
    if not search.filtered:
        return _rank_sqlite_everyone(search, lat, lon, limit, ceiling)
    radius = _first_ring(limit, ceiling)
    found: list[tuple[float, int]] = []
    read: set[int] = set()
    share = 1.0  # of the candidates read, the part that is in scope and passes the filters
    while True:
        entries = [row for row in search.rtree(RTREE_BOXES, lat, lon, radius)
                   if row[0] not in read]
        rough = search.measured(lat, lon, [(seq, (s + n) / 2, (w + e) / 2)
                                           for seq, s, n, w, e in entries])
        lower = [d - RTREE_SLACK_M for d, _ in rough]
        queue = [seq for (_, seq), low in zip(rough, lower, strict=True) if low <= radius]
        position = 0
        while True:
            bound = lower[position] if position < len(queue) else radius
            if len(found) >= limit and found[limit - 1][0] < bound and found[limit - 1][0] <= radius:
                return found[:limit]
            unread = len(queue) - position
            if not unread or (radius < ceiling and len(found) + unread * share < limit):
                break
            batch = queue[position:position + int(max(limit - len(found), 1) / share * 1.1) + 3]
            position += len(batch)
            read.update(batch)
            rows = search.by_seq(batch)
            share = max(share / 2, len(rows) / len(batch), 0.02)
            found = sorted(found + search.measured(lat, lon, rows))
        if radius >= ceiling:
            return [hit for hit in found[:limit] if hit[0] <= ceiling]
        inside = sum(1 for d, _ in found if d <= radius) + (len(queue) - position) * share
        radius = _grown(search, lat, lon, radius, ceiling, limit, inside)


def knn_rows(lat: float, limit: int) -> int:
    """How many rows the GiST walk fetches for ``limit`` customers near latitude ``lat``.

    The walk's answer is proven when the ``limit``-th distance lies within the disc of
    degrees walked (``degree_reach_m``). A degree of longitude is cos φ of one of
    latitude, so that disc holds about 1/cos φ times as many customers as the circle it
    proves (1.6 × at 51° N); the rest is room for uneven density, relatively less for
    larger limits. In the bench 0.3 % of "20 nearest" searches need the second query.
    """
    widening = 1 / max(math.cos(math.radians(lat)), 0.2)
    return int(limit * widening * (1 + 2 / math.sqrt(limit))) + 4


def degree_reach_m(lat: float, lon: float, degrees: float) -> float:
    """A radius whose circle around (lat, lon) lies strictly inside the disc of ``degrees``
    in plain, unwrapped (lon, lat) degrees, the metric of PostgreSQL's ``point <-> point``.

    Why: on the ellipsoid ds² = M² dφ² + N² cos²φ dλ² with M, N ≥ M_min (the meridional
    radius at the equator, of which SAFE_RADIUS_M is 99 %). A path of length D stays
    within D / M_min radians of the latitude of its start, so where cos φ ≥ c along it,
    ds ≥ M_min · c · |(dφ, dλ)|: its length in degrees is below D / (SAFE_RADIUS_M · c).
    With D = radians(degrees) · SAFE_RADIUS_M · c and c = cos(|lat| + degrees) (the band
    that length in degrees can reach), every point within D, whose geodesic is such a
    path, is nearer than ``degrees``. 0 when that band comes within a degree of a pole or
    the disc reaches ±180° (points across the antimeridian are far away in degrees).
    """
    if abs(lat) + degrees >= 89 or abs(lon) + degrees >= 180:
        return 0.0
    return (math.radians(degrees * (1 - 1e-9)) * SAFE_RADIUS_M
            * math.cos(math.radians(abs(lat) + degrees)))


def _rank_postgres(search: _Search, lat: float, lon: float, limit: int,
                   ceiling: float) -> list[tuple[float, int]]:
    """Exact k nearest on PostgreSQL, most often in one query.

    The GiST index walks customers in order of plain degrees (``<->``), which is not the
    order of metres. It fetches about twice ``limit`` of them (``knn_rows``). Every customer it did not
    return is at least as many degrees away as the last one it did, so it lies outside
    the disc of that many degrees, and so outside the circle of ``degree_reach_m``. When the ``limit``-th exact distance (or the radius) is inside such a
    circle, the answer is among the rows already read. Otherwise one circle query of
    that distance collects every candidate (far north, near the antimeridian, or where
    the density changes abruptly). With a radius the walk stays inside the radius's box.
    """
    wanted = knn_rows(lat, limit)
    boxes = covering_boxes(lat, lon, ceiling) if ceiling < HALF_EQUATOR_M else []
    rows = search.knn(lat, lon, wanted, boxes[0] if len(boxes) == 1 else None)
    ranked = search.measured(lat, lon, [row[:3] for row in rows])
    if len(rows) < wanted:
        # Fewer eligible customers than asked for (in the box): these are all of them.
        return [hit for hit in ranked[:limit] if hit[0] <= ceiling]
    needed = min(ranked[limit - 1][0], ceiling)
    if needed <= degree_reach_m(lat, lon, rows[-1][3]):
        return [hit for hit in ranked[:limit] if hit[0] <= ceiling]
    return search.in_circle(lat, lon, needed)[:limit]


def rank_nearest(user: User, lat: float, lon: float, *, limit: int = 20,
                 radius_m: float | None = None, where: list | None = None) -> list[tuple[float, int]]:
    """(distance in metres, seq) of the customers in ``user``'s scope nearest to (lat, lon).

    Exactly the ``limit`` nearest, nearest first, ties by ``seq`` (the older customer
    first); with ``radius_m`` only those within it. Live customers with coordinates only;
    ``where`` holds further SQL conditions on Customer.
    """
    if limit <= 0 or (radius_m is not None and radius_m < 0):
        return []
    ceiling = HALF_EQUATOR_M if radius_m is None else min(radius_m, HALF_EQUATOR_M)
    search = _Search(user, where or [])
    if search.dialect == "sqlite":
        return _rank_sqlite(search, lat, lon, limit, ceiling)
    return _rank_postgres(search, lat, lon, limit, ceiling)


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
                      columns: list | None = None) -> list[tuple[Customer | tuple, float]]:
    """The customers in ``user``'s scope nearest to (lat, lon), with their distance in metres.

    With ``radius_m`` only those within it (still nearest first, at most ``limit``);
    without, exactly the ``limit`` nearest. Ties are broken by ``seq`` (creation order),
    so the order is stable. ``where`` holds further SQL conditions on Customer (status,
    class). With ``columns``, tuples of those columns instead of Customers (``load_ranked``).
    """
    return load_ranked(rank_nearest(user, lat, lon, limit=limit, radius_m=radius_m, where=where),
                       columns)


def customers_in_box(user: User, box: Box, *, limit: int, where: list | None = None) -> list:
    """Light rows (id, name, lat, lon, status, abc_class) of customers in scope inside ``box``."""
    dialect = db.session.get_bind().dialect.name
    return db.session.execute(
        sa.select(Customer.id, Customer.name, Customer.lat, Customer.lon, Customer.status,
                  Customer.abc_class)
        .where(_live_located(), _in_box(box, dialect), customer_scope(user), *(where or []))
        .limit(limit)
    ).all()
