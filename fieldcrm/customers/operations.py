"""Writes to customers and contacts. Each function changes rows and flushes;
the caller commits, so a sync batch can hold many changes in one transaction.
Versions and history are added by ``fieldcrm.versioning`` at flush time.
"""

import re
import uuid

from flask_babel import lazy_gettext as _l

from .. import geocoding
from ..extensions import db, flush
from ..models import ABC_CLASSES, CUSTOMER_STATUSES, Contact, Customer, User, utcnow
from ..scope import team_members, visible_customer, visible_territories
from ..validation import Field, ValidationError, clean, read_once
from ..versioning import new_row

COORDINATE_ZERO = 1e-9

CUSTOMER_FIELDS = {
    "name": Field(required=True),
    "street": Field(),
    "postal_code": Field(max_length=16),
    "city": Field(max_length=100),
    "country": Field("country"),
    # Coordinates within 1e-9° (0.1 mm) of 0 are 0: PostgreSQL's GiST point index fails
    # every later insert with "underflow" once subnormal values (5e-324) reach its pages.
    "lat": Field("float", minimum=-90, maximum=90, zero_below=COORDINATE_ZERO),
    "lon": Field("float", minimum=-180, maximum=180, zero_below=COORDINATE_ZERO),
    "phone": Field("phone", max_length=40),
    "email": Field("email", max_length=254),
    "website": Field("url", max_length=300),
    "status": Field("choice", choices=CUSTOMER_STATUSES, nullable=False),
    "abc_class": Field("choice", choices=ABC_CLASSES),
    "industry": Field(max_length=100),
    "visit_interval_days": Field("int", minimum=1, maximum=3650),
    "opening_hours": Field(max_length=500),
    "marketing_consent": Field("bool"),
    "marketing_consent_at": Field("datetime"),
    "owner_id": Field("uuid"),
    "territory_id": Field("uuid"),
}

CONTACT_FIELDS = {
    "customer_id": Field("uuid", required=True),
    "name": Field(required=True, max_length=120),
    "role": Field(max_length=120),
    "phone": Field("phone", max_length=40),
    "email": Field("email", max_length=254),
    "birthday": Field("date"),
}

NOT_NULL_TEXT = {"status"}


def _customer_rules(user: User, customer: Customer | None):
    """Cross-field rules and who may assign a customer to whom, as a clean() check."""
    return lambda values: _check_customer(user, values, customer)


def _check_customer(user: User, values: dict, customer: Customer | None) -> dict:
    errors = {}
    country = values.get("country", customer.country if customer else "DE") or "DE"
    postal_code = values.get("postal_code")
    if postal_code and country == "DE" and not re.fullmatch(r"\d{5}", postal_code):
        errors["postal_code"] = _l("A German postal code has five digits.")
    if "status" in values and values["status"] is None:
        errors["status"] = _l("This field is required.")
    lat = values.get("lat", customer.lat if customer else None)
    lon = values.get("lon", customer.lon if customer else None)
    if (lat is None) != (lon is None):
        errors["lon" if lon is None else "lat"] = _l("Give latitude and longitude together.")
    owner_id, territory_id = values.get("owner_id"), values.get("territory_id")
    if owner_id and owner_id != getattr(customer, "owner_id", None) \
            and owner_id not in _team_ids(user):
        errors["owner_id"] = _l("You cannot assign customers to this person.")
    if territory_id and territory_id != getattr(customer, "territory_id", None) \
            and territory_id not in _territory_ids(user):
        errors["territory_id"] = _l("You cannot assign customers to this territory.")
    if customer is None and not values.get("owner_id") and not values.get("territory_id") \
            and user.role != "rep":
        errors["territory_id"] = _l("Choose a territory or an owner.")
    return errors


def _team_ids(user: User) -> set[uuid.UUID]:
    return read_once(("team_ids", user.id), lambda: {u.id for u in team_members(user)})


def _territory_ids(user: User) -> set[uuid.UUID]:
    return read_once(("territory_ids", user.id),
                     lambda: {t.id for t in visible_territories(user)})


def _apply(obj, values: dict) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


def create_customer(user: User, data: dict, *, form: bool = False,
                    customer_id: uuid.UUID | None = None) -> Customer:
    """A new customer in ``user``'s scope; a rep's own customers are owned by them."""
    data = {"status": "lead"} | dict(data)
    if user.role == "rep":
        data.setdefault("owner_id", str(user.id))
        if not data.get("territory_id") and user.territories:
            data["territory_id"] = str(user.territories[0].id)
    values = clean(CUSTOMER_FIELDS, data, partial=False, form=form,
                   check=_customer_rules(user, None))
    if values.get("marketing_consent") and not values.get("marketing_consent_at"):
        values["marketing_consent_at"] = utcnow()
    customer = new_row(Customer, id=customer_id or uuid.uuid4(), **_defaults(values))
    _note_location(customer, values, before=None, form=form)
    flush()
    return customer


def _defaults(values: dict) -> dict:
    return {k: ("" if v is None and CUSTOMER_FIELDS[k].kind in ("text", "email", "url", "phone")
                else v) for k, v in values.items()}


def update_customer(user: User, customer: Customer, data: dict, *, form: bool = False) -> Customer:
    """Change the given fields (JSON) or the whole form of a customer the caller may see."""
    values = clean(CUSTOMER_FIELDS, data, partial=not form, form=form,
                   check=_customer_rules(user, customer))
    if values.get("marketing_consent") and not customer.marketing_consent \
            and not values.get("marketing_consent_at"):
        values["marketing_consent_at"] = utcnow()
    before = _location(customer)
    _apply(customer, _defaults(values))
    _note_location(customer, values, before=before, form=form)
    db.session.flush()
    return customer


def pin_input(form) -> dict:
    """Coordinates from a dragged pin, as numbers for update_customer (text stays text,
    so the field rules name what is wrong); both are required."""
    values = {}
    for name in ("lat", "lon"):
        text = (form.get(name) or "").strip()
        try:
            values[name] = float(text)
        except ValueError:
            values[name] = text or None
    if values["lat"] is None or values["lon"] is None:
        raise ValidationError({name: _l("This field is required.") for name in ("lat", "lon") if values[name] is None})
    return values


def _location(customer: Customer) -> tuple[str, tuple]:
    return geocoding.customer_address_key(customer), (customer.lat, customer.lon)


def _note_location(customer: Customer, values: dict, *, before: tuple | None, form: bool) -> None:
    """Geocoding hook: queue a lookup for a new or changed address, unless the caller
    placed the pin in the same change ("manual"). A form always sends lat/lon, so there
    only a changed value counts as given; in JSON, sending them is giving them.
    """
    given = "lat" in values or "lon" in values
    if given and form and before is not None:
        given = (customer.lat, customer.lon) != before[1]
    changed = before is None or geocoding.customer_address_key(customer) != before[0]
    geocoding.note_location_edit(customer, address_changed=changed, coordinates_given=given)


def may_delete(user: User, customer: Customer) -> bool:
    """Reps delete only the customers they own; managers and admins any in their scope."""
    return user.role != "rep" or customer.owner_id == user.id


def delete_customer(customer: Customer) -> None:
    """Tombstone the customer and its contacts (offline clients learn of it by pull)."""
    customer.deleted = True
    for contact in db.session.scalars(
        db.select(Contact).where(Contact.customer_id == customer.id, ~Contact.deleted)
    ):
        contact.deleted = True
    db.session.flush()


def create_contact(user: User, data: dict, *, form: bool = False,
                   contact_id: uuid.UUID | None = None) -> Contact:
    """A new contact at a customer the caller may see (checked by the caller's scope)."""
    values = clean(CONTACT_FIELDS, data, partial=False, form=form)
    _check_contact_customer(user, values["customer_id"])
    contact = new_row(Contact, id=contact_id or uuid.uuid4(), **_contact_defaults(values))
    flush()
    return contact


def _check_contact_customer(user: User, customer_id: uuid.UUID) -> None:
    if visible_customer(user, customer_id) is None:
        raise ValidationError({"customer_id": _l("Unknown customer.")})


def _contact_defaults(values: dict) -> dict:
    return {k: ("" if v is None and CONTACT_FIELDS[k].kind in ("text", "email", "phone") else v)
            for k, v in values.items()}


def update_contact(user: User, contact: Contact, data: dict, *, form: bool = False) -> Contact:
    values = clean(CONTACT_FIELDS, data, partial=True, form=form)
    if "customer_id" in values and values["customer_id"] != contact.customer_id:
        _check_contact_customer(user, values["customer_id"])
    _apply(contact, _contact_defaults(values))
    db.session.flush()
    return contact


def delete_contact(contact: Contact) -> None:
    contact.deleted = True
    db.session.flush()
