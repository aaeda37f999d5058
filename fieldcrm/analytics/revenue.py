"""Order revenue per customer: the one aggregate that ABC and the risk signals read.

Revenue is the net total of orders that were submitted or confirmed (drafts are
not orders yet, cancelled ones never happened), dated by their submission
(their creation for rows without one), tombstones excluded. A window is
``[start, now]`` with ``start`` whole calendar months before ``now``
(``fieldcrm.analytics.periods.months_before``).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from ..extensions import db
from ..models import Money, Order, UTCDateTime
from .periods import months_before

REVENUE_STATUSES = ("submitted", "confirmed")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def order_time() -> sa.ColumnElement[datetime]:
    """When an order counts as placed: submitted, else created."""
    return sa.func.coalesce(Order.submitted_at, Order.created_at, type_=UTCDateTime)


def counted_orders() -> list[sa.ColumnElement[bool]]:
    """The WHERE clause of orders that make revenue."""
    return [Order.status.in_(REVENUE_STATUSES), ~Order.deleted]


@dataclass(frozen=True, slots=True)
class CustomerRevenue:
    """A customer's revenue in the trailing 12 months, split into its two halves, and
    the time of its latest order ever (None if it never ordered)."""

    revenue_12m: Decimal
    last_6m: Decimal
    previous_6m: Decimal
    last_order_at: datetime | None


NO_REVENUE = CustomerRevenue(ZERO, ZERO, ZERO, None)


def _money(value) -> Decimal:
    """A sum as Decimal with cents (the Money type already gives Decimal on both databases)."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(CENT)


def revenue_by_customer(now: datetime) -> dict[uuid.UUID, CustomerRevenue]:
    """Every customer with a counted order: one grouped scan of the order table."""
    placed = order_time()
    start_12, start_6 = months_before(now, 12), months_before(now, 6)

    def window_sum(start):
        amount = sa.case((sa.and_(placed >= start, placed <= now), Order.net_total), else_=0)
        return sa.func.sum(sa.type_coerce(amount, Money))

    rows = db.session.execute(
        sa.select(Order.customer_id, window_sum(start_12), window_sum(start_6),
                  sa.func.max(placed))
        .where(*counted_orders())
        .group_by(Order.customer_id)
    )
    result = {}
    for customer_id, total, last_6m, last_order_at in rows:
        total, last_6m = _money(total), _money(last_6m)
        result[customer_id] = CustomerRevenue(total, last_6m, total - last_6m, last_order_at)
    return result
