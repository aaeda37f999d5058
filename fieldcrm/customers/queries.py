"""Reads of customers and contacts, always limited to the caller's scope."""

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import Contact, Customer, History, User
from ..scope import customer_scope
from ..validation import search_term


@dataclass
class CustomerFilter:
    """What the customer list is narrowed to; every part optional."""

    q: str = ""
    status: str = ""
    abc_class: str = ""
    owner_id: uuid.UUID | None = None


def encode_cursor(*parts) -> str:
    raw = json.dumps([str(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[str] | None:
    """The parts of a cursor made by encode_cursor, or None if it does not parse."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(parts, list) or len(parts) != length or not all(isinstance(p, str) for p in parts):
        return None
    if any("\x00" in part for part in parts):  # never in a key; PostgreSQL refuses it
        return None
    return parts


def _keyset(cursor: str | None, parse_key) -> tuple | None:
    """(key, id) from a page cursor; None for no cursor or one that does not parse."""
    parts = decode_cursor(cursor, 2) if cursor else None
    if not parts:
        return None
    try:
        return parse_key(parts[0]), uuid.UUID(parts[1])
    except ValueError:
        return None


def filter_conditions(filters: CustomerFilter) -> list:
    """The SQL conditions on Customer for ``filters``: the list's and the API's near search."""
    conditions = []
    if filters.q:
        term = search_term(filters.q)
        conditions.append(sa.or_(
            Customer.name.icontains(term, autoescape=True),
            Customer.city.istartswith(term, autoescape=True),
            Customer.postal_code.startswith(term, autoescape=True),
        ))
    if filters.status:
        conditions.append(Customer.status == filters.status)
    if filters.abc_class:
        conditions.append(Customer.abc_class == filters.abc_class)
    if filters.owner_id:
        conditions.append(Customer.owner_id == filters.owner_id)
    return conditions


def customer_page(user: User, filters: CustomerFilter, *, after: str | None = None,
                  limit: int = 20) -> tuple[list[Customer], str | None]:
    """One page of the caller's live customers by name, and the cursor of the next page.

    Keyset paging on (name, id) keeps every page as cheap as the first.
    """
    query = sa.select(Customer).where(~Customer.deleted, customer_scope(user),
                                      *filter_conditions(filters))
    position = _keyset(after, str)
    if position:
        query = query.where(sa.tuple_(Customer.name, Customer.id) > position)
    rows = list(db.session.scalars(query.order_by(Customer.name, Customer.id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].name, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def contacts_of(customer: Customer) -> list[Contact]:
    return list(db.session.scalars(
        sa.select(Contact).where(Contact.customer_id == customer.id, ~Contact.deleted)
        .order_by(Contact.name)
    ))


def history_page(customer: Customer, *, after: str | None = None,
                 limit: int = 20) -> tuple[list[History], str | None]:
    """The customer's shared history, newest first, one page at a time."""
    query = sa.select(History).where(History.customer_id == customer.id)
    position = _keyset(after, datetime.fromisoformat)
    if position:
        query = query.where(sa.tuple_(History.at, History.id) < position)
    rows = list(db.session.scalars(query.order_by(History.at.desc(), History.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].at.isoformat(), rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
