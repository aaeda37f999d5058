"""Reads of visits and notes, always limited to the caller's scope."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Customer, Followup, Note, User, Visit
from ..scope import customer_scope, parse_uuid_or_404, team_members
from .localtime import day_bounds, day_start, local_at, local_date, user_zone

AGENDA_LIMIT = 200


def _visible_visits(user: User) -> sa.Select:
    return (sa.select(Visit).join(Customer, Visit.customer_id == Customer.id)
            .where(~Visit.deleted, ~Customer.deleted, customer_scope(user)))


def visit_or_404(user: User, visit_id: uuid.UUID | str) -> Visit:
    """The live visit with this id at a customer ``user`` may see; 404 otherwise."""
    visit = db.session.scalar(_visible_visits(user).where(Visit.id == parse_uuid_or_404(visit_id)))
    if visit is None:
        abort(404)
    return visit


def note_or_404(user: User, note_id: uuid.UUID | str) -> Note:
    """The live note with this id on a customer ``user`` may see; 404 otherwise."""
    note = db.session.scalar(
        sa.select(Note).join(Customer, Note.customer_id == Customer.id)
        .where(Note.id == parse_uuid_or_404(note_id), ~Note.deleted, ~Customer.deleted,
               customer_scope(user))
    )
    if note is None:
        abort(404)
    return note


def open_visit(user: User) -> Visit | None:
    """The visit ``user`` is checked in to and has not checked out of, if any."""
    return db.session.scalar(
        sa.select(Visit).where(Visit.user_id == user.id, ~Visit.deleted,
                               Visit.checked_in_at.is_not(None), Visit.checked_out_at.is_(None))
        .order_by(Visit.checked_in_at.desc()).limit(1)
    )


def _planned(user: User, customer: Customer) -> sa.Select:
    return sa.select(Visit).where(
        Visit.user_id == user.id, Visit.customer_id == customer.id, ~Visit.deleted,
        Visit.planned_at.is_not(None), Visit.checked_in_at.is_(None),
    )


def planned_today(user: User, customer: Customer, *, now: datetime,
                  zone: ZoneInfo | None = None) -> Visit | None:
    """``user``'s planned, not yet started visit at ``customer`` on the user's local today,
    the one nearest to ``now``: the one a check-in there fulfils."""
    zone = zone or user_zone(user)
    start, end = day_bounds(local_date(now, zone), zone)
    candidates = db.session.scalars(
        _planned(user, customer).where(Visit.planned_at >= start, Visit.planned_at < end)
    ).all()
    return min(candidates, key=lambda v: (abs(v.planned_at - now), v.planned_at), default=None)


def upcoming_planned(user: User, customer: Customer, *, now: datetime,
                     zone: ZoneInfo | None = None, limit: int = 5) -> list[Visit]:
    """``user``'s planned, not yet started visits at ``customer`` from the local today on."""
    zone = zone or user_zone(user)
    start = day_start(local_date(now, zone), zone)
    return list(db.session.scalars(
        _planned(user, customer).where(Visit.planned_at >= start)
        .order_by(Visit.planned_at, Visit.id).limit(limit)
    ))


@dataclass
class AgendaDay:
    """One local day of the agenda and its visits in time order."""

    day: date
    visits: list[Visit] = field(default_factory=list)


def agenda(user: User, *, now: datetime, zone: ZoneInfo | None = None,
           limit: int = AGENDA_LIMIT) -> list[AgendaDay]:
    """``user``'s planned visits from the start of the local today on, grouped by local day.

    Today's visits stay on the agenda once checked in or out, so the day reads as a
    whole; the template marks them. At most ``limit`` visits.
    """
    zone = zone or user_zone(user)
    start = day_start(local_date(now, zone), zone)
    visits = db.session.scalars(
        _visible_visits(user).options(joinedload(Visit.customer))
        .where(Visit.user_id == user.id, Visit.planned_at >= start)
        .order_by(Visit.planned_at, Visit.id).limit(limit)
    )
    return [AgendaDay(day, list(items))
            for day, items in groupby(visits, key=lambda v: local_date(v.planned_at, zone))]


def notes_of_visit(visit: Visit) -> list[Note]:
    return list(db.session.scalars(
        sa.select(Note).options(joinedload(Note.user))
        .where(Note.visit_id == visit.id, ~Note.deleted).order_by(Note.created_at, Note.id)
    ))


@dataclass
class AtCustomer:
    """What the rep sees and can do at a customer: the visit, planned visits, follow-ups."""

    open_visit: Visit | None
    planned_today: Visit | None
    upcoming: list[Visit]
    followups: list[Followup]
    assignees: list[User]
    now: datetime
    default_due: datetime

    def checked_in_here(self, customer: Customer) -> bool:
        return self.open_visit is not None and self.open_visit.customer_id == customer.id

    def checked_in_elsewhere(self, customer: Customer) -> bool:
        return self.open_visit is not None and self.open_visit.customer_id != customer.id


def at_customer(user: User, customer: Customer, *, now: datetime) -> AtCustomer:
    """Everything the at-the-customer panel of ``customer`` shows to ``user``."""
    from ..followups.queries import open_followups_of

    zone = user_zone(user)
    return AtCustomer(
        open_visit=open_visit(user),
        planned_today=planned_today(user, customer, now=now, zone=zone),
        upcoming=upcoming_planned(user, customer, now=now, zone=zone),
        followups=open_followups_of(customer),
        assignees=team_members(user),
        now=now,
        default_due=local_at(local_date(now, zone) + timedelta(days=1), 9, zone),
    )
