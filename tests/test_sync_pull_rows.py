"""The pull's fast serialisation (fieldcrm.sync.pull_rows) writes what the serializers write.

Rows of every pulled entity with every kind of value — None, non-ASCII, quotes,
backslashes and control characters, times with and without microseconds, dates,
decimals, floats, booleans — are read through the fast path and compared with
the entity's serializer on the ORM object, value by value and type by type (so
``1`` for ``True`` or ``52`` for ``52.0`` would fail), on SQLite and PostgreSQL.
"""

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from support import PULL

from fieldcrm.models import Followup, History, Note, Order, OrderLine, Visit
from fieldcrm.sync import pull as pull_module
from fieldcrm.sync import pull_rows
from fieldcrm.sync.entities import PULLED

ODD = 'Grüße "aus" \\ Köln\n\tTab\x01 ☕ 𝄞 </script> \u2028'
WITH_MICROS = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
WHOLE_SECOND = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def same(a, b) -> bool:
    """Equal, and of the same JSON types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_same_is_strict():
    assert not same({"a": 1}, {"a": True})
    assert not same({"a": 52}, {"a": 52.0})
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert same({"a": [1, None, "x"]}, {"a": [1, None, "x"]})


@pytest.fixture
def rows(db, world, make_customer, make_contact, make_product):
    """At least one row of every pulled entity, with the awkward values."""
    odd = make_customer(name=ODD, street="", city="Köln", lat=50.937531, lon=6.960279,
                        phone="+49 221 «1»", website="https://ä.example/?q=\"x\"",
                        opening_hours="Mo-Fr 07:00-18:00", marketing_consent=True,
                        marketing_consent_at=WITH_MICROS, last_visited_at=WHOLE_SECOND,
                        visit_interval_days=14, revenue_12m=Decimal("1234.50"), abc_class="A",
                        territory_id=world.north.id, owner_id=world.rep.id)
    plain = make_customer(name="Ohne Lage", lat=None, lon=None, abc_class=None, owner_id=None,
                          territory_id=world.north.id)
    make_contact(odd, name=ODD, birthday=date(1980, 2, 29), email="anna@example.com")
    make_contact(plain, name="Ben", birthday=None, role="")
    product = make_product(name=ODD, net_price=Decimal("0.10"), vat_rate=Decimal("19.00"))
    make_product(name="Alt", net_price=Decimal("123456.78"), vat_rate=Decimal("7.00"), active=False)
    visit = Visit(customer_id=odd.id, user_id=world.rep.id, planned_at=WHOLE_SECOND,
                  checked_in_at=WITH_MICROS, checked_out_at=datetime(2026, 3, 4, 6, 0, 0, 500000, tzinfo=UTC),
                  lat=50.5, lon=6.0, distance_m=12.25, far_away=True, outcome="order_taken")
    open_visit = Visit(customer_id=plain.id, user_id=world.rep.id, planned_at=None,
                       checked_in_at=WHOLE_SECOND, lat=None, lon=None, distance_m=None,
                       far_away=False, outcome=None)
    db.session.add_all([visit, open_visit])
    db.session.flush()
    db.session.add_all([
        Note(customer_id=odd.id, visit_id=visit.id, user_id=world.rep.id, channel="visit", body=ODD),
        Note(customer_id=plain.id, visit_id=None, user_id=world.rep.id, channel="phone", body=""),
        Followup(customer_id=odd.id, title=ODD, due_at=WITH_MICROS, done_at=WHOLE_SECOND,
                 assignee_id=world.rep.id, created_by_id=world.rep.id),
        Followup(customer_id=plain.id, title="Anrufen", due_at=WHOLE_SECOND, done_at=None,
                 assignee_id=world.rep.id),
        Order(customer_id=odd.id, user_id=world.rep.id, visit_id=visit.id, status="submitted",
              discount_pct=Decimal("2.50"), net_total=Decimal("12.19"), vat_total=Decimal("0.85"),
              gross_total=Decimal("13.04"), submitted_at=WITH_MICROS,
              lines=[OrderLine(position=1, product_id=product.id, quantity=Decimal("1.500"),
                               unit_price=Decimal("8.33"), discount_pct=Decimal("2.50"),
                               vat_rate=Decimal("7.00"), net=Decimal("12.19"), vat=Decimal("0.85"))]),
        History(customer_id=odd.id, at=WITH_MICROS, user_id=None, kind="change", entity="customer",
                entity_id=odd.id, field="name", old=ODD, new=None, ref_id=None),
        History(customer_id=odd.id, at=WHOLE_SECOND, user_id=world.rep.id, kind="note",
                entity="note", entity_id=uuid.uuid4(), field=None, old=None, new="", ref_id=uuid.uuid4()),
    ])
    db.session.commit()
    return world


def test_every_plain_entity_takes_the_fast_path():
    """A serializer change that the fast path does not know falls back to the ORM; this
    says which entities are fast, so such a change is noticed (the first pull's speed)."""
    assert set(pull_module.FAST_ROWS) == {"customer", "contact", "product", "visit", "note",
                                          "followup", "history"}
    assert {name for name, fast in pull_module.FAST_ROWS.items() if fast.as_text} == {
        "contact", "product", "note", "followup", "history"}


def test_fast_rows_equal_the_serializers(db, rows):
    checked = 0
    for name, fast in pull_module.FAST_ROWS.items():
        model, serialize = PULLED[name].model, PULLED[name].serialize
        objects = db.session.scalars(sa.select(model)).all()
        assert objects, f"no {name} rows to compare"
        for obj in objects:
            found = pull_rows.load(fast, {obj.version})
            assert list(found) == [obj.version]
            text = pull_rows.encode({"changes": list(found.values())})
            change = json.loads(text)["changes"][0]
            expected = {"entity": name, "entity_id": str(obj.id), "op": "upsert",
                        "version": obj.version, "data": serialize(obj)}
            assert same(change, expected), (name, change, expected)
            checked += 1
    assert checked >= 20


def test_tombstone_is_a_delete_without_data(db, rows):
    note = db.session.scalars(sa.select(Note).where(Note.body == ODD)).one()
    note.deleted = True
    db.session.commit()
    found = pull_rows.load(pull_module.FAST_ROWS["note"], {note.version})
    assert json.loads(pull_rows.encode({"changes": list(found.values())}))["changes"] == [
        {"entity": "note", "entity_id": str(note.id), "op": "delete", "version": note.version,
         "data": None}]


def test_pulled_body_equals_the_serializers(db, rows, make_client):
    """The whole endpoint: every change of a first pull in small pages is what the
    serializers write for the row; the body is valid JSON with the contract's keys."""
    device = make_client()
    device.login("rep1@example.com")
    cursor, changes = None, []
    while True:
        response = device.api("POST", PULL, json={"cursor": cursor, "limit": 7})
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        body = json.loads(response.get_data(as_text=True))
        assert list(body) == ["changes", "cursor", "has_more", "last_mutation_id"]
        changes += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    assert [c["version"] for c in changes] == sorted(c["version"] for c in changes)
    db.session.expire_all()
    seen = set()
    for change in changes:
        entity = PULLED[change["entity"]]
        obj = db.session.get(entity.model, uuid.UUID(change["entity_id"]))
        expected = {"entity": change["entity"], "entity_id": str(obj.id), "op": "upsert",
                    "version": obj.version, "data": entity.serialize(obj)}
        assert same(change, expected), (change, expected)
        seen.add(change["entity"])
    assert seen == set(PULLED)


def test_encode_writes_what_jsonify_writes(app):
    result = {"changes": [{"entity": "customer", "entity_id": "x", "op": "revoke", "version": 3,
                           "data": None}, pull_rows.RawJSON('{"a":"ü"}')],
              "cursor": "c", "has_more": False, "last_mutation_id": 0, "reset": True}
    assert json.loads(pull_rows.encode(result)) == {**result, "changes": [result["changes"][0],
                                                                           {"a": "ü"}]}
    assert json.loads(pull_rows.encode({"changes": [], "cursor": "c"})) == {"changes": [],
                                                                           "cursor": "c"}
