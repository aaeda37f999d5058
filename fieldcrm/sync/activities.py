"""Sync adapters for the rep's work at the customer: visits, notes, follow-ups, orders.

They are inserts keyed by the device's UUID. Later changes apply without
conflict detection, through the same operations as the web pages, with the
device's own times: a check-in made offline at 9:12 is recorded at 9:12.
"""

import uuid

from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..followups import operations as followup_ops
from ..models import Customer, User, Visit
from ..orders import operations as order_ops
from ..scope import visible_customer
from ..validation import Field, Invalid, ValidationError
from ..visits import operations as visit_ops
from .errors import Rejected

VISIT_FIELDS = frozenset({"customer_id", "planned_at", "checked_in_at", "checked_out_at", "lat",
                          "lon", "outcome"})
NOTE_FIELDS = frozenset(visit_ops.NOTE_FIELDS)
FOLLOWUP_FIELDS = frozenset({"customer_id", "title", "due_at", "done_at", "assignee_id"})
ORDER_FIELDS = frozenset({"customer_id", "visit_id", "status", "discount_pct", "lines"})
TIME = Field("datetime")


def _time(fields: dict, name: str):
    try:
        return TIME.parse(fields.get(name), form=False)
    except Invalid as exc:
        raise ValidationError({name: exc.args[0]}) from None


def _customer(user: User, value) -> Customer:
    try:
        customer_id = uuid.UUID(str(value))
    except ValueError:
        customer_id = None
    customer = customer_id and visible_customer(user, customer_id)
    if not customer:
        raise ValidationError({"customer_id": _l("Unknown customer.")})
    return customer


def _position(fields: dict) -> dict:
    return {name: fields[name] for name in ("lat", "lon") if name in fields}


def _conflicts_become_rejections(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (visit_ops.VisitConflict, followup_ops.FollowupConflict) as exc:
            raise Rejected("conflict", {"message": str(exc.message)}) from None
        except order_ops.OrderLocked as exc:
            raise Rejected("locked", {"message": str(exc.message)}) from None
        except (order_ops.OrderForbidden, visit_ops.NoteForbidden) as exc:
            raise Rejected("forbidden", {"message": str(exc.message)}) from None
    return wrapper


@_conflicts_become_rejections
def create_visit(user: User, fields: dict, entity_id: uuid.UUID) -> Visit:
    customer = _customer(user, fields.get("customer_id"))
    if fields.get("checked_in_at") is not None:
        visit = visit_ops.check_in(user, customer, _position(fields),
                                   now=_time(fields, "checked_in_at"), visit_id=entity_id)
        if fields.get("checked_out_at") is not None:
            visit_ops.check_out(user, visit, {"outcome": fields.get("outcome")},
                                now=_time(fields, "checked_out_at"))
        return visit
    if fields.get("planned_at") is not None:
        return visit_ops.plan_visit(user, customer, {"planned_at": fields["planned_at"]},
                                    visit_id=entity_id)
    raise ValidationError({"checked_in_at": _l("Give the check-in or the planned time.")})


@_conflicts_become_rejections
def update_visit(user: User, visit: Visit, fields: dict) -> Visit:
    if visit.user_id != user.id:
        raise Rejected("forbidden")
    if fields.get("checked_in_at") is not None and visit.checked_in_at is None:
        visit_ops.check_in(user, visit.customer, _position(fields),
                           now=_time(fields, "checked_in_at"), visit_id=visit.id)
    if fields.get("checked_out_at") is not None:
        visit_ops.check_out(user, visit, {"outcome": fields.get("outcome", visit.outcome)},
                            now=_time(fields, "checked_out_at"))
    if fields.get("planned_at") is not None and visit.checked_in_at is None:
        visit.planned_at = _time(fields, "planned_at")
        db.session.flush()
    return visit


@_conflicts_become_rejections
def delete_visit(user: User, visit: Visit) -> None:
    visit_ops.cancel_visit(user, visit)


def create_note(user: User, fields: dict, entity_id: uuid.UUID):
    return visit_ops.create_note(user, fields, note_id=entity_id)


@_conflicts_become_rejections
def update_note(user: User, note, fields: dict):
    return visit_ops.update_note(user, note, fields)


@_conflicts_become_rejections
def delete_note(user: User, note) -> None:
    visit_ops.delete_note(user, note)


def create_followup(user: User, fields: dict, entity_id: uuid.UUID):
    unexpected = {"done_at"} & set(fields)
    values = {k: v for k, v in fields.items() if k not in unexpected}
    followup = followup_ops.create_followup(user, values, followup_id=entity_id)
    if fields.get("done_at") is not None:
        followup_ops.complete_followup(user, followup, now=_time(fields, "done_at"))
    return followup


@_conflicts_become_rejections
def update_followup(user: User, followup, fields: dict):
    if fields.get("due_at") is not None and fields["due_at"] != followup.due_at:
        followup_ops.snooze_followup(user, followup, {"by": "until", "until": fields["due_at"]})
    if fields.get("assignee_id") is not None:
        followup_ops.reassign_followup(user, followup, {"assignee_id": fields["assignee_id"]})
    if "title" in fields:
        title = Field(required=True, max_length=200)
        try:
            followup.title = title.parse(fields["title"], form=False)
        except Invalid as exc:
            raise ValidationError({"title": exc.args[0]}) from None
    if fields.get("done_at") is not None:
        followup_ops.complete_followup(user, followup, now=_time(fields, "done_at"))
    db.session.flush()
    return followup


def delete_followup(user: User, followup) -> None:
    followup.deleted = True
    db.session.flush()


@_conflicts_become_rejections
def create_order(user: User, fields: dict, entity_id: uuid.UUID):
    return order_ops.create_order(user, fields, order_id=entity_id)


@_conflicts_become_rejections
def update_order(user: User, order, fields: dict):
    return order_ops.update_order(user, order, fields)
