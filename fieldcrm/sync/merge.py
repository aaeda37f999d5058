"""Applying one pushed mutation: create, per-field merge with conflicts, delete.

Customer and contact edits are merged per field. A field is in conflict when
the server changed it after the mutation's ``base_version`` (by another
device or a web edit) and the mutation changes it too. The later edit wins by
effective time ``min(changed_at, receipt time)``, ties by (client id,
mutation id); the losing value goes into the customer's history as a
``conflict`` entry, so it is never lost. A device never conflicts with its own
earlier edits. A delete wins over any later edit: that edit is rejected.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import History, User
from ..validation import ValidationError
from ..versioning import history_text
from .entities import ENTITIES, MERGED, Entity
from .errors import Rejected


@dataclass
class Mutation:
    """One entry of a push, already checked for shape."""

    id: int
    entity: str
    op: str
    entity_id: uuid.UUID
    base_version: int | None
    changed_at: datetime
    fields: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """An applied mutation: its status and row (whose version is final once flushed)."""

    status: str
    row: object
    conflicts: list = field(default_factory=list)


def _find(entity: Entity, user: User, entity_id: uuid.UUID, absent: set):
    """The row if it exists: (row, visible to user). ``absent`` holds (entity, id) pairs
    known not to exist, which need no query."""
    if (entity.name, entity_id) in absent:
        return None, False
    row = db.session.get(entity.model, entity_id)
    if row is None:
        return None, False
    visible = db.session.scalar(
        sa.select(sa.literal(True)).select_from(entity.model)
        .where(entity.model.id == entity_id, entity.visible(user))
    )
    return row, bool(visible)


def _later(mine: tuple, theirs: list) -> bool:
    """True if the mutation's edit (effective time, client, mutation id) is the later one."""
    their_time = datetime.fromisoformat(theirs[1])
    return mine > (their_time, theirs[2], theirs[3])


def _last_editor(entity_id: uuid.UUID, name: str) -> uuid.UUID | None:
    return db.session.scalar(
        sa.select(History.user_id).where(History.entity_id == entity_id, History.field == name,
                                         History.kind == "change")
        .order_by(History.version.desc()).limit(1)
    )


def _merge_fields(user: User, row, m: Mutation, client_id: str, effective_at: datetime):
    """Split the mutation's fields into those to apply and the conflicts (recorded in history)."""
    meta = row.field_meta or {}
    mine = (effective_at, client_id, m.id)
    base = m.base_version or 0
    to_apply, conflicts = {}, []
    customer_id = row.id if m.entity == "customer" else row.customer_id
    for name, value in m.fields.items():
        stamp = meta.get(name)
        if stamp is None or stamp[0] <= base or stamp[2] == client_id:
            to_apply[name] = value
            continue
        theirs_value = history_text(getattr(row, name))
        yours_value = value if value is None or isinstance(value, str) else str(value)
        if _later(mine, stamp):
            to_apply[name] = value
            kept, loser, old, new = "yours", _last_editor(row.id, name), theirs_value, yours_value
        else:
            kept, loser, old, new = "theirs", user.id, yours_value, theirs_value
        conflicts.append({"field": name, "yours": value, "theirs": getattr(row, name), "kept": kept})
        db.session.add(History(customer_id=customer_id, user_id=loser, kind="conflict",
                               entity=m.entity, entity_id=row.id, field=name, old=old, new=new))
    server_changed_other = any(stamp[0] > base and stamp[2] != client_id
                               for name, stamp in meta.items() if name not in m.fields)
    return to_apply, conflicts, server_changed_other


def apply_mutation(user: User, m: Mutation, client_id: str, effective_at: datetime,
                   absent: set = frozenset()) -> Outcome:
    """Apply one mutation in the current transaction, or raise Rejected."""
    entity = ENTITIES[m.entity]
    row, visible = _find(entity, user, m.entity_id, absent)
    if row is not None and not visible:
        raise Rejected("not_found")
    db.session.info["sync_origin"] = (effective_at, client_id, m.id)
    try:
        if m.op == "delete":
            return _delete(entity, user, row)
        if row is None:
            if m.base_version is not None:
                raise Rejected("not_found")
            if entity.create is None:
                raise Rejected("read_only")
            created = entity.create(user, m.fields, m.entity_id)
            return Outcome("applied", created)
        if row.deleted:
            raise Rejected("deleted")
        if entity.update is None:
            raise Rejected("read_only")
        if m.entity not in MERGED:
            entity.update(user, row, m.fields)
            return Outcome("applied", row)
        to_apply, conflicts, merged = _merge_fields(user, row, m, client_id, effective_at)
        if to_apply:
            entity.update(user, row, to_apply)
        db.session.flush()
        status = "conflict" if conflicts else ("merged" if merged else "applied")
        return Outcome(status, row, conflicts)
    except ValidationError as exc:
        raise Rejected("invalid", {"fields": {k: str(v) for k, v in exc.errors.items()}}) from None
    finally:
        db.session.info.pop("sync_origin", None)


def _delete(entity: Entity, user: User, row) -> Outcome:
    if row is None:
        raise Rejected("not_found")
    if entity.delete is None:
        raise Rejected("read_only")
    if not row.deleted:
        entity.delete(user, row)
    return Outcome("applied", row)
