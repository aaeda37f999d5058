"""Input validation shared by the HTML forms, the JSON API and the sync endpoint.

A resource declares its writable fields as a mapping of name to ``Field``;
``clean()`` turns raw input into typed values or per-field messages in the
user's language. HTML forms send strings (``form=True`` accepts a German
decimal comma and empty strings); JSON must send the proper JSON types.
"""

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l

from .extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9 ()/.\-]+$")


def batch_reads() -> dict | None:
    """The answers kept while a sync push applies a stretch of new rows together, or None.

    There ``fieldcrm.sync.push`` keeps the facts the checks read that no row of that
    stretch can change (who is in the user's team, their territories, their open and
    planned visits) in ``session.info["batch_reads"]``, and drops them before any other
    write. A check then reads each fact once per batch instead of once per row.
    """
    return db.session.info.get("batch_reads")


def read_once(key, read):
    """``read()``, remembered under ``key`` for the rest of a sync batch's stretch of new rows
    (``batch_reads``); outside one simply ``read()``."""
    reads = batch_reads()
    if reads is None:
        return read()
    if key not in reads:
        reads[key] = read()
    return reads[key]


class Invalid(Exception):
    """One value is not acceptable; the message is shown next to the field."""


class ValidationError(Exception):
    """Some fields are not acceptable: ``errors`` maps field name to message."""

    def __init__(self, errors: Mapping[str, object]):
        super().__init__("invalid input")
        self.errors = dict(errors)


@dataclass(frozen=True)
class Field:
    """How one input field is parsed: its kind and its limits."""

    kind: str = "text"
    required: bool = False
    max_length: int = 200
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True
    # Numbers nearer to 0 than this are 0 (coordinates: see fieldcrm.customers.operations).
    zero_below: float = 0.0

    def parse(self, value, *, form: bool):
        if isinstance(value, str):
            value = value.strip()
        empty = value is None or value == ""
        if empty and self.kind != "bool":
            if self.required:
                raise Invalid(_l("This field is required."))
            return "" if self.kind in TEXT_KINDS else None
        return PARSERS[self.kind](self, value, form)


def _text(field: Field, value, form: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(_l("Must be text."))
    if len(value) > field.max_length:
        raise Invalid(_l("At most %(n)s characters.", n=field.max_length))
    if "\x00" in value:
        raise Invalid(_l("Contains invalid characters."))
    return value


def _email(field: Field, value, form: bool) -> str:
    value = _text(field, value, form)
    if not EMAIL_RE.match(value):
        raise Invalid(_l("Not a valid email address."))
    return value.lower()


def _url(field: Field, value, form: bool) -> str:
    value = _text(field, value, form)
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in value:
        raise Invalid(_l("Not a valid web address."))
    return value


def _phone(field: Field, value, form: bool) -> str:
    value = _text(field, value, form)
    if not PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 5:
        raise Invalid(_l("Not a valid phone number."))
    return value


def _country(field: Field, value, form: bool) -> str:
    value = _text(field, value, form).upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise Invalid(_l("Use the two-letter country code, e.g. DE."))
    return value


def _number(field: Field, value, form: bool, kind):
    if form and isinstance(value, str):
        try:
            value = kind(value.replace(",", "."))
        except ValueError:
            raise Invalid(_l("Must be a number.")) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(_l("Must be a number."))
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise Invalid(_l("Must be a whole number."))
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(_l("Must be a number."))
    if field.minimum is not None and value < field.minimum or \
            field.maximum is not None and value > field.maximum:
        raise Invalid(_l("Must be between %(lo)s and %(hi)s.", lo=field.minimum, hi=field.maximum))
    if abs(value) < field.zero_below:
        value = 0
    return kind(value)


def _float(field: Field, value, form: bool) -> float:
    return _number(field, value, form, float)


def _int(field: Field, value, form: bool) -> int:
    return _number(field, value, form, int)


def _decimal(field: Field, value, form: bool) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(_l("Must be a number."))
    text = str(value)
    if form and "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Invalid(_l("Must be a number.")) from None
    if not number.is_finite() or number.as_tuple().exponent < -2:
        raise Invalid(_l("Must be a number with at most two decimal places."))
    if field.minimum is not None and number < Decimal(str(field.minimum)) or \
            field.maximum is not None and number > Decimal(str(field.maximum)):
        raise Invalid(_l("Must be between %(lo)s and %(hi)s.", lo=field.minimum, hi=field.maximum))
    return number


def _bool(field: Field, value, form: bool) -> bool:
    if form:
        return value in ("on", "1", "true", "yes", True)
    if not isinstance(value, bool):
        raise Invalid(_l("Must be true or false."))
    return value


def _choice(field: Field, value, form: bool) -> str:
    if value not in field.choices:
        raise Invalid(_l("Choose one of: %(choices)s.", choices=", ".join(field.choices)))
    return value


def _datetime(field: Field, value, form: bool) -> datetime:
    if not isinstance(value, str):
        raise Invalid(_l("Must be a date and time."))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(_l("Must be a date and time.")) from None
    if moment.tzinfo is None:
        if not form:
            raise Invalid(_l("Must include a time zone offset (RFC 3339)."))
        moment = moment.replace(tzinfo=ZoneInfo(str(get_timezone())))
    return moment


def _date(field: Field, value, form: bool) -> date:
    if not isinstance(value, str):
        raise Invalid(_l("Must be a date."))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(_l("Must be a date (YYYY-MM-DD).")) from None


def _uuid(field: Field, value, form: bool) -> uuid.UUID:
    try:
        return uuid.UUID(str(value)) if isinstance(value, str) else _bad_uuid()
    except ValueError:
        return _bad_uuid()


def _bad_uuid():
    raise Invalid(_l("Not a valid id."))


TEXT_KINDS = {"text", "email", "url", "phone", "country"}
SEARCH_MAX = 100


def search_term(value: str) -> str:
    """A search box's text as the queries take it: trimmed, at most SEARCH_MAX characters,
    without NUL (no stored text holds one, and PostgreSQL refuses it in a parameter)."""
    return value.replace("\x00", "").strip()[:SEARCH_MAX]
PARSERS = {
    "text": _text, "email": _email, "url": _url, "phone": _phone, "country": _country,
    "float": _float, "int": _int, "decimal": _decimal, "bool": _bool, "choice": _choice,
    "datetime": _datetime, "date": _date, "uuid": _uuid,
}


def clean(spec: Mapping[str, Field], data: Mapping, *, partial: bool, form: bool,
          check=None) -> dict:
    """Typed values for the fields in ``data``; raises ValidationError listing every problem.

    With ``partial`` only the given fields are checked (PATCH); otherwise missing
    required fields are errors. JSON input with unknown fields is rejected, so a
    typo never silently does nothing. ``check(values)`` returns the messages of
    cross-field rules, so the user sees every problem at once.
    """
    errors: dict[str, object] = {}
    values: dict[str, object] = {}
    if not form:
        for key in data:
            if key not in spec:
                errors[key] = _l("Unknown field.")
    for name, field in spec.items():
        if name not in data:
            if form and field.kind == "bool" and not partial:
                values[name] = False
            elif field.required and not partial:
                errors[name] = _l("This field is required.")
            continue
        try:
            values[name] = field.parse(data[name], form=form)
        except Invalid as exc:
            errors[name] = exc.args[0]
    if check is not None:
        for name, message in check(values).items():
            errors.setdefault(name, message)
    if errors:
        raise ValidationError(errors)
    return values
