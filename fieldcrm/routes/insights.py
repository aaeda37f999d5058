"""Analytical CRM for the rep: whom to visit next (the due list) and the visit preparation."""

import uuid

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from ..analytics import cadence, preparation
from ..analytics.risk import risk_text
from ..extensions import htmx
from ..models import utcnow
from ..scope import customer_or_404, team_members
from ..visits.localtime import user_zone

bp = Blueprint("insights", __name__)
DUE_PAGE = 20
CHART_HEIGHT = 60


@bp.before_request
@login_required
def _require_login():
    return None


@bp.app_template_filter("risk_reason")
def _risk_reason(reason: str | None) -> str:
    """A customer's stored at-risk reason in the viewer's words ("No order for 214 days")."""
    return risk_text(reason)


def _owner(members) -> uuid.UUID | None:
    wanted = request.args.get("owner", "")
    return next((m.id for m in members if str(m.id) == wanted), None)


def _offset() -> int:
    text = request.args.get("offset", "")
    return min(int(text), 1_000_000) if text.isdigit() else 0


@bp.get("/due")
def due():
    members = team_members(current_user) if current_user.role != "rep" else []
    owner_id = _owner(members)
    offset = _offset()
    now = utcnow()
    rows, total = cadence.due_page(current_user, now, user_zone(current_user), owner_id=owner_id,
                                   offset=offset, limit=DUE_PAGE)
    context = {"rows": rows, "total": total, "offset": offset, "limit": DUE_PAGE,
               "owner_id": owner_id, "members": members}
    if htmx and htmx.target == "more-due":
        response = render_template("insights/_due_rows.html", **context)
    else:
        response = render_template("insights/due.html", **context)
    return response, 200, {"Vary": "HX-Request"}


@bp.get("/customers/<customer_id>/prepare")
def prepare(customer_id):
    customer = customer_or_404(current_user, customer_id)
    prep = preparation.visit_preparation(customer, now=utcnow(), zone=user_zone(current_user))
    return render_template("insights/prepare.html", customer=customer, prep=prep,
                           bars=preparation.bar_heights(prep.months, prep.revenue_peak,
                                                        CHART_HEIGHT),
                           chart_height=CHART_HEIGHT)
