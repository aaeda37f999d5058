"""Visit preparation: what the rep reads on the phone before walking in to a customer.

One function gathers it all in a fixed number of queries, whatever the
customer's history holds (no query per visit, order or product): the last
visits with their notes, other recent notes, open orders and follow-ups, the
products bought most in the last 12 months, revenue per month, the contacts
with upcoming birthdays, and when the next visit is due.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..customers.queries import contacts_of
from ..extensions import db
from ..followups.queries import open_followups_of
from ..models import Contact, Customer, Followup, Note, Order, OrderLine, Product, Visit
from ..orders.queries import OPEN_STATUSES
from ..visits.localtime import day_start, local_date
from .cadence import NextVisit, class_intervals, interval_days, next_visit
from .periods import month_starts, months_before
from .revenue import ZERO, counted_orders, order_time

RECENT_VISITS = 5
OTHER_NOTES = 3
TOP_PRODUCTS = 5
OPEN_ORDERS = 10
MONTHS = 12
BIRTHDAY_DAYS = 14


@dataclass
class VisitNotes:
    """A completed (or open) visit and the notes written on it, oldest first."""

    visit: Visit
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class ProductFigure:
    """A product the customer bought in the last 12 months: how much, for how much (net)."""

    product_id: uuid.UUID
    name: str
    sku: str
    unit: str
    quantity: Decimal
    revenue: Decimal


@dataclass(frozen=True)
class MonthRevenue:
    """Net revenue of one calendar month on the viewer's calendar."""

    month: date
    amount: Decimal


@dataclass(frozen=True)
class Birthday:
    """A contact's next birthday within ``BIRTHDAY_DAYS``: the day, days to go, age then."""

    on: date
    in_days: int
    age: int | None


@dataclass
class Preparation:
    """Everything the preparation screen shows for one customer."""

    customer: Customer
    visits: list[VisitNotes]
    other_notes: list[Note]
    open_orders: list[Order]
    followups: list[Followup]
    products: list[ProductFigure]
    months: list[MonthRevenue]
    contacts: list[Contact]
    birthdays: dict[uuid.UUID, Birthday]
    next_visit: NextVisit
    now: datetime
    today: date

    @property
    def revenue_total(self) -> Decimal:
        return sum((m.amount for m in self.months), ZERO)

    @property
    def revenue_peak(self) -> Decimal:
        return max((m.amount for m in self.months), default=ZERO)


def next_birthday(birthday: date | None, today: date) -> Birthday | None:
    """The contact's next birthday from ``today`` on, if it is at most BIRTHDAY_DAYS away.

    Someone born on 29 February celebrates on 28 February in other years.
    """
    if birthday is None:
        return None
    for year in (today.year, today.year + 1):
        try:
            on = birthday.replace(year=year)
        except ValueError:
            on = date(year, 2, 28)
        if on >= today:
            break
    in_days = (on - today).days
    if in_days > BIRTHDAY_DAYS:
        return None
    age = on.year - birthday.year
    return Birthday(on, in_days, age if 0 < age < 120 else None)


def _recent_visits(customer: Customer) -> list[VisitNotes]:
    visits = db.session.scalars(
        sa.select(Visit).options(joinedload(Visit.user))
        .where(Visit.customer_id == customer.id, ~Visit.deleted, Visit.checked_in_at.is_not(None))
        .order_by(Visit.checked_in_at.desc(), Visit.id).limit(RECENT_VISITS)
    )
    return [VisitNotes(visit) for visit in visits]


def _notes(customer: Customer, visits: list[VisitNotes]) -> list[Note]:
    """The notes of these visits and the latest notes without a visit, in one query, newest first."""
    visit_ids = [v.visit.id for v in visits]
    attached = Note.visit_id.in_(visit_ids) if visit_ids else sa.false()
    return list(db.session.scalars(
        sa.select(Note).options(joinedload(Note.user))
        .where(Note.customer_id == customer.id, ~Note.deleted,
               sa.or_(attached, Note.visit_id.is_(None)))
        .order_by(Note.created_at.desc(), Note.id)
        .limit(RECENT_VISITS * 4 + OTHER_NOTES)
    ))


def _open_orders(customer: Customer) -> list[Order]:
    return list(db.session.scalars(
        sa.select(Order).options(joinedload(Order.user))
        .where(Order.customer_id == customer.id, ~Order.deleted, Order.status.in_(OPEN_STATUSES))
        .order_by(Order.created_at.desc(), Order.id).limit(OPEN_ORDERS)
    ))


def _decimal(value, places: str) -> Decimal:
    """A database number as an exact Decimal (SQLite hands back floats for NUMERIC sums)."""
    return Decimal(str(value)).quantize(Decimal(places)) if value is not None else ZERO


def _top_products(customer: Customer, since: datetime, now: datetime) -> list[ProductFigure]:
    placed = order_time()
    revenue = sa.func.sum(OrderLine.net)
    rows = db.session.execute(
        sa.select(Product.id, Product.name, Product.sku, Product.unit,
                  sa.func.sum(OrderLine.quantity), revenue)
        .select_from(OrderLine)
        .join(Order, OrderLine.order_id == Order.id)
        .join(Product, OrderLine.product_id == Product.id)
        .where(Order.customer_id == customer.id, *counted_orders(), placed >= since, placed <= now)
        .group_by(Product.id, Product.name, Product.sku, Product.unit)
        .order_by(revenue.desc(), Product.name).limit(TOP_PRODUCTS)
    )
    return [ProductFigure(pid, name, sku, unit, _decimal(quantity, "0.001"), _decimal(amount, "0.01"))
            for pid, name, sku, unit, quantity, amount in rows]


def _monthly_revenue(customer: Customer, now: datetime, zone: ZoneInfo) -> list[MonthRevenue]:
    """Net revenue per calendar month, the current month last (and only up to ``now``)."""
    starts = month_starts(local_date(now, zone), MONTHS)
    placed = order_time()
    rows = db.session.execute(
        sa.select(placed, Order.net_total)
        .where(Order.customer_id == customer.id, *counted_orders(),
               placed >= day_start(starts[0], zone), placed <= now)
    )
    sums: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for moment, amount in rows:
        day = local_date(moment, zone)
        sums[date(day.year, day.month, 1)] += _decimal(amount, "0.01")
    return [MonthRevenue(month, sums[month]) for month in starts]


def visit_preparation(customer: Customer, *, now: datetime, zone: ZoneInfo) -> Preparation:
    """What the rep should know before visiting ``customer`` (the caller checked the scope)."""
    today = local_date(now, zone)
    visits = _recent_visits(customer)
    by_visit = {v.visit.id: v for v in visits}
    other_notes = []
    for note in _notes(customer, visits):
        if note.visit_id in by_visit:
            by_visit[note.visit_id].notes.insert(0, note)
        elif note.visit_id is None and len(other_notes) < OTHER_NOTES:
            other_notes.append(note)
    contacts = contacts_of(customer)
    birthdays = {c.id: b for c in contacts if (b := next_birthday(c.birthday, today))}
    interval = interval_days(customer.abc_class, customer.visit_interval_days, customer.status,
                             class_intervals())
    return Preparation(
        customer=customer,
        visits=visits,
        other_notes=other_notes,
        open_orders=_open_orders(customer),
        followups=open_followups_of(customer),
        products=_top_products(customer, months_before(now, MONTHS), now),
        months=_monthly_revenue(customer, now, zone),
        contacts=sorted(contacts, key=lambda c: (c.id not in birthdays,
                                                 birthdays[c.id].in_days if c.id in birthdays else 0,
                                                 c.name)),
        birthdays=birthdays,
        next_visit=next_visit(interval, customer.last_visited_at, now, zone),
        now=now,
        today=today,
    )


def bar_heights(months: list[MonthRevenue], peak: Decimal, height: int) -> list[int]:
    """Bar heights in pixels for the revenue chart (a month with revenue shows at least 2)."""
    if peak <= 0:
        return [0] * len(months)
    return [0 if m.amount <= 0 else max(2, int(m.amount * height / peak)) for m in months]

