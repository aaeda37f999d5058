"""/api/v1/openapi.json matches the code: the same routes, and real responses fit its schemas."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fieldcrm.auth import create_api_token

API = "/api/v1"
DOCUMENT_URI = "urn:fieldcrm:openapi"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def validator(document: dict, *location: str) -> Draft202012Validator:
    """A validator for the schema at ``location`` in the document, its $refs resolved in it."""
    registry = Registry().with_resource(DOCUMENT_URI, Resource(document, DRAFT202012))
    return Draft202012Validator({"$ref": DOCUMENT_URI + "#" + _pointer(*location)},
                                registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def response_validator(document: dict, path: str, method: str, status: int):
    """The validator of the documented JSON body; fails if the status is not documented."""
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    location = ["paths", path, method, "responses", str(status)]
    if "$ref" in responses[str(status)]:
        location = responses[str(status)]["$ref"].removeprefix("#/").split("/")
    return validator(document, *location, "content", "application/json", "schema")


def check(document: dict, path: str, method: str, response) -> dict:
    """Assert a real response is documented for this operation and fits its schema."""
    if response.status_code == 204:
        assert "204" in document["paths"][path][method]["responses"]
        assert response.data == b""
        return {}
    response_validator(document, path, method, response.status_code).validate(response.json)
    return response.json


def request_validator(document: dict, path: str, method: str) -> Draft202012Validator:
    return validator(document, "paths", path, method, "requestBody", "content",
                     "application/json", "schema")


def _rule_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_document_lists_exactly_the_api_routes(app, document):
    in_app = {(_rule_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(f"{API}/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    in_document = {(path, method) for path, item in document["paths"].items()
                   for method in item if method in METHODS}
    assert in_document == in_app


def test_document_is_well_formed(document):
    assert document["openapi"].startswith("3.1")
    for name, schema in document["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:
            raise AssertionError(name) from exc
    refs = re.findall(r"'\$ref': '([^']+)'", str(document))
    assert refs
    registry = Registry().with_resource(DOCUMENT_URI, Resource(document, DRAFT202012))
    resolver = registry.resolver(DOCUMENT_URI)
    for ref in set(refs):
        assert resolver.lookup(ref).contents, ref
    operation_ids = [op["operationId"] for item in document["paths"].values()
                     for method, op in item.items() if method in METHODS]
    assert len(operation_ids) == len(set(operation_ids))
    for path, item in document["paths"].items():
        for name in re.findall(r"{(\w+)}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in item.get("parameters", []))
        for method, operation in item.items():
            if method in METHODS:
                assert all(code[0] in "2345" for code in operation["responses"]), (path, method)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["csrf"] == schemes["csrf"] | {"in": "header", "name": "X-CSRFToken"}


def test_request_schemas_accept_what_the_api_accepts(client, world, document):
    token = create_api_token(world.admin, "docs")[1]
    good = {"id": str(uuid.uuid4()), "name": "Neu GmbH", "postal_code": "20095", "lat": 53.5,
            "lon": 10, "abc_class": None, "territory_id": str(world.north.id),
            "marketing_consent": False}
    request_validator(document, f"{API}/customers", "post").validate(good)
    assert client.api("POST", f"{API}/customers", json=good, token=token).status_code == 201
    for bad in ({**good, "colour": "red"}, {**good, "lat": "abc"}, {**good, "lat": 95},
                {**good, "status": None}, {"street": "ohne Namen"}, {**good, "name": " "}):
        with pytest.raises(ValidationError):
            request_validator(document, f"{API}/customers", "post").validate(bad)
        bad = {**bad, "id": str(uuid.uuid4())}
        assert client.api("POST", f"{API}/customers", json=bad, token=token).status_code == 422
    product = {"sku": "DOC-1", "name": "Doku", "net_price": "1.50", "vat_rate": 19}
    request_validator(document, f"{API}/products", "post").validate(product)
    request_validator(document, f"{API}/products/{{product_id}}", "patch").validate({"active": False})
    request_validator(document, f"{API}/auth/tokens", "post").validate(
        {"email": "a@example.com", "password": "x", "name": "n"})
    with pytest.raises(ValidationError):
        request_validator(document, f"{API}/products", "post").validate({**product, "sku": ""})
    lines = document["components"]["schemas"]["OrderCreate"]["properties"]["lines"]["items"]
    assert lines["properties"]["discount_pct"] | {"minimum": 0, "maximum": 100} \
        == lines["properties"]["discount_pct"]


def test_real_responses_fit_the_documented_schemas(app, make_client, client, world, document,
                                                    make_product):
    make_product(active=False, name="Alter Tee")
    make_product()
    customers, contacts, products = f"{API}/customers", f"{API}/contacts", f"{API}/products"
    customer, contact, product = (f"{API}/customers/{{customer_id}}",
                                  f"{API}/contacts/{{contact_id}}", f"{API}/products/{{product_id}}")

    token_body = check(document, f"{API}/auth/tokens", "post", client.api(
        "POST", f"{API}/auth/tokens",
        json={"email": "admin@example.com", "password": "correct-horse-battery", "name": "t"}))
    token = token_body["token"]
    for body in ({"email": "admin@example.com"},
                 {"email": "admin@example.com", "password": "wrong", "name": "t"}):
        check(document, f"{API}/auth/tokens", "post",
              client.api("POST", f"{API}/auth/tokens", json=body))
    app.config["LOGIN_MAX_FAILURES"] = 1
    blocked = client.api("POST", f"{API}/auth/tokens", json=body)
    assert blocked.status_code == 429
    check(document, f"{API}/auth/tokens", "post", blocked)

    def call(method, path, doc_path, **kwargs):
        return check(document, doc_path, method.lower(),
                     client.api(method, path, token=token, **kwargs))

    call("GET", f"{customers}?limit=1", customers)
    created = call("POST", customers, customers,
                   json={"name": "Neu", "territory_id": str(world.north.id), "lat": 53.5,
                         "lon": 10.0, "marketing_consent": True, "visit_interval_days": 30})
    call("GET", f"{customers}/{created['id']}", customer)
    call("PATCH", f"{customers}/{created['id']}", customer,
         json={"abc_class": "A", "birthday": "x"})
    call("PATCH", f"{customers}/{created['id']}", customer, json={"abc_class": "A"})
    call("PATCH", f"{customers}/{created['id']}", customer, data="[", content_type="application/json")
    call("POST", customers, customers, json={"id": created["id"], "name": "Doppelt"})
    call("POST", customers, customers, data="{", content_type="application/json")
    call("POST", customers, customers, data="name=x",
         content_type="application/x-www-form-urlencoded")
    call("GET", f"{customers}?limit=x", customers)
    call("GET", f"{customers}/{uuid.uuid4()}", customer)

    new_contact = call("POST", contacts, contacts,
                       json={"customer_id": str(world.customer.id), "name": "Neue Person",
                             "birthday": "1990-01-31"})
    call("GET", f"{contacts}?customer_id={world.customer.id}", contacts)
    call("GET", f"{contacts}/{new_contact['id']}", contact)
    call("PATCH", f"{contacts}/{new_contact['id']}", contact, json={"role": "Chef"})
    call("DELETE", f"{contacts}/{new_contact['id']}", contact)

    listed = call("GET", f"{products}?limit=1", products)
    assert listed["next"]
    call("GET", listed["next"], products)
    new_product = call("POST", products, products,
                       json={"sku": "DOC-2", "name": "Doku", "net_price": "2", "vat_rate": "7"})
    call("PATCH", f"{products}/{new_product['id']}", product, json={"net_price": 3})
    call("DELETE", f"{products}/{new_product['id']}", product)
    call("DELETE", f"{customers}/{created['id']}", customer)
    call("GET", f"{API}/openapi.json", f"{API}/openapi.json")

    rep_token = create_api_token(world.rep, "t")[1]
    forbidden = client.api("POST", products, token=rep_token, json={})
    check(document, products, "post", forbidden)
    anonymous = make_client().api("GET", customers)
    check(document, customers, "get", anonymous)
    revoke = f"{API}/auth/tokens/{{token_id}}"
    call("DELETE", f"{API}/auth/tokens/{token_body['id']}", revoke)
    check(document, revoke, "delete", make_client().api(
        "DELETE", f"{API}/auth/tokens/{token_body['id']}", token=rep_token))


def test_sync_responses_match_the_document(client, world, document):
    client.login("rep1@example.com")
    device = "6f1c0b8e-8f33-4a59-9d1f-0c7e4d2a9b10"
    mutation = {"id": 1, "entity": "customer", "op": "upsert",
                "entity_id": "0b8b2f4e-1c2d-4e5f-8a9b-1c2d3e4f5a6b", "base_version": None,
                "changed_at": "2026-11-23T08:00:00+01:00", "fields": {"name": "Sync GmbH"}}
    body = {"client_id": device, "mutations": [mutation]}
    request_validator(document, f"{API}/sync/push", "post").validate(body)
    check(document, f"{API}/sync/push", "post", client.api("POST", f"{API}/sync/push", json=body))
    gap = dict(body, mutations=[dict(mutation, id=9)])
    check(document, f"{API}/sync/push", "post", client.api("POST", f"{API}/sync/push", json=gap))
    pulled = check(document, f"{API}/sync/pull", "post",
                   client.api("POST", f"{API}/sync/pull", json={"cursor": None, "client_id": device}))
    assert pulled["last_mutation_id"] == 1
    check(document, f"{API}/sync/rejections", "get", client.api("GET", f"{API}/sync/rejections"))


def test_activity_and_history_responses_fit_the_documented_schemas(client, world, document,
                                                                   make_product):
    product = make_product()
    token = create_api_token(world.rep, "docs")[1]
    other_token = create_api_token(world.other_rep, "docs")[1]
    customer = str(world.customer.id)
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()

    def call(method, path, doc_path, as_token=token, **kwargs):
        return check(document, f"{API}{doc_path}", method.lower(),
                     client.api(method, f"{API}{path}", token=as_token, **kwargs))

    bodies = {
        "visits": {"customer_id": customer, "checked_in_at": soon, "lat": 53.5, "lon": 10.0},
        "notes": {"customer_id": customer, "channel": "phone", "body": "Angerufen"},
        "orders": {"customer_id": customer, "discount_pct": "2",
                   "lines": [{"product_id": str(product.id), "quantity": "1.5",
                              "unit_price": "0.01"}], "net_total": "0.01"},
        "followups": {"customer_id": customer, "title": "Nachfassen", "due_at": soon},
    }
    patches = {"visits": {"checked_out_at": soon, "outcome": "no_decision"}, "notes": {"channel": "email"},
               "orders": {"status": "submitted"}, "followups": {"done_at": soon}}
    for plural, body in bodies.items():
        item = f"/{plural}/{{{plural[:-1]}_id}}"
        request_validator(document, f"{API}/{plural}", "post").validate(body)
        created = call("POST", f"/{plural}", f"/{plural}", json=body)
        assert created["id"]
        call("POST", f"/{plural}", f"/{plural}", json={"customer_id": str(uuid.uuid4())})
        call("POST", f"/{plural}", f"/{plural}", json={**body, "id": created["id"]})
        call("POST", f"/{plural}", f"/{plural}", data="{", content_type="application/json")
        call("GET", f"/{plural}/{created['id']}", item)
        call("GET", f"/{plural}/{uuid.uuid4()}", item)
        call("GET", f"/{plural}?customer_id={customer}&limit=1", f"/{plural}")
        call("GET", f"/{plural}?limit=x", f"/{plural}")
        if plural in patches:
            request_validator(document, f"{API}{item}", "patch").validate(patches[plural])
            call("PATCH", f"/{plural}/{created['id']}", item, json=patches[plural])
            call("PATCH", f"/{plural}/{created['id']}", item, json={"colour": "red"})
            call("PATCH", f"/{plural}/{created['id']}", item, as_token=other_token,
                 json=patches[plural])
        else:
            assert "patch" not in document["paths"][f"{API}{item}"]

    order = call("GET", "/orders", "/orders")["items"][0]["id"]
    locked = call("PATCH", f"/orders/{order}", "/orders/{order_id}", json={"discount_pct": "1"})
    assert locked["error"]["code"] == "order_locked"
    started = call("GET", "/visits", "/visits")["items"][0]["id"]
    assert call("DELETE", f"/visits/{started}", "/visits/{visit_id}")["error"]["code"] == "conflict"
    planned = call("POST", "/visits", "/visits", json={"customer_id": customer, "planned_at": soon})
    call("DELETE", f"/visits/{planned['id']}", "/visits/{visit_id}")
    followup = call("GET", "/followups", "/followups")["items"][0]["id"]
    call("DELETE", f"/followups/{followup}", "/followups/{followup_id}")
    call("DELETE", f"/followups/{followup}", "/followups/{followup_id}")

    history = "/customers/{customer_id}/history"
    page = call("GET", f"/customers/{customer}/history?limit=2", history)
    assert page["next"] and page["items"]
    check(document, f"{API}{history}", "get", client.api("GET", page["next"], token=token))
    call("GET", f"/customers/{customer}/history?cursor=x", history)
    call("GET", f"/customers/{customer}/history", history, as_token=other_token)
