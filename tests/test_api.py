"""The JSON API: tokens, paging, the three resources, scope, bad input, one transaction per write.

Every route × role has an expected status in MATRIX; a new API route without a
row there fails test_matrix_covers_every_api_route.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from authz import NUL_CURSOR

from fieldcrm.auth import create_api_token
from fieldcrm.models import (
    ApiToken,
    Contact,
    Customer,
    Followup,
    History,
    LoginAttempt,
    Note,
    Order,
    Product,
    Visit,
)

API = "/api/v1"
ROLES = ("anonymous", "rep", "other_rep", "manager", "admin")
PASSWORD = "correct-horse-battery"


def new_token(client, email, password=PASSWORD, name="test"):
    return client.api("POST", f"{API}/auth/tokens",
                      json={"email": email, "password": password, "name": name})


def fresh(db, model, row_id):
    """The row as the database has it now (the requests ran in their own sessions)."""
    db.session.expire_all()
    return db.session.get(model, row_id)


@pytest.fixture
def cast(world, make_product, db):
    world.product = make_product()
    world.tokens = {role: create_api_token(getattr(world, role), "test")[1]
                    for role in ROLES[1:]}
    soon = datetime.now(UTC) + timedelta(days=2)
    rep, customer = world.rep.id, world.customer.id
    world.visit = Visit(customer_id=customer, user_id=rep, planned_at=soon)
    world.note = Note(customer_id=customer, user_id=rep, channel="visit", body="Notiz")
    world.order = Order(customer_id=customer, user_id=rep, status="draft")
    world.followup = Followup(customer_id=customer, title="Anrufen", due_at=soon,
                              assignee_id=rep, created_by_id=rep)
    db.session.add_all([world.visit, world.note, world.order, world.followup])
    db.session.commit()
    return world


def _soon() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


def as_role(cast, role):
    """Request keyword arguments that authenticate as ``role`` (a bearer token)."""
    return {"token": cast.tokens[role]} if role != "anonymous" else {}


# Tokens

def test_token_created_without_session_works_as_bearer(make_client, world, db):
    client = make_client()
    response = new_token(client, "Rep1@Example.com ", name="ERP sync")
    assert response.status_code == 201
    assert set(response.json) == {"id", "token"}
    assert response.headers["Cache-Control"] == "no-store"
    clear = response.json["token"]
    stored = db.session.get(ApiToken, uuid.UUID(response.json["id"]))
    assert stored.name == "ERP sync" and stored.user_id == world.rep.id
    assert stored.token_hash == hashlib.sha256(clear.encode()).hexdigest()
    assert clear not in stored.token_hash
    listed = make_client().api("GET", f"{API}/customers", token=clear)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json["items"]] == [str(world.customer.id)]


def test_wrong_password_and_unknown_user_look_the_same(make_client, world, db):
    client = make_client()
    wrong = new_token(client, "rep1@example.com", "wrong-password")
    unknown = new_token(client, "ghost@example.com", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["message"] == "Email or password is wrong."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 2


def test_token_failures_share_the_login_rate_limit(make_client, client, world, app):
    api = make_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert new_token(api, "rep1@example.com", "wrong-password").status_code == 401
    blocked = new_token(api, "rep1@example.com")
    assert blocked.status_code == 429
    assert blocked.json["error"]["code"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.login("rep1@example.com").status_code == 429


def test_revoked_token_is_refused(make_client, world):
    client = make_client()
    created = new_token(client, "rep1@example.com").json
    token = created["token"]
    assert client.api("DELETE", f"{API}/auth/tokens/{created['id']}", token=token).status_code == 204
    response = client.api("GET", f"{API}/customers", token=token)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_only_own_tokens_can_be_revoked(make_client, world):
    client = make_client()
    rep_token = new_token(client, "rep1@example.com").json
    other_token = new_token(client, "rep2@example.com").json["token"]
    path = f"{API}/auth/tokens/{rep_token['id']}"
    assert client.api("DELETE", path, token=other_token).status_code == 404
    assert client.api("GET", f"{API}/customers", token=rep_token["token"]).status_code == 200
    assert client.api("DELETE", f"{API}/auth/tokens/not-a-uuid", token=other_token).status_code == 404


def test_token_request_is_validated(make_client, world):
    client = make_client()
    missing = client.api("POST", f"{API}/auth/tokens", json={"email": "rep1@example.com", "password": 5})
    assert missing.status_code == 422
    assert set(missing.json["error"]["fields"]) == {"password", "name"}
    form = client.post(f"{API}/auth/tokens", data={"email": "rep1@example.com"})
    assert form.status_code == 415


def test_session_write_needs_csrf_header_but_bearer_does_not(client, cast):
    client.login("rep1@example.com")
    path = f"{API}/customers/{cast.customer.id}"
    without = client.http.patch(path, json={"phone": "+49 40 111111"})
    assert without.status_code == 400
    assert without.json["error"]["code"] == "csrf_failed"
    assert client.api("PATCH", path, json={"phone": "+49 40 111111"}).status_code == 200
    bearer = client.http.patch(path, json={"phone": "+49 40 222222"},
                               headers={"Authorization": f"Bearer {cast.tokens['rep']}"})
    assert bearer.status_code == 200


def test_session_reads_need_no_csrf_header(client, world):
    client.login("rep1@example.com")
    assert client.http.get(f"{API}/customers").status_code == 200


# Paging and filters

def test_customer_list_pages_through_scope_by_name(client, cast, make_customer):
    for n in range(25):
        make_customer(name=f"Kunde {n:02d}", territory_id=cast.north.id)
    seen, path, pages = [], f"{API}/customers?limit=10&unknown=ignored", 0
    while path:
        response = client.api("GET", path, token=cast.tokens["rep"])
        assert response.status_code == 200
        seen += [item["name"] for item in response.json["items"]]
        path, pages = response.json["next"], pages + 1
        if path:
            assert path.startswith(f"{API}/customers?")
            assert parse_qs(urlsplit(path).query)["limit"] == ["10"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 26
    assert seen == sorted(seen)
    assert "Metzgerei Huber" not in seen


def test_next_link_keeps_the_filters(client, cast, make_customer):
    for n in range(3):
        make_customer(name=f"Hamburger Hof {n}", territory_id=cast.north.id, status="lead")
    make_customer(name="Hamburger Kunde", territory_id=cast.north.id, status="customer")
    first = client.api("GET", f"{API}/customers?q=hamburger&status=lead&limit=2",
                       token=cast.tokens["admin"]).json
    assert [c["name"] for c in first["items"]] == ["Hamburger Hof 0", "Hamburger Hof 1"]
    query = parse_qs(urlsplit(first["next"]).query)
    assert query["q"] == ["hamburger"] and query["status"] == ["lead"]
    second = client.api("GET", first["next"], token=cast.tokens["admin"]).json
    assert [c["name"] for c in second["items"]] == ["Hamburger Hof 2"]
    assert second["next"] is None


def test_default_and_maximum_page_size(client, cast, make_customer, app):
    for n in range(21):
        make_customer(name=f"Kunde {n:02d}", territory_id=cast.north.id)
    assert len(client.api("GET", f"{API}/customers", token=cast.tokens["rep"]).json["items"]) == 20
    app.config["API_MAX_PAGE_SIZE"] = 5
    response = client.api("GET", f"{API}/customers?limit=500", token=cast.tokens["rep"])
    assert len(response.json["items"]) == 5
    assert "limit=5" in response.json["next"]


@pytest.mark.parametrize(("query", "field"), [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("status=bogus", "status"),
    ("abc_class=D", "abc_class"), ("owner_id=nope", "owner_id"), ("cursor=garbage!", "cursor"),
    (f"cursor={NUL_CURSOR}", "cursor"),  # well-formed, with a NUL: was a 500 on PostgreSQL
])
def test_bad_list_parameters_are_422(client, cast, query, field):
    response = client.api("GET", f"{API}/customers?{query}", token=cast.tokens["rep"])
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {field}


def test_customer_filters(client, cast, make_customer):
    make_customer(name="Alpha", city="Lübeck", territory_id=cast.north.id, abc_class="A")
    make_customer(name="Beta", postal_code="23552", territory_id=cast.north.id, status="lead",
                  owner_id=cast.manager.id)

    def names(query):
        response = client.api("GET", f"{API}/customers?{query}", token=cast.tokens["manager"])
        return [c["name"] for c in response.json["items"]]

    assert names("q=lübeck") == ["Alpha"]
    assert names("q=2355") == ["Beta"]
    assert names("abc_class=A") == ["Alpha"]
    assert names("status=lead") == ["Beta"]
    assert names(f"owner_id={cast.manager.id}") == ["Beta"]
    assert names("q=%25") == []


# Customers

def test_customer_create_get_patch_delete(client, cast, db):
    token = cast.tokens["rep"]
    created = client.api("POST", f"{API}/customers", token=token, json={
        "name": "Café Central", "street": "Mönckebergstraße 7", "postal_code": "20095",
        "city": "Hamburg", "lat": 53.55, "lon": 10.0, "website": "cafe-central.de",
        "marketing_consent": True,
    })
    assert created.status_code == 201, created.json
    body = created.json
    assert created.headers["Location"] == f"{API}/customers/{body['id']}"
    assert body["owner_id"] == str(cast.rep.id) and body["territory_id"] == str(cast.north.id)
    assert body["status"] == "lead" and body["country"] == "DE" and body["phone"] == ""
    assert body["website"] == "https://cafe-central.de"
    assert body["revenue_12m"] == "0.00"  # read-only: the nightly analysis keeps it
    assert isinstance(body["version"], int)
    for stamp in ("created_at", "updated_at", "marketing_consent_at"):
        assert datetime.fromisoformat(body[stamp]).utcoffset() is not None

    path = f"{API}/customers/{body['id']}"
    assert client.api("GET", path, token=token).json == body

    patched = client.api("PATCH", path, token=token, json={"phone": "+49 40 123456", "abc_class": "B"})
    assert patched.status_code == 200
    assert patched.json["phone"] == "+49 40 123456" and patched.json["abc_class"] == "B"
    assert patched.json["name"] == "Café Central"
    assert patched.json["version"] > body["version"]
    assert patched.json["updated_at"] >= body["updated_at"]
    changes = db.session.scalars(sa.select(History.field).where(
        History.entity_id == uuid.UUID(body["id"]), History.kind == "change")).all()
    assert sorted(changes) == ["abc_class", "phone"]

    assert client.api("DELETE", path, token=token).status_code == 204
    assert client.api("GET", path, token=token).status_code == 404
    assert client.api("PATCH", path, token=token, json={"phone": "+49 40 1"}).status_code == 404
    row = fresh(db, Customer, uuid.UUID(body["id"]))
    assert row.deleted is True and row.version > patched.json["version"]


def test_delete_customer_tombstones_its_contacts(client, cast, db):
    response = client.api("DELETE", f"{API}/customers/{cast.customer.id}", token=cast.tokens["rep"])
    assert response.status_code == 204
    assert fresh(db, Contact, cast.contact.id).deleted is True
    assert client.api("GET", f"{API}/contacts/{cast.contact.id}",
                      token=cast.tokens["rep"]).status_code == 404


def test_rep_may_delete_only_own_customers(client, cast, make_customer):
    shared = make_customer(name="Gemeinsam", territory_id=cast.north.id, owner_id=None)
    response = client.api("DELETE", f"{API}/customers/{shared.id}", token=cast.tokens["rep"])
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert client.api("DELETE", f"{API}/customers/{shared.id}",
                      token=cast.tokens["manager"]).status_code == 204


def test_client_chosen_id_is_kept_and_never_reused(client, cast, db):
    chosen = uuid.uuid4()
    body = {"id": str(chosen), "name": "Offline angelegt", "postal_code": "20095"}
    first = client.api("POST", f"{API}/customers", token=cast.tokens["rep"], json=body)
    assert first.status_code == 201 and first.json["id"] == str(chosen)
    again = client.api("POST", f"{API}/customers", token=cast.tokens["rep"], json=body)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate_id"
    client.api("DELETE", f"{API}/customers/{chosen}", token=cast.tokens["rep"])
    assert client.api("POST", f"{API}/customers", token=cast.tokens["rep"],
                      json=body).status_code == 409
    foreign = client.api("POST", f"{API}/customers", token=cast.tokens["rep"],
                         json=body | {"id": str(cast.other_customer.id)})
    assert foreign.status_code == 409
    bad = client.api("POST", f"{API}/customers", token=cast.tokens["rep"], json=body | {"id": "x"})
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"id"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 3


@pytest.mark.parametrize(("body", "fields"), [
    ({"name": "X", "colour": "red"}, {"colour"}),
    ({"name": "X", "lat": "abc", "lon": 10}, {"lat"}),
    ({"name": "X", "lat": 95, "lon": 10}, {"lat"}),
    ({"name": "X", "lat": "NaN", "lon": 10}, {"lat"}),
    ({"name": "X", "lat": 53.5}, {"lon"}),
    ({"name": "X", "visit_interval_days": "30"}, {"visit_interval_days"}),
    ({"name": "X", "marketing_consent": "yes"}, {"marketing_consent"}),
    ({"name": "X", "status": None}, {"status"}),
    ({"name": "X", "status": "vip", "email": "nope", "postal_code": "123"},
     {"status", "email", "postal_code"}),
    ({"name": ""}, {"name"}),
    ({"name": 7}, {"name"}),
    ({"street": "Hauptstraße 1"}, {"name"}),
    ({"name": "X", "owner_id": str(uuid.UUID(int=1))}, {"owner_id"}),
    ({"name": "X", "marketing_consent_at": "2026-01-01T10:00:00"}, {"marketing_consent_at"}),
])
def test_invalid_customer_is_422_and_writes_nothing(client, cast, db, body, fields):
    before = db.session.scalar(sa.select(sa.func.max(Customer.version)))
    response = client.api("POST", f"{API}/customers", token=cast.tokens["rep"], json=body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed" and set(error["fields"]) == fields
    assert all(isinstance(text, str) and text for text in error["fields"].values())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2
    assert db.session.scalar(sa.select(sa.func.max(Customer.version))) == before


def test_invalid_patch_changes_nothing(client, cast, db):
    before = cast.customer.version
    response = client.api("PATCH", f"{API}/customers/{cast.customer.id}", token=cast.tokens["rep"],
                          json={"phone": "+49 40 999999", "lat": 95})
    assert response.status_code == 422
    row = fresh(db, Customer, cast.customer.id)
    assert row.version == before and row.phone == ""


def test_json_nan_literal_is_422(client, cast):
    response = client.api("PATCH", f"{API}/customers/{cast.customer.id}", token=cast.tokens["rep"],
                          data='{"lat": NaN, "lon": 1}', content_type="application/json")
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"lat"}


@pytest.mark.parametrize(("data", "content_type", "status"), [
    ("{", "application/json", 400),
    ("", "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ('"text"', "application/json", 400),
    ("[" * 100_000, "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    ("name=X", "application/x-www-form-urlencoded", 415),
    ('{"name": "X"}', "text/plain", 415),
])
def test_unreadable_body_is_a_json_4xx(client, cast, data, content_type, status):
    for method, path in (("POST", f"{API}/customers"),
                         ("PATCH", f"{API}/customers/{cast.customer.id}")):
        response = client.api(method, path, token=cast.tokens["rep"], data=data,
                              content_type=content_type)
        assert response.status_code == status
        assert response.json["error"]["code"] in ("invalid_json", "unsupported_media_type")
        assert response.json["error"]["message"]


def test_unknown_api_path_and_method_are_json(client, cast):
    missing = client.api("GET", f"{API}/nothing-here", token=cast.tokens["rep"])
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.api("PUT", f"{API}/customers/{cast.customer.id}", token=cast.tokens["rep"],
                       json={})
    assert wrong.status_code == 405 and "PATCH" in wrong.headers["Allow"]


# Scope

def test_other_territory_sees_nothing_of_a_customer(client, cast, db):
    token = cast.tokens["other_rep"]
    customer, contact = f"{API}/customers/{cast.customer.id}", f"{API}/contacts/{cast.contact.id}"
    for path in (customer, contact):
        assert client.api("GET", path, token=token).status_code == 404
        assert client.api("PATCH", path, token=token, json={"name": "Hijacked"}).status_code == 404
        assert client.api("DELETE", path, token=token).status_code == 404
    listed = client.api("GET", f"{API}/customers", token=token).json["items"]
    assert [c["name"] for c in listed] == ["Metzgerei Huber"]
    contacts = client.api("GET", f"{API}/contacts", token=token).json["items"]
    assert contacts == []
    by_customer = client.api("GET", f"{API}/contacts?customer_id={cast.customer.id}", token=token)
    assert by_customer.json["items"] == []
    assert fresh(db, Customer, cast.customer.id).name == "Bäckerei Müller GmbH"
    assert fresh(db, Contact, cast.contact.id).deleted is False


def test_customer_cannot_be_moved_to_a_foreign_territory(client, cast):
    response = client.api("PATCH", f"{API}/customers/{cast.customer.id}", token=cast.tokens["rep"],
                          json={"territory_id": str(cast.south.id)})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"territory_id"}


# Contacts

def test_contact_create_get_patch_delete(client, cast, db, make_customer, make_contact):
    token = cast.tokens["rep"]
    second = make_customer(name="Zweiter Kunde", territory_id=cast.north.id)
    make_contact(second, name="Bernd Braun")
    created = client.api("POST", f"{API}/contacts", token=token, json={
        "customer_id": str(cast.customer.id), "name": "Carla Clausen", "role": "Inhaberin",
        "email": "Carla@Example.com", "birthday": "1980-02-29",
    })
    assert created.status_code == 201, created.json
    body = created.json
    assert body["email"] == "carla@example.com" and body["birthday"] == "1980-02-29"
    assert body["customer_id"] == str(cast.customer.id) and body["phone"] == ""
    assert created.headers["Location"] == f"{API}/contacts/{body['id']}"

    of_customer = client.api("GET", f"{API}/contacts?customer_id={cast.customer.id}", token=token)
    assert [c["name"] for c in of_customer.json["items"]] == ["Anna Schmidt", "Carla Clausen"]
    everyone = client.api("GET", f"{API}/contacts?limit=2", token=token).json
    rest = client.api("GET", everyone["next"], token=token).json
    assert [c["name"] for c in everyone["items"] + rest["items"]] == [
        "Anna Schmidt", "Bernd Braun", "Carla Clausen"]

    path = f"{API}/contacts/{body['id']}"
    patched = client.api("PATCH", path, token=token, json={"role": "Geschäftsführerin",
                                                           "birthday": None})
    assert patched.status_code == 200
    assert patched.json["role"] == "Geschäftsführerin" and patched.json["birthday"] is None
    assert patched.json["version"] > body["version"]
    moved = client.api("PATCH", path, token=token, json={"customer_id": str(cast.other_customer.id)})
    assert moved.status_code == 422 and set(moved.json["error"]["fields"]) == {"customer_id"}

    assert client.api("DELETE", path, token=token).status_code == 204
    assert client.api("GET", path, token=token).status_code == 404
    assert fresh(db, Contact, uuid.UUID(body["id"])).deleted is True


def test_contact_needs_a_visible_customer(client, cast):
    response = client.api("POST", f"{API}/contacts", token=cast.tokens["rep"],
                          json={"customer_id": str(cast.other_customer.id), "name": "Spion"})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"customer_id"}


def test_contact_client_id_and_duplicate(client, cast):
    chosen = str(uuid.uuid4())
    body = {"id": chosen, "customer_id": str(cast.customer.id), "name": "Dora Dorn"}
    assert client.api("POST", f"{API}/contacts", token=cast.tokens["rep"],
                      json=body).json["id"] == chosen
    assert client.api("POST", f"{API}/contacts", token=cast.tokens["rep"],
                      json=body).status_code == 409


# Products

def test_everyone_reads_the_catalogue_with_decimal_strings(client, cast, make_product):
    make_product(name="Alter Tee", active=False)
    listed = client.api("GET", f"{API}/products", token=cast.tokens["rep"]).json["items"]
    assert [p["name"] for p in listed] == ["Alter Tee", "Kaffee 1 kg"]
    coffee = listed[1]
    assert coffee["net_price"] == "12.50" and coffee["vat_rate"] == "7.00"
    assert coffee["active"] is True and coffee["unit"] == "kg"
    active = client.api("GET", f"{API}/products?active=true", token=cast.tokens["rep"]).json
    assert [p["name"] for p in active["items"]] == ["Kaffee 1 kg"]
    inactive = client.api("GET", f"{API}/products?active=false", token=cast.tokens["rep"]).json
    assert [p["name"] for p in inactive["items"]] == ["Alter Tee"]
    assert client.api("GET", f"{API}/products/{cast.product.id}",
                      token=cast.tokens["rep"]).json == coffee


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_only_admins_change_the_catalogue(client, cast, db, role):
    token, path = cast.tokens[role], f"{API}/products/{cast.product.id}"
    create = client.api("POST", f"{API}/products", token=token,
                        json={"sku": "T-1", "name": "Tee", "net_price": "3.20", "vat_rate": "7"})
    assert create.status_code == 403
    assert client.api("PATCH", path, token=token, json={"name": "Billig"}).status_code == 403
    assert client.api("DELETE", path, token=token).status_code == 403
    row = fresh(db, Product, cast.product.id)
    assert row.name == "Kaffee 1 kg" and row.deleted is False


def test_admin_creates_patches_deletes_products(client, cast, db):
    token = cast.tokens["admin"]
    chosen = str(uuid.uuid4())
    created = client.api("POST", f"{API}/products", token=token, json={
        "id": chosen, "sku": "TEE-1", "name": "Grüner Tee", "unit": "Dose",
        "net_price": "4.9", "vat_rate": 7})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["id"] == chosen and body["net_price"] == "4.90" and body["vat_rate"] == "7.00"
    assert body["active"] is True

    path = f"{API}/products/{chosen}"
    patched = client.api("PATCH", path, token=token, json={"net_price": "5.25", "active": False})
    assert patched.status_code == 200
    assert patched.json["net_price"] == "5.25" and patched.json["active"] is False
    assert patched.json["sku"] == "TEE-1" and patched.json["version"] > body["version"]

    duplicate_sku = client.api("POST", f"{API}/products", token=token, json={
        "sku": "TEE-1", "name": "Anderer Tee", "net_price": "1", "vat_rate": "7"})
    assert duplicate_sku.status_code == 422
    assert set(duplicate_sku.json["error"]["fields"]) == {"sku"}
    bad = client.api("PATCH", path, token=token,
                     json={"net_price": "1.999", "vat_rate": 150, "name": None})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) >= {"net_price", "vat_rate"}

    assert client.api("DELETE", path, token=token).status_code == 204
    assert client.api("GET", path, token=token).status_code == 404
    assert fresh(db, Product, uuid.UUID(chosen)).deleted is True


# Every route × role

ANY_USER_200 = {"anonymous": 401, "rep": 200, "other_rep": 200, "manager": 200, "admin": 200}
IN_SCOPE = {"anonymous": 401, "rep": 200, "other_rep": 404, "manager": 200, "admin": 200}
IN_SCOPE_DELETE = {"anonymous": 401, "rep": 204, "other_rep": 404, "manager": 204, "admin": 204}
CREATE_IN_NORTH = {"anonymous": 401, "rep": 201, "other_rep": 422, "manager": 201, "admin": 201}
ADMIN_ONLY = {"anonymous": 401, "rep": 403, "other_rep": 403, "manager": 403}
# Only the rep who made a visit changes it (check-in and -out are theirs).
OWN_VISIT = {"anonymous": 401, "rep": 200, "other_rep": 404, "manager": 403, "admin": 403}

# (endpoint, method, path builder, body builder or None, expected status by role)
MATRIX = [
    ("api.openapi", "GET", lambda w: f"{API}/openapi.json", None, dict.fromkeys(ROLES, 200)),
    ("api.create_token", "POST", lambda w: f"{API}/auth/tokens",
     lambda w: {"email": "nobody@example.com", "password": "x", "name": "t"},
     dict.fromkeys(ROLES, 401)),
    ("api.revoke_token", "DELETE", lambda w: f"{API}/auth/tokens/{uuid.uuid4()}", None,
     {"anonymous": 401} | dict.fromkeys(ROLES[1:], 404)),
    ("api.list_customers", "GET", lambda w: f"{API}/customers", None, ANY_USER_200),
    ("api.create_customer", "POST", lambda w: f"{API}/customers",
     lambda w: {"name": "Neu GmbH", "postal_code": "20095", "territory_id": str(w.north.id)},
     CREATE_IN_NORTH),
    ("api.get_customer", "GET", lambda w: f"{API}/customers/{w.customer.id}", None, IN_SCOPE),
    ("api.update_customer", "PATCH", lambda w: f"{API}/customers/{w.customer.id}",
     lambda w: {"phone": "+49 40 1234567"}, IN_SCOPE),
    ("api.delete_customer", "DELETE", lambda w: f"{API}/customers/{w.customer.id}", None,
     IN_SCOPE_DELETE),
    ("api.list_contacts", "GET", lambda w: f"{API}/contacts", None, ANY_USER_200),
    ("api.create_contact", "POST", lambda w: f"{API}/contacts",
     lambda w: {"customer_id": str(w.customer.id), "name": "Neue Person"}, CREATE_IN_NORTH),
    ("api.get_contact", "GET", lambda w: f"{API}/contacts/{w.contact.id}", None, IN_SCOPE),
    ("api.update_contact", "PATCH", lambda w: f"{API}/contacts/{w.contact.id}",
     lambda w: {"role": "Chef"}, IN_SCOPE),
    ("api.delete_contact", "DELETE", lambda w: f"{API}/contacts/{w.contact.id}", None,
     IN_SCOPE_DELETE),
    ("api.list_products", "GET", lambda w: f"{API}/products", None, ANY_USER_200),
    ("api.create_product", "POST", lambda w: f"{API}/products",
     lambda w: {"sku": "NEU-1", "name": "Neu", "net_price": "9.99", "vat_rate": "19"},
     ADMIN_ONLY | {"admin": 201}),
    ("api.get_product", "GET", lambda w: f"{API}/products/{w.product.id}", None, ANY_USER_200),
    ("api.update_product", "PATCH", lambda w: f"{API}/products/{w.product.id}",
     lambda w: {"name": "Umbenannt"}, ADMIN_ONLY | {"admin": 200}),
    ("api.delete_product", "DELETE", lambda w: f"{API}/products/{w.product.id}", None,
     ADMIN_ONLY | {"admin": 204}),
    ("api.customer_history", "GET", lambda w: f"{API}/customers/{w.customer.id}/history", None,
     IN_SCOPE),
    ("api.list_visits", "GET", lambda w: f"{API}/visits", None, ANY_USER_200),
    ("api.create_visit", "POST", lambda w: f"{API}/visits",
     lambda w: {"customer_id": str(w.customer.id), "planned_at": _soon()}, CREATE_IN_NORTH),
    ("api.get_visit", "GET", lambda w: f"{API}/visits/{w.visit.id}", None, IN_SCOPE),
    ("api.update_visit", "PATCH", lambda w: f"{API}/visits/{w.visit.id}",
     lambda w: {"planned_at": _soon()}, OWN_VISIT),
    ("api.delete_visit", "DELETE", lambda w: f"{API}/visits/{w.visit.id}", None,
     IN_SCOPE_DELETE),
    ("api.list_notes", "GET", lambda w: f"{API}/notes", None, ANY_USER_200),
    ("api.create_note", "POST", lambda w: f"{API}/notes",
     lambda w: {"customer_id": str(w.customer.id), "body": "Neue Notiz"}, CREATE_IN_NORTH),
    ("api.get_note", "GET", lambda w: f"{API}/notes/{w.note.id}", None, IN_SCOPE),
    ("api.update_note", "PATCH", lambda w: f"{API}/notes/{w.note.id}", lambda w: {"body": "Korrigiert"},
     IN_SCOPE),
    ("api.delete_note", "DELETE", lambda w: f"{API}/notes/{w.note.id}", None, IN_SCOPE_DELETE),
    ("api.list_orders", "GET", lambda w: f"{API}/orders", None, ANY_USER_200),
    ("api.create_order", "POST", lambda w: f"{API}/orders",
     lambda w: {"customer_id": str(w.customer.id),
                "lines": [{"product_id": str(w.product.id), "quantity": "2"}]}, CREATE_IN_NORTH),
    ("api.get_order", "GET", lambda w: f"{API}/orders/{w.order.id}", None, IN_SCOPE),
    ("api.update_order", "PATCH", lambda w: f"{API}/orders/{w.order.id}",
     lambda w: {"lines": [{"product_id": str(w.product.id), "quantity": "1"}]}, IN_SCOPE),
    ("api.list_followups", "GET", lambda w: f"{API}/followups", None, ANY_USER_200),
    ("api.create_followup", "POST", lambda w: f"{API}/followups",
     lambda w: {"customer_id": str(w.customer.id), "title": "Nachfassen", "due_at": _soon()},
     CREATE_IN_NORTH),
    ("api.get_followup", "GET", lambda w: f"{API}/followups/{w.followup.id}", None, IN_SCOPE),
    ("api.update_followup", "PATCH", lambda w: f"{API}/followups/{w.followup.id}",
     lambda w: {"title": "Zurückrufen"}, IN_SCOPE),
    ("api.delete_followup", "DELETE", lambda w: f"{API}/followups/{w.followup.id}", None,
     IN_SCOPE_DELETE),
]
CASES = [pytest.param(endpoint, method, path, body, role, expected[role],
                      id=f"{endpoint}-{method}-{role}")
         for endpoint, method, path, body, expected in MATRIX for role in ROLES]


@pytest.mark.parametrize(("endpoint", "method", "path", "body", "role", "expected"), CASES)
def test_route_role_status(client, cast, endpoint, method, path, body, role, expected):
    if role == "anonymous":
        client.refresh_csrf()  # a browser without a login: CSRF passes, authentication fails
    response = client.api(method, path(cast), json=body(cast) if body else None,
                          **as_role(cast, role))
    assert response.status_code == expected, response.get_data(as_text=True)[:500]
    if expected >= 400:
        assert set(response.json["error"]) >= {"code", "message"}


def test_matrix_covers_every_api_route(app):
    """A new API route without a row in MATRIX fails here, so authorization is never forgotten."""
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint.startswith("api.")}
    assert routes == {(endpoint, method) for endpoint, method, *_ in MATRIX}
