"""Visit cadence: how often a customer should be visited and whether a visit is due.

The target interval comes from the customer's ABC class (setting
``visit_interval_days``, defaults A 14, B 30, C 90 days) and is overridden by
the customer's own ``visit_interval_days``. The class interval applies to
prospects, customers and customers at risk; leads and lost customers are on a
cadence only when someone gave them an interval of their own.

Due dates are calendar days on the viewer's calendar: the day of the last
completed visit (``last_visited_at``, kept by the visit operations; a visit
where the customer was not met does not count) plus the interval. A visit is
"due" on that day and "overdue by N days" N days later, whatever the hour and
across summer-time changes. A customer on a cadence that was never visited is
due now.

The "due for a visit" list needs no date arithmetic in SQL (which differs
between SQLite and PostgreSQL, and neither knows the viewer's calendar the same
way): per class, "due" is "last visit before the UTC instant a certain local day
began", a bound computed in Python and compared with a plain ``<`` that both
databases evaluate alike (``possibly_due``). ``due_visits`` reads those rows,
six columns each, and Python decides and sorts them (the few customers with an
interval of their own included): the whole list, the input of route planning.
The page (``due_page``) needs only its head and the count: ``due_head`` lets the
database rank each class by last visit (within a class, visited longest ago is
most overdue) and send about a page per class, so Python decides ~100 rows
instead of every due customer. Only the page shown is loaded as whole
customers. See docs/PERFORMANCE.md for the numbers.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..extensions import db
from ..models import Customer, User
from ..opening_hours import OpenState, state_at
from ..scope import customer_scope
from ..settings import get_setting
from ..visits.localtime import day_start, local_date
from ..visits_due import VisitDue

CADENCE_STATUSES = ("prospect", "customer", "at_risk")
CLASS_ORDER = {"A": 0, "B": 1, "C": 2}


def class_intervals() -> dict[str, int]:
    """The admin's visit interval per ABC class, in days."""
    return {grade: int(days) for grade, days in get_setting("visit_interval_days").items()}


def interval_days(abc_class: str | None, own_interval: int | None, status: str,
                  intervals: dict[str, int]) -> int | None:
    """The customer's target interval in days, or None when it has no cadence."""
    if own_interval:
        return own_interval
    if abc_class and status in CADENCE_STATUSES:
        return intervals.get(abc_class)
    return None


@dataclass(frozen=True)
class NextVisit:
    """When the next visit is due. ``due_on`` is None for a customer never visited
    (due now); ``days_left`` is negative when overdue, None without a cadence."""

    interval_days: int | None
    due_on: date | None
    days_left: int | None

    @property
    def is_due(self) -> bool:
        return self.days_left is not None and self.days_left <= 0


def next_visit(interval: int | None, last_visited_at: datetime | None, now: datetime,
                  zone: ZoneInfo) -> NextVisit:
    """The next visit as seen at ``now`` on the calendar of ``zone``."""
    if not interval:
        return NextVisit(None, None, None)
    today = local_date(now, zone)
    if last_visited_at is None:
        return NextVisit(interval, None, 0)
    due_on = local_date(last_visited_at, zone) + timedelta(days=interval)
    return NextVisit(interval, due_on, (due_on - today).days)


@dataclass(frozen=True)
class DueVisit(VisitDue):
    """A visit that is due (a ``fieldcrm.visits_due.VisitDue``: ``overdue_days`` is 0 on the
    due day and None for a customer never visited), with the customer and the day it fell
    due: what route planning takes as input."""

    customer_id: uuid.UUID
    due_on: date
    interval_days: int


def due_visit(customer_id: uuid.UUID, interval: int | None, last_visited_at: datetime | None,
              now: datetime, zone: ZoneInfo) -> DueVisit | None:
    """The due visit of one customer at ``now`` on ``zone``'s calendar, or None if not due."""
    upcoming = next_visit(interval, last_visited_at, now, zone)
    if not upcoming.is_due:
        return None
    if upcoming.due_on is None:
        return DueVisit(None, customer_id, local_date(now, zone), interval)
    return DueVisit(-upcoming.days_left, customer_id, upcoming.due_on, interval)


def visit_due_for(customer: Customer, now: datetime, zone: ZoneInfo,
                  intervals: dict[str, int] | None = None) -> DueVisit | None:
    """``due_visit`` of a loaded customer (the nearby list and the map can use this)."""
    interval = interval_days(customer.abc_class, customer.visit_interval_days, customer.status,
                             intervals if intervals is not None else class_intervals())
    return due_visit(customer.id, interval, customer.last_visited_at, now, zone)


def possibly_due(intervals: dict[str, int], now: datetime, zone: ZoneInfo) -> sa.ColumnElement[bool]:
    """A WHERE clause that keeps the customers whose visit may be due at ``now``.

    Exact for the class intervals, without date arithmetic in SQL: a customer of
    class A is due when its last visit fell on a local day at least 14 days
    before today, that is before the UTC instant at which the local day
    ``today - 13`` began. Customers with an interval of their own (a few) are
    all kept and decided in Python.
    """
    today = local_date(now, zone)
    by_class = [sa.and_(Customer.abc_class == grade,
                        Customer.last_visited_at < day_start(today - timedelta(days=days - 1), zone))
                for grade, days in intervals.items()]
    return sa.or_(
        Customer.visit_interval_days.is_not(None),
        sa.and_(Customer.abc_class.in_(list(intervals)), Customer.status.in_(CADENCE_STATUSES),
                sa.or_(Customer.last_visited_at.is_(None), *by_class)),
    )


# The column's plain type: the UTC conversion of UTCDateTime is left to _decide().
_LAST_VISIT = sa.type_coerce(Customer.last_visited_at, sa.DateTime(timezone=True))
_DUE_COLUMNS = (Customer.id, Customer.name, Customer.abc_class, Customer.status,
                Customer.visit_interval_days, _LAST_VISIT.label("last"))


def _may_be_due(user: User, intervals: dict[str, int], now: datetime, zone: ZoneInfo,
                owner_id: uuid.UUID | None) -> list:
    """The WHERE clauses of every due-list query: live, in scope, possibly due, the owner."""
    where = [~Customer.deleted, customer_scope(user), possibly_due(intervals, now, zone)]
    if owner_id is not None:
        where.append(Customer.owner_id == owner_id)
    return where


def _decide(row, today: date, zone: ZoneInfo, intervals: dict[str, int]) -> tuple | None:
    """(sort key, DueVisit) of one row of ``_DUE_COLUMNS``, or None when it is not due.

    The rule of due_visit(), unrolled: this runs for every customer that may be due.
    The key sorts most overdue first; at equal delay A before B before C, never visited last.
    """
    customer_id, name, grade, status, own, last = row
    interval = own or (intervals.get(grade) if status in CADENCE_STATUSES else None)
    if not interval:
        return None
    if last is None:
        return (0, True, CLASS_ORDER.get(grade, 3), name, customer_id), \
            DueVisit(None, customer_id, today, interval)
    due_on = _aware(last).astimezone(zone).date() + timedelta(days=interval)
    overdue = (today - due_on).days
    if overdue < 0:
        return None
    return (-overdue, False, CLASS_ORDER.get(grade, 3), name, customer_id), \
        DueVisit(overdue, customer_id, due_on, interval)


def _ranked(rows, today: date, zone: ZoneInfo, intervals: dict[str, int]) -> list[DueVisit]:
    decided = [found for row in rows if (found := _decide(row, today, zone, intervals))]
    decided.sort(key=lambda item: item[0])
    return [due for _, due in decided]


def due_visits(user: User, now: datetime, zone: ZoneInfo, *,
               owner_id: uuid.UUID | None = None) -> list[DueVisit]:
    """Every due visit among the live customers ``user`` may see (optionally one owner's),
    most overdue first; at equal delay A before B before C, never visited last.

    One query of six columns, narrowed in SQL to the customers that may be due.
    """
    intervals = class_intervals()
    rows = db.session.execute(sa.select(*_DUE_COLUMNS).where(
        *_may_be_due(user, intervals, now, zone, owner_id)))
    return _ranked(rows, local_date(now, zone), zone, intervals)


TIE_MARGIN = 20


def due_head(user: User, now: datetime, zone: ZoneInfo, count: int, *,
             owner_id: uuid.UUID | None = None) -> tuple[list[DueVisit], int]:
    """``due_visits()[:count]`` and ``len(due_visits())``, reading about ``count`` rows per class.

    Within one class (one interval) the most overdue are those visited longest ago,
    so per class the database ranks by last visit and sends the first
    ``count + TIE_MARGIN`` with the class's size (one query, window functions).
    Customers whose last visit fell on the same local day as a class's row number
    ``count`` are just as overdue and may sort before it by name; the margin
    usually holds them all, and when it may not (its last row is still on that
    day, or they were never visited) that day's customers are read too. Customers
    with an interval of their own are all read. Which rows are due, and their
    order, is decided by the same rule as in due_visits().
    """
    intervals = class_intervals()
    today = local_date(now, zone)
    where = _may_be_due(user, intervals, now, zone, owner_id)
    sent = count + TIE_MARGIN
    # Partitioned by class and own interval: the class rows are those with own interval NULL.
    window = {"partition_by": (Customer.abc_class, Customer.visit_interval_days),
              "order_by": (Customer.last_visited_at.asc().nulls_last(), Customer.id)}
    ranked = sa.select(
        *_DUE_COLUMNS,
        sa.func.row_number().over(**window).label("rank"),
        sa.func.count().over(**window, rows=(None, None)).label("size"),
    ).where(*where).subquery()
    rows = db.session.execute(sa.select(ranked).where(
        sa.or_(ranked.c.visit_interval_days.is_not(None), ranked.c.rank <= sent))).all()
    total, candidates, boundary = 0, {}, {}
    for row in rows:
        candidates[row.id] = row[:6]
        if row.visit_interval_days is not None:
            total += _decide(row[:6], today, zone, intervals) is not None
            continue
        if row.rank == 1:
            total += row.size  # exact: possibly_due() is the rule itself for class intervals
        if row.size > sent and row.rank in (count, sent):
            boundary.setdefault(row.abc_class, {})[row.rank] = _aware(row.last)
    ties = [_same_day(grade, last[count], zone) for grade, last in boundary.items()
            if last[count] is None or _day(last[count], zone) == _day(last[sent], zone)]
    if ties:
        for row in db.session.execute(
                sa.select(*_DUE_COLUMNS).where(*where, Customer.visit_interval_days.is_(None),
                                               sa.or_(*ties))):
            candidates[row.id] = row
    return _ranked(candidates.values(), today, zone, intervals)[:count], total


def _aware(last: datetime | None) -> datetime | None:
    """A last visit as the due queries read it, with its zone (SQLite keeps UTC without it)."""
    return last.replace(tzinfo=UTC) if last is not None and last.tzinfo is None else last


def _day(last: datetime | None, zone: ZoneInfo) -> date | None:
    return None if last is None else local_date(last, zone)


def _same_day(grade: str, last: datetime | None, zone: ZoneInfo) -> sa.ColumnElement[bool]:
    """The class's customers visited from ``last`` to the end of its local day (never, if None)."""
    if last is None:
        return sa.and_(Customer.abc_class == grade, Customer.last_visited_at.is_(None))
    next_day = day_start(local_date(last, zone) + timedelta(days=1), zone)
    return sa.and_(Customer.abc_class == grade, Customer.last_visited_at >= last,
                   Customer.last_visited_at < next_day)


@dataclass(frozen=True)
class DueRow:
    """One row of the "due for a visit" list (the shape the nearby list's badges take)."""

    customer: Customer
    due: DueVisit
    hours: OpenState | None = None


def due_page(user: User, now: datetime, zone: ZoneInfo, *, owner_id: uuid.UUID | None = None,
             offset: int = 0, limit: int = 50) -> tuple[list[DueRow], int]:
    """One page of the due list as whole customers, and how many are due in all."""
    head, total = due_head(user, now, zone, offset + limit, owner_id=owner_id)
    page = head[offset:]
    customers = {c.id: c for c in db.session.scalars(
        sa.select(Customer).where(Customer.id.in_([d.customer_id for d in page]))
    )} if page else {}
    rows = [DueRow(customers[d.customer_id], d, state_at(customers[d.customer_id].opening_hours, now))
            for d in page if d.customer_id in customers]
    return rows, total
