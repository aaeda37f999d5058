"""Writes of visits and notes. Each function changes rows and flushes; the caller
commits, so a sync batch can hold many changes in one transaction. Every event
is written to the customer's shared history with ``record_activity``:

- visit ``checked_in``: summary = distance to the customer in whole metres;
  "no_gps" when the phone gave no position; none when the customer has no
  coordinates;
- visit ``checked_out``: summary = the outcome (one of VISIT_OUTCOMES);
- visit ``planned`` / ``cancelled``: summary = the planned time (RFC 3339, UTC);
- note ``created``: summary = the note's first line.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db, flush
from ..geo import distance_m
from ..history import record_activity
from ..models import NOTE_CHANNELS, VISIT_OUTCOMES, Customer, Note, User, Visit, utcnow
from ..scope import visible_customer
from ..settings import get_setting
from ..validation import Field, ValidationError, batch_reads, clean, read_once
from ..versioning import new_row
from . import queries
from .localtime import as_utc, day_start, local_date, user_zone, within_reach

NOTE_MAX_LENGTH = 10_000
NO_GPS = "no_gps"
SUMMARY_MAX_LENGTH = 200

CHECKIN_FIELDS = {
    "lat": Field("float", minimum=-90, maximum=90),
    "lon": Field("float", minimum=-180, maximum=180),
}
CHECKOUT_FIELDS = {"outcome": Field("choice", required=True, choices=VISIT_OUTCOMES)}
PLAN_FIELDS = {"planned_at": Field("datetime", required=True)}
NOTE_FIELDS = {
    "customer_id": Field("uuid", required=True),
    "visit_id": Field("uuid"),
    "channel": Field("choice", choices=NOTE_CHANNELS),
    "body": Field(required=True, max_length=NOTE_MAX_LENGTH),
}


class NoteForbidden(Exception):
    """The user sees the note but may not change it."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class VisitConflict(Exception):
    """The visit is not in a state that allows this; ``visit`` is the one in the way."""

    def __init__(self, message, visit: Visit | None = None):
        super().__init__(str(message))
        self.message = message
        self.visit = visit


def _position_rules(values: dict) -> dict:
    if (values.get("lat") is None) != (values.get("lon") is None):
        missing = "lon" if values.get("lon") is None else "lat"
        return {missing: _l("Give latitude and longitude together.")}
    return {}


def check_in(user: User, customer: Customer, data: dict, *, form: bool = False,
             now: datetime | None = None, visit_id: uuid.UUID | None = None) -> Visit:
    """Check ``user`` in at ``customer`` with the phone's position, if it gave one.

    Never refused for distance: a check-in farther from the customer's address than
    the ``checkin_max_distance_m`` setting is kept and flagged ``far_away``; one
    without a position is kept with no coordinates ("no GPS"). A user has at most one
    open visit: checking in again at the same customer returns the open visit, at
    another customer raises VisitConflict (check out there first). A visit planned
    for this customer on the user's local today becomes the checked-in one.
    """
    now = now or utcnow()
    values = clean(CHECKIN_FIELDS, data, partial=False, form=form, check=_position_rules)
    # Serialise check-ins of one user, so a double tap cannot open two visits.
    read_once(("user_locked", user.id), lambda: db.session.execute(
        sa.select(User.id).where(User.id == user.id).with_for_update()).all())
    current = _open_visit(user)
    if current is not None:
        if current.customer_id == customer.id:
            return current
        raise VisitConflict(_l("You are still checked in at %(name)s. Check out there first.",
                               name=current.customer.name), current)
    visit = None
    if _planned_customers(user) is None or customer.id in _planned_customers(user):
        visit = queries.planned_today(user, customer, now=now)
    if visit is None:
        visit = new_row(Visit, id=visit_id or uuid.uuid4(), customer_id=customer.id, user_id=user.id)
    visit.checked_in_at = now
    visit.lat, visit.lon = values.get("lat"), values.get("lon")
    visit.distance_m = None
    visit.far_away = False
    if visit.lat is not None and customer.lat is not None and customer.lon is not None:
        visit.distance_m = distance_m(visit.lat, visit.lon, customer.lat, customer.lon)
        visit.far_away = visit.distance_m > float(get_setting("checkin_max_distance_m"))
    record_activity(customer.id, "visit", visit.id, user_id=user.id, field="checked_in",
                    summary=_checkin_summary(visit))
    flush()
    return visit


def _open_visit(user: User) -> Visit | None:
    return read_once(("open_visit", user.id), lambda: queries.open_visit(user))


def _planned_customers(user: User) -> set[uuid.UUID] | None:
    """In a sync batch (``validation.batch_reads``): the customers where ``user`` has a
    planned visit not yet started, read once; None elsewhere (ask ``planned_today``)."""
    if batch_reads() is None:
        return None
    return read_once(("planned_customers", user.id), lambda: set(db.session.scalars(
        sa.select(Visit.customer_id).distinct().where(
            Visit.user_id == user.id, ~Visit.deleted, Visit.planned_at.is_not(None),
            Visit.checked_in_at.is_(None)))))


def check_in_stays_apart(user: User, customer_id: uuid.UUID) -> bool:
    """True if a check-in of ``user`` at ``customer_id`` would neither meet an open visit
    nor start a planned one, by the answers read once for a sync batch. Such a visit,
    checked in and out in one go, changes nothing a later check-in reads: the sync push
    may write it together with the batch's other new rows."""
    planned = _planned_customers(user)
    return planned is not None and customer_id not in planned and _open_visit(user) is None


def _checkin_summary(visit: Visit) -> str | None:
    if visit.lat is None:
        return NO_GPS
    return None if visit.distance_m is None else str(round(visit.distance_m))


def check_out(user: User, visit: Visit, data: dict, *, form: bool = False,
              now: datetime | None = None) -> Visit:
    """End an open visit with its outcome; the caller checked that ``user`` checked in.

    The customer's ``last_visited_at`` moves to this visit's check-in time if that is
    later. A visit with the outcome ``not_met`` (customer not met) does not count as
    a completed visit, so it leaves ``last_visited_at`` and hence the visit cadence
    alone.
    """
    values = clean(CHECKOUT_FIELDS, data, partial=False, form=form)
    if visit.checked_in_at is None:
        raise VisitConflict(_l("This visit has not been checked in."), visit)
    if visit.checked_out_at is not None:
        raise VisitConflict(_l("This visit is already checked out."), visit)
    now = now or utcnow()
    visit.checked_out_at = max(now, visit.checked_in_at)
    visit.outcome = values["outcome"]
    record_activity(visit.customer_id, "visit", visit.id, user_id=user.id, field="checked_out",
                    summary=visit.outcome)
    if visit.outcome != "not_met":
        # By id, not visit.customer: a visit a sync push has not written yet has no loaded
        # relationship; the customer is in the session already.
        _mark_visited(db.session.get(Customer, visit.customer_id), visit.checked_in_at)
    flush()
    return visit


def _mark_visited(customer: Customer, moment: datetime) -> None:
    """Move ``last_visited_at`` forward. It is derived from the visits and the check-out
    entry already tells the story, so it gets no field-change history entry
    (``versioning.HISTORY_SKIP``)."""
    if customer.last_visited_at is None or customer.last_visited_at < moment:
        customer.last_visited_at = moment


def plan_visit(user: User, customer: Customer, data: dict, *, form: bool = False,
               now: datetime | None = None, visit_id: uuid.UUID | None = None) -> Visit:
    """An appointment of ``user`` at ``customer``; it shows on the agenda.

    Form input is a local date and time in the user's zone (stored in UTC); it may
    not lie before the user's local today.
    """
    now = now or utcnow()

    def rules(values):
        planned = values.get("planned_at")
        if planned is None:
            return {}
        if not within_reach(planned, now):
            return {"planned_at": _l("Choose a date within the next ten years.")}
        if as_utc(planned) < day_start(local_date(now, user_zone(user)), user_zone(user)):
            return {"planned_at": _l("Choose a time from today on.")}
        return {}

    values = clean(PLAN_FIELDS, data, partial=False, form=form, check=rules)
    visit = Visit(id=visit_id or uuid.uuid4(), customer_id=customer.id, user_id=user.id,
                  planned_at=as_utc(values["planned_at"]))
    db.session.add(visit)
    db.session.flush()
    record_activity(customer.id, "visit", visit.id, user_id=user.id, field="planned",
                    summary=visit.planned_at.isoformat())
    db.session.flush()
    return visit


def cancel_visit(user: User, visit: Visit) -> None:
    """Cancel a planned visit that has not started (a tombstone, so devices learn of it)."""
    if visit.checked_in_at is not None:
        raise VisitConflict(_l("This visit has already started and cannot be cancelled."), visit)
    visit.deleted = True
    db.session.flush()
    record_activity(visit.customer_id, "visit", visit.id, user_id=user.id, field="cancelled",
                    summary=visit.planned_at.isoformat() if visit.planned_at else None)
    db.session.flush()


def first_line(text: str, limit: int = SUMMARY_MAX_LENGTH) -> str:
    """The first non-empty line of ``text``, shortened to ``limit`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def create_note(user: User, data: dict, *, form: bool = False,
                note_id: uuid.UUID | None = None) -> Note:
    """A note on a customer ``user`` may see, optionally part of one of its visits.

    The body is one text of at most NOTE_MAX_LENGTH characters (dictation welcome);
    the channel defaults to "visit". Longer input is refused whole, nothing is written.
    """
    values = clean(NOTE_FIELDS, data, partial=False, form=form)
    customer = visible_customer(user, values["customer_id"])
    if customer is None:
        raise ValidationError({"customer_id": _l("Unknown customer.")})
    visit_id = values.get("visit_id")
    if visit_id is not None and read_once(("visit_at", visit_id, customer.id), lambda: db.session.scalar(
        sa.select(Visit.id).where(Visit.id == visit_id, Visit.customer_id == customer.id,
                                  ~Visit.deleted)
    )) is None:
        raise ValidationError({"visit_id": _l("Unknown visit.")})
    note = new_row(Note, id=note_id or uuid.uuid4(), customer_id=customer.id, visit_id=visit_id,
                   user_id=user.id, channel=values.get("channel") or "visit", body=values["body"])
    flush()
    record_activity(customer.id, "note", note.id, user_id=user.id, field="created",
                    summary=first_line(note.body))
    flush()
    return note


NOTE_EDIT_FIELDS = {name: NOTE_FIELDS[name] for name in ("channel", "body")}


def _require_note_change(user: User, note: Note) -> None:
    # Notes are the author's words: a colleague adds a note instead; managers may tidy up.
    if note.user_id != user.id and user.role not in ("manager", "admin"):
        raise NoteForbidden(_l("Only the author of this note or a manager can change it."))


def update_note(user: User, note: Note, data: dict, *, form: bool = False) -> Note:
    """Correct a note's text or channel; the customer and visit it belongs to stay."""
    _require_note_change(user, note)
    fixed = {"customer_id", "visit_id"} & set(data)
    if fixed:
        raise ValidationError(dict.fromkeys(sorted(fixed), _l("This cannot be changed.")))
    values = clean(NOTE_EDIT_FIELDS, data, partial=True, form=form)
    if "channel" in values:
        note.channel = values["channel"] or "visit"
    if "body" in values:
        note.body = values["body"]
    db.session.flush()
    return note


def delete_note(user: User, note: Note) -> None:
    """Tombstone a note (phones learn of it by pull)."""
    _require_note_change(user, note)
    note.deleted = True
    db.session.flush()
