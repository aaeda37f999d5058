"""The API's visits, notes, orders and follow-ups, and a customer's history.

A rep with a bearer token logs a day at the customer through the API; another
territory's rep sees none of it; bad input is a 422 that writes nothing; a
submitted order is final; the customer's history shows it all, newest first.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldcrm.auth import create_api_token
from fieldcrm.models import Followup, History, Note, Order, Visit

API = "/api/v1"


@pytest.fixture
def team(cast):
    """The standard cast with a bearer token per user."""
    cast.tokens = {role: create_api_token(getattr(cast, role), "test")[1]
                   for role in ("rep", "other_rep", "manager", "admin")}
    return cast


def at(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def fresh(db, model, row_id):
    db.session.expire_all()
    return db.session.get(model, uuid.UUID(str(row_id)))


class Rep:
    """Requests as one user with a bearer token."""

    def __init__(self, client, token):
        self.client, self.token = client, token

    def __call__(self, method, path, json=None):
        return self.client.api(method, f"{API}{path}", json=json, token=self.token)


@pytest.fixture
def rep(client, team):
    return Rep(client, team.tokens["rep"])


@pytest.fixture
def other(client, team):
    return Rep(client, team.tokens["other_rep"])


def an_order(team, quantity="2", **extra) -> dict:
    return {"customer_id": str(team.customer.id),
            "lines": [{"product_id": str(team.product.id), "quantity": quantity}], **extra}


def test_visit_planned_checked_in_out_and_cancelled(rep, team, db):
    planned = rep("POST", "/visits", {"customer_id": str(team.customer.id),
                                      "planned_at": at(days=2)})
    assert planned.status_code == 201, planned.json
    visit = planned.json
    assert planned.headers["Location"] == f"{API}/visits/{visit['id']}"
    assert visit["user_id"] == str(team.rep.id) and visit["checked_in_at"] is None
    assert rep("GET", f"/visits/{visit['id']}").json == visit
    moved = rep("PATCH", f"/visits/{visit['id']}", {"planned_at": at(days=3)})
    assert moved.status_code == 200 and moved.json["planned_at"] > visit["planned_at"]
    assert rep("DELETE", f"/visits/{visit['id']}").status_code == 204
    assert rep("GET", f"/visits/{visit['id']}").status_code == 404
    assert fresh(db, Visit, visit["id"]).deleted is True

    chosen = str(uuid.uuid4())
    checked_in = rep("POST", "/visits", {"id": chosen, "customer_id": str(team.customer.id),
                                         "checked_in_at": at(minutes=-30), "lat": 53.55,
                                         "lon": 10.0})
    assert checked_in.status_code == 201, checked_in.json
    assert checked_in.json["id"] == chosen and checked_in.json["lat"] == 53.55
    out = rep("PATCH", f"/visits/{chosen}", {"checked_out_at": at(), "outcome": "order_taken"})
    assert out.status_code == 200, out.json
    assert out.json["outcome"] == "order_taken" and out.json["checked_out_at"]
    started = rep("DELETE", f"/visits/{chosen}")
    assert started.status_code == 409
    assert started.json["error"]["message"] == "This visit has already started and cannot be cancelled."
    assert fresh(db, Visit, chosen).deleted is False
    listed = rep("GET", "/visits").json
    assert [v["id"] for v in listed["items"]] == [chosen] and listed["next"] is None


def test_note_create_get_list(rep, team):
    created = rep("POST", "/notes", {"customer_id": str(team.customer.id), "channel": "phone",
                                     "body": "Rückruf wegen Kaffeesorten.\nDetails folgen."})
    assert created.status_code == 201, created.json
    note = created.json
    assert note["user_id"] == str(team.rep.id) and note["channel"] == "phone"
    assert rep("GET", f"/notes/{note['id']}").json == note
    listed = rep("GET", f"/notes?customer_id={team.customer.id}").json
    assert [n["id"] for n in listed["items"]] == [note["id"]]
    assert rep("GET", f"/notes?customer_id={team.other_customer.id}").json["items"] == []
    # The author corrects the text; the customer stays; a colleague rep may not change it.
    corrected = rep("PATCH", f"/notes/{note['id']}", {"body": "Rückruf am Montag."})
    assert corrected.status_code == 200 and corrected.json["body"] == "Rückruf am Montag."
    assert corrected.json["version"] > note["version"]
    moved = rep("PATCH", f"/notes/{note['id']}", {"customer_id": str(team.other_customer.id)})
    assert moved.status_code == 422 and "customer_id" in moved.json["error"]["fields"]
    assert rep("PATCH", f"/notes/{note['id']}", {"body": ""}).status_code == 422
    assert rep("DELETE", f"/notes/{note['id']}").status_code == 204
    assert rep("GET", f"/notes/{note['id']}").status_code == 404


def test_order_is_priced_by_the_server_and_final_once_submitted(rep, team, db):
    body = an_order(team, "2", net_total="0.01", gross_total="0.01")
    body["lines"][0] |= {"unit_price": "0.01", "net": "0.01"}
    created = rep("POST", "/orders", body)
    assert created.status_code == 201, created.json
    order = created.json
    assert order["status"] == "draft" and order["user_id"] == str(team.rep.id)
    assert order["net_total"] == "25.00" and order["gross_total"] == "26.75"
    assert order["lines"][0]["unit_price"] == "12.50" and order["lines"][0]["quantity"] == "2"
    path = f"/orders/{order['id']}"
    assert rep("GET", path).json == order

    changed = rep("PATCH", path, {"lines": [{"product_id": str(team.product.id),
                                             "quantity": "3", "unit_price": "1.00"}]})
    assert changed.status_code == 200, changed.json
    assert changed.json["net_total"] == "37.50" and changed.json["version"] > order["version"]

    submitted = rep("PATCH", path, {"status": "submitted"})
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "submitted" and submitted.json["submitted_at"]
    locked = rep("PATCH", path, {"lines": [{"product_id": str(team.product.id), "quantity": "1"}]})
    assert locked.status_code == 409
    assert locked.json["error"] == {
        "code": "order_locked",
        "message": "This order was submitted and can no longer be changed."}
    stored = fresh(db, Order, order["id"])
    assert stored.net_total == Decimal("37.50") and stored.status == "submitted"
    assert [o["id"] for o in rep("GET", "/orders").json["items"]] == [order["id"]]
    # Orders are cancelled (PATCH status), never deleted.
    assert rep("DELETE", path).status_code == 405
    cancelled = rep("PATCH", path, {"status": "cancelled"})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"


def test_followup_create_get_list_patch_delete(rep, team, db):
    created = rep("POST", "/followups", {"customer_id": str(team.customer.id),
                                         "title": "Angebot nachfassen", "due_at": at(days=7)})
    assert created.status_code == 201, created.json
    followup = created.json
    assert followup["assignee_id"] == str(team.rep.id) and followup["done_at"] is None
    path = f"/followups/{followup['id']}"
    assert rep("GET", path).json == followup
    done = rep("PATCH", path, {"title": "Angebot nachgefasst", "done_at": at()})
    assert done.status_code == 200, done.json
    assert done.json["title"] == "Angebot nachgefasst" and done.json["done_at"]
    assert [f["id"] for f in rep("GET", "/followups").json["items"]] == [followup["id"]]
    assert rep("DELETE", path).status_code == 204
    assert rep("GET", path).status_code == 404
    assert rep("GET", "/followups").json["items"] == []
    assert fresh(db, Followup, followup["id"]).deleted is True


def test_another_territory_sees_and_changes_none_of_it(rep, other, team, db):
    customer = str(team.customer.id)
    made = {
        "visits": rep("POST", "/visits", {"customer_id": customer, "planned_at": at(days=1)}),
        "notes": rep("POST", "/notes", {"customer_id": customer, "body": "Vertraulich"}),
        "orders": rep("POST", "/orders", an_order(team)),
        "followups": rep("POST", "/followups", {"customer_id": customer, "title": "Anrufen",
                                                "due_at": at(days=1)}),
    }
    patches = {"visits": {"planned_at": at(days=4)}, "orders": {"status": "submitted"},
               "followups": {"title": "Gekapert"}}
    for plural, response in made.items():
        assert response.status_code == 201, (plural, response.json)
        path = f"/{plural}/{response.json['id']}"
        assert other("GET", path).status_code == 404
        if plural in patches:
            assert other("PATCH", path, patches[plural]).status_code == 404
        if plural in ("visits", "followups"):
            assert other("DELETE", path).status_code == 404
        assert other("GET", f"/{plural}").json == {"items": [], "next": None}
        assert other("GET", f"/{plural}?customer_id={customer}").json["items"] == []
        assert rep("GET", path).json == response.json
    assert other("GET", f"/customers/{customer}/history").status_code == 404
    assert fresh(db, Order, made["orders"].json["id"]).status == "draft"
    assert fresh(db, Followup, made["followups"].json["id"]).title == "Anrufen"
    # Nor may it create anything at a customer outside its territories.
    foreign = other("POST", "/notes", {"customer_id": customer, "body": "Spion"})
    assert foreign.status_code == 422 and set(foreign.json["error"]["fields"]) == {"customer_id"}


@pytest.mark.parametrize(("plural", "body", "fields"), [
    ("visits", {"customer_id": str(uuid.uuid4()), "planned_at": "2030-01-01T10:00:00+01:00"},
     {"customer_id"}),
    ("visits", {"customer_id": "CUSTOMER", "planned_at": "morgen um zehn"}, {"planned_at"}),
    ("visits", {"customer_id": "CUSTOMER", "checked_in_at": "2026-11-23 09:12"},
     {"checked_in_at"}),
    ("visits", {"customer_id": "CUSTOMER", "planned_at": "2030-01-01T10:00:00+01:00",
                "colour": "red"}, {"colour"}),
    ("notes", {"customer_id": str(uuid.uuid4()), "body": "x"}, {"customer_id"}),
    ("notes", {"customer_id": "CUSTOMER"}, {"body"}),
    ("orders", {"customer_id": "CUSTOMER", "lines": [{"product_id": "PRODUCT", "quantity": -2}]},
     {"lines.0.quantity"}),
    ("orders", {"customer_id": str(uuid.uuid4()),
                "lines": [{"product_id": "PRODUCT", "quantity": 1}]}, {"customer_id"}),
    ("orders", {"customer_id": "CUSTOMER", "lines": [{"product_id": str(uuid.uuid4()),
                                                      "quantity": 1}]}, {"lines.0.product_id"}),
    ("followups", {"customer_id": "CUSTOMER", "title": "x", "due_at": "nächste Woche"},
     {"due_at"}),
])
def test_bad_input_is_422_and_writes_nothing(rep, team, db, plural, body, fields):
    def real(value):
        if isinstance(value, dict):
            return {k: real(v) for k, v in value.items()}
        if isinstance(value, list):
            return [real(v) for v in value]
        return {"CUSTOMER": str(team.customer.id), "PRODUCT": str(team.product.id)}.get(value, value)

    history = sa.select(sa.func.count()).select_from(History)
    before = db.session.scalar(history)
    response = rep("POST", f"/{plural}", real(body))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_failed"
    assert set(response.json["error"]["fields"]) == fields
    for model in (Visit, Note, Order, Followup):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert db.session.scalar(history) == before


def test_bad_patches_are_422_and_change_nothing(rep, team, db):
    order = rep("POST", "/orders", an_order(team)).json
    negative = rep("PATCH", f"/orders/{order['id']}",
                   {"lines": [{"product_id": str(team.product.id), "quantity": "-1"}]})
    assert negative.status_code == 422
    assert set(negative.json["error"]["fields"]) == {"lines.0.quantity"}
    unknown = rep("PATCH", f"/orders/{order['id']}", {"version": 1})
    assert unknown.status_code == 422 and set(unknown.json["error"]["fields"]) == {"version"}
    assert fresh(db, Order, order["id"]).net_total == Decimal("25.00")
    followup = rep("POST", "/followups", {"customer_id": str(team.customer.id), "title": "A",
                                          "due_at": at(days=1)}).json
    bad_time = rep("PATCH", f"/followups/{followup['id']}", {"done_at": "gestern"})
    assert bad_time.status_code == 422 and set(bad_time.json["error"]["fields"]) == {"done_at"}
    assert fresh(db, Followup, followup["id"]).done_at is None


def test_client_id_is_kept_and_never_reused(rep, team):
    chosen = str(uuid.uuid4())
    body = {"id": chosen, "customer_id": str(team.customer.id), "body": "Erste Notiz"}
    assert rep("POST", "/notes", body).json["id"] == chosen
    again = rep("POST", "/notes", body)
    assert again.status_code == 409 and again.json["error"]["code"] == "duplicate_id"
    bad = rep("POST", "/notes", {**body, "id": "nope"})
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"id"}


def test_lists_page_newest_first_and_keep_the_filter(rep, team):
    customer = str(team.customer.id)
    made = [rep("POST", "/notes", {"customer_id": customer, "body": f"Notiz {n}"}).json["id"]
            for n in range(5)]
    first = rep("GET", f"/notes?customer_id={customer}&limit=2").json
    assert f"customer_id={customer}" in first["next"] and "limit=2" in first["next"]
    seen, link = [n["id"] for n in first["items"]], first["next"]
    while link:
        response = rep.client.api("GET", link, token=rep.token)
        seen += [n["id"] for n in response.json["items"]]
        link = response.json["next"]
    assert seen == made[::-1]
    bad = rep("GET", "/notes?cursor=nonsense")
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"cursor"}


def test_customer_history_lists_activities_and_changes_newest_first(rep, team, client):
    customer = str(team.customer.id)
    visit = rep("POST", "/visits", {"customer_id": customer, "checked_in_at": at(minutes=-5)}).json
    note = rep("POST", "/notes", {"customer_id": customer, "visit_id": visit["id"],
                                  "body": "Neue Sorte probiert"}).json
    order = rep("POST", "/orders", an_order(team)).json
    assert rep("PATCH", f"/customers/{customer}", {"phone": "+49 40 999999"}).status_code == 200

    first = rep("GET", f"/customers/{customer}/history?limit=2")
    assert first.status_code == 200
    assert first.json["next"].startswith(f"{API}/customers/{customer}/history?")
    items, link = list(first.json["items"]), first.json["next"]
    while link:
        response = client.api("GET", link, token=team.tokens["rep"])
        items += response.json["items"]
        link = response.json["next"]
    # Older entries follow: the customer's creation by the test fixtures.
    assert [(i["kind"], i["field"], i["ref_id"]) for i in items[:4]] == [
        ("change", "phone", None),
        ("order", "created", order["id"]),
        ("note", "created", note["id"]),
        ("visit", "checked_in", visit["id"]),
    ]
    assert items[0]["new"] == "+49 40 999999" and items[2]["new"] == "Neue Sorte probiert"
    assert all(i["user_id"] == str(team.rep.id) for i in items[:4])
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times, reverse=True) and all(t.utcoffset() is not None for t in times)
    assert set(items[0]) == {"at", "user_id", "kind", "field", "old", "new", "ref_id"}
