"""Writes of the admin area. Each function flushes; the caller commits."""

import secrets
import uuid
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..auth import hash_password
from ..extensions import db
from ..models import ROLES, Product, Territory, User
from ..validation import Field, ValidationError, clean

USER_FIELDS = {
    "email": Field("email", required=True, max_length=254),
    "name": Field(required=True, max_length=120),
    "role": Field("choice", choices=ROLES, required=True),
    "locale": Field("choice", choices=("de", "en")),
    "timezone": Field(max_length=64),
    "password": Field(max_length=200),
    "home_lat": Field("float", minimum=-90, maximum=90),
    "home_lon": Field("float", minimum=-180, maximum=180),
}
MIN_PASSWORD_LENGTH = 10

PRODUCT_FIELDS = {
    "sku": Field(required=True, max_length=64),
    "name": Field(required=True),
    "unit": Field(max_length=20),
    "net_price": Field("decimal", required=True, minimum=0, maximum=9999999999),
    "vat_rate": Field("decimal", required=True, minimum=0, maximum=100),
    "active": Field("bool"),
}

TERRITORY_FIELDS = {
    "name": Field(required=True, max_length=120),
    "manager_id": Field("uuid"),
}


def _user_rules(user: User | None):
    return lambda values: _check_user(values, user)


def _check_user(values: dict, user: User | None) -> dict:
    errors = {}
    if "email" in values:
        clash = db.session.scalar(sa.select(User.id).where(User.email == values["email"]))
        if clash is not None and (user is None or clash != user.id):
            errors["email"] = _l("A user with this email exists already.")
    if values.get("timezone") and values["timezone"] not in available_timezones():
        errors["timezone"] = _l("Unknown time zone.")
    if ("home_lat" in values or "home_lon" in values) and \
            (values.get("home_lat") is None) != (values.get("home_lon") is None):
        errors["home_lon" if values.get("home_lon") is None else "home_lat"] = \
            _l("Give latitude and longitude together.")
    password = values.get("password")
    if user is None and not password:
        errors["password"] = _l("This field is required.")
    elif password and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = _l("At least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    return errors


def create_user(data: dict, *, form: bool = False) -> User:
    """A new active user; the password is stored hashed."""
    values = clean(USER_FIELDS, data, partial=False, form=form, check=_user_rules(None))
    password = values.pop("password")
    user = User(password_hash=hash_password(password), **_without_empty(values))
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, data: dict, *, form: bool = False) -> User:
    values = clean(USER_FIELDS, data, partial=True, form=form, check=_user_rules(user))
    password = values.pop("password", None)
    if password:
        user.password_hash = hash_password(password)
    for name, value in _without_empty(values).items():
        setattr(user, name, value)
    for name in ("home_lat", "home_lon"):
        if name in values and values[name] is None:
            setattr(user, name, None)
    if "locale" in values and not values["locale"]:
        user.locale = None
    db.session.flush()
    return user


def _without_empty(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "")}


def set_active(user: User, active: bool) -> None:
    user.active = active
    db.session.flush()


def reset_password(user: User) -> str:
    """Give the user a new random password and return it (shown to the admin once)."""
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    db.session.flush()
    return password


def create_product(data: dict, *, form: bool = False, product_id: uuid.UUID | None = None) -> Product:
    values = clean(PRODUCT_FIELDS, data, partial=False, form=form)
    _check_sku(values, None)
    values.setdefault("active", True)
    product = Product(id=product_id or uuid.uuid4(), **{k: v for k, v in values.items() if v is not None})
    db.session.add(product)
    db.session.flush()
    return product


def update_product(product: Product, data: dict, *, form: bool = False) -> Product:
    values = clean(PRODUCT_FIELDS, data, partial=not form, form=form)
    _check_sku(values, product)
    for name, value in values.items():
        if value is None and PRODUCT_FIELDS[name].required:
            raise ValidationError({name: _l("This field is required.")})
        setattr(product, name, "" if value is None else value)
    db.session.flush()
    return product


def delete_product(product: Product) -> None:
    """Tombstone a catalogue item (orders keep pointing at it; clients learn of it by pull)."""
    product.deleted = True
    db.session.flush()


def _check_sku(values: dict, product: Product | None) -> None:
    if "sku" not in values:
        return
    clash = db.session.scalar(sa.select(Product.id).where(Product.sku == values["sku"]))
    if clash is not None and (product is None or clash != product.id):
        raise ValidationError({"sku": _l("A product with this SKU exists already.")})


def save_territory(territory: Territory | None, data: dict, rep_ids: list[str], *,
                   form: bool = False) -> Territory:
    """Create or change a territory with its manager and reps."""
    values = clean(TERRITORY_FIELDS, data, partial=territory is not None, form=form)
    errors = {}
    if values.get("manager_id"):
        manager = db.session.get(User, values["manager_id"])
        if manager is None or manager.role != "manager":
            errors["manager_id"] = _l("Choose a manager.")
    reps = []
    for rep_id in rep_ids:
        try:
            rep = db.session.get(User, uuid.UUID(str(rep_id)))
        except ValueError:
            rep = None
        if rep is None or rep.role != "rep":
            errors["rep_ids"] = _l("Choose reps only.")
        else:
            reps.append(rep)
    if errors:
        raise ValidationError(errors)
    if territory is None:
        territory = Territory()
        db.session.add(territory)
    for name, value in values.items():
        setattr(territory, name, value)
    territory.reps = reps
    db.session.flush()
    return territory
