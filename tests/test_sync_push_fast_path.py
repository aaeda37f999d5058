"""The push fast path against the one-by-one path, its reference.

The same batch is applied twice from the same database state: once as the server
does (new rows collected and written together, checks read once per batch) and
once forced one by one (each mutation in its savepoint, as after a rejection).
Everything a device or a colleague can see must be the same: the results, the
order of the versions they report, every row, every history entry, every job.
Only the absolute version numbers and the write times may differ.
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_login import login_user

from fieldcrm.models import (
    Contact,
    Customer,
    Followup,
    History,
    Job,
    Note,
    SyncClient,
    SyncRejection,
    Visit,
)
from fieldcrm.sync import push as push_module

TABLES = (Customer, Contact, Visit, Note, Followup, History, Job, SyncRejection, SyncClient)
# Written at flush or insert time, or generated there: not part of what must agree.
VOLATILE = {"version", "seq", "updated_at", "created_at", "at", "run_at", "last_seen_at",
            "marketing_consent_at"}
GENERATED_IDS = {History, Job, SyncRejection}


def _row(model, values: dict) -> dict:
    row = {k: v for k, v in values.items() if k not in VOLATILE}
    if model in GENERATED_IDS:
        row.pop("id")
    if row.get("field_meta"):  # [version, effective time, client, mutation]: the version differs
        row["field_meta"] = {name: stamp[1:] for name, stamp in row["field_meta"].items()}
    return row


def snapshot(db) -> dict:
    return {model.__tablename__: sorted(
        (_row(model, dict(values)) for values in
         db.session.execute(sa.select(model.__table__)).mappings()), key=repr)
        for model in TABLES}


def ranks(values: list) -> list:
    order = sorted(set(values))
    return [order.index(v) for v in values]


def apply_both_ways(app, db, user, mutations, monkeypatch) -> tuple:
    """(results, snapshot) of the fast path and of the one-by-one path, each from the
    same state (rolled back after), and whether the fast path went all the way."""
    body = {"client_id": str(uuid.uuid4()), "mutations": mutations}
    outcomes, together = [], []
    real = push_module._apply_together

    def spy(*args):
        result = real(*args)
        together.append(result is not None)
        return result

    for fast in (True, False):
        monkeypatch.setattr(push_module, "_apply_together", spy if fast else lambda *args: None)
        with app.test_request_context():
            login_user(user)
            results = push_module.push(user, body)["results"]
            db.session.expire_all()
            outcomes.append((results, snapshot(db)))
            db.session.rollback()
    (fast_results, fast_rows), (slow_results, slow_rows) = outcomes
    return fast_results, fast_rows, slow_results, slow_rows, together == [True]


def assert_same(fast_results, fast_rows, slow_results, slow_rows):
    def without_version(results):
        return [{k: v for k, v in r.items() if k != "version"} for r in results]

    assert without_version(fast_results) == without_version(slow_results)
    versions = [(r["version"] or 0) for r in fast_results], [(r["version"] or 0) for r in slow_results]
    assert ranks(versions[0]) == ranks(versions[1])
    for table in fast_rows:
        assert fast_rows[table] == slow_rows[table], table


class Batch:
    def __init__(self):
        self.mutations = []

    def add(self, entity, fields=None, *, entity_id=None, op="upsert", base=None):
        entity_id = entity_id or uuid.uuid4()
        self.mutations.append({"id": len(self.mutations) + 1, "entity": entity, "op": op,
                               "entity_id": str(entity_id), "base_version": base,
                               "changed_at": datetime.now(UTC).isoformat(), "fields": fields or {}})
        return str(entity_id)


def _local_today(hour: int, minute: int = 0) -> datetime:
    zone = ZoneInfo("Europe/Berlin")
    return datetime.combine(datetime.now(zone).date(), time(hour, minute), zone).astimezone(UTC)


@pytest.fixture
def customers(world, make_customer):
    second = make_customer(name="Kiosk Nord", territory_id=world.north.id, owner_id=world.rep.id)
    third = make_customer(name="Café Elbe", territory_id=world.north.id, owner_id=world.rep.id,
                          lat=None, lon=None)
    return world.customer, second, third


def test_mixed_batch_gives_the_same_results_and_rows_both_ways(app, db, world, customers, monkeypatch):
    one, two, three = customers
    planned = Visit(customer_id=two.id, user_id=world.rep.id, planned_at=_local_today(12))
    db.session.add(planned)
    db.session.commit()

    def finished(customer, hour):
        return {"customer_id": str(customer.id), "checked_in_at": _local_today(hour).isoformat(),
                "checked_out_at": _local_today(hour, 40).isoformat(), "outcome": "order_taken",
                "lat": 53.55, "lon": 9.99}

    b = Batch()
    b.add("note", {"customer_id": str(one.id), "channel": "visit", "body": "Autumn offer.\nDetails"})
    contact = b.add("contact", {"customer_id": str(one.id), "name": "Jens Jansen", "phone": "040 123456"})
    b.add("visit", finished(one, 8))
    b.add("visit", finished(two, 11))  # fulfils the planned visit: applied at once
    second_visit = b.add("visit", finished(two, 13))  # a new visit: the planned one is taken
    b.add("note", {"customer_id": str(two.id), "visit_id": second_visit, "body": "In that visit."})
    b.add("followup", {"customer_id": str(three.id), "title": "Send samples",
                       "due_at": "2030-01-07T09:00:00+01:00", "done_at": _local_today(9).isoformat()})
    b.add("customer", {"phone": "040 999999"}, entity_id=three.id, base=three.version)
    new_customer = b.add("customer", {"name": "Neukunde Hafen", "postal_code": "20457", "city": "Hamburg"})
    b.add("contact", {"customer_id": new_customer, "name": "Hafen Chefin"})
    b.add("note", {"customer_id": new_customer, "body": "First contact."})
    open_visit = b.add("visit", {"customer_id": str(three.id), "checked_in_at": _local_today(14).isoformat()})
    b.add("note", {"customer_id": str(three.id), "visit_id": open_visit, "body": "Open visit note."})
    b.add("note", {"customer_id": str(three.id), "visit_id": open_visit, "body": "Another one."})
    b.add("visit", {"checked_out_at": _local_today(14, 30).isoformat(), "outcome": "no_decision"},
          entity_id=open_visit)
    b.add("visit", finished(one, 16))
    b.add("followup", {"customer_id": str(one.id), "title": "Call back",
                       "due_at": "2030-02-07T09:00:00+01:00"})
    b.add("contact", {"role": "Einkauf"}, entity_id=contact)
    b.add("customer", {"name": "Kiosk Nord & Söhne"}, entity_id=two.id, base=two.version)
    b.add("note", {"customer_id": str(two.id), "channel": "phone", "body": "After the rename."})
    b.add("customer", op="delete", entity_id=new_customer, base=None)

    fast_results, fast_rows, slow_results, slow_rows, together = apply_both_ways(
        app, db, world.rep, b.mutations, monkeypatch)
    assert together, "the batch should have gone the fast way"
    assert {r["status"] for r in fast_results} == {"applied"}, fast_results
    assert_same(fast_results, fast_rows, slow_results, slow_rows)
    visits = [v for v in fast_rows["visit"] if v["customer_id"] == two.id]
    assert len(visits) == 2 and any(v["id"] == planned.id for v in visits)


def test_batch_of_new_rows_only_gives_the_same_rows_both_ways(app, db, world, customers, monkeypatch):
    """The bench's shape: new rows only, all of them collected and written together."""
    b = Batch()
    for n in range(30):
        customer = customers[n % 3]
        kind = ("note", "contact", "followup", "visit", "customer")[n % 5]
        start = datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(hours=n)
        b.add(kind, {
            "note": {"customer_id": str(customer.id), "body": f"Note {n}"},
            "contact": {"customer_id": str(customer.id), "name": f"Contact {n}", "birthday": "1980-02-29"},
            "followup": {"customer_id": str(customer.id), "title": f"Task {n}",
                         "due_at": "2030-01-07T09:00:00+01:00"},
            "visit": {"customer_id": str(customer.id), "checked_in_at": start.isoformat(),
                      "checked_out_at": (start + timedelta(minutes=30)).isoformat(),
                      "outcome": "not_met" if n % 2 else "order_taken"},
            "customer": {"name": f"Neu {n}", "street": "Kai 1", "postal_code": "20457",
                         "city": "Hamburg", "marketing_consent": True},
        }[kind])
    fast_results, fast_rows, slow_results, slow_rows, together = apply_both_ways(
        app, db, world.rep, b.mutations, monkeypatch)
    assert together
    assert {r["status"] for r in fast_results} == {"applied"}
    assert_same(fast_results, fast_rows, slow_results, slow_rows)
    assert len(fast_rows["job"]) == 6  # the new customers' geocoding, queued once each


def test_a_rejection_leaves_no_trace_of_the_fast_attempt(app, db, world, customers, monkeypatch):
    """One rejected mutation sends the whole batch one by one: what the fast attempt
    collected, wrote or read must all be gone by then."""
    one, two, _ = customers
    b = Batch()
    b.add("note", {"customer_id": str(one.id), "body": "Before."})
    b.add("visit", {"customer_id": str(two.id), "checked_in_at": _local_today(8).isoformat(),
                    "checked_out_at": _local_today(9).isoformat(), "outcome": "other"})
    b.add("customer", {"email": "not an email"}, entity_id=one.id, base=one.version)
    b.add("customer", {"name": "Neu"})
    b.add("note", {"customer_id": str(world.other_customer.id), "body": "Out of scope."})
    fast_results, fast_rows, slow_results, slow_rows, together = apply_both_ways(
        app, db, world.rep, b.mutations, monkeypatch)
    assert not together
    assert [r["status"] for r in fast_results] == ["applied", "applied", "rejected", "applied", "rejected"]
    assert_same(fast_results, fast_rows, slow_results, slow_rows)


def test_manager_batch_with_assignments_gives_the_same_rows_both_ways(app, db, world, customers, monkeypatch):
    """The team and territory answers read once per batch: a manager's new customers for
    a rep and follow-ups for them, next to ones nobody may be given."""
    one, two, _ = customers
    b = Batch()
    b.add("customer", {"name": "Für Rita", "postal_code": "20095", "city": "Hamburg",
                       "owner_id": str(world.rep.id), "territory_id": str(world.north.id)})
    b.add("followup", {"customer_id": str(one.id), "title": "For Rita", "assignee_id": str(world.rep.id),
                       "due_at": "2030-01-07T09:00:00+01:00"})
    b.add("followup", {"customer_id": str(two.id), "title": "Mine", "due_at": "2030-01-08T09:00:00+01:00"})
    b.add("followup", {"customer_id": str(one.id), "title": "Also for Rita", "assignee_id": str(world.rep.id),
                       "due_at": "2030-01-09T09:00:00+01:00"})
    b.add("followup", {"customer_id": str(two.id), "title": "Rita again", "assignee_id": str(world.rep.id),
                       "due_at": "2030-01-09T09:00:00+01:00"})
    b.add("customer", {"name": "Für mich", "territory_id": str(world.north.id)})
    fast_results, fast_rows, slow_results, slow_rows, together = apply_both_ways(
        app, db, world.manager, b.mutations, monkeypatch)
    assert together
    assert {r["status"] for r in fast_results} == {"applied"}
    assert_same(fast_results, fast_rows, slow_results, slow_rows)

    b.add("customer", {"name": "Für Otto", "owner_id": str(world.other_rep.id)})  # not their team
    b.add("followup", {"customer_id": str(one.id), "title": "For Otto", "assignee_id": str(world.other_rep.id),
                       "due_at": "2030-01-07T09:00:00+01:00"})
    fast_results, fast_rows, slow_results, slow_rows, together = apply_both_ways(
        app, db, world.manager, b.mutations, monkeypatch)
    assert not together
    assert [r["status"] for r in fast_results][-2:] == ["rejected", "rejected"]
    assert_same(fast_results, fast_rows, slow_results, slow_rows)


def test_the_garbage_collector_runs_again_after_a_push(app, db, world):
    import gc

    with app.test_request_context(), pytest.raises(push_module.ProtocolError):
        login_user(world.rep)
        push_module.push(world.rep, {"client_id": str(uuid.uuid4()), "mutations": "not a list"})
    assert gc.isenabled()
