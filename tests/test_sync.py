"""The offline sync contract: push (idempotent, gap-checked, atomic), merge rules, pull, cursor, scope."""

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from support import PULL, PUSH, Device, stamp

from fieldcrm.models import Contact, Customer, Followup, History, Note, SyncClient, SyncRejection


@pytest.fixture
def rep_device(make_client, world):
    return Device(make_client(), "rep1@example.com")


def test_push_creates_and_replay_is_duplicate(rep_device, db):
    new_id = uuid.uuid4()
    m = rep_device.mutation("customer", new_id, {"name": "Offline GmbH", "postal_code": "20095",
                                                 "city": "Hamburg"})
    first = rep_device.push(m)
    assert first["last_mutation_id"] == 1
    assert first["results"][0]["status"] == "applied" and first["results"][0]["version"] > 0
    again = rep_device.push(m)
    assert again["results"][0]["status"] == "duplicate"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(Customer.id == new_id)) == 1


def test_gap_is_409_and_applies_nothing(rep_device, world, db):
    rep_device.next_id = 5
    body = rep_device.push(rep_device.mutation("customer", world.customer.id, {"city": "Kiel"},
                                               base=world.customer.version), expect=409)
    assert body["error"]["code"] == "mutation_gap" and body["error"]["last_mutation_id"] == 0
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).city == "Hamburg"


def test_batch_limits_and_shape(rep_device, world):
    too_many = [rep_device.mutation("customer", uuid.uuid4(), {"name": f"K{i}"}) for i in range(1001)]
    assert rep_device.push(*too_many, expect=413)["error"]["code"] == "batch_too_large"
    rep_device.next_id = 1
    a = rep_device.mutation("customer", uuid.uuid4(), {"name": "A"})
    rep_device.next_id = 3
    b = rep_device.mutation("customer", uuid.uuid4(), {"name": "B"})
    assert rep_device.push(a, b, expect=400)["error"]["code"] == "not_consecutive"
    for entity in ("spaceship", {}, ["customer"], None):  # {} was a 500 (found by schemathesis)
        bad_entity = dict(a, entity=entity)
        assert rep_device.push(bad_entity, expect=400)["error"]["code"] == "invalid_mutation"
    bad_field = dict(a, fields={"name": "A", "colour": "red"})
    assert rep_device.push(bad_field, expect=400)["error"]["code"] == "unknown_field"
    bad_type = dict(a, base_version="7")
    assert rep_device.push(bad_type, expect=400)["error"]["code"] == "invalid_mutation"
    response = rep_device.client.http.post(PUSH, data="{not json", content_type="application/json",
                                           headers={"X-CSRFToken": rep_device.client.csrf})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_foreign_client_id_is_403(make_client, world, rep_device):
    rep_device.push(rep_device.mutation("customer", uuid.uuid4(), {"name": "Mine"}))
    thief = Device(make_client(), "rep2@example.com")
    thief.id = rep_device.id
    assert thief.push(thief.mutation("customer", uuid.uuid4(), {"name": "X"}), expect=403)["error"]["code"] == "foreign_client"


def test_a_device_registered_meanwhile_by_its_other_request_is_found(rep_device, world, db):
    """A new phone's first pull and push often arrive together: both find no device row,
    and the one that inserts second must find the other's row, not fail on the key."""
    raced = []

    def the_other_request_commits_first(conn, cursor, statement, parameters, context, many):
        if raced or not statement.lstrip().upper().startswith("INSERT INTO SYNC_CLIENT"):
            return
        raced.append(statement)
        with db.engine.connect() as other:
            other.execute(sa.insert(SyncClient).values(
                id=uuid.UUID(rep_device.id), user_id=world.rep.id, last_mutation_id=0,
                last_seen_at=datetime.now(UTC)))
            other.commit()

    sa.event.listen(db.engine, "before_cursor_execute", the_other_request_commits_first)
    try:
        body = rep_device.pull()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", the_other_request_commits_first)
    assert raced, "the device row was never inserted"
    assert body["has_more"] is False
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncClient)
                             .where(SyncClient.id == uuid.UUID(rep_device.id))) == 1


def test_other_fields_merge(rep_device, world, db, make_client):
    base = world.customer.version
    web = make_client()
    web.login("manager@example.com")
    assert web.api("PATCH", f"/api/v1/customers/{world.customer.id}", json={"email": "info@mueller.de"}).status_code == 200
    result = rep_device.push(rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 555"}, base=base))
    assert result["results"][0]["status"] == "merged"
    db.session.expire_all()
    row = db.session.get(Customer, world.customer.id)
    assert (row.phone, row.email) == ("+49 40 555", "info@mueller.de")


def test_same_field_later_edit_wins_and_loser_is_in_history(rep_device, world, db, make_client):
    base = world.customer.version
    changed_offline = stamp(-3600)
    web = make_client()
    web.login("manager@example.com")
    web.api("PATCH", f"/api/v1/customers/{world.customer.id}", json={"phone": "+49 40 111"})
    result = rep_device.push(rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 222"},
                                                 base=base, changed_at=changed_offline))["results"][0]
    assert result["status"] == "conflict"
    assert result["conflicts"] == [{"field": "phone", "yours": "+49 40 222", "theirs": "+49 40 111", "kept": "theirs"}]
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).phone == "+49 40 111"
    conflict = db.session.scalar(sa.select(History).where(History.kind == "conflict"))
    assert (conflict.field, conflict.old, conflict.new, conflict.user_id) == ("phone", "+49 40 222", "+49 40 111", world.rep.id)


def test_same_field_device_later_wins(rep_device, world, db, make_client):
    base = world.customer.version
    web = make_client()
    web.login("manager@example.com")
    web.api("PATCH", f"/api/v1/customers/{world.customer.id}", json={"phone": "+49 40 111"})
    result = rep_device.push(rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 222"},
                                                 base=base, changed_at=stamp(60)))["results"][0]
    assert result["status"] == "conflict" and result["conflicts"][0]["kept"] == "yours"
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).phone == "+49 40 222"
    conflict = db.session.scalar(sa.select(History).where(History.kind == "conflict"))
    assert (conflict.old, conflict.new, conflict.user_id) == ("+49 40 111", "+49 40 222", world.manager.id)


def test_own_sequential_edits_never_conflict(rep_device, world):
    base = world.customer.version
    first = rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 1000"}, base=base)
    second = rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 2000"}, base=base)
    statuses = [r["status"] for r in rep_device.push(first, second)["results"]]
    assert statuses == ["applied", "applied"]


def test_delete_wins_over_later_edit(rep_device, world, db, make_client):
    base = world.customer.version
    web = make_client()
    web.login("manager@example.com")
    assert web.api("DELETE", f"/api/v1/customers/{world.customer.id}").status_code == 204
    result = rep_device.push(rep_device.mutation("customer", world.customer.id, {"phone": "+49 40 9"},
                                                 base=base, changed_at=stamp(60)))["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "deleted"
    kept = db.session.scalar(sa.select(SyncRejection))
    assert kept.fields == {"phone": "+49 40 9"} and kept.user_id == world.rep.id
    listed = rep_device.client.api("GET", "/api/v1/sync/rejections").get_json()["items"]
    assert listed[0]["reason"] == "deleted" and listed[0]["fields"] == {"phone": "+49 40 9"}


def test_out_of_scope_push_is_rejected_and_writes_nothing(rep_device, world, db):
    before = world.other_customer.version
    result = rep_device.push(rep_device.mutation("customer", world.other_customer.id, {"city": "Ulm"},
                                                 base=before))["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Customer, world.other_customer.id).version == before


def test_poison_mutation_is_rejected_and_the_rest_apply(rep_device, world, db):
    base = world.customer.version
    poison = rep_device.mutation("customer", world.customer.id, {"email": "not an email"}, base=base)
    good = rep_device.mutation("customer", world.customer.id, {"city": "Altona"}, base=base)
    results = rep_device.push(poison, good)["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["reason"] == "invalid" and "email" in results[0]["details"]["fields"]
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).city == "Altona"
    assert db.session.get(SyncClient, uuid.UUID(rep_device.id)).last_mutation_id == 2


def test_batch_of_new_rows_is_written_together_with_the_right_versions(rep_device, world, db):
    """The fast path: new rows collected and written by one flush, a new customer's contact
    after it is written, every result with the row's own version."""
    new_customer = uuid.uuid4()
    mutations = [
        rep_device.mutation("note", uuid.uuid4(), {"customer_id": str(world.customer.id),
                                                   "body": "Wants the autumn offer."}),
        rep_device.mutation("contact", uuid.uuid4(), {"customer_id": str(world.customer.id),
                                                      "name": "Jens Jansen"}),
        rep_device.mutation("customer", new_customer, {"name": "Kiosk am Hafen", "postal_code": "20457",
                                                       "city": "Hamburg"}),
        rep_device.mutation("contact", uuid.uuid4(), {"customer_id": str(new_customer).upper(),
                                                      "name": "Hafen Kiosk Chef"}),
        rep_device.mutation("followup", uuid.uuid4(), {"customer_id": str(world.customer.id),
                                                       "title": "Call back",
                                                       "due_at": "2030-01-07T09:00:00+01:00"}),
    ]
    results = rep_device.push(*mutations)["results"]
    assert [r["status"] for r in results] == ["applied"] * 5
    models = {"note": Note, "contact": Contact, "customer": Customer, "followup": Followup}
    for m, result in zip(mutations, results, strict=True):
        row = db.session.get(models[m["entity"]], uuid.UUID(m["entity_id"]))
        assert row is not None and result["version"] == row.version
    versions = [r["version"] for r in results]
    assert len(set(versions)) == 5
    history = db.session.scalars(sa.select(History.kind).where(
        History.customer_id == world.customer.id, History.kind.in_(("note", "followup")))).all()
    assert sorted(history) == ["followup", "note"]


def test_note_after_its_customer_is_deleted_in_the_same_batch_is_rejected(rep_device, world, db):
    """The batch's scope answers are forgotten before a customer is deleted, so a note for
    it later in the batch is refused as it would be one by one."""
    note = rep_device.mutation("note", uuid.uuid4(), {"customer_id": str(world.customer.id),
                                                      "body": "Just in time."})
    delete = rep_device.mutation("customer", world.customer.id, op="delete", base=world.customer.version)
    other = rep_device.mutation("note", uuid.uuid4(), {"customer_id": str(world.customer.id),
                                                       "body": "Also too late."})
    results = rep_device.push(note, delete, other)["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["details"]["fields"] == {"customer_id": "Unknown customer."}
    assert db.session.get(Note, uuid.UUID(note["entity_id"])) is not None
    assert db.session.get(Note, uuid.UUID(other["entity_id"])) is None
    assert db.session.scalar(sa.select(SyncRejection.mutation_id)) == 3


def test_error_mid_batch_applies_nothing(rep_device, world, db, monkeypatch):
    from fieldcrm.sync import merge

    real = merge.apply_mutation
    calls = []

    def failing(user, m, client_id, effective_at, absent):
        calls.append(m.id)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(user, m, client_id, effective_at, absent)

    monkeypatch.setattr("fieldcrm.sync.push.apply_mutation", failing)
    base = world.customer.version
    with pytest.raises(RuntimeError):
        rep_device.push(rep_device.mutation("customer", world.customer.id, {"city": "A"}, base=base),
                        rep_device.mutation("customer", world.customer.id, {"city": "B"}, base=base))
    db.session.expire_all()
    assert db.session.get(Customer, world.customer.id).city == "Hamburg"
    assert db.session.get(SyncClient, uuid.UUID(rep_device.id)) is None


def test_pull_full_then_incremental_and_paged(rep_device, world, make_customer, db):
    body = rep_device.pull()
    assert "reset" not in body and body["last_mutation_id"] == 0
    assert ("customer", str(world.customer.id)) in rep_device.rows
    assert ("contact", str(world.contact.id)) in rep_device.rows
    assert ("customer", str(world.other_customer.id)) not in rep_device.rows
    for i in range(5):
        make_customer(name=f"Neu {i}", territory_id=world.north.id)
    seen = []
    cursor = rep_device.cursor
    while True:
        page = rep_device.client.api("POST", PULL, json={"cursor": cursor, "limit": 2}).get_json()
        seen += [c["entity_id"] for c in page["changes"] if c["entity"] == "customer"]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == 5 and len(set(seen)) == 5


def test_reassigned_customer_is_revoked(rep_device, world, db, make_client):
    rep_device.pull()
    admin = make_client()
    admin.login("admin@example.com")
    admin.api("PATCH", f"/api/v1/customers/{world.customer.id}",
              json={"territory_id": str(world.south.id), "owner_id": str(world.other_rep.id)})
    body = rep_device.pull()
    revokes = [c for c in body["changes"] if c["op"] == "revoke"]
    assert revokes and revokes[0]["entity_id"] == str(world.customer.id)
    assert ("customer", str(world.customer.id)) not in rep_device.rows


def test_forged_or_foreign_cursor_resets(rep_device, world):
    rep_device.pull()
    for cursor in ("garbage", rep_device.cursor[:-2] + "xx"):
        body = rep_device.client.api("POST", PULL, json={"cursor": cursor}).get_json()
        assert body["reset"] is True and any(c["entity"] == "customer" for c in body["changes"])
    wrong_type = rep_device.client.api("POST", PULL, json={"cursor": 42})
    assert wrong_type.status_code == 400 and wrong_type.get_json()["error"]["code"] == "invalid_cursor"


def test_a_malformed_pull_is_refused_in_the_users_language(rep_device, world, db):
    world.rep.locale = "de"
    db.session.commit()
    error = rep_device.client.api("POST", PULL, json={"cursor": 42}).get_json()["error"]
    assert (error["code"], error["message"]) == ("invalid_cursor",
                                                 "cursor muss eine Zeichenkette oder null sein.")
    error = rep_device.client.api("POST", PULL, json={"limit": 0}).get_json()["error"]
    assert error["code"] == "invalid_limit"
    assert error["message"].startswith("limit muss zwischen 1 und ")


def test_scope_change_resets_cursor(rep_device, world, db):
    rep_device.pull()
    world.south.reps.append(world.rep)
    db.session.commit()
    body = rep_device.client.api("POST", PULL, json={"cursor": rep_device.cursor}).get_json()
    assert body["reset"] is True
    assert any(c["entity_id"] == str(world.other_customer.id) for c in body["changes"])


def test_push_then_pull_round_trip_without_duplicates(rep_device, world, db):
    new_id = uuid.uuid4()
    m = rep_device.mutation("contact", new_id, {"customer_id": str(world.customer.id), "name": "Neu"})
    rep_device.push(m)
    rep_device.push(m)
    rep_device.pull()
    assert rep_device.rows[("contact", str(new_id))]["name"] == "Neu"
    count = db.session.scalar(sa.select(sa.func.count()).select_from(History).where(History.entity_id == new_id))
    assert count == 1


@pytest.mark.parametrize(("method", "path"), [("POST", PUSH), ("POST", PULL),
                                              ("GET", "/api/v1/sync/rejections"),
                                              ("POST", "/api/v1/sync/rejections/7d0f4f5e-2b1a-4c3d-9e8f-0a1b2c3d4e5f/dismiss")])
def test_sync_needs_a_login(client, world, method, path):
    response = client.api(method, path, json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_work_at_the_customer_syncs_with_device_times(rep_device, world, db):
    from fieldcrm.models import Followup, Note, Visit

    visit_id, note_id, followup_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    checked_in = "2026-11-20T09:12:00+01:00"
    results = rep_device.push(
        rep_device.mutation("visit", visit_id, {"customer_id": str(world.customer.id),
                                                "checked_in_at": checked_in, "lat": 53.55, "lon": 9.99}),
        rep_device.mutation("note", note_id, {"customer_id": str(world.customer.id),
                                              "visit_id": str(visit_id), "channel": "visit",
                                              "body": "Wants the autumn offer"}),
        rep_device.mutation("followup", followup_id, {"customer_id": str(world.customer.id),
                                                      "title": "Call back Friday",
                                                      "due_at": "2030-11-27T10:00:00+01:00"}),
        rep_device.mutation("visit", visit_id, {"checked_out_at": "2026-11-20T09:55:00+01:00",
                                                "outcome": "followup_agreed"}, base=1),
        rep_device.mutation("followup", followup_id, {"done_at": "2026-11-21T08:00:00+01:00"}, base=1),
    )["results"]
    assert [r["status"] for r in results] == ["applied"] * 5, results
    visit = db.session.get(Visit, visit_id)
    assert visit.checked_in_at == datetime(2026, 11, 20, 8, 12, tzinfo=UTC)
    assert visit.outcome == "followup_agreed"
    assert db.session.get(Note, note_id).visit_id == visit_id
    assert db.session.get(Followup, followup_id).done_at is not None
    rep_device.pull()
    assert rep_device.rows[("visit", str(visit_id))]["outcome"] == "followup_agreed"
    assert rep_device.rows[("note", str(note_id))]["body"] == "Wants the autumn offer"
    assert ("history", ) not in rep_device.rows


def test_invalid_visit_is_rejected_and_kept(rep_device, world, db):
    result = rep_device.push(rep_device.mutation("note", uuid.uuid4(), {
        "customer_id": str(world.other_customer.id), "body": "Not my customer"}))["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "invalid"
    assert db.session.scalar(sa.select(SyncRejection)).fields["body"] == "Not my customer"


def test_offline_order_is_priced_by_the_server_and_locked_once_submitted(rep_device, world, db, make_product):
    from decimal import Decimal

    from fieldcrm.models import Order

    coffee = make_product(net_price=Decimal("12.50"), vat_rate=Decimal("7.00"))
    order_id = uuid.uuid4()
    created = rep_device.push(rep_device.mutation("order", order_id, {
        "customer_id": str(world.customer.id), "status": "submitted",
        "lines": [{"product_id": str(coffee.id), "quantity": "2"}]}))["results"][0]
    assert created["status"] == "applied"
    order = db.session.get(Order, order_id)
    assert (order.status, order.net_total, order.gross_total) == ("submitted", Decimal("25.00"), Decimal("26.75"))
    again = rep_device.push(rep_device.mutation("order", order_id, {"discount_pct": "5"},
                                                base=created["version"]))["results"][0]
    assert again["status"] == "rejected" and again["reason"] == "locked"
    rep_device.pull()
    assert rep_device.rows[("order", str(order_id))]["lines"][0]["quantity"] == "2"


def test_rep_cannot_delete_a_territory_customer_they_do_not_own(rep_device, world, make_customer, db):
    shared = make_customer(name="Gemeinsam GmbH", territory_id=world.north.id, owner_id=world.manager.id)
    result = rep_device.push(rep_device.mutation("customer", shared.id, op="delete", base=shared.version))
    assert (result["results"][0]["status"], result["results"][0]["reason"]) == ("rejected", "forbidden")
    db.session.expire_all()
    assert not db.session.get(Customer, shared.id).deleted
    assert db.session.scalar(sa.select(SyncRejection.reason).where(SyncRejection.entity_id == shared.id)) == "forbidden"
