"""Lifecycle signals: a customer that stops ordering is flagged "at risk", with the reason.

A customer (status ``customer``) is at risk when it has not ordered for
``at_risk_no_order_days`` (counted from its last order, or from its creation if
it never ordered), or when its revenue of the last 6 months fell by at least
``at_risk_revenue_drop_pct`` percent against the 6 months before. The first
signal wins when both hold.

The reason is stored machine-readable in ``risk_reason`` and translated when
shown (``risk_text``):

- ``no_order:<time of the last order, RFC 3339>``: "No order for 214 days", the
  days counted on the viewer's calendar on the day it is read;
- ``never_ordered:<creation time>``: "No order yet, created 214 days ago";
- ``revenue_drop:<percent>``: "Revenue −62 % vs. the previous 6 months".

A customer the job flagged goes back to ``customer`` when no signal holds any
more (it ordered again); one flagged by hand (any other reason text, or none)
is left alone. The reason is rewritten only when the kind of signal changes, so
a customer at risk does not collect a history entry every night.

The few customers that change go through the ORM, so the flush hook gives them
versions and records the status and reason changes in their history (by no
user: "System"), as it does for the lead → prospect → customer moves made in
the customer form.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import get_timezone, ngettext
from flask_babel import gettext as _

from ..extensions import db
from ..models import Customer, utcnow
from ..settings import get_setting
from ..visits.localtime import local_date
from .revenue import CustomerFigures, CustomerRevenue, customer_figures

NO_ORDER, NEVER_ORDERED, REVENUE_DROP = "no_order", "never_ordered", "revenue_drop"
SIGNAL_KINDS = (NO_ORDER, NEVER_ORDERED, REVENUE_DROP)
CHUNK = 500


def risk_signal(revenue: CustomerRevenue, created_at: datetime, now: datetime, *,
                no_order_days: int, drop_pct: float) -> str | None:
    """The reason code of the first signal that holds at ``now``, or None."""
    since = revenue.last_order_at or created_at
    if now - since >= timedelta(days=no_order_days):
        kind = NO_ORDER if revenue.last_order_at else NEVER_ORDERED
        return f"{kind}:{since.isoformat()}"
    previous, last = revenue.previous_6m, revenue.last_6m
    if previous > 0 and last * 100 <= previous * (100 - Decimal(str(drop_pct))):
        return f"{REVENUE_DROP}:{int((previous - last) * 100 / previous)}"
    return None


def signal_kind(reason: str | None) -> str | None:
    """The signal a stored reason names, or None for a reason typed by a person."""
    kind, sep, _value = (reason or "").partition(":")
    return kind if sep and kind in SIGNAL_KINDS else None


def risk_text(reason: str | None, now: datetime | None = None) -> str:
    """A stored reason as the viewer reads it, in their language and on their calendar;
    a reason typed by a person is shown as it is."""
    kind = signal_kind(reason)
    if kind is None:
        return reason or ""
    value = reason.partition(":")[2]
    try:
        if kind == REVENUE_DROP:
            return _("Revenue −%(pct)s %% vs. the previous 6 months", pct=int(value))
        since = datetime.fromisoformat(value)
    except ValueError:
        return reason
    zone = ZoneInfo(str(get_timezone()))
    days = (local_date(now or utcnow(), zone) - local_date(since, zone)).days
    if kind == NO_ORDER:
        return ngettext("No order for %(num)s day", "No order for %(num)s days", days)
    return ngettext("No order yet, created %(num)s day ago",
                    "No order yet, created %(num)s days ago", days)


@dataclass
class RiskResult:
    flagged: int = 0
    cleared: int = 0
    updated: int = 0

    def __str__(self) -> str:
        return (f"{self.flagged:,} flagged at risk, {self.cleared:,} back to customer, "
                f"{self.updated:,} reasons changed")


def flag_at_risk(now: datetime | None = None,
                 figures: list[CustomerFigures] | None = None) -> RiskResult:
    """Flag and clear "at risk" for every live customer at ``now``; the caller commits.

    ``figures`` may pass ``customer_figures(now)`` when the caller has read them already.
    """
    now = now or utcnow()
    if figures is None:
        figures = customer_figures(now)
    no_order_days = int(get_setting("at_risk_no_order_days"))
    drop_pct = float(get_setting("at_risk_revenue_drop_pct"))
    changes: dict[uuid.UUID, tuple[str, str]] = {}
    result = RiskResult()
    for f in figures:
        if f.status not in ("customer", "at_risk"):
            continue
        reason = risk_signal(f.revenue, f.created_at, now, no_order_days=no_order_days,
                             drop_pct=drop_pct)
        if f.status == "customer":
            if reason:
                changes[f.id] = ("at_risk", reason)
                result.flagged += 1
            continue
        kind = signal_kind(f.risk_reason)
        if kind is None:
            continue
        if reason is None:
            changes[f.id] = ("customer", "")
            result.cleared += 1
        elif signal_kind(reason) != kind:
            changes[f.id] = ("at_risk", reason)
            result.updated += 1
    _apply(changes)
    return result


def _apply(changes: dict[uuid.UUID, tuple[str, str]]) -> None:
    session = db.session
    had_actor, actor = "actor_id" in session.info, session.info.get("actor_id")
    session.info["actor_id"] = None
    try:
        ids = list(changes)
        for start in range(0, len(ids), CHUNK):
            customers = session.scalars(
                sa.select(Customer).where(Customer.id.in_(ids[start:start + CHUNK]))
                .execution_options(populate_existing=True)
            )
            for customer in customers:
                customer.status, customer.risk_reason = changes[customer.id]
            session.flush()
    finally:
        if had_actor:
            session.info["actor_id"] = actor
        else:
            session.info.pop("actor_id", None)
