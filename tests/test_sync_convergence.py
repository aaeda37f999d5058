"""Convergence property (Hypothesis, stateful) of the offline sync, on SQLite and PostgreSQL.

Three devices (two phones of one rep, one of their manager) create, edit and delete
customers and write notes offline, then push and pull in random interleavings, with lost
responses (the device retries the same batch), duplicated batches and batches sent out of
order (a gap: 409, nothing applied, the device resends). At the end, after every device
has pushed and pulled, each device's copy equals the server's rows in its scope; every
mutation was applied or rejected with a reason; and no value a device wrote is missing:
it is the current value, or in the customer's history, or kept as a rejection.
"""

import itertools
import uuid

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from support import PUSH, Device

from fieldcrm.models import Customer, History, Note, SyncRejection
from fieldcrm.scope import customer_scope

FIELDS = ("phone", "email", "name")
PROCESSED = {"applied", "merged", "conflict", "rejected", "duplicate"}


class Phone(Device):
    """A device with an outbox: mutations wait there until a push is answered."""

    def __init__(self, client, user):
        super().__init__(client, user.email)
        self.user = user
        self.outbox: list[dict] = []
        self.created: set[str] = set()  # customers this device created (known before a pull)

    def mutation(self, entity, entity_id, fields, op="upsert"):
        row = self.rows.get((entity, str(entity_id)))
        m = super().mutation(entity, entity_id, fields, op=op, base=row["version"] if row else None)
        self.outbox.append(m)
        return m

    def send(self, mutations):
        response = self.client.api("POST", PUSH, json={"client_id": self.id, "mutations": mutations})
        return response.status_code, response.get_json()


def test_devices_converge(app, db, world, make_client):
    territory_id = str(world.north.id)
    counter = itertools.count()

    class Sync(RuleBasedStateMachine):
        @initialize()
        def devices(self):
            self.phones = [Phone(make_client(), user) for user in (world.rep, world.rep, world.manager)]
            self.results: dict[tuple[str, int], dict] = {}  # (client id, mutation id) → result
            self.written: list[tuple[str, str, str, str, int]] = []  # (client, customer, field, value, id)

        def known_customers(self, phone):
            pulled = [entity_id for entity, entity_id in phone.rows if entity == "customer"]
            return sorted(set(pulled) | phone.created)

        @rule(phone=st.integers(0, 2))
        def create_customer(self, phone):
            p = self.phones[phone]
            customer_id = str(uuid.uuid4())
            p.created.add(customer_id)
            p.mutation("customer", customer_id, {"name": f"Kunde {next(counter)}", "postal_code": "20095",
                                                 "city": "Hamburg", "territory_id": territory_id})

        @rule(phone=st.integers(0, 2), pick=st.integers(0, 1000), field=st.sampled_from(FIELDS))
        def edit_customer(self, phone, pick, field):
            p = self.phones[phone]
            known = self.known_customers(p)
            if not known:
                return
            customer_id = known[pick % len(known)]
            n = next(counter)
            value = {"phone": f"+49 40 {n:07d}", "email": f"u{n}@example.com", "name": f"Kunde {n}"}[field]
            m = p.mutation("customer", customer_id, {field: value})
            self.written.append((p.id, customer_id, field, value, m["id"]))

        @rule(phone=st.integers(0, 2), pick=st.integers(0, 1000))
        def delete_customer(self, phone, pick):
            p = self.phones[phone]
            known = self.known_customers(p)
            if known:
                p.mutation("customer", known[pick % len(known)], {}, op="delete")

        @rule(phone=st.integers(0, 2), pick=st.integers(0, 1000))
        def write_note(self, phone, pick):
            p = self.phones[phone]
            known = self.known_customers(p)
            if known:
                p.mutation("note", uuid.uuid4(), {"customer_id": known[pick % len(known)],
                                                  "channel": "visit", "body": f"Notiz {next(counter)}"})

        def push(self, p, *, lose_response=False, twice=False):
            if not p.outbox:
                return
            batch = list(p.outbox)
            status, body = p.send(batch)
            assert status == 200, body
            if twice:
                status, body = p.send(batch)
                assert status == 200 and {r["status"] for r in body["results"]} == {"duplicate"}, body
            if lose_response:
                return  # the device never heard back: it sends the same batch again later
            for result in body["results"]:
                assert result["status"] in PROCESSED, result
                if result["status"] == "rejected":
                    assert result.get("reason"), result
                self.results.setdefault((p.id, result["id"]), result)
            done = {r["id"] for r in body["results"]}
            p.outbox = [m for m in p.outbox if m["id"] not in done]

        @rule(phone=st.integers(0, 2), lose_response=st.booleans(), twice=st.booleans())
        def push_batch(self, phone, lose_response, twice):
            self.push(self.phones[phone], lose_response=lose_response, twice=twice)

        @precondition(lambda self: any(len(p.outbox) >= 2 for p in self.phones))
        @rule(phone=st.integers(0, 2))
        def push_out_of_order(self, phone):
            p = self.phones[phone]
            if len(p.outbox) < 2:
                return
            later = p.outbox[len(p.outbox) // 2:]
            status, body = p.send(later)
            if status == 409:
                assert body["error"]["code"] == "mutation_gap", body
                assert body["error"]["last_mutation_id"] < later[0]["id"] - 1
            else:  # the earlier half was already processed (a lost response): replay is fine
                assert status == 200, body
            self.push(p)

        @rule(phone=st.integers(0, 2))
        def pull(self, phone):
            self.phones[phone].pull()

        @invariant()
        def versions_only_grow(self):
            for p in self.phones:
                for (entity, _), row in p.rows.items():
                    assert row["version"] > 0, (entity, row)

        def teardown(self):
            for p in self.phones:
                self.push(p)
                assert p.outbox == []
            for p in self.phones:
                p.pull()
            db.session.expire_all()
            for p in self.phones:
                scope = customer_scope(p.user)
                server = {str(c.id): (c.version, c.name, c.phone, c.email) for c in db.session.scalars(
                    sa.select(Customer).where(scope, ~Customer.deleted))}
                device = {entity_id: (row["version"], row["name"], row["phone"], row["email"])
                          for (entity, entity_id), row in p.rows.items() if entity == "customer"}
                assert device == server
                notes = {str(n.id): n.body for n in db.session.scalars(
                    sa.select(Note).join(Customer, Note.customer_id == Customer.id)
                    .where(scope, ~Note.deleted, ~Customer.deleted))}
                pulled_notes = {entity_id: row["body"] for (entity, entity_id), row in p.rows.items()
                                if entity == "note" and row["customer_id"] in server}
                assert pulled_notes == notes
            for client_id, customer_id, field, value, mutation_id in self.written:
                result = self.results[(client_id, mutation_id)]
                kept_as_rejection = db.session.scalar(sa.select(sa.func.count()).select_from(SyncRejection).where(
                    SyncRejection.client_id == uuid.UUID(client_id),
                    SyncRejection.mutation_id == mutation_id)) == 1
                if result["status"] == "rejected":
                    assert kept_as_rejection, result
                    continue
                current = db.session.get(Customer, uuid.UUID(customer_id))
                in_history = db.session.scalar(sa.select(sa.func.count()).select_from(History).where(
                    History.customer_id == uuid.UUID(customer_id), History.field == field,
                    sa.or_(History.new == value, History.old == value)))
                # A "duplicate" answers a replay of a batch whose first answer was lost: the
                # first processing applied the value (current or in the history) or rejected it.
                assert getattr(current, field) == value or in_history or (
                    result["status"] == "duplicate" and kept_as_rejection), (field, value, result)

    run_state_machine_as_test(Sync, settings=settings(
        max_examples=8, stateful_step_count=25, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))

