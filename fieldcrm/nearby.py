"""Around me: the reads behind the nearby list and the map.

Views parse the request with the ``parse_*`` functions (which raise ``BadInput`` with
a message for the user), then call ``nearby_rows`` or ``map_area``. Distances come
from ``fieldcrm.geo``, the one place that measures the earth.

The map answers "customers in this area" with single rows up to ``cap`` (the
browser clusters them), and above that with a coarse grid of counts computed by the
database: at 100,000 customers in view nobody can read single pins anyway, the
response stays a few kilobytes, and no customer silently goes missing, as it would
with a plain "first 5,000" cut. Which of the two is decided by an index-only count
that stops at ``cap + 1`` (about a millisecond), so a country-wide view does not
first fetch 5,001 rows it then throws away.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_decimal
from flask_babel import gettext as _

from .customers.queries import CustomerFilter, filter_conditions
from .extensions import db
from .geo import (
    GEO_INDEX,
    Box,
    _in_box,
    _rtree_in,
    customers_in_box,
    nearest_customers,
    valid_point,
)
from .models import ABC_CLASSES, CUSTOMER_STATUSES, Customer, User
from .opening_hours import OpenState, state_at
from .scope import customer_scope
from .visits_due import VisitDue, visit_due

GRID_COLUMNS = 8
_COORDINATE = re.compile(r"^[+-]?\d{1,3}(?:\.\d{1,15})?$")
_RADIUS = re.compile(r"^\d{1,5}(?:\.\d{1,6})?$")
_POSTAL_CODE = re.compile(r"^\d{5}$")
ADDRESS_FIELDS = {"street": 200, "postal_code": 16, "city": 100, "country": 2}


class BadInput(Exception):
    """Input the nearby list or the map cannot use; ``message`` is shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Origin:
    """Where distances are measured from: the phone's position, the home base or a typed place."""

    lat: float
    lon: float
    kind: str
    label: str = ""


@dataclass(frozen=True)
class NearbyFilter:
    """The list's mode (nearest N when ``radius_km`` is None) and its filters."""

    radius_km: int | None = None
    status: str = ""
    abc_class: str = ""

    def where(self) -> list:
        return filter_conditions(CustomerFilter(status=self.status, abc_class=self.abc_class))


@dataclass(frozen=True)
class NearbyRow:
    """One customer of the nearby list with what the rep decides on at a glance."""

    customer: Customer
    distance_m: float
    due: VisitDue | None
    hours: OpenState | None


def parse_coordinate(text: str | None, limit: float) -> float:
    """A latitude (limit 90) or longitude (limit 180) from a query string, or BadInput."""
    text = (text or "").strip()
    if not _COORDINATE.match(text):
        raise BadInput(_("The position is not valid: latitude and longitude must be numbers."))
    value = float(text)
    if not -limit <= value <= limit:
        if limit == 90:
            raise BadInput(_("The latitude must be between -90 and 90."))
        raise BadInput(_("The longitude must be between -180 and 180."))
    return value


def parse_point(lat: str | None, lon: str | None) -> tuple[float, float]:
    """(lat, lon) from query strings; finite numbers on the globe only, else BadInput."""
    point = parse_coordinate(lat, 90), parse_coordinate(lon, 180)
    if not valid_point(*point):
        raise BadInput(_("The position is not valid: latitude and longitude must be numbers."))
    return point


def parse_near(text: str | None) -> tuple[float, float]:
    """(lat, lon) from "lat,lon" as the JSON API's ``near`` takes it, by parse_point's rules."""
    parts = (text or "").split(",")
    if len(parts) != 2:
        raise BadInput(_("Give the position as latitude,longitude, e.g. 53.55,9.99."))
    return parse_point(*parts)


def parse_radius_km(text: str | None, radii: tuple[int, ...]) -> float:
    """A radius in kilometres from a query string: above 0 and at most the largest radius
    the nearby list offers (``radii``), else BadInput. The list offers fixed choices;
    the API takes any value within the same bounds."""
    text = (text or "").strip()
    largest = max(radii)
    if not _RADIUS.match(text) or not 0 < float(text) <= largest:
        raise BadInput(_("The radius must be a number of kilometres above 0 and at most "
                         "%(largest)s.", largest=largest))
    return float(text)


def parse_filter(args, radii: tuple[int, ...]) -> NearbyFilter:
    """Mode and filters from the query string; values outside the allowed sets are BadInput."""
    radius_text = (args.get("radius_km") or "").strip()
    radius_km = None
    if radius_text:
        if not radius_text.isdigit() or int(radius_text) not in radii:
            choices = ", ".join(str(r) for r in radii)
            raise BadInput(_("Choose a radius of %(choices)s km.", choices=choices))
        radius_km = int(radius_text)
    return NearbyFilter(radius_km, *parse_status_and_class(args))


def parse_status_and_class(args) -> tuple[str, str]:
    """The status and ABC class filters ("" for all); unknown values are BadInput."""
    status, abc_class = args.get("status", ""), args.get("abc", "")
    if status and status not in CUSTOMER_STATUSES:
        raise BadInput(_("Unknown status filter."))
    if abc_class and abc_class not in ABC_CLASSES:
        raise BadInput(_("Unknown ABC class filter."))
    return status, abc_class


def parse_bbox(text: str | None) -> Box:
    """A map area from "south,west,north,east" in degrees, or BadInput."""
    parts = (text or "").split(",")
    if len(parts) != 4:
        raise BadInput(_("The map area must be given as south,west,north,east."))
    south, west = parse_point(parts[0], parts[1])
    north, east = parse_point(parts[2], parts[3])
    if south > north or west > east:
        raise BadInput(_("The map area must be given as south,west,north,east."))
    return Box(south, west, north, east)


def nearby_rows(user: User, lat: float, lon: float, filters: NearbyFilter, now: datetime, *,
                limit: int, radius_max_rows: int) -> tuple[list[NearbyRow], bool]:
    """Customers in ``user``'s scope nearest to (lat, lon), with due and open-now at ``now``.

    Nearest ``limit`` without a radius; with one, all within it up to ``radius_max_rows``.
    The flag says whether the radius held more customers than are shown.
    """
    if filters.radius_km is None:
        found, more = nearest_customers(user, lat, lon, limit=limit, where=filters.where()), False
    else:
        found = nearest_customers(user, lat, lon, limit=radius_max_rows + 1,
                                  radius_m=filters.radius_km * 1000.0, where=filters.where())
        found, more = found[:radius_max_rows], len(found) > radius_max_rows
    return [row_for(customer, distance, now) for customer, distance in found], more


def row_for(customer: Customer, distance_m: float | None, now: datetime) -> NearbyRow:
    """The list row (or map popup) of one customer at ``now``."""
    return NearbyRow(
        customer, distance_m,
        visit_due(customer.visit_interval_days, customer.last_visited_at, now),
        state_at(customer.opening_hours, now),
    )


def format_distance(metres: float) -> str:
    """"850 m" below one kilometre, else kilometres with one decimal ("1,2 km" in German)."""
    whole = int(Decimal(metres).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if whole < 1000:
        return f"{format_decimal(whole)}\u00a0m"
    km = (Decimal(metres) / 1000).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{format_decimal(km, format='#,##0.0')}\u00a0km"


def resolve_place(user: User, text: str) -> Origin:
    """The point of a typed German postal code or address, or BadInput saying why not.

    A five-digit postal code is placed at the centre of the customers in scope that
    have it (no network needed); anything else goes to the geocoder when there is one.
    """
    text = " ".join(text.split())[:200]
    if _POSTAL_CODE.match(text):
        centre = postal_code_centre(user, text)
        if centre is not None:
            return centre
    found = _geocode_place(text)
    if found is None:
        if _POSTAL_CODE.match(text):
            raise BadInput(_("None of your customers has the postal code %(code)s, so its "
                             "position is unknown. Try a nearby postal code or your location.",
                             code=text))
        raise BadInput(_("No place found for “%(text)s”. Try a five-digit postal code.", text=text))
    return Origin(found[0], found[1], "place", text)


def postal_code_centre(user: User, postal_code: str) -> Origin | None:
    """The mean position of the located customers in scope with this postal code."""
    lat, lon, count, city = db.session.execute(
        sa.select(sa.func.avg(Customer.lat), sa.func.avg(Customer.lon), sa.func.count(),
                  sa.func.max(Customer.city))
        .where(Customer.postal_code == postal_code, ~Customer.deleted, Customer.lat.is_not(None),
               Customer.lon.is_not(None), customer_scope(user))
    ).one()
    if not count:
        return None
    return Origin(float(lat), float(lon), "place", f"{postal_code} {city or ''}".strip())


def _geocode_place(text: str) -> tuple[float, float] | None:
    """(lat, lon) of a typed place from fieldcrm.geocoding, if that module offers a lookup."""
    try:
        from .geocoding import geocode_place
    except ImportError:
        return None
    try:
        found = geocode_place(text)
    except Exception:  # a geocoder outage must not break the nearby list
        current_app.logger.warning("place lookup failed for %r", text, exc_info=True)
        raise BadInput(_("The address search is not reachable right now. "
                         "Type a postal code or use your location.")) from None
    if found is None:
        return None
    lat, lon = (found["lat"], found["lon"]) if isinstance(found, dict) else found[:2]
    return (float(lat), float(lon)) if valid_point(float(lat), float(lon)) else None


def address_at(lat: float, lon: float) -> dict[str, str] | None:
    """The street address at a point from fieldcrm.geocoding.reverse_geocode, or None.

    None when the geocoding module is missing, finds nothing or fails: the caller then
    asks the user to type the address.
    """
    try:
        from .geocoding import reverse_geocode
    except ImportError:
        return None
    try:
        found = reverse_geocode(lat, lon)
    except Exception:  # the form still opens with the coordinates
        current_app.logger.warning("reverse geocoding failed at %s,%s", lat, lon, exc_info=True)
        return None
    if not found:
        return None
    return {name: str(found.get(name) or "")[:size] for name, size in ADDRESS_FIELDS.items()
            if found.get(name)}


def map_area(user: User, box: Box, status: str, abc_class: str, *, cap: int) -> dict:
    """The customers in scope inside ``box``: single rows up to ``cap``, else grid counts.

    ``{"mode": "rows", "items": [{id, name, lat, lon, status, abc_class}], "total"}`` or
    ``{"mode": "grid", "clusters": [{lat, lon, count, bounds}], "total"}``.
    """
    where = NearbyFilter(None, status, abc_class).where()
    if _box_holds_more_than(box, cap):
        clusters = customer_grid(user, box, where)
        total = sum(c["count"] for c in clusters)
        if total > cap:
            return {"mode": "grid", "clusters": clusters, "total": total, "cap": cap}
    rows = customers_in_box(user, box, limit=cap, where=where)
    items = [{"id": str(r.id), "name": r.name, "lat": round(r.lat, 6), "lon": round(r.lon, 6),
              "status": r.status, "abc_class": r.abc_class} for r in rows]
    return {"mode": "rows", "items": items, "total": len(items), "cap": cap}


def _box_holds_more_than(box: Box, count: int) -> bool:
    """An index-only upper bound: could ``box`` hold more than ``count`` customers?

    Ignores scope and filters, so it costs about a millisecond at any size (the spatial
    index alone, stopping at ``count + 1``) where fetching ``count + 1`` rows through
    the scope costs hundreds for a country-wide box.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        hits = sa.select(GEO_INDEX.c.seq).where(_rtree_in(box))
    else:
        hits = sa.select(sa.literal(1)).select_from(Customer).where(
            ~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None),
            _in_box(box, dialect))
    found = db.session.scalar(sa.select(sa.func.count()).select_from(hits.limit(count + 1).subquery()))
    return found > count


def customer_grid(user: User, box: Box, where: list) -> list[dict]:
    """Counts of the customers in scope inside ``box`` per grid cell, with their mean position.

    Cells are about square on a web map: GRID_COLUMNS across the box.
    """
    dialect = db.session.get_bind().dialect.name
    cell_lon = max((box.east - box.west) / GRID_COLUMNS, 1e-6)
    middle = math.radians((box.south + box.north) / 2)
    cell_lat = max(cell_lon * math.cos(middle), 1e-6)

    def cell(column, origin: float, size: float):
        index = (column - origin) / size
        # SQLite truncates on CAST (the offset keeps values >= 0); PostgreSQL rounds, so floor.
        return sa.cast(index, sa.Integer) if dialect == "sqlite" else sa.func.floor(index)

    rows = db.session.execute(
        sa.select(cell(Customer.lon, box.west, cell_lon).label("gx"),
                  cell(Customer.lat, box.south, cell_lat).label("gy"),
                  sa.func.count().label("n"), sa.func.avg(Customer.lat).label("lat"),
                  sa.func.avg(Customer.lon).label("lon"))
        .where(~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None),
               _in_box(box, dialect), customer_scope(user), *where)
        .group_by(sa.text("gx"), sa.text("gy"))
    ).all()
    clusters = []
    for row in rows:
        gx, gy = int(row.gx), int(row.gy)
        south, west = box.south + gy * cell_lat, box.west + gx * cell_lon
        clusters.append({
            "lat": round(float(row.lat), 6), "lon": round(float(row.lon), 6), "count": row.n,
            "bounds": [round(v, 6) for v in (south, west, min(south + cell_lat, box.north),
                                             min(west + cell_lon, box.east))],
        })
    return clusters


def scope_bounds(user: User) -> Box | None:
    """The box around the located customers in ``user``'s scope, or None if there are none."""
    south, west, north, east = db.session.execute(
        sa.select(sa.func.min(Customer.lat), sa.func.min(Customer.lon), sa.func.max(Customer.lat),
                  sa.func.max(Customer.lon))
        .where(~Customer.deleted, Customer.lat.is_not(None), Customer.lon.is_not(None),
               customer_scope(user))
    ).one()
    if south is None:
        return None
    return Box(float(south), float(west), float(north), float(east))
