"""The API's list reads of contacts, products and activities, paged like the customer list.

Keyset paging on (name, id) — activities on (created_at, id), newest first — with
the cursors of fieldcrm.customers.queries, so every page costs the same and a row
inserted meanwhile is neither lost nor repeated.
"""

import dataclasses
import uuid
from datetime import datetime

import sqlalchemy as sa

# _keyset is the customer list's cursor parser; reused so there is one cursor format.
from ..customers.queries import CustomerFilter, _keyset, encode_cursor, filter_conditions
from ..extensions import db
from ..geo import nearest_customers
from ..models import ABC_CLASSES, CUSTOMER_STATUSES, Contact, Customer, Product, User
from ..scope import customer_scope
from ..validation import Field
from .protocol import NearQuery
from .serialize import CUSTOMER_JSON_COLUMNS

# The filters each list takes as query parameters (besides limit and cursor);
# the views parse them and the OpenAPI document describes them from here.
CUSTOMER_FILTERS = {
    "q": Field(max_length=100),
    "status": Field("choice", choices=CUSTOMER_STATUSES),
    "abc_class": Field("choice", choices=ABC_CLASSES),
    "owner_id": Field("uuid"),
}
CONTACT_FILTERS = {"customer_id": Field("uuid")}
PRODUCT_FILTERS = {"active": Field("choice", choices=("true", "false"))}
ACTIVITY_FILTERS = {"customer_id": Field("uuid")}
# The sync entities the API serves as activity resources, and their paths.
ACTIVITY_PLURALS = {"visit": "visits", "note": "notes", "order": "orders", "followup": "followups"}


def _by_name_page(query: sa.Select, model, after: str | None, limit: int) -> tuple[list, str | None]:
    """One page of ``query`` ordered by (name, id) after the cursor, and the next cursor."""
    position = _keyset(after, str)
    if position:
        query = query.where(sa.tuple_(model.name, model.id) > position)
    rows = list(db.session.scalars(query.order_by(model.name, model.id).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(rows[limit - 1].name, rows[limit - 1].id)


def contact_page(user: User, *, customer_id: uuid.UUID | None = None, after: str | None = None,
                 limit: int = 20) -> tuple[list[Contact], str | None]:
    """One page of the live contacts at live customers ``user`` may see, optionally of one customer."""
    query = (sa.select(Contact).join(Customer, Contact.customer_id == Customer.id)
             .where(~Contact.deleted, ~Customer.deleted, customer_scope(user)))
    if customer_id is not None:
        query = query.where(Contact.customer_id == customer_id)
    return _by_name_page(query, Contact, after, limit)


def product_page(*, active: bool | None = None, after: str | None = None,
                 limit: int = 20) -> tuple[list[Product], str | None]:
    """One page of the catalogue (not deleted), optionally only active or only inactive items."""
    query = sa.select(Product).where(~Product.deleted)
    if active is not None:
        query = query.where(Product.active == active)
    return _by_name_page(query, Product, after, limit)


def _live_activities(user: User, entity) -> sa.Select:
    """The live rows of a sync ``entity`` (visit, note, order, followup) at live customers
    ``user`` may see: the sync layer's own visibility rule."""
    model = entity.model
    return (sa.select(model).join(Customer, model.customer_id == Customer.id)
            .where(~model.deleted, ~Customer.deleted, entity.visible(user)))


def activity_or_none(user: User, entity, row_id: uuid.UUID):
    """The live row of ``entity`` with this id if ``user`` may see it, else None."""
    return db.session.scalar(_live_activities(user, entity).where(entity.model.id == row_id))


def activity_page(user: User, entity, *, customer_id: uuid.UUID | None = None,
                  after: str | None = None, limit: int = 20) -> tuple[list, str | None]:
    """One page of ``entity``'s live rows in ``user``'s scope, newest first, optionally of
    one customer, and the next page's cursor."""
    model = entity.model
    query = _live_activities(user, entity)
    if customer_id is not None:
        query = query.where(model.customer_id == customer_id)
    position = _keyset(after, datetime.fromisoformat)
    if position:
        query = query.where(sa.tuple_(model.created_at, model.id) < position)
    rows = list(db.session.scalars(
        query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at.isoformat(), last.id)


def customers_near(user: User, near: NearQuery,
                   filters: CustomerFilter) -> list[tuple[tuple, float]]:
    """The live located customers in ``user``'s scope passing ``filters`` nearest to the
    point, nearest first with their geodesic distance in metres (ties as geo.rank_nearest
    breaks them); with a radius only those within it; at most ``near.limit``. Each as a
    row of CUSTOMER_JSON_COLUMNS, for serialize.customer_near_json."""
    radius_m = None if near.radius_km is None else near.radius_km * 1000
    # The owner goes to the search itself: both spatial indexes hold it.
    where = filter_conditions(dataclasses.replace(filters, owner_id=None))
    return nearest_customers(user, near.lat, near.lon, limit=near.limit, radius_m=radius_m,
                             where=where, owner_id=filters.owner_id,
                             columns=CUSTOMER_JSON_COLUMNS)
