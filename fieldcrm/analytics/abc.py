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
one pass in Python and set-based updates through Core (the changed rows are
staged in a temporary table and joined in with ``UPDATE … FROM``), which skip
the ORM's flush hook, so it does that hook's work itself, for the rows that
need it:

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
from ..models import ABC_CLASSES, Customer, History, Money, utcnow
from ..settings import get_setting
from ..versioning import allocate_versions
from .revenue import CustomerFigures, customer_figures

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
                  figures: list[CustomerFigures] | None = None) -> AbcResult:
    """Class and store the revenue of every live customer at ``now``; the caller commits.

    ``figures`` may pass ``customer_figures(now)`` when the caller has read them already.
    """
    now = now or utcnow()
    if figures is None:
        figures = customer_figures(now)
    thresholds = tuple(get_setting("abc_thresholds_pct"))
    computed = classify(((f.id, f.revenue.revenue_12m) for f in figures), thresholds)
    result = AbcResult(customers=len(figures))
    class_rows, revenue_rows = [], []
    for f in figures:
        revenue = f.revenue.revenue_12m
        grade = f.abc_class if f.abc_manual else computed[f.id]
        result.classes[grade] += 1
        if grade != f.abc_class:
            class_rows.append(({"id": f.id, "abc_class": grade, "revenue": revenue}, f.abc_class))
        elif f.stored_revenue is None or revenue != f.stored_revenue:
            revenue_rows.append({"id": f.id, "revenue": revenue})
    result.class_changes, result.revenue_changes = len(class_rows), len(revenue_rows)
    _store(class_rows, revenue_rows, now)
    # The bulk updates bypassed the identity map: customers loaded before are stale.
    db.session.expire_all()
    return result


# The changed rows go into a temporary table first and into ``customer`` with one
# UPDATE … FROM per kind of change: one statement instead of one per row, two to four
# times faster at 100,000 rows (SQLite ≥ 3.33 and PostgreSQL both have UPDATE … FROM).
STAGED = sa.Table(
    "abc_staged", sa.MetaData(),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("abc_class", sa.String(1)),
    sa.Column("revenue", Money),
    sa.Column("version", sa.BigInteger),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
)


def _store(class_rows: list[tuple[dict, str | None]], revenue_rows: list[dict],
           now: datetime) -> None:
    """Write new classes (with a version each, from one block) and new revenue figures, and a
    history entry for each move from one class to another.

    The ``NOT abc_manual`` guard keeps a class someone set by hand since the read.
    """
    if not class_rows and not revenue_rows:
        return
    session = db.session
    connection = session.connection()
    moved = sum(1 for _, old in class_rows if old is not None)
    first = allocate_versions(session, len(class_rows) + moved) if class_rows else 0
    staged, history = [], []
    for offset, (row, old) in enumerate(class_rows):
        staged.append(row | {"version": first + offset})
        if old is not None:
            history.append({
                "id": uuid.uuid4(), "version": first + len(class_rows) + len(history),
                "customer_id": row["id"], "at": now, "user_id": None, "kind": "change",
                "entity": "customer", "entity_id": row["id"], "field": "abc_class",
                "old": old, "new": row["abc_class"], "ref_id": None,
            })
    staged += [row | {"abc_class": None, "version": None} for row in revenue_rows]
    connection.execute(sa.schema.DropTable(STAGED, if_exists=True))
    connection.execute(sa.schema.CreateTable(STAGED))
    for start in range(0, len(staged), CHUNK):
        connection.execute(sa.insert(STAGED), staged[start:start + CHUNK])
    table, new = Customer.__table__, STAGED.c
    connection.execute(
        sa.update(table)
        .where(table.c.id == new.id, new.version.is_not(None), sa.not_(table.c.abc_manual))
        .values(abc_class=new.abc_class, revenue_12m=new.revenue, version=new.version,
                updated_at=now)
    )
    connection.execute(
        sa.update(table).where(table.c.id == new.id, new.version.is_(None))
        .values(revenue_12m=new.revenue)
    )
    connection.execute(sa.schema.DropTable(STAGED))
    for start in range(0, len(history), CHUNK):
        connection.execute(sa.insert(History.__table__), history[start:start + CHUNK])
