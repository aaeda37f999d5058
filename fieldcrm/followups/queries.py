"""Reads of follow-ups, always limited to the caller's scope.

"Overdue" means due before now; "today" due from now until the end of the
user's local calendar day; "upcoming" later. Every function takes ``now`` so
that tests can fix the clock (time zones, summer time).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Customer, Followup, User
from ..scope import customer_scope, parse_uuid_or_404
from ..visits.localtime import day_bounds, local_date, user_zone

SECTION_LIMIT = 200
CUSTOMER_LIMIT = 50


def _visible(user: User) -> sa.Select:
    return (sa.select(Followup).join(Customer, Followup.customer_id == Customer.id)
            .where(~Followup.deleted, ~Customer.deleted, customer_scope(user)))


def followup_or_404(user: User, followup_id: uuid.UUID | str) -> Followup:
    """The live follow-up with this id on a customer ``user`` may see; 404 otherwise."""
    followup = db.session.scalar(_visible(user).where(Followup.id == parse_uuid_or_404(followup_id)))
    if followup is None:
        abort(404)
    return followup


@dataclass
class Sections:
    """Open follow-ups split by due time relative to the user's local today."""

    overdue: list[Followup] = field(default_factory=list)
    today: list[Followup] = field(default_factory=list)
    upcoming: list[Followup] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming)


def followup_sections(user: User, assignee_ids: Iterable[uuid.UUID], *, now: datetime,
                      zone: ZoneInfo | None = None, limit: int = SECTION_LIMIT) -> Sections:
    """The open follow-ups of ``assignee_ids`` on customers ``user`` may see, by section.

    ``zone`` is the viewer's: "today" is their local calendar day. Each section holds
    at most ``limit`` follow-ups, soonest due first.
    """
    zone = zone or user_zone(user)
    _, tomorrow = day_bounds(local_date(now, zone), zone)
    base = (_visible(user).options(joinedload(Followup.customer), joinedload(Followup.assignee))
            .where(Followup.assignee_id.in_(list(assignee_ids)), Followup.done_at.is_(None))
            .order_by(Followup.due_at, Followup.id).limit(limit))
    return Sections(
        overdue=list(db.session.scalars(base.where(Followup.due_at < now))),
        today=list(db.session.scalars(base.where(Followup.due_at >= now, Followup.due_at < tomorrow))),
        upcoming=list(db.session.scalars(base.where(Followup.due_at >= tomorrow))),
    )


def due_count(user: User, *, now: datetime, zone: ZoneInfo | None = None) -> int:
    """How many open follow-ups assigned to ``user`` are overdue or due today (the nav badge).

    One COUNT over the (assignee, done, due) index.
    """
    zone = zone or user_zone(user)
    _, tomorrow = day_bounds(local_date(now, zone), zone)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Followup)
        .join(Customer, Followup.customer_id == Customer.id)
        .where(Followup.assignee_id == user.id, Followup.done_at.is_(None),
               Followup.due_at < tomorrow, ~Followup.deleted, ~Customer.deleted,
               customer_scope(user))
    ) or 0


def open_followups_of(customer: Customer, *, limit: int = CUSTOMER_LIMIT) -> list[Followup]:
    """The customer's open follow-ups, soonest due first (the caller checked the scope)."""
    return list(db.session.scalars(
        sa.select(Followup).options(joinedload(Followup.assignee))
        .where(Followup.customer_id == customer.id, ~Followup.deleted, Followup.done_at.is_(None))
        .order_by(Followup.due_at, Followup.id).limit(limit)
    ))
