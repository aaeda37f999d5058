"""Cursor under concurrency, on PostgreSQL and on SQLite.

Writers in their own threads and sessions create, change, delete and reassign
customers and contacts through the app's real code paths
(``fieldcrm.customers.operations`` and the sync push endpoint); one of them is
slow: it takes its versions with a first write and keeps its transaction open
until the pullers have synced twice more. Two devices meanwhile pull (small
pages) over and over, applying upserts, deletes and revokes as the phone does.
Afterwards each device's copy equals the server's rows in the rep's scope, and
no cursor ever passed a row, tombstone or revoke that committed later with a
smaller version.

Waits are bounded and nothing is timed: the slow transaction waits for the
pullers' progress, not for the clock.
"""

import threading
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from support import Client

from fieldcrm.customers import operations
from fieldcrm.models import Customer, User
from fieldcrm.sync.entities import PULLED
from fieldcrm.sync.pull import decode_cursor, scope_key

PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"
PAGE = 3
JOIN_S = 60
HOLD_ROUNDS = 2
HOLD_MAX_S = 4


class Puller:
    """A device that pulls in small pages until told to stop, recording every page."""

    def __init__(self, app, email):
        self.client = Client(app.test_client())
        self.client.login(email)
        self.id = str(uuid.uuid4())
        self.cursor = None
        self.rows: dict[tuple[str, str], int] = {}
        self.parents: dict[tuple[str, str], str | None] = {}
        self.pages: list[tuple[str, list[dict]]] = []
        self.rounds = 0
        self.progress = threading.Condition()

    def pull_until_done(self) -> None:
        while True:
            response = self.client.api("POST", PULL, json={"cursor": self.cursor, "client_id": self.id,
                                                           "limit": PAGE})
            assert response.status_code == 200, response.get_data(as_text=True)
            body = response.get_json()
            assert not body.get("reset"), "the scope never changes here"
            for change in body["changes"]:
                self.apply(change)
            self.cursor = body["cursor"]
            self.pages.append((body["cursor"], body["changes"]))
            if not body["has_more"]:
                break
        with self.progress:
            self.rounds += 1
            self.progress.notify_all()

    def apply(self, change: dict) -> None:
        """As the phone does: never back to an older version; a revoke drops the customer
        and every row under it."""
        key = (change["entity"], change["entity_id"])
        if change["op"] == "upsert":
            if change["version"] >= self.rows.get(key, 0):
                self.rows[key] = change["version"]
                self.parents[key] = change["data"].get("customer_id")
        elif change["op"] == "delete":
            self.rows.pop(key, None)
        else:
            for other in [k for k in self.rows if k == key or self.parents.get(k) == key[1]]:
                self.rows.pop(other, None)

    def wait_rounds(self, count: int, timeout: float) -> None:
        with self.progress:
            self.progress.wait_for(lambda: self.rounds >= count, timeout=timeout)


def _stamp() -> str:
    return datetime.now(UTC).isoformat()


def _customer_fields(n: int) -> dict:
    return {"name": f"Kunde {n}", "postal_code": "20095", "city": "Hamburg"}


def _in_thread(errors: list, work) -> threading.Thread:
    def run():
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _scope_state(db, user: User, *, deleted: bool = False) -> dict[tuple[str, str], int]:
    """What a device of ``user`` must hold (every live row in scope and its version), or
    with ``deleted`` the tombstones in scope."""
    state = {}
    for name, entity in PULLED.items():
        if deleted and not hasattr(entity.model, "deleted"):
            continue
        query = sa.select(entity.model.id, entity.model.version).where(entity.visible(user))
        if hasattr(entity.model, "deleted"):
            query = query.where(entity.model.deleted if deleted else ~entity.model.deleted)
        for row_id, version in db.session.execute(query):
            state[(name, str(row_id))] = version
    return state


def test_concurrent_writers_and_a_slow_transaction_never_make_a_cursor_skip(app, db, world):
    rep_id, customer_id, admin_id = world.rep.id, world.customer.id, world.admin.id
    north, south, other_rep = str(world.north.id), str(world.south.id), str(world.other_rep.id)
    pullers = [Puller(app, "rep1@example.com") for _ in range(2)]
    for puller in pullers:
        puller.pull_until_done()
    db.session.commit()

    errors: list[BaseException] = []
    writers_done = threading.Event()
    fast_commits = threading.Semaphore(0)

    def operations_writer():
        with app.app_context():
            user = db.session.get(User, rep_id)
            for n in range(25):
                customer = operations.create_customer(user, _customer_fields(n))
                db.session.commit()
                operations.update_customer(user, customer, {"phone": f"+49 40 {1000 + n}"})
                db.session.commit()
                fast_commits.release()

    def admin_writer():
        """Customers of the rep's territory, then some reassigned away (revoke), some deleted."""
        with app.app_context():
            admin = db.session.get(User, admin_id)
            made = []
            for n in range(10):
                made.append(operations.create_customer(
                    admin, _customer_fields(500 + n) | {"territory_id": north, "owner_id": str(rep_id)}))
                db.session.commit()
            for n, customer in enumerate(made):
                if n % 3 == 0:
                    operations.update_customer(admin, customer, {"territory_id": south,
                                                                 "owner_id": other_rep})
                elif n % 3 == 1:
                    operations.delete_customer(customer)
                db.session.commit()

    def push_writer():
        device = Client(app.test_client())
        device.login("rep1@example.com")
        client_id, next_id = str(uuid.uuid4()), 1
        for n in range(12):
            new_customer, new_contact = str(uuid.uuid4()), str(uuid.uuid4())
            mutations = [
                {"entity": "customer", "entity_id": new_customer, "base_version": None,
                 "fields": _customer_fields(100 + n)},
                {"entity": "contact", "entity_id": new_contact, "base_version": None,
                 "fields": {"customer_id": new_customer, "name": f"Kontakt {n}"}},
                {"entity": "customer", "entity_id": str(customer_id), "base_version": None,
                 "fields": {"phone": f"+49 40 {2000 + n}"}},
            ]
            for m in mutations:
                m.update(id=next_id, op="upsert", changed_at=_stamp())
                next_id += 1
            response = device.api("POST", PUSH, json={"client_id": client_id, "mutations": mutations})
            assert response.status_code == 200, response.get_data(as_text=True)
            statuses = {r["status"] for r in response.get_json()["results"]}
            assert statuses <= {"applied", "merged", "conflict"}, response.get_json()
            fast_commits.release()

    def slow_writer():
        for _ in range(3):
            fast_commits.acquire(timeout=JOIN_S)
        with app.app_context():
            user = db.session.get(User, rep_id)
            operations.create_customer(user, _customer_fields(900))
            db.session.flush()
            goals = [p.rounds + HOLD_ROUNDS for p in pullers]
            deadline = time.monotonic() + HOLD_MAX_S
            for puller, goal in zip(pullers, goals, strict=True):
                puller.wait_rounds(goal, timeout=max(0.0, deadline - time.monotonic()))
            operations.create_customer(user, _customer_fields(901))
            db.session.commit()

    def pull_loop(puller: Puller):
        while not writers_done.is_set():
            puller.pull_until_done()
        puller.pull_until_done()

    writers = [_in_thread(errors, work)
               for work in (operations_writer, admin_writer, push_writer, slow_writer)]
    readers = [_in_thread(errors, lambda p=p: pull_loop(p)) for p in pullers]
    for thread in writers:
        thread.join(JOIN_S)
    writers_done.set()
    for thread in readers:
        thread.join(JOIN_S)
    assert not any(t.is_alive() for t in writers + readers), "a thread did not finish in time"
    assert not errors, errors

    db.session.expire_all()
    rep = db.session.get(User, rep_id)
    final = _scope_state(db, rep)
    tombstones = _scope_state(db, rep, deleted=True)
    assert sum(1 for name, _ in final if name == "customer") == 1 + 25 + 12 + 2 + 3
    assert sum(1 for name, _ in tombstones if name == "customer") == 3
    revoked = {str(i) for i in db.session.scalars(
        sa.select(Customer.id).where(Customer.territory_id == world.south.id,
                                     Customer.name.like("Kunde 5%")))}
    assert len(revoked) == 4
    scope = scope_key(rep)
    for puller in pullers:
        _assert_no_skip(puller, final, tombstones, decode_cursor, scope)
        assert puller.rows == final
        assert {c["entity_id"] for _, changes in puller.pages for c in changes
                if c["op"] == "revoke"} == revoked
    assert all(len(p.pages) > p.rounds for p in pullers), "some pull took several pages"


def _assert_no_skip(puller: Puller, final: dict, tombstones: dict, decode, scope: str) -> None:
    """After each page, every row whose last version is at or below its cursor has arrived
    in that version (a tombstone as a delete): a row that commits after the pull with a
    smaller version would not. History entries never change, so this covers every version
    they were written with.
    """
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for cursor, changes in puller.pages:
        for change in changes:
            key = (change["entity"], change["entity_id"])
            if change["version"] >= seen.get(key, (0, ""))[0]:
                seen[key] = (change["version"], change["op"])
        upto = decode(cursor, scope)
        assert upto is not None
        for expected, op in ((final, "upsert"), (tombstones, "delete")):
            for key, version in expected.items():
                if version <= upto:
                    assert seen.get(key) == (version, op), (key, version, op, upto)
