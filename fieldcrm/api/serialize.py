"""The API's representations of rows: the contract's field names, JSON types only.

UUIDs are strings, times RFC 3339 with offset, money and rates decimal strings
("12.50") so no client ever rounds through a float.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from ..models import Contact, Customer, Product, UTCDateTime

CUSTOMER_FIELDS = (
    "name", "street", "postal_code", "city", "country", "lat", "lon", "phone", "email",
    "website", "status", "abc_class", "visit_interval_days", "owner_id", "territory_id",
    "industry", "opening_hours", "marketing_consent", "marketing_consent_at",
)
# Kept by the server (geocoding, visits, the nightly analysis); never written by clients.
CUSTOMER_READ_ONLY = ("geocode_status", "last_visited_at", "risk_reason", "revenue_12m")
CONTACT_FIELDS = ("customer_id", "name", "role", "phone", "email", "birthday")
PRODUCT_FIELDS = ("sku", "name", "unit", "net_price", "vat_rate", "active")
COMMON_FIELDS = ("id", "version", "created_at", "updated_at")


def json_value(value):
    """One column value as JSON has it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _represent(row, fields: tuple[str, ...]) -> dict:
    return {name: json_value(getattr(row, name)) for name in COMMON_FIELDS + fields}


def customer_json(customer: Customer) -> dict:
    return _represent(customer, CUSTOMER_FIELDS + CUSTOMER_READ_ONLY)


def _converter(column):
    """What ``json_value`` does to a non-null value of ``column``, chosen once by its type
    (None: nothing, the value is JSON already)."""
    kind = column.type
    if isinstance(kind, sa.String | sa.Integer | sa.Boolean | sa.Float):
        return None
    if isinstance(kind, sa.Uuid):
        return str
    if isinstance(kind, UTCDateTime):
        return _utc_text
    return json_value


def _utc_text(value: datetime) -> str:
    # UTCDateTime hands out UTC already; astimezone costs ~4 µs even then (psycopg's zones).
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat()


# The columns customer_json writes, as load_ranked(columns=...) reads them, and how each
# value becomes JSON: a near search serializes rows without building Customer objects.
CUSTOMER_JSON_NAMES = COMMON_FIELDS + CUSTOMER_FIELDS + CUSTOMER_READ_ONLY
CUSTOMER_JSON_COLUMNS = [getattr(Customer, name) for name in CUSTOMER_JSON_NAMES]
_CUSTOMER_CONVERTERS = [(name, _converter(column.expression))
                        for name, column in zip(CUSTOMER_JSON_NAMES, CUSTOMER_JSON_COLUMNS,
                                                strict=True)]


def customer_near_json(row: tuple, distance_m: float) -> dict:
    """A customer of a near search from a row of CUSTOMER_JSON_COLUMNS: customer_json's
    representation and the distance in metres, rounded to 0.1 m (the order is by the
    exact distance, so the rounded values still ascend)."""
    body = {name: value if convert is None or value is None else convert(value)
            for (name, convert), value in zip(_CUSTOMER_CONVERTERS, row, strict=True)}
    body["distance_m"] = round(distance_m, 1)
    return body


def contact_json(contact: Contact) -> dict:
    return _represent(contact, CONTACT_FIELDS)


def product_json(product: Product) -> dict:
    return _represent(product, PRODUCT_FIELDS)


VISIT_FIELDS = ("customer_id", "user_id", "planned_at", "checked_in_at", "checked_out_at", "lat",
                "lon", "distance_m", "far_away", "outcome")
NOTE_FIELDS = ("customer_id", "visit_id", "user_id", "channel", "body")
FOLLOWUP_FIELDS = ("customer_id", "title", "due_at", "done_at", "assignee_id")
ORDER_FIELDS = ("customer_id", "user_id", "visit_id", "status", "discount_pct", "net_total",
                "vat_total", "gross_total", "submitted_at")


def visit_json(visit) -> dict:
    return _represent(visit, VISIT_FIELDS)


def note_json(note) -> dict:
    return _represent(note, NOTE_FIELDS)


def followup_json(followup) -> dict:
    return _represent(followup, FOLLOWUP_FIELDS)


def quantity_text(value: Decimal) -> str:
    """A quantity without trailing zeros: "2", "1.5", "0.125"."""
    return format(value.normalize(), "f")


def order_json(order) -> dict:
    body = _represent(order, ORDER_FIELDS)
    body["lines"] = [{"product_id": str(line.product_id), "quantity": quantity_text(line.quantity),
                      "discount_pct": json_value(line.discount_pct),
                      "unit_price": json_value(line.unit_price), "vat_rate": json_value(line.vat_rate),
                      "net": json_value(line.net), "vat": json_value(line.vat)}
                     for line in order.lines]
    return body


HISTORY_ITEM_FIELDS = ("at", "user_id", "kind", "field", "old", "new", "ref_id")


def history_item_json(entry) -> dict:
    """One entry of a customer's shared history; optional parts are null when absent."""
    return {name: json_value(getattr(entry, name)) for name in HISTORY_ITEM_FIELDS}
