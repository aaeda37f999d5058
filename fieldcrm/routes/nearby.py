"""Around me: the nearby list (the rep's home screen) and the map."""

from datetime import datetime

from babel.dates import format_date, format_time
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import nearby
from ..errors import api_error
from ..extensions import htmx
from ..models import ABC_CLASSES, utcnow
from ..scope import customer_or_404

bp = Blueprint("nearby", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


@bp.app_template_filter("nearby_distance")
def _distance_filter(metres: float) -> str:
    return nearby.format_distance(metres)


@bp.app_template_filter("hours_clock")
def _clock_filter(moment: datetime) -> str:
    """The wall-clock time of an aware datetime in its own zone ("17:00", "5:00 PM")."""
    return format_time(moment, "short", tzinfo=moment.tzinfo, locale=get_locale())


@bp.app_template_filter("hours_opens")
def _opens_filter(moment: datetime) -> str:
    """"13:00" when ``moment`` is today in its zone, else the weekday too ("Mon 08:00")."""
    if moment.date() == utcnow().astimezone(moment.tzinfo).date():
        return _clock_filter(moment)
    day = format_date(moment, "EEE", locale=get_locale())
    return f"{day} {_clock_filter(moment)}"


def _has_home() -> bool:
    return current_user.home_lat is not None and current_user.home_lon is not None


def _page_context(**extra) -> dict:
    args = request.args
    return {
        "radii": current_app.config["NEARBY_RADII_KM"], "abc_classes": ABC_CLASSES,
        "limit": current_app.config["NEARBY_LIMIT"], "has_home": _has_home(),
        "values": {name: args.get(name, "") for name in ("lat", "lon", "home", "place", "status",
                                                          "abc")}
        | {"radius_km": args.get("radius_km", _default_radius())},
        **extra,
    }


def _default_radius() -> str:
    radius = current_app.config.get("NEARBY_DEFAULT_RADIUS")
    return str(radius) if radius else ""


@bp.get("/nearby")
def index():
    return render_template("nearby/index.html", **_page_context(listed=False))


def _origin(args) -> nearby.Origin:
    """Where to measure from: a typed place, else the phone's position, else the home base."""
    if args.get("place", "").strip():
        return nearby.resolve_place(current_user, args["place"])
    if args.get("lat") or args.get("lon"):
        return nearby.Origin(*nearby.parse_point(args.get("lat"), args.get("lon")), "gps")
    if args.get("home"):
        if not _has_home():
            raise nearby.BadInput(_("You have no home base yet. Type a postal code or address "
                                    "instead."))
        return nearby.Origin(current_user.home_lat, current_user.home_lon, "home")
    raise nearby.BadInput(_("Choose where to search from: your location, your home base or a "
                            "postal code."))


@bp.get("/nearby/list")
def list_customers():
    config = current_app.config
    try:
        filters = nearby.parse_filter(request.args, config["NEARBY_RADII_KM"])
        origin = _origin(request.args)
        rows, more = nearby.nearby_rows(
            current_user, origin.lat, origin.lon, filters, utcnow(),
            limit=config["NEARBY_LIMIT"], radius_max_rows=config["NEARBY_RADIUS_MAX_ROWS"])
        context, status = {"rows": rows, "more": more, "origin": origin, "filters": filters}, 200
    except nearby.BadInput as exc:
        context, status = {"error": exc.message}, 400
    if htmx and not htmx.boosted:
        body = render_template("nearby/_list.html", **_page_context(**context))
    else:
        body = render_template("nearby/index.html", **_page_context(listed=True, **context))
    return body, status, {"Vary": "HX-Request"}


@bp.get("/map")
def map_page():
    view = None
    if _has_home():
        view = {"lat": current_user.home_lat, "lon": current_user.home_lon, "zoom": 11}
    else:
        box = nearby.scope_bounds(current_user)
        if box is not None:
            view = {"bounds": [box.south, box.west, box.north, box.east]}
    return render_template("nearby/map.html", view=view or {"bounds": [47.27, 5.87, 55.06, 15.04]},
                           abc_classes=ABC_CLASSES)


@bp.get("/map/customers.json")
def map_customers():
    try:
        box = nearby.parse_bbox(request.args.get("bbox"))
        status, abc_class = nearby.parse_status_and_class(request.args)
    except nearby.BadInput as exc:
        return api_error(400, exc.message)
    area = nearby.map_area(current_user, box, status, abc_class,
                           cap=current_app.config["MAP_MAX_MARKERS"])
    return area, 200, {"Cache-Control": "private, no-store"}


@bp.get("/map/customers/<customer_id>/popup")
def map_popup(customer_id):
    customer = customer_or_404(current_user, customer_id)
    return render_template("nearby/_popup.html", row=nearby.row_for(customer, None, utcnow()))


@bp.get("/map/new-here")
def new_here():
    """Open the new-customer form at a point, with the address found there filled in."""
    try:
        lat, lon = nearby.parse_point(request.args.get("lat"), request.args.get("lon"))
    except nearby.BadInput as exc:
        return render_template("error.html", status=400, message=exc.message), 400
    fields = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"}
    address = nearby.address_at(lat, lon)
    if address:
        fields |= address
    else:
        flash(_("The address at this position could not be looked up. Please type it in."),
              "error")
    return redirect(url_for("customers.new", **fields))
