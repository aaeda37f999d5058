"""Reads of orders and of the catalogue for the order form, always limited to the caller's scope."""

import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import abort

from ..customers.queries import decode_cursor, encode_cursor
from ..extensions import db
from ..models import Customer, Order, Product, User
from ..scope import customer_scope, parse_uuid_or_404, team_ids_query
from ..validation import search_term
from .pricing import LineInput, OrderPrice, price_order

OPEN_STATUSES = ("draft", "submitted")


def order_or_404(user: User, order_id: uuid.UUID | str) -> Order:
    """The live order with this id if ``user`` may see its customer; 404 otherwise, never 403."""
    order_id = parse_uuid_or_404(order_id)
    order = db.session.scalar(
        sa.select(Order).join(Customer, Order.customer_id == Customer.id)
        .where(Order.id == order_id, ~Order.deleted, ~Customer.deleted, customer_scope(user))
    )
    if order is None:
        abort(404)
    return order


def _mine(user: User) -> sa.ColumnElement[bool]:
    """The orders listed as "mine": a rep's own, a manager's team's, for an admin all."""
    if user.role == "admin":
        return sa.true()
    if user.role == "manager":
        return Order.user_id.in_(team_ids_query(user))
    return Order.user_id == user.id


def orders_page(user: User, *, status: str | None = None, after: str | None = None,
                limit: int = 20) -> tuple[list[Order], str | None]:
    """The caller's recent orders (see ``_mine``), newest first, one page at a time."""
    query = (sa.select(Order).join(Customer, Order.customer_id == Customer.id)
             .where(~Order.deleted, ~Customer.deleted, customer_scope(user), _mine(user)))
    if status:
        query = query.where(Order.status == status)
    position = _position(after)
    if position:
        query = query.where(sa.tuple_(Order.created_at, Order.id) < position)
    rows = list(db.session.scalars(
        query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    ))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at.isoformat(), last.id)
    return rows[:limit], next_cursor


def _position(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    parts = decode_cursor(cursor, 2) if cursor else None
    if not parts:
        return None
    try:
        return datetime.fromisoformat(parts[0]), uuid.UUID(parts[1])
    except ValueError:
        return None


def orders_for_customer(customer: Customer, *, limit: int = 10) -> list[Order]:
    """A customer's open orders (draft, submitted), then the most recent others.

    The caller has checked that the customer is in scope.
    """
    base = sa.select(Order).where(Order.customer_id == customer.id, ~Order.deleted)
    newest = (Order.created_at.desc(), Order.id.desc())
    open_orders = list(db.session.scalars(
        base.where(Order.status.in_(OPEN_STATUSES)).order_by(*newest).limit(limit)
    ))
    closed = list(db.session.scalars(
        base.where(Order.status.not_in(OPEN_STATUSES)).order_by(*newest)
        .limit(max(limit - len(open_orders), 3))
    ))
    return open_orders + closed


def search_products(term: str, *, limit: int = 20) -> list[Product]:
    """Active catalogue products whose name or SKU contains ``term``, by name."""
    query = sa.select(Product).where(Product.active, ~Product.deleted)
    term = search_term(term)
    if term:
        query = query.where(sa.or_(Product.name.icontains(term, autoescape=True),
                                   Product.sku.icontains(term, autoescape=True)))
    return list(db.session.scalars(query.order_by(Product.name, Product.id).limit(limit)))


def products_by_id(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
    """The products with these ids, active or not (tombstones included, so callers can tell)."""
    ids = set(ids)
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(sa.select(Product).where(Product.id.in_(ids)))}


def active_product_or_404(product_id: str | None) -> Product:
    """A product that can be ordered now; 404 for unknown, inactive or deleted ones."""
    product = db.session.get(Product, parse_uuid_or_404(product_id or ""))
    if product is None or not product.active or product.deleted:
        abort(404)
    return product


def order_price(order: Order) -> OrderPrice:
    """The order's pricing rebuilt from its stored lines (the prices and rates saved with them).

    Pure arithmetic over the snapshot, so it equals the stored totals; the
    order page and the confirmation use it for the discount and VAT rows.
    """
    return price_order(
        [LineInput(quantity=line.quantity, unit_price=line.unit_price, vat_rate=line.vat_rate,
                   discount_pct=line.discount_pct) for line in order.lines],
        order.discount_pct,
    )
