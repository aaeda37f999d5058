"""ABC analysis: customers classed by their share of the trailing 12 months' revenue.

Sorted by revenue, highest first, the customers that make the first 80 % of
the total are A, those of the next 15 % (up to 95 %) B, the rest C; the two
thresholds are the ``abc_thresholds_pct`` setting. Precisely: a customer is A
when the revenue of the customers before it is below 80 % of the total (so the
customer that crosses the line is still A, and one customer with 90 % of the
revenue is A, not B), B when it is below 95 %, else C. Customers with equal
revenue share one class, the one of the first of them, so a tie at a threshold
never splits by name or id. A customer without revenue is C.

``recompute_abc`` does this for every live customer with one aggregate query,
one pass in Python and bulk updates through Core, which skip the ORM's flush
hook, so it does that hook's work itself, for the rows that need it:

- ``revenue_12m`` is stored for every customer whose figure changed. It is not
  part of what devices sync, so a change of it alone takes no new version
  (100,000 customers would otherwise be pulled again by every device each night);
- a changed ``abc_class`` takes a new version and ``updated_at`` like any edit,
  so devices pull it, and a move from one class to another one ``change`` entry
  in the customer's history by no user ("System"), so the rep can see when the
  class moved. A customer's first class (from none) gets no entry: on the first
  run that would be one entry per customer, pulled by every device, telling
  nobody anything the class badge does not;
- a customer with ``abc_manual`` keeps its class (its revenue is still stored).

The class changes carry no per-field sync stamp (``field_meta``): a device that
edits ``abc_class`` sets it by hand, which is meant to win over the computed class.
"""

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby

import sqlalchemy as sa

from ..extensions import db
from ..models import ABC_CLASSES, Customer, History, utcnow
from ..settings import get_setting
from ..versioning import allocate_versions
from .revenue import NO_REVENUE, CustomerRevenue, revenue_by_customer

CHUNK = 5000


def classify(revenues: Iterable[tuple[uuid.UUID, Decimal]],
             thresholds_pct: tuple[float, float]) -> dict[uuid.UUID, str]:
    """The class of every key from its revenue (see the module's rules)."""
    a_pct, b_pct = (Decimal(str(t)) for t in thresholds_pct)
    ranked = sorted(revenues, key=lambda item: item[1], reverse=True)
    total = sum((revenue for _, revenue in ranked if revenue > 0), Decimal(0))
    classes: dict[uuid.UUID, str] = {}
    before = Decimal(0)
    for revenue, group in groupby(ranked, key=lambda item: item[1]):
        keys = [key for key, _ in group]
        if revenue <= 0:
            grade = "C"
        elif before * 100 < a_pct * total:
            grade = "A"
        elif before * 100 < b_pct * total:
            grade = "B"
        else:
            grade = "C"
        classes.update(dict.fromkeys(keys, grade))
        before += revenue * len(keys)
    return classes


@dataclass
class AbcResult:
    """What a recompute did: customers per class afterwards and how many rows it changed."""

    classes: Counter = field(default_factory=Counter)
    class_changes: int = 0
    revenue_changes: int = 0
    customers: int = 0

    def __str__(self) -> str:
        per_class = ", ".join(f"{grade} {self.classes.get(grade, 0):,}" for grade in ABC_CLASSES)
        return (f"{self.customers:,} customers ({per_class}); {self.class_changes:,} class "
                f"changes, {self.revenue_changes:,} revenue figures updated")


def recompute_abc(now: datetime | None = None,
                  revenues: dict[uuid.UUID, CustomerRevenue] | None = None) -> AbcResult:
    """Class and store the revenue of every live customer at ``now``; the caller commits.

    ``revenues`` may pass ``revenue_by_customer(now)`` when the caller has it already.
    """
    now = now or utcnow()
    if revenues is None:
        revenues = revenue_by_customer(now)
    thresholds = tuple(get_setting("abc_thresholds_pct"))
    session = db.session
    rows = session.execute(
        sa.select(Customer.id, Customer.abc_class, Customer.abc_manual, Customer.revenue_12m)
        .where(~Customer.deleted)
    ).all()
    ranked = [(row.id, revenues.get(row.id, NO_REVENUE).revenue_12m) for row in rows]
    computed = classify(ranked, thresholds)
    result = AbcResult(customers=len(rows))
    class_rows, revenue_rows = [], []
    for row, (_, revenue) in zip(rows, ranked, strict=True):
        grade = row.abc_class if row.abc_manual else computed[row.id]
        result.classes[grade] += 1
        if grade != row.abc_class:
            class_rows.append(({"b_id": row.id, "b_class": grade, "b_revenue": revenue},
                               row.abc_class))
        elif row.revenue_12m is None or revenue != row.revenue_12m:
            revenue_rows.append({"b_id": row.id, "b_revenue": revenue})
    result.class_changes, result.revenue_changes = len(class_rows), len(revenue_rows)
    _store_revenue(revenue_rows)
    _store_classes(class_rows, now)
    # The bulk updates bypassed the identity map: customers loaded before are stale.
    session.expire_all()
    return result


def _store_revenue(rows: list[dict]) -> None:
    table = Customer.__table__
    statement = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                 .values(revenue_12m=sa.bindparam("b_revenue")))
    connection = db.session.connection()
    for start in range(0, len(rows), CHUNK):
        connection.execute(statement, rows[start:start + CHUNK])


def _store_classes(rows: list[tuple[dict, str | None]], now: datetime) -> None:
    """New classes with a version each, and a history entry for each move from one class to
    another; the versions come from one block.

    The ``NOT abc_manual`` guard keeps a class someone set by hand since the read.
    """
    if not rows:
        return
    connection = db.session.connection()
    moved = sum(1 for _, old in rows if old is not None)
    first = allocate_versions(db.session, len(rows) + moved)
    updates, history = [], []
    for offset, (row, old) in enumerate(rows):
        updates.append(row | {"b_version": first + offset})
        if old is None:
            continue
        history.append({
            "id": uuid.uuid4(), "version": first + len(rows) + len(history),
            "customer_id": row["b_id"], "at": now, "user_id": None, "kind": "change",
            "entity": "customer", "entity_id": row["b_id"], "field": "abc_class", "old": old,
            "new": row["b_class"], "ref_id": None,
        })
    table = Customer.__table__
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"), sa.not_(table.c.abc_manual))
        .values(abc_class=sa.bindparam("b_class"), revenue_12m=sa.bindparam("b_revenue"),
                version=sa.bindparam("b_version"), updated_at=now)
    )
    for start in range(0, len(updates), CHUNK):
        connection.execute(statement, updates[start:start + CHUNK])
    for start in range(0, len(history), CHUNK):
        connection.execute(sa.insert(History.__table__), history[start:start + CHUNK])
