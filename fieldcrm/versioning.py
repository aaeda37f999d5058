"""Versions and history, assigned at flush time so no write can forget them.

Every flush that inserts or changes a syncable row takes fresh versions from
the single ``sync_counter`` row with ``UPDATE ... RETURNING``. The update
locks that row until the transaction ends, so a later writer waits and its
versions are higher: version order equals commit order on SQLite (one writer
at a time anyway) and on PostgreSQL. A puller that has seen version ``v``
therefore never misses a row that commits later with a smaller version.

The same hook writes one ``History`` row per changed customer or contact
field (who, when, old, new), so the shared history is complete whichever
code path made the change, and stamps each changed field in ``field_meta``
with [version, effective time, client id, mutation id]: the sync merge reads
it to tell whether a field changed after the version a device last saw.
A sync push sets ``session.info["sync_origin"]`` to the mutation's effective
time, client id and mutation id; other writes count as made now by no device.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history, instance_state
from sqlalchemy.orm.instrumentation import manager_of_class

from .extensions import db
from .models import Contact, Customer, History, Syncable, utcnow

# Not field changes a person made: bookkeeping, and values derived from other rows:
# last_visited_at from the visits (the check-out entry already tells that story) and
# revenue_12m from the orders (the nightly analysis).
HISTORY_SKIP = {"id", "version", "created_at", "updated_at", "deleted", "field_meta", "seq",
                "last_visited_at", "revenue_12m"}
HISTORY_ENTITIES = {Customer: "customer", Contact: "contact"}


def allocate_versions(session: Session, count: int) -> int:
    """Reserve ``count`` consecutive versions; return the first one.

    Taken from the transaction's block (``reserve_versions``) while it lasts.
    """
    block = session.info.get("reserved_versions")
    if block is not None and block[1] - block[0] >= count:
        first = block[0]
        block[0] += count
        return first
    last = session.connection().execute(
        sa.text("UPDATE sync_counter SET value = value + :n WHERE id = 1 RETURNING value"),
        {"n": count},
    ).scalar_one()
    return last - count + 1


def reserve_versions(session: Session, count: int) -> None:
    """Take ``count`` versions at once for the flushes of this transaction.

    A sync push makes a thousand small flushes; one counter update instead of one
    per flush. Versions left over when the transaction ends are never used: a gap in
    the versions is harmless (a cursor only says "everything up to here"), a version
    used twice would not be. Hence the block is taken in the outer transaction only
    (a rolled-back savepoint would give its versions back to the counter) and
    forgotten when that transaction ends (``extensions.TRANSACTION_INFO_KEYS``).
    """
    if session.in_nested_transaction():
        raise RuntimeError("reserve_versions() must run outside a savepoint")
    session.info.pop("reserved_versions", None)
    first = allocate_versions(session, count)
    session.info["reserved_versions"] = [first, first + count]


def history_text(value) -> str | None:
    """A field value as history stores it: text, or None for an empty value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return str(value)


def _actor_id(session: Session) -> uuid.UUID | None:
    if "actor_id" in session.info:
        return session.info["actor_id"]
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.id
    return None


def _column_changes(obj) -> list[tuple[str, History]]:
    """(name, history) of the changed columns of a persistent row, in the mapper's order.

    Only attributes in the state's ``committed_state`` can have changes (the unit of
    work reads the same); asking each column through ``state.attrs`` costs far more.
    """
    state = inspect(obj)
    changed = state.committed_state
    changes = []
    for attr in state.mapper.column_attrs:
        if attr.key in changed and attr.key not in HISTORY_SKIP:
            hist = get_history(obj, attr.key, passive=PASSIVE_NO_INITIALIZE)
            if hist.has_changes():
                changes.append((attr.key, hist))
    return changes


def _stamp_fields(obj, fields: list[str], session: Session, now: datetime) -> None:
    effective_at, client_id, mutation_id = session.info.get("sync_origin", (now, "", 0))
    meta = dict(obj.field_meta or {})
    for name in fields:
        meta[name] = [obj.version, effective_at.isoformat(), str(client_id), mutation_id]
    obj.field_meta = meta


def _created_entry(obj, now: datetime, actor_id: uuid.UUID | None) -> dict:
    """The values of a new customer's or contact's "created" history entry."""
    entity = HISTORY_ENTITIES[type(obj)]
    return {"customer_id": obj.id if entity == "customer" else obj.customer_id, "at": now,
            "user_id": actor_id, "entity": entity, "entity_id": obj.id, "kind": "created",
            "new": getattr(obj, "name", None)}


def _history_for(obj, session: Session, now: datetime, actor_id: uuid.UUID | None,
                 changes: list | None) -> list[History]:
    """The history entries of a new row (``changes`` None) or of a changed one."""
    entity = HISTORY_ENTITIES[type(obj)]
    customer_id = obj.id if entity == "customer" else obj.customer_id
    base = {"customer_id": customer_id, "at": now, "user_id": actor_id,
            "entity": entity, "entity_id": obj.id}
    if changes is None:
        return [History(**_created_entry(obj, now, actor_id))]
    entries = []
    if "deleted" in inspect(obj).committed_state and \
            get_history(obj, "deleted", passive=PASSIVE_NO_INITIALIZE).added == [True]:
        entries.append(History(kind="deleted", **base))
    for name, hist in changes:
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if history_text(old) == history_text(new):
            continue
        entries.append(History(kind="change", field=name, old=history_text(old),
                               new=history_text(new), **base))
    return entries


@event.listens_for(Session, "before_flush")
def _assign_versions(session: Session, flush_context, instances) -> None:
    # session.new builds a new set on every access: read it once (a push flushes thousands).
    new = session.new
    changed = [obj for obj in new if isinstance(obj, Syncable)]
    changed += [obj for obj in session.dirty if isinstance(obj, Syncable) and session.is_modified(obj)]
    if not changed and not any(isinstance(o, History) for o in new):
        return
    now = utcnow()
    actor_id = _actor_id(session)
    stamps = {}
    for obj in changed:
        if obj.id is None:
            obj.id = uuid.uuid4()
        if type(obj) in HISTORY_ENTITIES:
            changes = None if obj in new else _column_changes(obj)
            if changes is not None:
                stamps[obj] = [name for name, _ in changes]
            if not session.info.get("skip_history"):
                for entry in _history_for(obj, session, now, actor_id, changes):
                    session.add(entry)
    pending_history = [o for o in session.new if isinstance(o, History) and not o.version]
    rows = changed + pending_history
    first = allocate_versions(session, len(rows))
    for offset, obj in enumerate(rows):
        obj.version = first + offset
        if isinstance(obj, Syncable):
            obj.updated_at = now
        if isinstance(obj, Customer) and obj.seq is None:
            obj.seq = obj.version
    for obj, fields in stamps.items():
        _stamp_fields(obj, fields, session, now)


def new_row(model: type, **values):
    """A new ``model`` row with ``values``, added to the session.

    While a sync push collects new rows (``session.info["collect_writes"]``), the
    object is built without the ORM's attribute events and kept for
    ``write_new_rows`` instead of the session: it is only ever inserted, and the
    events (change tracking, the session's bookkeeping) cost most of building one
    of the thousand rows of a push. It reads and changes like any new object.
    """
    session = db.session()
    collected = session.info.get("collected_rows") if session.info.get("collect_writes") else None
    if collected is None:
        row = model(**values)
        session.add(row)
        return row
    row = manager_of_class(model).new_instance()
    row.__dict__.update(values)
    collected.append(row)
    return row


def write_new_rows(session: Session) -> None:
    """Write the session's new rows with multi-row Core inserts, then flush the rest.

    The rows get what the before-flush hook would give them in one flush — versions
    in the order they were added, then their history entries; ``updated_at``; a new
    customer's ``seq``; the "created" entries of new customers and contacts — without
    the unit of work, which costs a sync push far more than the inserts themselves.
    The rows are those ``new_row`` kept (``session.info["collected_rows"]``), then
    the session's new objects. The written objects leave the session, keeping their
    ``version`` (read the row again by id for more). If a new row has a relationship
    set (the unit of work would fill in its foreign key), this is a plain flush.
    """
    collected = session.info.get("collected_rows", [])
    in_session = list(session.new)
    new = collected + in_session
    states = [instance_state(obj) for obj in new]
    plans = [_plan(type(obj)) for obj in new]
    if not new or any(not plan.relationships.isdisjoint(state.committed_state)
                      for plan, state in zip(plans, states, strict=True)):
        session.flush()
        return
    now = utcnow()
    values = [{plan.columns[key]: value for key, value in state.dict.items() if key in plan.columns}
              for plan, state in zip(plans, states, strict=True)]
    written = [(obj, row) for obj, row in zip(new, values, strict=True) if isinstance(obj, Syncable)]
    written += [(obj, row) for obj, row in zip(new, values, strict=True)
                if isinstance(obj, History) and not obj.version]
    actor_id = _actor_id(session)
    created = [] if session.info.get("skip_history") else [
        _created_entry(obj, now, actor_id) for obj, _ in written if type(obj) in HISTORY_ENTITIES]
    version = allocate_versions(session, len(written) + len(created))
    for obj, row in written:
        row["version"] = version
        if isinstance(obj, Syncable):
            if obj.id is None:
                obj.id = row["id"] = uuid.uuid4()
            obj.version = version
            row["updated_at"] = now
            if isinstance(obj, Customer) and obj.seq is None:
                row["seq"] = version
        version += 1
    for entry in created:
        entry["version"] = version
        version += 1
    by_table: dict[sa.Table, list[dict]] = {}
    for plan, row in zip(plans, values, strict=True):
        by_table.setdefault(plan.table, []).append(row)
    by_table.setdefault(History.__table__, []).extend(created)
    connection = session.connection()
    for table in _tables_in_insert_order():
        if table in by_table:
            _insert(connection, table, by_table[table])
    for obj in in_session:
        make_transient(obj)  # out of the session (nothing cascades from a new row)
    collected.clear()
    session.flush()


@dataclass(frozen=True)
class _Plan:
    """How write_new_rows writes one mapped class."""

    table: sa.Table
    columns: dict[str, str]  # attribute → column
    relationships: frozenset[str]


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    if cls not in _PLANS:
        mapper = inspect(cls)
        _PLANS[cls] = _Plan(mapper.local_table,
                            {attr.key: attr.columns[0].key for attr in mapper.column_attrs},
                            frozenset(rel.key for rel in mapper.relationships))
    return _PLANS[cls]


_INSERT_ORDER: list[sa.Table] = []


def _tables_in_insert_order() -> list[sa.Table]:
    """Referenced tables before the tables referring to them (as the unit of work orders them)."""
    if not _INSERT_ORDER:
        _INSERT_ORDER.extend(History.metadata.sorted_tables)
    return _INSERT_ORDER


def _insert(connection: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """One executemany per set of given columns: a column a row leaves out gets its default."""
    groups: dict[frozenset, list[dict]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    for group in groups.values():
        connection.execute(sa.insert(table), group)
