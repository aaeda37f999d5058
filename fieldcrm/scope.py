"""Who may see which customers: the one place that decides scope.

A rep sees the customers of their territories and the ones they own; a manager
the customers of the territories they manage and of their team; an admin all.
"""

import uuid

import sqlalchemy as sa
from flask import abort
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from .extensions import db
from .models import Contact, Customer, Territory, User, territory_reps


def territory_ids_query(user: User) -> sa.Select:
    """The ids of the territories ``user`` works in (rep) or manages (manager)."""
    if user.role == "manager":
        return sa.select(Territory.id).where(Territory.manager_id == user.id, ~Territory.deleted)
    return sa.select(territory_reps.c.territory_id).where(territory_reps.c.user_id == user.id)


def team_ids_query(user: User) -> sa.Select:
    """The ids of the manager's team: the reps of the territories they manage, and themselves."""
    reps = sa.select(territory_reps.c.user_id).where(
        territory_reps.c.territory_id.in_(territory_ids_query(user))
    )
    return reps.union(sa.select(sa.literal(user.id, sa.Uuid)))


class InIds(sa.ColumnElement[bool]):
    """``column IN (subquery)`` of a small id list, written so each database can use its index.

    PostgreSQL turns ``IN (subquery) OR ...`` into a filter with hashed subplans
    over a full table scan (50 ms for 100,000 customers); ``= ANY(ARRAY(subquery))``
    runs the subquery once and lets the OR become a BitmapOr of two index scans
    (1.6 ms). SQLite already plans the plain form well.
    """

    inherit_cache = True
    type = sa.types.NullType()  # not Boolean: SQLite would compare it with 1 and lose the index
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("query", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement, query: sa.Select):
        self.column, self.query = column, query


@compiles(InIds)
def _in_ids(element: InIds, compiler, **kw) -> str:
    return compiler.process(element.column.in_(element.query), **kw)


@compiles(InIds, "postgresql")
def _in_ids_postgresql(element: InIds, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    query = compiler.process(element.query.scalar_subquery(), **kw)
    return f"{column} = ANY(ARRAY{query})"


def customer_scope(user: User) -> sa.ColumnElement[bool]:
    """A WHERE clause selecting exactly the customers ``user`` may see (tombstones included)."""
    if user.role == "admin":
        return sa.true()
    in_territories = InIds(Customer.territory_id, territory_ids_query(user))
    if user.role == "manager":
        return sa.or_(in_territories, InIds(Customer.owner_id, team_ids_query(user)))
    return sa.or_(in_territories, Customer.owner_id == user.id)


def team_members(user: User) -> list[User]:
    """The users ``user`` may assign customers to."""
    query = sa.select(User).where(User.active).order_by(User.name)
    if user.role == "manager":
        query = query.where(User.id.in_(team_ids_query(user)))
    elif user.role == "rep":
        query = query.where(User.id == user.id)
    return list(db.session.scalars(query))


def visible_territories(user: User) -> list[Territory]:
    query = sa.select(Territory).where(~Territory.deleted).order_by(Territory.name)
    if user.role != "admin":
        query = query.where(Territory.id.in_(territory_ids_query(user)))
    return list(db.session.scalars(query))


def visible_customer(user: User, customer_id: uuid.UUID) -> Customer | None:
    """The live customer with this id if ``user`` may see it, else None.

    A sync push that checks hundreds of rows against a few customers reads them all
    at once first (``known_visible``): those answers come from there.
    """
    known = db.session.info.get("visible_customers")
    if known is not None and known[0] == user.id and customer_id in known[1]:
        return known[1][customer_id]
    return db.session.scalar(
        sa.select(Customer).where(Customer.id == customer_id, ~Customer.deleted, customer_scope(user))
    )


def known_visible(user: User, customer_ids: set[uuid.UUID]) -> None:
    """Read which of ``customer_ids`` ``user`` may see, for ``visible_customer`` to answer
    from until ``forget_visible()``. Only while nothing changes a customer's scope or
    deletes it: the caller forgets before any such change."""
    ids = sorted(customer_ids)
    found = {}
    for start in range(0, len(ids), 500):
        found.update((customer.id, customer) for customer in db.session.scalars(
            sa.select(Customer).where(Customer.id.in_(ids[start:start + 500]), ~Customer.deleted,
                                      customer_scope(user))))
    db.session.info["visible_customers"] = (user.id, found)


def forget_visible() -> None:
    db.session.info.pop("visible_customers", None)


def customer_or_404(user: User, customer_id: uuid.UUID | str) -> Customer:
    """The live customer with this id if ``user`` may see it; 404 otherwise, never 403."""
    customer = visible_customer(user, parse_uuid_or_404(customer_id))
    if customer is None:
        abort(404)
    return customer


def contact_or_404(user: User, contact_id: uuid.UUID | str) -> Contact:
    contact_id = parse_uuid_or_404(contact_id)
    contact = db.session.scalar(
        sa.select(Contact).join(Customer, Contact.customer_id == Customer.id)
        .where(Contact.id == contact_id, ~Contact.deleted, ~Customer.deleted, customer_scope(user))
    )
    if contact is None:
        abort(404)
    return contact


def parse_uuid_or_404(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        abort(404)
