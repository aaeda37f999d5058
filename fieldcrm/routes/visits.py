"""Check-in and check-out, planned visits and the agenda, notes.

The actions live in the at-the-customer panel of the customer page; each panel
part replaces itself (htmx) and tells the page to reload its history with the
``fieldcrm:history`` event. Without htmx a successful action redirects back to
the customer page, a refused one shows the panel part on a page of its own.
"""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, format_time
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import db, htmx
from ..formatting import money, when
from ..history import field_label, value_label
from ..models import Customer, utcnow
from ..scope import customer_or_404
from ..validation import ValidationError
from ..visits import operations, queries
from ..visits.labels import CHANNEL_LABELS, OUTCOME_LABELS
from ..visits.localtime import user_zone

bp = Blueprint("visits", __name__)
HISTORY_EVENT = "fieldcrm:history"

bp.add_app_template_global(OUTCOME_LABELS, "OUTCOME_LABELS")
bp.add_app_template_global(CHANNEL_LABELS, "CHANNEL_LABELS")
bp.add_app_template_filter(field_label, "history_field")
bp.add_app_template_filter(value_label, "history_value")


@bp.before_request
@login_required
def _require_login():
    return None


@bp.app_context_processor
def _panel_state():
    """``at_customer(customer)`` for the customer page's panel; it queries only when called."""
    return {"at_customer": lambda customer: queries.at_customer(current_user, customer, now=utcnow())}


@bp.app_template_filter("distance")
def distance_text(metres: float | None) -> str:
    """350 m, 1.2 km, 12 km in the user's locale."""
    if metres is None:
        return ""
    if metres < 1000:
        return _("%(n)s m", n=format_decimal(round(metres)))
    digits = "#,##0.0" if metres < 10_000 else "#,##0"
    return _("%(n)s km", n=format_decimal(metres / 1000, format=digits))


@bp.app_template_filter("duration")
def duration_text(delta: timedelta | None) -> str:
    """25 min, 1 h 05 min."""
    if delta is None:
        return ""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 60:
        return _("%(m)s min", m=minutes)
    return _("%(h)s h %(m)s min", h=minutes // 60, m=f"{minutes % 60:02d}")


@bp.app_template_filter("iso_when")
def iso_when(text: str | None, fmt: str = "short") -> str:
    """A time kept as RFC 3339 text (history summaries), shown in the user's zone."""
    if not text:
        return ""
    try:
        return when(datetime.fromisoformat(text), fmt)
    except ValueError:
        return text


@bp.app_template_filter("clock")
def clock(moment: datetime | None) -> str:
    """The time of day of a UTC time, in the user's zone and locale (14:30, 2:30 PM)."""
    return "" if moment is None else format_time(moment, "short")


@bp.app_template_filter("local_input")
def local_input(moment: datetime | None) -> str:
    """A UTC time as the value of an ``<input type="datetime-local">`` in the user's zone."""
    if moment is None:
        return ""
    return moment.astimezone(user_zone(current_user)).strftime("%Y-%m-%dT%H:%M")


@bp.app_template_filter("amount")
def amount(text: str | None) -> str:
    """An order total kept as a decimal string (history summaries), as money; other text as is."""
    try:
        return money(Decimal(text)) if text else ""
    except (InvalidOperation, TypeError):
        return text


@bp.app_template_test("endpoint")
def is_endpoint(name: str) -> bool:
    """``{% if 'orders.show' is endpoint %}``: links only to views that exist."""
    return name in current_app.view_functions


def panel_response(template: str, customer: Customer, *, status: int = 200,
                   flash_text: str | None = None, **context):
    """A part of the customer page's at-the-customer panel after an action.

    For htmx the part alone (it replaces itself), with the history event on success.
    Without htmx: success redirects to the customer page; a refusal shows the part
    with its messages on a page of its own.
    """
    context.setdefault("at", queries.at_customer(current_user, customer, now=utcnow()))
    context["failed"] = status >= 400
    if htmx:
        headers = {"Vary": "HX-Request"}
        if status < 400:
            headers["HX-Trigger"] = HISTORY_EVENT
        return render_template(template, customer=customer, **context), status, headers
    if status < 400:
        if flash_text:
            flash(flash_text)
        return redirect(url_for("customers.show", customer_id=customer.id), 303)
    return render_template("visits/action.html", part=template, customer=customer,
                           **context), status, {"Vary": "HX-Request"}


def _visit_panel(customer: Customer, *, status: int = 200, flash_text=None, **context):
    return panel_response("visits/_visit_panel.html", customer, status=status,
                          flash_text=flash_text, **context)


@bp.post("/customers/<customer_id>/check-in")
def check_in(customer_id):
    customer = customer_or_404(current_user, customer_id)
    data = {name: request.form.get(name, "") for name in operations.CHECKIN_FIELDS}
    try:
        visit = operations.check_in(current_user, customer, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _visit_panel(customer_or_404(current_user, customer_id), status=422,
                            visit_errors=exc.errors)
    except operations.VisitConflict:
        db.session.rollback()
        # The panel now shows the open visit elsewhere and how to end it.
        return _visit_panel(customer_or_404(current_user, customer_id), status=409)
    db.session.commit()
    return _visit_panel(customer, flash_text=_checked_in_text(visit), note_channel_oob=True)


def _checked_in_text(visit) -> str:
    if visit.lat is None:
        return _("Checked in without GPS position.")
    if visit.far_away:
        return _("Checked in %(distance)s from the customer's address.",
                 distance=distance_text(visit.distance_m))
    return _("Checked in.")


@bp.post("/visits/<visit_id>/check-out")
def check_out(visit_id):
    visit = queries.visit_or_404(current_user, visit_id)
    if visit.user_id != current_user.id:
        abort(403)
    customer = _panel_customer(visit.customer)
    try:
        operations.check_out(current_user, visit, {"outcome": request.form.get("outcome", "")},
                             form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _visit_panel(customer, status=422, visit_errors=exc.errors)
    except operations.VisitConflict as exc:
        db.session.rollback()
        return _visit_panel(customer, status=409, message=exc.message)
    db.session.commit()
    text = _("Checked out after %(duration)s: %(outcome)s.",
             duration=duration_text(visit.checked_out_at - visit.checked_in_at),
             outcome=OUTCOME_LABELS[visit.outcome])
    return _visit_panel(customer, flash_text=text, checked_out=visit, message=text,
                        note_channel_oob=True)


def _panel_customer(default: Customer) -> Customer:
    """The customer whose page sent the form (a visit elsewhere can be ended from it)."""
    panel = request.form.get("panel")
    return customer_or_404(current_user, panel) if panel else default


@bp.post("/customers/<customer_id>/visits")
def plan(customer_id):
    customer = customer_or_404(current_user, customer_id)
    try:
        visit = operations.plan_visit(current_user, customer,
                                      {"planned_at": request.form.get("planned_at", "")}, form=True)
    except ValidationError as exc:
        db.session.rollback()
        return _visit_panel(customer_or_404(current_user, customer_id), status=422,
                            plan_errors=exc.errors, plan_values=request.form)
    db.session.commit()
    text = _("Visit planned for %(when)s.", when=when(visit.planned_at, "short"))
    return _visit_panel(customer, flash_text=text, message=text)


@bp.post("/visits/<visit_id>/cancel")
def cancel(visit_id):
    visit = queries.visit_or_404(current_user, visit_id)
    if visit.user_id != current_user.id and current_user.role == "rep":
        abort(403)
    customer = visit.customer
    try:
        operations.cancel_visit(current_user, visit)
    except operations.VisitConflict as exc:
        db.session.rollback()
        return _visit_panel(customer, status=409, message=exc.message)
    db.session.commit()
    text = _("Planned visit cancelled.")
    return _visit_panel(customer, flash_text=text, message=text)


@bp.get("/visits/<visit_id>")
def show(visit_id):
    visit = queries.visit_or_404(current_user, visit_id)
    return render_template("visits/show.html", visit=visit, notes=queries.notes_of_visit(visit))


@bp.get("/agenda")
def agenda():
    now = utcnow()
    zone = user_zone(current_user)
    return render_template("visits/agenda.html", days=queries.agenda(current_user, now=now, zone=zone),
                           today=now.astimezone(zone).date())


@bp.post("/customers/<customer_id>/notes")
def create_note(customer_id):
    customer = customer_or_404(current_user, customer_id)
    data = {name: request.form.get(name, "") for name in ("channel", "body")}
    data["customer_id"] = str(customer.id)
    current = queries.open_visit(current_user)
    # A visit-channel note written while checked in here belongs to that visit.
    if data["channel"] in ("", "visit") and current is not None and current.customer_id == customer.id:
        data["visit_id"] = str(current.id)
    try:
        operations.create_note(current_user, data, form=True)
    except ValidationError as exc:
        db.session.rollback()
        values = request.form
        if len(data["body"]) > 2 * operations.NOTE_MAX_LENGTH:
            # Far too long to send back into the text box (a paste gone wrong).
            values = {"channel": data["channel"]}
        return panel_response("visits/_note_form.html", customer_or_404(current_user, customer_id),
                              status=422, note_errors=exc.errors, note_values=values)
    db.session.commit()
    return panel_response("visits/_note_form.html", customer, flash_text=_("Note saved."), note_saved=True)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    """A note far over the limit is refused before it is parsed: say so at the text box."""
    message = _("The request is too large.")
    if request.endpoint == "visits.create_note" and current_user.is_authenticated:
        customer = customer_or_404(current_user, request.view_args["customer_id"])
        errors = {"body": _("The note is too long: at most %(n)s characters.",
                            n=format_decimal(operations.NOTE_MAX_LENGTH))}
        return panel_response("visits/_note_form.html", customer, status=413, note_errors=errors)
    return render_template("error.html", status=413, message=message), 413


@bp.get("/notes/<note_id>")
def show_note(note_id):
    note = queries.note_or_404(current_user, note_id)
    customer = customer_or_404(current_user, note.customer_id)
    return render_template("visits/note.html", note=note, customer=customer)
