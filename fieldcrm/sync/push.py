"""POST /api/v1/sync/push: a device's numbered mutations, applied in one transaction.

Ids at or below the device's ``last_mutation_id`` are replays (``duplicate``);
a first id above last + 1 is a gap (409, nothing applied). Each mutation runs
in a savepoint: one that cannot be applied is rolled back alone, recorded as
rejected (with what the user typed) and counted as processed, so it never
blocks the queue. ``last_mutation_id`` is saved in the same transaction as the
effects, so a lost response followed by a retry never applies anything twice.
"""

import gc
import uuid
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db, insert_unless_present
from ..models import SyncClient, SyncRejection, User, utcnow
from ..scope import forget_visible, known_visible
from ..versioning import reserve_versions, write_new_rows
from ..visits import operations as visit_ops
from .entities import ENTITIES
from .merge import Mutation, Outcome, Rejected, apply_mutation

MAX_BATCH = 1000
# Versions taken at once per new mutation: its row, a history entry or two, a second
# write (a visit checked in and out). More are taken one flush at a time.
VERSIONS_PER_MUTATION = 4
PRELOAD_CHUNK = 500
COLLECTABLE = {"note", "followup", "contact", "customer"}
MUTATION_KEYS = {"id", "entity", "op", "entity_id", "base_version", "changed_at", "fields"}


class ProtocolError(Exception):
    """A request the protocol refuses as a whole: nothing is written."""

    def __init__(self, status: int, code: str, message, **extra):
        super().__init__(str(message))
        self.status, self.code, self.message, self.extra = status, code, message, extra


def parse_client_id(value) -> uuid.UUID:
    try:
        return uuid.UUID(value) if isinstance(value, str) else _bad_client()
    except ValueError:
        return _bad_client()


def _bad_client():
    raise ProtocolError(400, "invalid_client_id", _l("client_id must be a UUID."))


def _bad(index: int, message) -> ProtocolError:
    return ProtocolError(400, "invalid_mutation", message, index=index)


def parse_mutation(index: int, raw) -> Mutation:
    """A checked Mutation, or a 400 naming the mutation's position in the batch."""
    if not isinstance(raw, dict):
        raise _bad(index, _l("Each mutation must be a JSON object."))
    unknown = set(raw) - MUTATION_KEYS
    if unknown:
        raise _bad(index, _l("Unknown keys: %(keys)s.", keys=", ".join(sorted(unknown))))
    mutation_id = raw.get("id")
    if isinstance(mutation_id, bool) or not isinstance(mutation_id, int) or mutation_id < 1:
        raise _bad(index, _l("id must be a positive integer."))
    name = raw.get("entity")
    entity = ENTITIES.get(name) if isinstance(name, str) else None
    if entity is None:
        raise _bad(index, _l("Unknown entity."))
    if raw.get("op") not in ("upsert", "delete"):
        raise _bad(index, _l("op must be upsert or delete."))
    try:
        entity_id = uuid.UUID(raw.get("entity_id"))
    except (ValueError, TypeError, AttributeError):
        raise _bad(index, _l("entity_id must be a UUID.")) from None
    base = raw.get("base_version")
    if base is not None and (isinstance(base, bool) or not isinstance(base, int) or base < 0):
        raise _bad(index, _l("base_version must be a non-negative integer or null."))
    try:
        changed_at = datetime.fromisoformat(str(raw.get("changed_at")).replace("Z", "+00:00"))
    except ValueError:
        raise _bad(index, _l("changed_at must be an RFC 3339 time with offset.")) from None
    if changed_at.tzinfo is None:
        raise _bad(index, _l("changed_at must be an RFC 3339 time with offset."))
    fields = raw.get("fields", {})
    if not isinstance(fields, dict):
        raise _bad(index, _l("fields must be a JSON object."))
    unknown_fields = set(fields) - entity.fields if entity.update or entity.create else set()
    if unknown_fields:
        raise ProtocolError(400, "unknown_field", _l("Unknown fields: %(names)s.",
                                                     names=", ".join(sorted(unknown_fields))),
                            index=index)
    return Mutation(mutation_id, entity.name, raw["op"], entity_id, base, changed_at, fields)


def parse_push(body: dict) -> tuple[uuid.UUID, list[Mutation]]:
    """The device id and its checked mutations; ProtocolError for a malformed batch."""
    client_id = parse_client_id(body.get("client_id"))
    raw = body.get("mutations")
    if not isinstance(raw, list):
        raise ProtocolError(400, "invalid_batch", _l("mutations must be a list."))
    if len(raw) > MAX_BATCH:
        raise ProtocolError(413, "batch_too_large",
                            _l("At most %(n)s mutations per push.", n=MAX_BATCH), max=MAX_BATCH)
    mutations = [parse_mutation(i, m) for i, m in enumerate(raw)]
    for previous, current in zip(mutations, mutations[1:], strict=False):
        if current.id != previous.id + 1:
            raise ProtocolError(400, "not_consecutive", _l("Mutation ids must be consecutive."))
    return client_id, mutations


def bind_client(user: User, client_id: uuid.UUID, *, lock: bool) -> SyncClient:
    """The device row, created on first use; 403 if it belongs to another user.

    With ``lock``, the row is written first so that concurrent pushes of one device
    queue up behind each other (row lock on PostgreSQL, the write lock on SQLite).
    """
    now = utcnow()
    if lock:
        db.session.execute(sa.update(SyncClient).where(SyncClient.id == client_id)
                           .values(last_seen_at=now))
    client = db.session.get(SyncClient, client_id, populate_existing=True)
    if client is None:
        # A new device's first pull and push often arrive together: whichever inserts
        # second finds the row (waiting for the first's commit) instead of failing.
        db.session.execute(insert_unless_present(
            SyncClient.__table__, id=client_id, user_id=user.id, last_mutation_id=0,
            last_seen_at=now))
        client = db.session.get(SyncClient, client_id, populate_existing=True)
    if client.user_id != user.id:
        raise ProtocolError(403, "foreign_client", _l("This device is registered to another user."))
    return client


@contextmanager
def _collector_paused():
    """Hold off Python's cyclic garbage collector while a batch is applied.

    A push of 1,000 mutations makes some 30,000 objects (rows, their ORM state, history
    entries) that all live until the batch is done, so a collection in between frees
    nothing, yet a full one walks the whole heap of the process: 100-300 ms of a push
    (bench.sync). Reference counting frees as usual meanwhile, and the collector runs
    again afterwards. It is process-wide: a request running alongside collects later.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def push(user: User, body: dict) -> dict:
    """Apply a push in the current transaction and return the response body (caller commits)."""
    with _collector_paused():
        return _push(user, body)


def _push(user: User, body: dict) -> dict:
    client_id, mutations = parse_push(body)
    received_at = utcnow()
    client = bind_client(user, client_id, lock=True)
    last = client.last_mutation_id
    if mutations and mutations[0].id > last + 1:
        raise ProtocolError(409, "mutation_gap", _l("Mutations are missing before this batch."),
                            last_mutation_id=last)
    fresh = [m for m in mutations if m.id > last]
    held, absent = _preload(fresh)  # held: the preloaded rows stay in the session meanwhile
    if fresh:
        reserve_versions(db.session(), VERSIONS_PER_MUTATION * len(fresh))
    applied = _apply_together(user, client, fresh, received_at, set(absent))
    if applied is None:
        applied = [_apply_one(user, client, m, received_at, absent) for m in fresh]
    results = [_duplicate(m) for m in mutations if m.id <= last] + applied
    if mutations:
        client.last_mutation_id = max(last, mutations[-1].id)
    db.session.flush()
    return {"last_mutation_id": client.last_mutation_id, "results": results}


def _preload(mutations: list[Mutation]) -> tuple[list, set]:
    """The rows the batch touches, read in one query per entity and kept in the session
    (the list holds them there), and the (entity, id) pairs that do not exist yet: most
    mutations create a row, and then need not look for it one by one."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for m in mutations:
        wanted.setdefault(m.entity, set()).add(m.entity_id)
    loaded, absent = [], set()
    for name, ids in wanted.items():
        model = ENTITIES[name].model
        ids = sorted(ids)
        found = set()
        for start in range(0, len(ids), PRELOAD_CHUNK):
            rows = db.session.scalars(sa.select(model).where(
                model.id.in_(ids[start:start + PRELOAD_CHUNK]))).all()
            loaded += rows
            found.update(row.id for row in rows)
        absent.update((name, entity_id) for entity_id in ids if entity_id not in found)
    return loaded, absent


def _duplicate(m: Mutation) -> dict:
    row = db.session.get(ENTITIES[m.entity].model, m.entity_id)
    return {"id": m.id, "status": "duplicate", "entity_id": str(m.entity_id),
            "version": row.version if row is not None else None}


def _collectable(user: User, m: Mutation, absent: set, created: set) -> bool:
    """A new note, follow-up, contact, customer or finished visit whose customer (and
    visit) is already in the database: its checks read nothing that another mutation
    of the batch, not yet written, may have changed. (A check-in reads the user's open and
    planned visits: a finished visit that meets neither leaves both as they were, and
    the others are written at once.)"""
    if m.op != "upsert" or (m.entity, m.entity_id) not in absent \
            or str(m.fields.get("customer_id")).lower() in created \
            or str(m.fields.get("visit_id")).lower() in created:
        return False
    if m.entity == "visit":
        customer_id = _uuid_or_none(m.fields.get("customer_id"))
        return m.fields.get("checked_in_at") is not None \
            and m.fields.get("checked_out_at") is not None and customer_id is not None \
            and visit_ops.check_in_stays_apart(user, customer_id)
    return m.entity in COLLECTABLE


def _apply_together(user: User, client: SyncClient, mutations: list[Mutation],
                    received_at: datetime, absent: set) -> list[dict] | None:
    """The fast path: the batch in one savepoint, new rows written together.

    Most of a batch is new notes, follow-ups, contacts, customers and finished
    visits: they are collected and written together (``versioning.write_new_rows``:
    one multi-row INSERT per table) instead of one flush and savepoint each, and
    the facts their checks read are read once (``validation.batch_reads``). Any
    other mutation first writes what is collected, forgets those answers and is
    applied as usual, so its checks see the database as the one-by-one path would.
    When any mutation is rejected (or a write fails) the savepoint is rolled back
    and None returned: the caller applies the batch one by one, where a rejection
    is recorded and the others still apply. Same effects, same results.
    """
    session = db.session()
    savepoint = session.begin_nested()
    results: list[dict | None] = []
    waiting: list[tuple[int, Mutation, Outcome]] = []
    created: set[str] = set()
    device = str(client.id)
    session.info["collected_rows"] = []

    def settle():
        write_new_rows(session)
        for index, m, outcome in waiting:
            results[index] = _applied(m, outcome)
        waiting.clear()

    known_visible(user, {customer_id for m in mutations
                         if (customer_id := _uuid_or_none(m.fields.get("customer_id")))})
    try:
        for m in mutations:
            effective_at = min(m.changed_at, received_at)
            if m.entity == "customer" and (m.entity, m.entity_id) not in absent:
                forget_visible()  # an edit or delete may take a customer out of scope
            session.info.setdefault("batch_reads", {})
            with session.no_autoflush:  # what is collected is written by settle() only
                collect = _collectable(user, m, absent, created)
                if collect:
                    session.info["collect_writes"] = True
                    outcome = apply_mutation(user, m, device, effective_at, absent)
                    del session.info["collect_writes"]
                    waiting.append((len(results), m, outcome))
                    results.append(None)
            if not collect:
                settle()
                del session.info["batch_reads"]  # what this one writes may change the answers
                outcome = apply_mutation(user, m, device, effective_at, absent)
                session.flush()
                results.append(_applied(m, outcome))
            absent.discard((m.entity, m.entity_id))
            created.add(str(m.entity_id))
        settle()
        savepoint.commit()
    except (Rejected, sa.exc.IntegrityError):
        savepoint.rollback()
        return None
    finally:
        for key in ("collect_writes", "batch_reads", "collected_rows"):
            session.info.pop(key, None)
        forget_visible()
    return results


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _applied(m: Mutation, outcome: Outcome) -> dict:
    result = {"id": m.id, "status": outcome.status, "entity_id": str(m.entity_id),
              "version": outcome.row.version}
    if outcome.conflicts:
        result["conflicts"] = outcome.conflicts
    return result


def _apply_one(user: User, client: SyncClient, m: Mutation, received_at: datetime,
               absent: set) -> dict:
    effective_at = min(m.changed_at, received_at)
    savepoint = db.session.begin_nested()
    try:
        outcome = apply_mutation(user, m, str(client.id), effective_at, absent)
        savepoint.commit()
        absent.discard((m.entity, m.entity_id))
    except Rejected as exc:
        savepoint.rollback()
        db.session.add(SyncRejection(client_id=client.id, user_id=user.id, mutation_id=m.id,
                                     entity=m.entity, entity_id=m.entity_id, op=m.op,
                                     fields=m.fields, reason=exc.reason, details=exc.details))
        return {"id": m.id, "status": "rejected", "entity_id": str(m.entity_id), "version": None,
                "reason": exc.reason, **({"details": exc.details} if exc.details else {})}
    return _applied(m, outcome)
