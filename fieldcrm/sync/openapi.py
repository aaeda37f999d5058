"""The sync endpoints' part of the OpenAPI document (merged in fieldcrm.api.openapi)."""

from .entities import ENTITIES, PULLED
from .pull import PAGE_SIZE
from .push import MAX_BATCH

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS = {
    "Mutation": {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1,
                   "description": "The device's own counter: 1, 2, 3, … without gaps."},
            "entity": {"enum": sorted(ENTITIES)},
            "op": {"enum": ["upsert", "delete"]},
            "entity_id": UUID,
            "base_version": {"type": ["integer", "null"], "minimum": 0,
                             "description": "The version the device last saw; null for a new row."},
            "changed_at": TIME,
            "fields": {"type": "object", "description": "Only the changed fields."},
        },
        "required": ["id", "entity", "op", "entity_id", "base_version", "changed_at"],
        "additionalProperties": False,
    },
    "PushRequest": {
        "type": "object",
        "properties": {"client_id": UUID,
                       "mutations": {"type": "array", "maxItems": MAX_BATCH,
                                     "items": _ref("Mutation")}},
        "required": ["client_id", "mutations"],
    },
    "MutationResult": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"enum": ["applied", "merged", "conflict", "rejected", "duplicate"]},
            "entity_id": UUID,
            "version": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
            "details": {"type": "object"},
            "conflicts": {"type": "array", "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "yours": {}, "theirs": {},
                               "kept": {"enum": ["yours", "theirs"]}},
                "required": ["field", "yours", "theirs", "kept"],
            }},
        },
        "required": ["id", "status", "entity_id", "version"],
    },
    "PushResponse": {
        "type": "object",
        "properties": {"last_mutation_id": {"type": "integer"},
                       "results": {"type": "array", "items": _ref("MutationResult")}},
        "required": ["last_mutation_id", "results"],
    },
    "PullRequest": {
        "type": "object",
        "properties": {"cursor": {"type": ["string", "null"]}, "client_id": UUID,
                       "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE}},
    },
    "Change": {
        "type": "object",
        "properties": {"entity": {"enum": sorted(PULLED)}, "entity_id": UUID,
                       "op": {"enum": ["upsert", "delete", "revoke"]},
                       "version": {"type": "integer"},
                       "data": {"type": ["object", "null"]}},
        "required": ["entity", "entity_id", "op", "version", "data"],
    },
    "PullResponse": {
        "type": "object",
        "properties": {"changes": {"type": "array", "items": _ref("Change")},
                       "cursor": {"type": "string"}, "has_more": {"type": "boolean"},
                       "last_mutation_id": {"type": "integer"},
                       "reset": {"type": "boolean"}},
        "required": ["changes", "cursor", "has_more", "last_mutation_id"],
    },
    "Rejection": {
        "type": "object",
        "properties": {"id": UUID, "mutation_id": {"type": "integer"},
                       "entity": {"type": "string"}, "entity_id": UUID,
                       "op": {"type": "string"}, "fields": {"type": "object"},
                       "reason": {"type": "string"}, "details": {"type": "object"},
                       "created_at": TIME},
        "required": ["id", "mutation_id", "entity", "entity_id", "op", "fields", "reason"],
    },
    "RejectionPage": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("Rejection")},
                       "next": {"type": ["string", "null"]}},
        "required": ["items", "next"],
    },
}


def paths(prefix: str, json_response, errors) -> dict:
    """The sync paths, built with the API document's own helpers."""
    body = lambda name: {"required": True,  # noqa: E731
                         "content": {"application/json": {"schema": _ref(name)}}}
    return {
        f"{prefix}/sync/push": {"post": {
            "operationId": "sync_push", "tags": ["sync"],
            "summary": "Apply a device's numbered mutations in one transaction",
            "description": "Replays are 'duplicate'; a gap is 409 mutation_gap with "
                           "error.last_mutation_id; more than 1,000 mutations is 413.",
            "requestBody": body("PushRequest"),
            "responses": {"200": json_response("PushResponse", "One result per mutation")}
            | errors(400, 401, 403, 409, 413, 415),
        }},
        f"{prefix}/sync/pull": {"post": {
            "operationId": "sync_pull", "tags": ["sync"],
            "summary": "Changes in the caller's scope since the cursor",
            "requestBody": body("PullRequest"),
            "responses": {"200": json_response("PullResponse", "A page of changes")}
            | errors(400, 401, 403, 415),
        }},
        f"{prefix}/sync/rejections": {"get": {
            "operationId": "sync_rejections", "tags": ["sync"],
            "summary": "The caller's rejected changes, with what they typed",
            "responses": {"200": json_response("RejectionPage", "Rejected mutations")}
            | errors(401),
        }},
        f"{prefix}/sync/rejections/{{rejection_id}}/dismiss": {
            "parameters": [{"name": "rejection_id", "in": "path", "required": True,
                            "schema": UUID}],
            "post": {
                "operationId": "sync_dismiss_rejection", "tags": ["sync"],
                "summary": "Hide a rejected change the user has dealt with",
                "responses": {"204": {"description": "Dismissed"}} | errors(400, 401, 404),
            },
        },
    }
