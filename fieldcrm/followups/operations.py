"""Writes of follow-ups. Each function changes rows and flushes; the caller commits.

Every change is written to the customer's shared history with ``record_activity``
(kind ``followup``):

- ``created`` and ``done``: summary = the title;
- ``snoozed``: old and new due time (RFC 3339, UTC);
- ``reassigned``: old and new assignee's name.
"""

import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l

from ..extensions import db, flush
from ..history import record_activity
from ..models import Followup, User, utcnow
from ..scope import team_members, visible_customer
from ..validation import Field, ValidationError, clean, read_once
from ..versioning import new_row
from ..visits.localtime import add_local_days, as_utc, user_zone, within_reach

FOLLOWUP_FIELDS = {
    "customer_id": Field("uuid", required=True),
    "title": Field(required=True, max_length=200),
    "due_at": Field("datetime", required=True),
    "assignee_id": Field("uuid"),
}
SNOOZE_DAYS = {"1d": 1, "1w": 7}
SNOOZE_FIELDS = {
    "by": Field("choice", choices=(*SNOOZE_DAYS, "until")),
    "until": Field("datetime"),
}
REASSIGN_FIELDS = {"assignee_id": Field("uuid", required=True)}


class FollowupConflict(Exception):
    """The follow-up is not in a state that allows this (it is done)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _assignee_error(user: User, assignee_id: uuid.UUID, customer_id: uuid.UUID) -> str | None:
    """Why ``user`` may not give this customer's follow-up to ``assignee_id``, or None."""
    team = read_once(("team", user.id),
                     lambda: {member.id: member for member in team_members(user)})
    if assignee_id not in team:
        return _l("You cannot assign follow-ups to this person.")
    if read_once(("visible_to", assignee_id, customer_id),
                 lambda: visible_customer(team[assignee_id], customer_id)) is None:
        return _l("This person does not work on this customer.")
    return None


def create_followup(user: User, data: dict, *, form: bool = False, now: datetime | None = None,
                    followup_id: uuid.UUID | None = None) -> Followup:
    """A follow-up on a customer ``user`` may see, assigned to ``user`` unless another
    member of their team (who also works on the customer) is given."""
    now = now or utcnow()

    def rules(values):
        errors = {}
        due = values.get("due_at")
        if due is not None and not within_reach(due, now):
            errors["due_at"] = _l("Choose a date within the next ten years.")
        customer_id = values.get("customer_id")
        if customer_id is not None and visible_customer(user, customer_id) is None:
            errors["customer_id"] = _l("Unknown customer.")
        elif customer_id is not None and values.get("assignee_id") not in (None, user.id):
            message = _assignee_error(user, values["assignee_id"], customer_id)
            if message is not None:
                errors["assignee_id"] = message
        return errors

    values = clean(FOLLOWUP_FIELDS, data, partial=False, form=form, check=rules)
    followup = new_row(Followup, id=followup_id or uuid.uuid4(), customer_id=values["customer_id"],
                       title=values["title"], due_at=as_utc(values["due_at"]),
                       assignee_id=values.get("assignee_id") or user.id, created_by_id=user.id)
    flush()
    record_activity(followup.customer_id, "followup", followup.id, user_id=user.id,
                    field="created", summary=followup.title)
    flush()
    return followup


def _require_open(followup: Followup) -> None:
    if followup.done_at is not None:
        raise FollowupConflict(_l("This follow-up is already done."))


def complete_followup(user: User, followup: Followup, *, now: datetime | None = None) -> Followup:
    """Mark the follow-up done (once: a second call changes nothing)."""
    if followup.done_at is not None:
        return followup
    followup.done_at = now or utcnow()
    flush()
    record_activity(followup.customer_id, "followup", followup.id, user_id=user.id,
                    field="done", summary=followup.title)
    flush()
    return followup


def snooze_followup(user: User, followup: Followup, data: dict, *, form: bool = False,
                    now: datetime | None = None) -> Followup:
    """Move an open follow-up's due time: by one day or one week, or to a chosen time.

    "+1 day" and "+1 week" count from the due time, or from now if it is already
    overdue, in whole local days of ``user``, so 09:00 stays 09:00 across a change
    to or from summer time. A chosen time must lie in the future.
    """
    now = now or utcnow()

    def rules(values):
        if values.get("by") in SNOOZE_DAYS:
            return {}
        until = values.get("until")
        if until is None:
            return {"until": _l("Choose a date and time.")}
        if not within_reach(until, now):
            return {"until": _l("Choose a date within the next ten years.")}
        if as_utc(until) <= now:
            return {"until": _l("Choose a time in the future.")}
        return {}

    values = clean(SNOOZE_FIELDS, data, partial=False, form=form, check=rules)
    _require_open(followup)
    if values.get("by") in SNOOZE_DAYS:
        base = max(followup.due_at, now)
        due = add_local_days(base, SNOOZE_DAYS[values["by"]], user_zone(user))
    else:
        due = as_utc(values["until"])
    previous = followup.due_at
    followup.due_at = due
    db.session.flush()
    record_activity(followup.customer_id, "followup", followup.id, user_id=user.id,
                    field="snoozed", old=previous.isoformat(), summary=due.isoformat())
    db.session.flush()
    return followup


def reassign_followup(user: User, followup: Followup, data: dict, *,
                      form: bool = False) -> Followup:
    """Give an open follow-up to another member of ``user``'s team who works on the customer."""
    values = clean(REASSIGN_FIELDS, data, partial=False, form=form)
    _require_open(followup)
    assignee_id = values["assignee_id"]
    if assignee_id == followup.assignee_id:
        return followup
    message = _assignee_error(user, assignee_id, followup.customer_id)
    if message is not None:
        raise ValidationError({"assignee_id": message})
    previous = followup.assignee
    followup.assignee_id = assignee_id
    db.session.flush()
    db.session.refresh(followup, ["assignee"])
    record_activity(followup.customer_id, "followup", followup.id, user_id=user.id,
                    field="reassigned", old=previous.name if previous else None,
                    summary=followup.assignee.name)
    db.session.flush()
    return followup
