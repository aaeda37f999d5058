"""What sync knows about each entity: its table, who may see it, how it is written.

Every write goes through the same operations the HTML views and the JSON API
use (one way to create a customer, not three). Entities in ``MERGED`` are
edited per field with conflict detection; the others are inserts keyed by the
client's UUID whose later updates simply apply (they never conflict).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from ..api.serialize import (
    contact_json,
    customer_json,
    followup_json,
    json_value,
    note_json,
    order_json,
    product_json,
    visit_json,
)
from ..customers import operations as customer_ops
from ..models import (
    Contact,
    Customer,
    Followup,
    History,
    Note,
    Order,
    Product,
    Territory,
    User,
    Visit,
)
from ..scope import customer_scope, territory_ids_query
from . import activities as act
from .errors import Rejected


@dataclass(frozen=True)
class Entity:
    """One syncable kind of row."""

    name: str
    model: type
    serialize: Callable
    visible: Callable[[User], sa.ColumnElement[bool]]
    fields: frozenset = frozenset()
    create: Callable | None = None
    update: Callable | None = None
    delete: Callable | None = None


def _customer_ids(user: User) -> sa.Select:
    return sa.select(Customer.id).where(customer_scope(user))


def _of_visible_customer(model):
    return lambda user: model.customer_id.in_(_customer_ids(user))


def territory_json(territory: Territory) -> dict:
    return {"id": str(territory.id), "version": territory.version,
            "updated_at": json_value(territory.updated_at), "name": territory.name,
            "manager_id": json_value(territory.manager_id), "postal_codes": territory.postal_codes,
            "rep_ids": [str(rep.id) for rep in territory.reps]}


def history_json(entry: History) -> dict:
    # Most of a first pull is history: plain str()/isoformat() where json_value's checks
    # are known answers (``at`` is aware UTC, the ids are UUIDs or None).
    user_id, ref_id = entry.user_id, entry.ref_id
    return {"id": str(entry.id), "version": entry.version, "customer_id": str(entry.customer_id),
            "at": entry.at.isoformat(), "user_id": None if user_id is None else str(user_id),
            "kind": entry.kind, "entity": entry.entity, "entity_id": str(entry.entity_id),
            "field": entry.field, "old": entry.old, "new": entry.new,
            "ref_id": None if ref_id is None else str(ref_id)}


def _create_customer(user, fields, entity_id: uuid.UUID):
    return customer_ops.create_customer(user, fields, customer_id=entity_id)


def _create_contact(user, fields, entity_id: uuid.UUID):
    return customer_ops.create_contact(user, fields, contact_id=entity_id)


def _delete_customer(user: User, customer: Customer) -> None:
    if not customer_ops.may_delete(user, customer):
        raise Rejected("forbidden")
    customer_ops.delete_customer(customer)


def _territories(user: User) -> sa.ColumnElement[bool]:
    return sa.true() if user.role == "admin" else Territory.id.in_(territory_ids_query(user))


ENTITIES: dict[str, Entity] = {
    "customer": Entity("customer", Customer, customer_json, customer_scope,
                       frozenset(customer_ops.CUSTOMER_FIELDS), create=_create_customer, update=customer_ops.update_customer,
                       delete=_delete_customer),
    "contact": Entity("contact", Contact, contact_json, _of_visible_customer(Contact),
                      frozenset(customer_ops.CONTACT_FIELDS), create=_create_contact, update=customer_ops.update_contact,
                      delete=lambda user, row: customer_ops.delete_contact(row)),
    "product": Entity("product", Product, product_json, lambda user: sa.true()),
    "territory": Entity("territory", Territory, territory_json, _territories),
    "visit": Entity("visit", Visit, visit_json, _of_visible_customer(Visit), act.VISIT_FIELDS,
                    create=act.create_visit, update=act.update_visit, delete=act.delete_visit),
    "note": Entity("note", Note, note_json, _of_visible_customer(Note), act.NOTE_FIELDS,
                   create=act.create_note, update=act.update_note, delete=act.delete_note),
    "followup": Entity("followup", Followup, followup_json, _of_visible_customer(Followup),
                       act.FOLLOWUP_FIELDS, create=act.create_followup,
                       update=act.update_followup, delete=act.delete_followup),
    "order": Entity("order", Order, order_json, _of_visible_customer(Order), act.ORDER_FIELDS,
                    create=act.create_order, update=act.update_order),
}


# Pulled into the briefcase too, read-only: the customers' shared history.
PULLED = {**ENTITIES, "history": Entity("history", History, history_json,
                                        _of_visible_customer(History))}

MERGED = {"customer", "contact"}

