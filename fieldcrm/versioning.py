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
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context
from flask_login import current_user
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

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


def _changed_fields(obj) -> list[str]:
    state = inspect(obj)
    return [attr.key for attr in state.mapper.column_attrs
            if attr.key not in HISTORY_SKIP and state.attrs[attr.key].history.has_changes()]


def _stamp_fields(obj, fields: list[str], session: Session, now: datetime) -> None:
    effective_at, client_id, mutation_id = session.info.get("sync_origin", (now, "", 0))
    meta = dict(obj.field_meta or {})
    for name in fields:
        meta[name] = [obj.version, effective_at.isoformat(), str(client_id), mutation_id]
    obj.field_meta = meta


def _history_for(obj, session: Session, now: datetime) -> list[History]:
    entity = HISTORY_ENTITIES[type(obj)]
    customer_id = obj.id if entity == "customer" else obj.customer_id
    base = {"customer_id": customer_id, "at": now, "user_id": _actor_id(session),
            "entity": entity, "entity_id": obj.id}
    if obj in session.new:
        return [History(kind="created", new=getattr(obj, "name", None), **base)]
    state = inspect(obj)
    entries = []
    if state.attrs.deleted.history.added == [True]:
        entries.append(History(kind="deleted", **base))
    for attr in state.mapper.column_attrs:
        if attr.key in HISTORY_SKIP:
            continue
        hist = state.attrs[attr.key].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if history_text(old) == history_text(new):
            continue
        entries.append(History(kind="change", field=attr.key, old=history_text(old),
                               new=history_text(new), **base))
    return entries


@event.listens_for(Session, "before_flush")
def _assign_versions(session: Session, flush_context, instances) -> None:
    changed = [
        obj for obj in list(session.new) + list(session.dirty)
        if isinstance(obj, Syncable) and (obj in session.new or session.is_modified(obj))
    ]
    if not changed and not any(isinstance(o, History) for o in session.new):
        return
    now = utcnow()
    stamps = {}
    for obj in changed:
        if obj.id is None:
            obj.id = uuid.uuid4()
        if type(obj) in HISTORY_ENTITIES:
            if obj not in session.new:
                stamps[obj] = _changed_fields(obj)
            if not session.info.get("skip_history"):
                for entry in _history_for(obj, session, now):
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
