"""Distances and "who is near": the one place that measures the earth.

Distances are geodesic on the WGS84 ellipsoid (Karney's algorithm, the one
geopy.distance.geodesic uses), computed by pyproj's C implementation, which
is about 200 times faster than the pure-Python one and gives the same metres.

Nearest-customer search is exact: an index finds the candidates inside a
bounding box that safely contains the circle of radius r (an R*Tree on
SQLite, a GiST index on PostgreSQL); every candidate is measured exactly; the
circle grows until it holds k customers. Any customer closer than the k-th
lies inside that circle, so none is missed at the edge of a box.
"""

import math
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from pyproj import Geod

from .extensions import db
from .models import Customer, User
from .scope import customer_scope

GEOD = Geod(ellps="WGS84")
# Smallest radius of curvature of the WGS84 ellipsoid (meridional, at the equator), less
# a margin: degrees computed with it over-cover the circle, never under-cover it.
SAFE_RADIUS_M = 6_335_439 * 0.99
HALF_EQUATOR_M = 20_037_508
FIRST_RING_M = 400.0

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


def distances_m(lat: float, lon: float, points: list[tuple[float, float]]) -> list[float]:
    """Geodesic distances in metres from one point to each (lat, lon) of ``points``."""
    if not points:
        return []
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return list(GEOD.inv([lon] * len(points), [lat] * len(points), lons, lats)[2])


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
        corner = sa.func.point
        inside = sa.func.point(Customer.lon, Customer.lat).op("<@")(
            sa.func.box(corner(box.west, box.south), corner(box.east, box.north))
        )
    return sa.and_(inside, Customer.lat.between(box.south, box.north),
                   Customer.lon.between(box.west, box.east))


def _live_located() -> sa.ColumnElement[bool]:
    # The same predicate as the partial GiST index, so PostgreSQL can use it.
    return sa.and_(~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None))


def _candidates(user: User, lat: float, lon: float, radius_m: float,
                where: list) -> list[tuple[float, uuid.UUID]]:
    """(distance, id) of every customer in scope within ``radius_m``, nearest first."""
    dialect = db.session.get_bind().dialect.name
    boxes = covering_boxes(lat, lon, radius_m)
    located = sa.or_(*(_in_box(box, dialect) for box in boxes))
    rows = db.session.execute(
        sa.select(Customer.id, Customer.lat, Customer.lon)
        .where(_live_located(), located, customer_scope(user), *where)
    ).all()
    found = zip(distances_m(lat, lon, [(r.lat, r.lon) for r in rows]), rows, strict=True)
    return sorted((d, row.id) for d, row in found if d <= radius_m)


def _load(ranked: list[tuple[float, uuid.UUID]]) -> list[tuple[Customer, float]]:
    if not ranked:
        return []
    by_id = {c.id: c for c in db.session.scalars(
        sa.select(Customer).where(Customer.id.in_([cid for _, cid in ranked]))
    )}
    return [(by_id[cid], d) for d, cid in ranked]


def nearest_customers(user: User, lat: float, lon: float, *, limit: int = 20,
                      radius_m: float | None = None,
                      where: list | None = None) -> list[tuple[Customer, float]]:
    """The customers in ``user``'s scope nearest to (lat, lon), with their distance in metres.

    With ``radius_m`` only those within it (still nearest first, at most ``limit``);
    without, exactly the ``limit`` nearest. Ties are broken by id, so the order is
    stable. ``where`` holds further SQL conditions on Customer (status, class).
    """
    where = where or []
    if radius_m is not None:
        return _load(_candidates(user, lat, lon, radius_m, where)[:limit])
    radius = FIRST_RING_M
    while True:
        ranked = _candidates(user, lat, lon, radius, where)
        if len(ranked) >= limit or radius >= HALF_EQUATOR_M:
            return _load(ranked[:limit])
        # Grow by the density seen so far, at least doubling, so sparse areas take few rounds.
        growth = math.sqrt(limit / max(len(ranked), 1)) * 1.3
        radius = min(radius * max(2.0, growth), HALF_EQUATOR_M)


def customers_in_box(user: User, box: Box, *, limit: int, where: list | None = None) -> list:
    """Light rows (id, name, lat, lon, status, abc_class) of customers in scope inside ``box``."""
    dialect = db.session.get_bind().dialect.name
    return db.session.execute(
        sa.select(Customer.id, Customer.name, Customer.lat, Customer.lon, Customer.status,
                  Customer.abc_class)
        .where(_live_located(), _in_box(box, dialect), customer_scope(user), *(where or []))
        .limit(limit)
    ).all()
