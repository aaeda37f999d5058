"""How the API reads a request and finishes a write.

Bodies must be JSON objects sent as ``application/json``; anything else is a
400 or 415 in the contract's error shape, never a 500. Every write runs in
one transaction that is committed once or rolled back whole.
"""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from flask import abort, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest

from ..customers.queries import decode_cursor
from ..extensions import db
from ..nearby import BadInput, parse_near, parse_radius_km
from ..sync.errors import Rejected
from ..validation import Field, Invalid, ValidationError, clean


class ApiError(Exception):
    """A 4xx answer with its own code and message (the generic handlers would blur them)."""

    def __init__(self, status: int, message, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(str(message))
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})


def json_body() -> dict:
    """The request's JSON object: 415 for another content type, 400 if it is not a JSON object."""
    if not request.is_json:
        abort(415)
    try:
        body = request.get_json()
    except (BadRequest, RecursionError):
        raise ApiError(400, _l("The request body is not valid JSON."), code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, _l("The request body must be a JSON object."), code="invalid_json")
    return body


def take_client_id(body: dict, model) -> uuid.UUID | None:
    """Remove the client-chosen ``id`` from ``body``; 409 if a row of ``model`` has it already.

    Tombstones and rows outside the caller's scope count too: an id is never reused.
    """
    if "id" not in body:
        return None
    try:
        new_id = Field("uuid").parse(body.pop("id"), form=False)
    except Invalid as exc:
        raise ValidationError({"id": exc.args[0]}) from None
    if new_id is not None and db.session.get(model, new_id) is not None:
        raise ApiError(409, _l("A record with this id exists already."), code="duplicate_id")
    return new_id


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote, once; on any error roll all of it back.

    A unique constraint hit by a concurrent writer (same id or SKU) becomes a 409.
    """
    try:
        yield
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, _l("This conflicts with the current state."), code="conflict") from None
    except BaseException:
        db.session.rollback()
        raise


# How a sync-layer refusal (fieldcrm.sync.errors.Rejected) answers: status and error code.
REJECTIONS = {
    "not_found": (404, "not_found"),
    "deleted": (404, "not_found"),
    "forbidden": (403, "forbidden"),
    "conflict": (409, "conflict"),
    "locked": (409, "order_locked"),
}


@contextmanager
def applying() -> Iterator[None]:
    """``transaction()`` for writes through the sync layer's entity functions: a Rejected
    outcome rolls everything back and answers 404, 403 or 409 with the operation's message."""
    try:
        with transaction():
            yield
    except Rejected as exc:
        status, code = REJECTIONS.get(exc.reason, (409, "conflict"))
        message = exc.details.get("message")
        if message is None:
            abort(status)
        raise ApiError(status, message, code=code) from None


# POST /auth/tokens: the login form's fields plus what the token is for.
TOKEN_REQUEST = {
    "email": Field(required=True, max_length=254),
    "password": Field(required=True, max_length=200),
    "name": Field(required=True, max_length=120),
}

PAGE_PARAMS = {
    "limit": Field("int", minimum=1),
    "cursor": Field(max_length=1000),
}


def list_args(spec: Mapping[str, Field]) -> dict:
    """The list query parameters in ``spec`` plus ``limit`` and ``cursor``, typed.

    Unknown parameters are ignored; a known one with a bad value is a 422. A
    limit above API_MAX_PAGE_SIZE is reduced to it.
    """
    spec = {**spec, **PAGE_PARAMS}
    values = dict.fromkeys(spec) | clean(spec, request.args, partial=True, form=True)
    if values["cursor"] and decode_cursor(values["cursor"], 2) is None:
        raise ValidationError({"cursor": _l("Not a valid cursor.")})
    limit = values["limit"] or current_app.config["PAGE_SIZE"]
    values["limit"] = min(limit, current_app.config["API_MAX_PAGE_SIZE"])
    return values


def page(rows, represent, next_cursor: str | None, args: Mapping) -> dict:
    """``{items, next}``: ``next`` repeats this request's list parameters (``args`` from
    list_args) with the following page's cursor, as path and query; None on the last page."""
    link = None
    if next_cursor:
        query = {name: value for name, value in args.items()
                 if name != "cursor" and value not in (None, "")}
        link = url_for(request.endpoint, **request.view_args, **query, cursor=next_cursor)
    return {"items": [represent(row) for row in rows], "next": link}


@dataclass(frozen=True)
class NearQuery:
    """``near`` as parsed by ``near_args``: the point, the radius (None: the nearest
    ``limit``) and how many customers at most."""

    lat: float
    lon: float
    radius_km: float | None
    limit: int


def near_args(args: Mapping) -> NearQuery | None:
    """``near`` and ``radius_km`` of a customer list request, or None without either.

    The point and the radius follow the web nearby list's rules (fieldcrm.nearby). A near
    answer is one list, not pages: ``cursor`` with ``near`` is a 422. ``limit`` defaults to
    NEARBY_LIMIT, and values above NEARBY_RADIUS_MAX_ROWS are reduced to it.
    """
    if "near" not in request.args and "radius_km" not in request.args:
        return None
    config, errors = current_app.config, {}
    point = radius_km = None
    try:
        point = parse_near(request.args.get("near"))
    except BadInput as exc:
        errors["near"] = exc.message
    if "radius_km" in request.args:
        try:
            radius_km = parse_radius_km(request.args["radius_km"], config["NEARBY_RADII_KM"])
        except BadInput as exc:
            errors["radius_km"] = exc.message
    if "near" not in request.args:
        errors["near"] = _l("A radius needs a position: give near=latitude,longitude.")
    if args["cursor"]:
        errors["cursor"] = _l("A near search is not paged: leave out cursor.")
    if errors:
        raise ValidationError(errors)
    limit = request.args.get("limit") and args["limit"] or config["NEARBY_LIMIT"]
    return NearQuery(*point, radius_km, min(limit, config["NEARBY_RADIUS_MAX_ROWS"]))
