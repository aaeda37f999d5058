"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Schemas are derived from the same field specs the operations validate with
and the same field lists the serializers write, so the document cannot drift
from the code on field names, types or limits; tests/test_openapi.py checks
the routes and validates real responses against it.
"""

from collections.abc import Mapping

from flask import Flask

from ..admin.operations import PRODUCT_FIELDS as PRODUCT_INPUT
from ..customers.operations import CONTACT_FIELDS as CONTACT_INPUT
from ..customers.operations import CUSTOMER_FIELDS as CUSTOMER_INPUT
from ..followups.operations import FOLLOWUP_FIELDS as FOLLOWUP_INPUT
from ..models import GEOCODE_STATUSES, NOTE_CHANNELS, VISIT_OUTCOMES
from ..orders import operations as orders
from ..sync import openapi as sync_openapi
from ..sync.entities import ENTITIES
from ..validation import TEXT_KINDS, Field
from ..visits.operations import CHECKIN_FIELDS
from ..visits.operations import NOTE_FIELDS as NOTE_INPUT
from .protocol import PAGE_PARAMS, TOKEN_REQUEST
from .queries import (
    ACTIVITY_FILTERS,
    ACTIVITY_PLURALS,
    CONTACT_FILTERS,
    CUSTOMER_FILTERS,
    PRODUCT_FILTERS,
)
from .serialize import CONTACT_FIELDS, CUSTOMER_FIELDS, HISTORY_ITEM_FIELDS, PRODUCT_FIELDS

PREFIX = "/api/v1"
JSON = "application/json"
DECIMAL_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
FORMATS = {"uuid": "uuid", "datetime": "date-time", "date": "date"}


def _nullable(schema: dict) -> dict:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return {**schema, "type": [schema["type"], "null"]}


def _base_schema(field: Field) -> dict:
    if field.kind == "choice":
        return {"enum": list(field.choices)}
    if field.kind in ("int", "float"):
        schema = {"type": "integer" if field.kind == "int" else "number"}
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
        return schema
    if field.kind == "bool":
        return {"type": "boolean"}
    schema = {"type": "string"}
    if field.kind in FORMATS:
        schema["format"] = FORMATS[field.kind]
    if field.kind in TEXT_KINDS:
        schema["maxLength"] = field.max_length
    if field.kind == "email":
        schema["anyOf"] = [{"format": "email"}, {"maxLength": 0}]
    return schema


def input_schema(field: Field) -> dict:
    """What a JSON body may send for ``field`` (validation.clean with form=False accepts it)."""
    if field.kind == "decimal":
        schema = {"type": ["string", "number"],
                  "description": "A decimal with at most two places, best sent as a string."}
        # JSON Schema bounds numbers only; a string is held to them by the API alone.
        schema |= {key: value for key, value in (("minimum", field.minimum),
                                                 ("maximum", field.maximum)) if value is not None}
    else:
        schema = _base_schema(field)
    if field.required and field.kind in TEXT_KINDS:
        schema["pattern"] = r"\S"  # clean() strips text first: a blank one is missing
    # null clears an optional field (text becomes ""); bool and non-nullable choices reject it
    if not field.required and field.nullable and field.kind not in ("bool", "decimal"):
        schema = _nullable(schema)
    return schema


def output_schema(field: Field) -> dict:
    """What a representation holds for ``field``: text is never null, only empty."""
    if field.kind == "decimal":
        return {"type": "string", "pattern": DECIMAL_PATTERN}
    schema = _base_schema(field)
    schema.pop("maxLength", None)
    if field.kind in TEXT_KINDS or field.kind == "bool" or field.required or not field.nullable:
        return schema
    return _nullable(schema)


def query_schema(field: Field) -> dict:
    schema = _base_schema(field)
    if field.kind == "choice":
        schema["type"] = "string"
    return schema


def _resource_schemas(name: str, input_spec: Mapping[str, Field], fields: tuple[str, ...],
                      description: str, read_only: Mapping[str, dict] | None = None) -> dict:
    """Component schemas for one resource: its representation, create and patch bodies, page."""
    properties = {
        "id": {"type": "string", "format": "uuid"},
        "version": {"type": "integer", "description": "Grows with every change, in commit order."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    } | {field: output_schema(input_spec[field]) for field in fields} | dict(read_only or {})
    writable = {field: input_schema(spec) for field, spec in input_spec.items()}
    return {
        name: {"type": "object", "description": description, "properties": properties,
               "required": list(properties), "additionalProperties": False},
        f"{name}Create": {
            "type": "object",
            "properties": {"id": {"type": "string", "format": "uuid",
                                  "description": "Chosen by the client (offline); never reused."}}
            | writable,
            "required": [field for field, spec in input_spec.items() if spec.required],
            "additionalProperties": False,
        },
        f"{name}Patch": {"type": "object", "properties": writable, "additionalProperties": False,
                         "description": "Only the fields given are changed."},
        f"{name}Page": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _ref(name)},
                "next": {"type": ["string", "null"],
                         "description": "Path and query of the next page; null on the last."},
            },
            "required": ["items", "next"],
            "additionalProperties": False,
        },
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema_name: str, description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": _ref(schema_name)}}}


def _errors(*statuses: int) -> dict:
    return {str(status): {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
            for status in statuses}


ERROR_RESPONSES = {
    413: ("TooLarge", "More than 1,000 mutations in one push."),
    400: ("BadRequest", "The body is not JSON or not an object (invalid_json), or a cookie "
                        "call lacks its X-CSRFToken header (csrf_failed)."),
    401: ("Unauthorized", "Not logged in and no valid bearer token."),
    403: ("Forbidden", "Logged in, but this role may not do this."),
    404: ("NotFound", "No such record in the caller's scope."),
    409: ("Conflict", "The id (or another unique value) is taken already, or the record's "
                      "state does not allow the change (order_locked: the order was "
                      "submitted; conflict: e.g. a visit that has started)."),
    415: ("UnsupportedMediaType", "The body is not sent as application/json."),
    422: ("ValidationFailed", "Some fields or parameters are not valid; see error.fields."),
    429: ("TooManyRequests", "Too many failed logins; see Retry-After."),
}


def _parameters(spec: Mapping[str, Field], descriptions: Mapping[str, str]) -> list[dict]:
    return [{"name": name, "in": "query", "required": False, "schema": query_schema(field),
             "description": descriptions[name]} for name, field in spec.items()]


def _id_parameter(name: str) -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}


def _resource_paths(plural: str, name: str, filters: Mapping[str, Field],
                    filter_descriptions: Mapping[str, str], *, write_403: bool,
                    delete_403: bool, page_size: int, max_page: int) -> dict:
    """The five operations of a resource: list, create, get, patch, delete."""
    singular = name.lower()
    id_name = f"{singular}_id"
    page_descriptions = {
        "limit": f"Page size, default {page_size}; values above {max_page} are reduced to it.",
        "cursor": "Opaque; taken from the previous page's next link.",
    }
    forbidden = (403,) if write_403 else ()
    return {
        f"{PREFIX}/{plural}": {
            "get": {
                "operationId": f"list_{plural}", "tags": [plural],
                "summary": f"{name}s in the caller's scope, by name, one page at a time",
                "parameters": _parameters({**filters, **PAGE_PARAMS},
                                          {**filter_descriptions, **page_descriptions}),
                "responses": {"200": _json(f"{name}Page", f"One page of {plural}")}
                | _errors(401, 422),
            },
            "post": {
                "operationId": f"create_{singular}", "tags": [plural],
                "summary": f"Create a {singular}",
                "requestBody": {"required": True,
                                "content": {JSON: {"schema": _ref(f"{name}Create")}}},
                "responses": {"201": _json(name, f"The new {singular}")}
                | _errors(400, 401, *forbidden, 409, 415, 422),
            },
        },
        f"{PREFIX}/{plural}/{{{id_name}}}": {
            "parameters": [_id_parameter(id_name)],
            "get": {
                "operationId": f"get_{singular}", "tags": [plural], "summary": f"One {singular}",
                "responses": {"200": _json(name, f"The {singular}")} | _errors(401, 404),
            },
            "patch": {
                "operationId": f"update_{singular}", "tags": [plural],
                "summary": f"Change the given fields of a {singular}",
                "requestBody": {"required": True,
                                "content": {JSON: {"schema": _ref(f"{name}Patch")}}},
                "responses": {"200": _json(name, f"The changed {singular}")}
                | _errors(400, 401, *forbidden, 404, 409, 415, 422),
            },
            "delete": {
                "operationId": f"delete_{singular}", "tags": [plural],
                "summary": f"Delete a {singular} (a tombstone that offline clients sync)",
                "responses": {"204": {"description": "Deleted"}}
                | _errors(400, 401, *((403,) if delete_403 else ()), 404),
            },
        },
    }


UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
MONEY = {"type": "string", "pattern": DECIMAL_PATTERN}
ORDER_STATUSES = orders.STATUS_FIELD["status"].choices
IGNORED = {"description": "Computed by the server; a value sent is ignored."}

# What the activity resources accept, as the sync layer's operations validate it.
VISIT_INPUT = {
    "customer_id": Field("uuid", required=True),
    "planned_at": Field("datetime"),
    "checked_in_at": Field("datetime"),
    "checked_out_at": Field("datetime"),
    **CHECKIN_FIELDS,
    "outcome": Field("choice", choices=VISIT_OUTCOMES),
}
ACTIVITY_INPUT = {
    "visit": VISIT_INPUT,
    "note": NOTE_INPUT,
    "followup": {**FOLLOWUP_INPUT, "done_at": Field("datetime")},
    "order": orders.ORDER_FIELDS,
}
ACTIVITY_OUTPUT = {
    "visit": {
        "customer_id": UUID, "user_id": UUID, "planned_at": _nullable(TIME),
        "checked_in_at": _nullable(TIME), "checked_out_at": _nullable(TIME),
        "lat": {"type": ["number", "null"]}, "lon": {"type": ["number", "null"]},
        "distance_m": {"type": ["number", "null"],
                       "description": "From the customer's address at check-in."},
        "far_away": {"type": "boolean"}, "outcome": {"enum": [*VISIT_OUTCOMES, None]},
    },
    "note": {"customer_id": UUID, "visit_id": _nullable(UUID), "user_id": UUID,
             "channel": {"enum": list(NOTE_CHANNELS)}, "body": {"type": "string"}},
    "followup": {"customer_id": UUID, "title": {"type": "string"}, "due_at": TIME,
                 "done_at": _nullable(TIME), "assignee_id": UUID},
    "order": {
        "customer_id": UUID, "user_id": UUID, "visit_id": _nullable(UUID),
        "status": {"enum": list(ORDER_STATUSES)}, "discount_pct": MONEY, "net_total": MONEY,
        "vat_total": MONEY, "gross_total": MONEY, "submitted_at": _nullable(TIME),
        "lines": {"type": "array", "items": {
            "type": "object",
            "properties": {"product_id": UUID,
                           "quantity": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                           "discount_pct": MONEY, "unit_price": MONEY, "vat_rate": MONEY,
                           "net": MONEY, "vat": MONEY},
            "required": ["product_id", "quantity", "discount_pct", "unit_price", "vat_rate",
                         "net", "vat"],
            "additionalProperties": False,
        }},
    },
}
ACTIVITY_DESCRIPTIONS = {
    "visit": "A rep's visit at a customer: planned, checked in, checked out with an outcome. "
             "Create with planned_at or checked_in_at; PATCH checked_out_at with outcome to "
             "check out; DELETE cancels a visit that has not started.",
    "note": "A note on a customer, optionally of one of its visits; it cannot be changed.",
    "followup": "A task on a customer with a due time; done_at marks it done.",
    "order": "An order priced by the server from the catalogue. PATCH {\"status\": "
             "\"submitted\"} submits it; from then on it cannot be changed (409 order_locked); "
             "it is cancelled with {\"status\": \"cancelled\"}, never deleted.",
}


def _order_lines_input() -> dict:
    line = {name: input_schema(field) for name, field in orders.LINE_FIELDS.items()}
    line["quantity"] = {"type": ["string", "number"],
                        "description": "More than 0, at most three decimal places; best sent "
                                       "as a string."}
    line |= dict.fromkeys(("unit_price", "vat_rate", "net", "vat"), IGNORED)
    return {"type": "array", "maxItems": orders.MAX_LINES, "items": {
        "type": "object", "properties": line,
        "required": [name for name, field in orders.LINE_FIELDS.items() if field.required],
        "additionalProperties": False}}


def _activity_schemas(entity: str) -> dict:
    """Component schemas of one activity resource (visit, note, order, followup)."""
    name = entity.capitalize()
    spec = ACTIVITY_INPUT[entity]
    schemas = _resource_schemas(name, {}, (), ACTIVITY_DESCRIPTIONS[entity],
                                read_only=ACTIVITY_OUTPUT[entity])
    writable = {field: input_schema(spec[field]) for field in spec}
    if entity == "order":
        writable |= {"lines": _order_lines_input()}
        writable |= dict.fromkeys(("net_total", "vat_total", "gross_total"), IGNORED)
    schemas[f"{name}Create"]["properties"] = {**schemas[f"{name}Create"]["properties"],
                                              **writable}
    schemas[f"{name}Create"]["required"] = [field for field, value in spec.items()
                                            if value.required]
    schemas[f"{name}Patch"]["properties"] = {
        field: schema for field, schema in writable.items() if field != "customer_id"}
    if entity == "order":
        schemas[f"{name}Patch"]["properties"]["status"] = input_schema(
            orders.STATUS_FIELD["status"])
    if ENTITIES[entity].update is None:
        del schemas[f"{name}Patch"]
    return schemas


HISTORY_SCHEMAS = {
    "HistoryItem": {
        "type": "object",
        "description": "One entry of a customer's shared history. kind is change or conflict "
                       "(a field of the customer or a contact: field, old, new; a conflict's "
                       "new is the value that lost) or visit, note, order, followup (ref_id "
                       "is that record, field what happened to it, new its summary).",
        "properties": {"at": TIME, "user_id": _nullable(UUID), "kind": {"type": "string"},
                       "field": {"type": ["string", "null"]}, "old": {"type": ["string", "null"]},
                       "new": {"type": ["string", "null"]}, "ref_id": _nullable(UUID)},
        "required": list(HISTORY_ITEM_FIELDS),
        "additionalProperties": False,
    },
    "HistoryPage": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("HistoryItem")},
                       "next": {"type": ["string", "null"],
                                "description": "Path and query of the next (older) page; "
                                               "null on the last."}},
        "required": ["items", "next"],
        "additionalProperties": False,
    },
}


def _activity_paths(entity: str, plural: str, *, page_size: int, max_page: int) -> dict:
    """The operations of an activity resource: those its sync entity can do."""
    name = entity.capitalize()
    paths = _resource_paths(plural, name, ACTIVITY_FILTERS,
                            {"customer_id": f"Only the {plural} of this customer."},
                            write_403=False, delete_403=True, page_size=page_size,
                            max_page=max_page)
    collection, item = paths.values()
    collection["get"]["summary"] = (f"{name}s at customers in the caller's scope, newest "
                                    "first, one page at a time")
    if ENTITIES[entity].update is None:
        del item["patch"]
    else:
        item["patch"]["responses"] |= _errors(403)
    if ENTITIES[entity].delete is None:
        del item["delete"]
    else:
        item["delete"]["responses"] |= _errors(409)
    return paths


def _history_path(page_size: int, max_page: int) -> dict:
    return {f"{PREFIX}/customers/{{customer_id}}/history": {
        "parameters": [_id_parameter("customer_id")],
        "get": {
            "operationId": "customer_history", "tags": ["customers"],
            "summary": "The customer's shared history, newest first, one page at a time",
            "parameters": _parameters(PAGE_PARAMS, {
                "limit": f"Page size, default {page_size}; values above {max_page} are "
                         "reduced to it.",
                "cursor": "Opaque; taken from the previous page's next link."}),
            "responses": {"200": _json("HistoryPage", "One page of history entries")}
            | _errors(401, 404, 422),
        },
    }}


def _near_schemas(customer: dict) -> dict:
    """A customer of a near search (the representation plus distance_m) and its list."""
    near = {**customer, "description": "A customer of a near search, with its distance.",
            "properties": {**customer["properties"], "distance_m": {
                "type": "number", "minimum": 0,
                "description": "Geodesic distance (WGS84) from near, in metres, rounded to "
                               "0.1 m."}},
            "required": [*customer["required"], "distance_m"]}
    return {
        "CustomerNear": near,
        "CustomerNearList": {
            "type": "object",
            "description": "Nearest first (by the exact distance; equal distances: the older "
                           "customer first). Not paged: next is always null.",
            "properties": {"items": {"type": "array", "items": _ref("CustomerNear")},
                           "next": {"type": "null"}},
            "required": ["items", "next"],
            "additionalProperties": False,
        },
    }


def _with_near(operation: dict, app: Flask) -> None:
    """The customer list's near search: its parameters and its second answer shape."""
    largest = max(app.config["NEARBY_RADII_KM"])
    default, most = app.config["NEARBY_LIMIT"], app.config["NEARBY_RADIUS_MAX_ROWS"]
    operation["summary"] = ("Customers in the caller's scope, by name, one page at a time; "
                            "with near, the nearest to a point")
    operation["description"] = (
        "With near=lat,lon the answer is the customers nearest to that point by geodesic "
        f"distance, nearest first, with distance_m: the nearest limit (default {default}, "
        f"values above {most} are reduced to it), or with radius_km all within that radius "
        "up to limit. Only customers with coordinates. status, abc_class, owner_id and q "
        "narrow it as they narrow the list; cursor is not allowed (the answer is one list).")
    operation["parameters"] += [
        {"name": "near", "in": "query", "required": False,
         "schema": {"type": "string",
                    "pattern": r"^\s*[+-]?\d{1,3}(\.\d{1,15})?\s*,\s*[+-]?\d{1,3}(\.\d{1,15})?\s*$"},
         "description": "latitude,longitude in decimal degrees (WGS84), e.g. 53.55,9.99; "
                        "latitude within ±90, longitude within ±180."},
        {"name": "radius_km", "in": "query", "required": False,
         "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": largest},
         "description": f"Only customers within this many kilometres (above 0, at most "
                        f"{largest}); needs near."},
    ]
    operation["responses"]["200"] = {
        "description": "One page of customers, or with near the nearest customers",
        "content": {JSON: {"schema": {"anyOf": [_ref("CustomerPage"),
                                                _ref("CustomerNearList")]}}}}


def openapi_document(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every route under /api/v1."""
    paging = {"page_size": app.config["PAGE_SIZE"], "max_page": app.config["API_MAX_PAGE_SIZE"]}
    schemas = {
        "Error": {
            "type": "object",
            "properties": {"error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Stable, for programs."},
                    "message": {"type": "string", "description": "In the caller's language."},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "Message per invalid field or parameter."},
                },
                "required": ["code", "message"],
            }},
            "required": ["error"],
        },
        "TokenRequest": {
            "type": "object",
            "properties": {name: input_schema(field) for name, field in TOKEN_REQUEST.items()},
            "required": list(TOKEN_REQUEST),
            "additionalProperties": False,
        },
        "Token": {
            "type": "object",
            "properties": {"id": {"type": "string", "format": "uuid"},
                           "token": {"type": "string",
                                     "description": "Shown once; only its hash is stored."}},
            "required": ["id", "token"],
            "additionalProperties": False,
        },
        **_resource_schemas("Customer", CUSTOMER_INPUT, CUSTOMER_FIELDS,
                            "A company the field force sells to.", read_only={
                                "geocode_status": {"enum": list(GEOCODE_STATUSES),
                                                   "readOnly": True},
                                "last_visited_at": {"type": ["string", "null"],
                                                    "format": "date-time", "readOnly": True},
                                "risk_reason": {"type": "string", "readOnly": True},
                                "revenue_12m": {"type": "string", "pattern": r"^-?\d+\.\d{2}$",
                                                "readOnly": True, "description":
                                                "Order revenue (net, EUR) of the trailing 12 "
                                                "months, as of the nightly analysis."},
                            }),
        **_resource_schemas("Contact", CONTACT_INPUT, CONTACT_FIELDS, "A person at a customer."),
        **_resource_schemas("Product", PRODUCT_INPUT, PRODUCT_FIELDS,
                            "A catalogue item; net price in EUR, VAT rate in percent."),
        **{key: value for entity in ACTIVITY_INPUT for key, value in
           _activity_schemas(entity).items()},
        **HISTORY_SCHEMAS,
        **sync_openapi.SCHEMAS,
    }
    schemas |= _near_schemas(schemas["Customer"])
    paths = {
        f"{PREFIX}/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document", "security": [],
            "responses": {"200": {"description": "The OpenAPI document",
                                  "content": {JSON: {"schema": {"type": "object"}}}}},
        }},
        f"{PREFIX}/auth/tokens": {"post": {
            "operationId": "create_token", "tags": ["auth"], "security": [],
            "summary": "Create a bearer token with email and password",
            "description": "Needs no session and no CSRF header. Failed attempts count "
                           "towards the same rate limit as the login form.",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("TokenRequest")}}},
            "responses": {"201": _json("Token", "The token, shown this once")}
            | _errors(400, 401, 415, 422, 429),
        }},
        f"{PREFIX}/auth/tokens/{{token_id}}": {
            "parameters": [_id_parameter("token_id")],
            "delete": {
                "operationId": "revoke_token", "tags": ["auth"],
                "summary": "Revoke one of the caller's own tokens",
                "responses": {"204": {"description": "Revoked"}} | _errors(400, 401, 404),
            },
        },
        **_resource_paths(
            "customers", "Customer", CUSTOMER_FILTERS,
            {"q": "Part of the name, or the start of the city or postal code.",
             "status": "Only customers in this stage of the lifecycle.",
             "abc_class": "Only customers of this ABC class.",
             "owner_id": "Only customers owned by this user."},
            write_403=False, delete_403=True, **paging),
        **_resource_paths(
            "contacts", "Contact", CONTACT_FILTERS,
            {"customer_id": "Only the contacts of this customer."},
            write_403=False, delete_403=False, **paging),
        **_resource_paths(
            "products", "Product", PRODUCT_FILTERS,
            {"active": "Only active (true) or only inactive (false) items; both if absent."},
            write_403=True, delete_403=True, **paging),
        **_history_path(**paging),
        **{key: value for entity, plural in ACTIVITY_PLURALS.items()
           for key, value in _activity_paths(entity, plural, **paging).items()},
        **sync_openapi.paths(PREFIX, _json, _errors),
    }
    _with_near(paths[f"{PREFIX}/customers"]["get"], app)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fieldcrm API",
            "version": "1",
            "description": "Errors are JSON {\"error\": {code, message, fields}} with a 4xx "
                           "status. Times are RFC 3339 with offset; money and rates are "
                           "decimal strings. Unknown body fields are rejected; unknown query "
                           "parameters are ignored.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {name: _json("Error", description)
                          for name, description in ERROR_RESPONSES.values()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from POST /api/v1/auth/tokens."},
                "session": {"type": "apiKey", "in": "cookie",
                            "name": app.config.get("SESSION_COOKIE_NAME", "session"),
                            "description": "The browser's login session."},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                         "description": "Needed with the session cookie on every write; the "
                                        "token is in the page's csrf-token meta tag."},
            },
        },
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
    }
