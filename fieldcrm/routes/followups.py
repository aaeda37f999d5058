"""Follow-ups: the list (overdue, today, upcoming), new, done, snooze, reassign,
and the count on the navigation badge.

A follow-up row replaces itself after done or snooze (htmx); the customer
page's follow-up panel replaces itself after a new one, and the page reloads
its history on the ``fieldcrm:history`` event. Without htmx each action
redirects to ``next`` (a local path) or the follow-up's page.
"""

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db, htmx
from ..followups import operations, queries
from ..models import Followup, utcnow
from ..scope import customer_or_404, team_members
from ..validation import ValidationError
from .visits import HISTORY_EVENT, panel_response

bp = Blueprint("followups", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


@bp.app_context_processor
def _badge():
    """``followups_due_count()`` for the navigation badge: one COUNT, run only when called."""

    def followups_due_count() -> int:
        if not current_user or not current_user.is_authenticated:
            return 0
        try:
            return queries.due_count(current_user, now=utcnow())
        except SQLAlchemyError:
            # An error page may render inside a failed transaction; no badge then.
            return 0

    return {"followups_due_count": followups_due_count}


def _who() -> tuple[str, list[uuid.UUID], list]:
    """Whose follow-ups the list shows: "me", "team" or one team member's id."""
    if current_user.role == "rep":
        return "me", [current_user.id], []
    members = team_members(current_user)
    who = request.args.get("who", "me")
    if who == "team":
        return who, [m.id for m in members], members
    chosen = next((m for m in members if str(m.id) == who), None)
    if chosen is not None:
        return who, [chosen.id], members
    return "me", [current_user.id], members


@bp.get("/followups")
def index():
    who, assignee_ids, members = _who()
    now = utcnow()
    sections = queries.followup_sections(current_user, assignee_ids, now=now)
    return render_template("followups/index.html", sections=sections, who=who, members=members,
                           now=now)


def _panel(customer, *, status=200, **context):
    return panel_response("followups/_customer_followups.html", customer, status=status,
                          **context)


@bp.post("/customers/<customer_id>/followups")
def create(customer_id):
    customer = customer_or_404(current_user, customer_id)
    data = {name: request.form.get(name, "") for name in ("title", "due_at", "assignee_id")}
    data["customer_id"] = str(customer.id)
    try:
        operations.create_followup(current_user, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _panel(customer_or_404(current_user, customer_id), status=422,
                      followup_errors=exc.errors, followup_values=request.form)
    db.session.commit()
    return _panel(customer, flash_text=_("Follow-up added."), followup_saved=True)


@bp.get("/followups/<followup_id>")
def show(followup_id):
    followup = queries.followup_or_404(current_user, followup_id)
    return _page(followup)


def _page(followup: Followup, *, status=200, errors=None, values=None, message=None):
    return render_template("followups/show.html", followup=followup, assignees=team_members(current_user),
                           errors=errors or {}, values=values or {}, message=message,
                           now=utcnow()), status


def _safe_next() -> str | None:
    """The local path in the form's ``next`` field, if it is one (never another site)."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _after(followup: Followup, *, status=200, errors=None, message=None):
    """The row again (htmx), else a redirect to ``next`` or the follow-up's page."""
    if htmx:
        headers = {"Vary": "HX-Request"}
        if status < 400:
            headers["HX-Trigger"] = HISTORY_EVENT
        return render_template("followups/_row.html", followup=followup, now=utcnow(),
                               compact=request.form.get("compact") == "1", row_errors=errors or {},
                               message=message), status, headers
    if status >= 400:
        return _page(followup, status=status, errors=errors, values=request.form, message=message)
    return redirect(_safe_next() or url_for("followups.show", followup_id=followup.id), 303)


@bp.post("/followups/<followup_id>/done")
def done(followup_id):
    followup = queries.followup_or_404(current_user, followup_id)
    operations.complete_followup(current_user, followup)
    db.session.commit()
    if not htmx:
        flash(_("Follow-up done."))
    return _after(followup, message=_("Done."))


@bp.post("/followups/<followup_id>/snooze")
def snooze(followup_id):
    followup = queries.followup_or_404(current_user, followup_id)
    data = {name: request.form[name] for name in ("by", "until") if request.form.get(name)}
    try:
        operations.snooze_followup(current_user, followup, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _after(queries.followup_or_404(current_user, followup_id), status=422,
                      errors=exc.errors)
    except operations.FollowupConflict as exc:
        db.session.rollback()
        return _after(queries.followup_or_404(current_user, followup_id), status=409,
                      message=exc.message)
    db.session.commit()
    if not htmx:
        flash(_("Follow-up snoozed."))
    return _after(followup, message=_("Snoozed."))


@bp.post("/followups/<followup_id>/reassign")
def reassign(followup_id):
    followup = queries.followup_or_404(current_user, followup_id)
    try:
        operations.reassign_followup(current_user, followup,
                                     {"assignee_id": request.form.get("assignee_id", "")}, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _after(queries.followup_or_404(current_user, followup_id), status=422,
                      errors=exc.errors)
    except operations.FollowupConflict as exc:
        db.session.rollback()
        return _after(queries.followup_or_404(current_user, followup_id), status=409,
                      message=exc.message)
    db.session.commit()
    if not htmx:
        flash(_("Follow-up reassigned to %(name)s.", name=followup.assignee.name))
    return _after(followup, message=_("Reassigned."))
