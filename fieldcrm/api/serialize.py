"""The API's representations of rows: the contract's field names, JSON types only.

UUIDs are strings, times RFC 3339 with offset, money and rates decimal strings
("12.50") so no client ever rounds through a float.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from ..models import Contact, Customer, Product

CUSTOMER_FIELDS = (
    "name", "street", "postal_code", "city", "country", "lat", "lon", "phone", "email",
    "website", "status", "abc_class", "visit_interval_days", "owner_id", "territory_id",
    "industry", "opening_hours", "marketing_consent", "marketing_consent_at",
)
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
    return _represent(customer, CUSTOMER_FIELDS)


def contact_json(contact: Contact) -> dict:
    return _represent(contact, CONTACT_FIELDS)


def product_json(product: Product) -> dict:
    return _represent(product, PRODUCT_FIELDS)
