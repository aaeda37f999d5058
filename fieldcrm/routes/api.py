"""The JSON API under /api/v1/ (fieldcrm/api/openapi.py describes it, tests hold them equal).

Each view parses the request, calls one operation or query, and answers with
the row's representation. Callers authenticate with the session cookie (plus
the X-CSRFToken header for writes) or with ``Authorization: Bearer <token>``.
"""

import uuid

from flask import Blueprint, abort, current_app, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin import operations as catalogue
from ..api.openapi import openapi_document
from ..api.protocol import (
    TOKEN_REQUEST,
    ApiError,
    applying,
    json_body,
    list_args,
    near_args,
    page,
    take_client_id,
    transaction,
)
from ..api.queries import (
    ACTIVITY_FILTERS,
    ACTIVITY_PLURALS,
    CONTACT_FILTERS,
    CUSTOMER_FILTERS,
    PRODUCT_FILTERS,
    activity_or_none,
    activity_page,
    contact_page,
    customers_near,
    product_page,
)
from ..api.serialize import (
    contact_json,
    customer_json,
    customer_near_json,
    history_item_json,
    product_json,
)
from ..auth import (
    authenticate,
    clear_login_failures,
    create_api_token,
    login_blocked_until,
    record_login_failure,
    revoke_api_token,
)
from ..customers import operations
from ..customers.queries import CustomerFilter, customer_page, history_page
from ..errors import api_error
from ..extensions import csrf, db
from ..models import Contact, Customer, Product, utcnow
from ..scope import contact_or_404, customer_or_404, parse_uuid_or_404
from ..sync.entities import ENTITIES, Entity
from ..validation import ValidationError, clean

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    body, status = api_error(exc.status, exc.message, code=exc.code)
    return body, status, exc.headers


def _created(body: dict, endpoint: str, **values):
    return body, 201, {"Location": url_for(endpoint, **values)}


@bp.get("/openapi.json")
def openapi():
    return openapi_document(current_app)


# A password proves more than a CSRF token could, and an integration calling this
# has no cookie yet; a foreign page cannot send JSON here without a CORS preflight.
@csrf.exempt
@bp.post("/auth/tokens")
def create_token():
    body = json_body()
    values = clean(TOKEN_REQUEST, body, partial=False, form=False)
    ip = request.remote_addr or ""
    blocked = login_blocked_until(values["email"], ip)
    if blocked is not None:
        wait = blocked - utcnow()
        raise ApiError(429, _("Too many failed attempts. Try again in %(wait)s.",
                              wait=format_timedelta(wait, threshold=1.1)),
                       headers={"Retry-After": str(max(1, int(wait.total_seconds()) + 1))})
    # The raw password, not the stripped one: the same check as the login form.
    user = authenticate(values["email"], body["password"])
    if user is None:
        record_login_failure(values["email"], ip)
        raise ApiError(401, _("Email or password is wrong."), code="invalid_credentials")
    clear_login_failures(values["email"])
    token, clear = create_api_token(user, values["name"])
    return {"id": str(token.id), "token": clear}, 201, {"Cache-Control": "no-store"}


@bp.delete("/auth/tokens/<token_id>")
@login_required
def revoke_token(token_id):
    if not revoke_api_token(current_user, parse_uuid_or_404(token_id)):
        abort(404)
    return "", 204


@bp.get("/customers")
@login_required
def list_customers():
    args = list_args(CUSTOMER_FILTERS)
    filters = CustomerFilter(q=args["q"] or "", status=args["status"] or "",
                             abc_class=args["abc_class"] or "", owner_id=args["owner_id"])
    near = near_args(args)
    if near is not None:
        found = customers_near(current_user, near, filters)
        return {"items": [customer_near_json(c, d) for c, d in found], "next": None}
    rows, next_cursor = customer_page(current_user, filters, after=args["cursor"],
                                      limit=args["limit"])
    return page(rows, customer_json, next_cursor, args)


@bp.post("/customers")
@login_required
def create_customer():
    body = json_body()
    customer_id = take_client_id(body, Customer)
    with transaction():
        customer = operations.create_customer(current_user, body, customer_id=customer_id)
    return _created(customer_json(customer), ".get_customer", customer_id=customer.id)


@bp.get("/customers/<customer_id>")
@login_required
def get_customer(customer_id):
    return customer_json(customer_or_404(current_user, customer_id))


@bp.patch("/customers/<customer_id>")
@login_required
def update_customer(customer_id):
    customer = customer_or_404(current_user, customer_id)
    body = json_body()
    with transaction():
        operations.update_customer(current_user, customer, body)
    return customer_json(customer)


@bp.delete("/customers/<customer_id>")
@login_required
def delete_customer(customer_id):
    customer = customer_or_404(current_user, customer_id)
    if not operations.may_delete(current_user, customer):
        abort(403)
    with transaction():
        operations.delete_customer(customer)
    return "", 204


@bp.get("/customers/<customer_id>/history")
@login_required
def customer_history(customer_id):
    customer = customer_or_404(current_user, customer_id)
    args = list_args({})
    rows, next_cursor = history_page(customer, after=args["cursor"], limit=args["limit"])
    return page(rows, history_item_json, next_cursor, args)


@bp.get("/contacts")
@login_required
def list_contacts():
    args = list_args(CONTACT_FILTERS)
    rows, next_cursor = contact_page(current_user, customer_id=args["customer_id"],
                                     after=args["cursor"], limit=args["limit"])
    return page(rows, contact_json, next_cursor, args)


@bp.post("/contacts")
@login_required
def create_contact():
    body = json_body()
    contact_id = take_client_id(body, Contact)
    with transaction():
        contact = operations.create_contact(current_user, body, contact_id=contact_id)
    return _created(contact_json(contact), ".get_contact", contact_id=contact.id)


@bp.get("/contacts/<contact_id>")
@login_required
def get_contact(contact_id):
    return contact_json(contact_or_404(current_user, contact_id))


@bp.patch("/contacts/<contact_id>")
@login_required
def update_contact(contact_id):
    contact = contact_or_404(current_user, contact_id)
    body = json_body()
    with transaction():
        operations.update_contact(current_user, contact, body)
    return contact_json(contact)


@bp.delete("/contacts/<contact_id>")
@login_required
def delete_contact(contact_id):
    contact = contact_or_404(current_user, contact_id)
    with transaction():
        operations.delete_contact(contact)
    return "", 204


def _product_or_404(product_id) -> Product:
    product = db.session.get(Product, parse_uuid_or_404(product_id))
    if product is None or product.deleted:
        abort(404)
    return product


def _require_admin() -> None:
    """Everyone reads the catalogue; only admins change it."""
    if current_user.role != "admin":
        abort(403)


@bp.get("/products")
@login_required
def list_products():
    args = list_args(PRODUCT_FILTERS)
    active = None if args["active"] is None else args["active"] == "true"
    rows, next_cursor = product_page(active=active, after=args["cursor"], limit=args["limit"])
    return page(rows, product_json, next_cursor, args)


@bp.post("/products")
@login_required
def create_product():
    _require_admin()
    body = json_body()
    product_id = take_client_id(body, Product)
    with transaction():
        product = catalogue.create_product(body, product_id=product_id)
    return _created(product_json(product), ".get_product", product_id=product.id)


@bp.get("/products/<product_id>")
@login_required
def get_product(product_id):
    return product_json(_product_or_404(product_id))


@bp.patch("/products/<product_id>")
@login_required
def update_product(product_id):
    _require_admin()
    product = _product_or_404(product_id)
    body = json_body()
    with transaction():
        catalogue.update_product(product, body)
    return product_json(product)


@bp.delete("/products/<product_id>")
@login_required
def delete_product(product_id):
    _require_admin()
    product = _product_or_404(product_id)
    with transaction():
        catalogue.delete_product(product)
    return "", 204


# Visits, notes, orders and follow-ups: one set of views over the sync layer's entity
# table (fieldcrm.sync.entities), so the API writes exactly as a syncing device does.
# PATCH and DELETE exist only where the entity has an update or delete operation
# (notes have neither; orders are cancelled with PATCH {"status": "cancelled"}).

# Server-computed: a client may send them back (e.g. a fetched order), they are ignored.
ORDER_PRICES = ("net_total", "vat_total", "gross_total")
LINE_PRICES = ("unit_price", "vat_rate", "net", "vat")


def _activity_or_404(entity: Entity, ids: dict):
    (row_id,) = ids.values()
    row = activity_or_none(current_user, entity, parse_uuid_or_404(row_id))
    if row is None:
        abort(404)
    return row


def _without_prices(body: dict) -> dict:
    body = {name: value for name, value in body.items() if name not in ORDER_PRICES}
    if isinstance(body.get("lines"), list):
        body["lines"] = [{k: v for k, v in line.items() if k not in LINE_PRICES}
                         if isinstance(line, dict) else line for line in body["lines"]]
    return body


def _writable(entity: Entity, body: dict) -> dict:
    """The body's fields for ``entity``'s operations; 422 for a field it does not have."""
    if entity.name == "order":
        body = _without_prices(body)
    unknown = sorted(set(body) - entity.fields)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, _("Unknown field.")))
    return body


def list_activities(entity: str):
    kind = ENTITIES[entity]
    args = list_args(ACTIVITY_FILTERS)
    rows, next_cursor = activity_page(current_user, kind, customer_id=args["customer_id"],
                                      after=args["cursor"], limit=args["limit"])
    return page(rows, kind.serialize, next_cursor, args)


def create_activity(entity: str):
    kind = ENTITIES[entity]
    body = json_body()
    row_id = take_client_id(body, kind.model) or uuid.uuid4()
    fields = _writable(kind, body)
    with applying():
        row = kind.create(current_user, fields, row_id)
    return _created(kind.serialize(row), f".get_{entity}", **{f"{entity}_id": row.id})


def get_activity(entity: str, **ids):
    kind = ENTITIES[entity]
    return kind.serialize(_activity_or_404(kind, ids))


def update_activity(entity: str, **ids):
    kind = ENTITIES[entity]
    row = _activity_or_404(kind, ids)
    fields = _writable(kind, json_body())
    with applying():
        kind.update(current_user, row, fields)
    return kind.serialize(row)


def delete_activity(entity: str, **ids):
    kind = ENTITIES[entity]
    row = _activity_or_404(kind, ids)
    with applying():
        kind.delete(current_user, row)
    return "", 204


def _register_activities() -> None:
    for entity, plural in ACTIVITY_PLURALS.items():
        kind, item = ENTITIES[entity], f"/{plural}/<{entity}_id>"
        views = [(f"/{plural}", "GET", f"list_{plural}", list_activities),
                 (f"/{plural}", "POST", f"create_{entity}", create_activity),
                 (item, "GET", f"get_{entity}", get_activity)]
        if kind.update is not None:
            views.append((item, "PATCH", f"update_{entity}", update_activity))
        if kind.delete is not None:
            views.append((item, "DELETE", f"delete_{entity}", delete_activity))
        for rule, method, endpoint, view in views:
            bp.add_url_rule(rule, endpoint, login_required(view), methods=[method],
                            defaults={"entity": entity})


_register_activities()
