"""POST /api/v1/sync/pull: the changes in the user's scope since the device's cursor.

The list of changes is read in one SQL statement (one consistent snapshot on
SQLite and PostgreSQL): every syncable row in scope with ``version > cursor``,
ordered by version. Versions are handed out in commit order
(fieldcrm.versioning), so no row can later appear below a cursor already
given out. Rows are then loaded whole; one that changed again meanwhile is
sent with its newer version and comes again on the next pull, which is
harmless (an upsert).

A first (full) pull leaves out tombstones and history older than
SYNC_HISTORY_DAYS (the briefcase holds recent history only).

A customer that left the user's scope (reassigned to another territory or
owner) is sent as ``revoke``: the device drops it and everything under it.
The cursor is signed and remembers the user's scope: a cursor that does not
verify, comes from the future, was given for another scope (a territory was
added or removed) or is older than a purged tombstone (fieldcrm.sync.retention)
gets ``reset: true`` and a full pull.
"""

import hashlib
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from ..extensions import db
from ..models import Customer, History, SyncCounter, User, utcnow
from ..scope import customer_scope, team_ids_query, territory_ids_query
from .entities import PULLED
from .push import ProtocolError, bind_client, parse_client_id

PAGE_SIZE = 5000  # rows per pull page: fewer pages make a first pull cheaper (docs/PERFORMANCE.md)
PLAIN_ROWS = {"history"}
ASSIGNMENT_FIELDS = ("territory_id", "owner_id")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="fieldcrm-sync-cursor")


def scope_key(user: User) -> str:
    """A short fingerprint of what decides the user's scope."""
    territories = sorted(str(t) for t in db.session.scalars(territory_ids_query(user)))
    team = sorted(str(t) for t in db.session.scalars(team_ids_query(user))) \
        if user.role == "manager" else []
    raw = f"{user.role}|{','.join(territories)}|{','.join(team)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_cursor(version: int, scope: str) -> str:
    return _serializer().dumps({"v": version, "s": scope})


def decode_cursor(cursor: str, scope: str) -> int | None:
    """The version a cursor stands for, or None when it must be reset."""
    try:
        data = _serializer().loads(cursor)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("s") != scope:
        return None
    version = data.get("v")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return None
    current, purged = db.session.execute(
        sa.select(SyncCounter.value, SyncCounter.purged_version).where(SyncCounter.id == 1)).one()
    return version if purged <= version <= current else None


def _revoked_customers(user: User, since: int) -> sa.Select:
    """History entries that moved a customer out of the user's scope since ``since``."""
    if user.role == "admin":
        return sa.select(sa.literal("revoke"), History.entity_id, History.version).where(sa.false())
    mine = [str(t) for t in db.session.scalars(territory_ids_query(user))]
    owners = [str(u) for u in db.session.scalars(team_ids_query(user))] \
        if user.role == "manager" else [str(user.id)]
    was_mine = sa.or_(
        sa.and_(History.field == "territory_id", History.old.in_(mine)),
        sa.and_(History.field == "owner_id", History.old.in_(owners)),
    )
    return sa.select(sa.literal("revoke"), History.entity_id, History.version).where(
        History.version > since, History.kind == "change", History.entity == "customer",
        was_mine, ~History.entity_id.in_(sa.select(Customer.id).where(customer_scope(user))),
    )


def _change_list(user: User, since: int, full: bool, limit: int) -> list:
    branches = []
    for name, entity in PULLED.items():
        query = sa.select(sa.literal(name), entity.model.id, entity.model.version).where(
            entity.model.version > since, entity.visible(user))
        if full and hasattr(entity.model, "deleted"):
            query = query.where(~entity.model.deleted)
        if full and name == "history":
            days = current_app.config.get("SYNC_HISTORY_DAYS", 365)
            query = query.where(History.at >= utcnow() - timedelta(days=days))
        branches.append(query)
    if not full:
        branches.append(_revoked_customers(user, since))
    union = sa.union_all(*branches).subquery()
    columns = list(union.c)
    return db.session.execute(
        sa.select(*columns).order_by(columns[2]).limit(limit + 1)
    ).all()


def pull(user: User, body: dict) -> dict:
    """The response body of a pull; ProtocolError for a malformed request."""
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ProtocolError(400, "invalid_cursor", "cursor must be a string or null.")
    limit = body.get("limit", PAGE_SIZE)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE:
        raise ProtocolError(400, "invalid_limit", f"limit must be between 1 and {PAGE_SIZE}.")
    last_mutation_id = 0
    if body.get("client_id") is not None:
        last_mutation_id = bind_client(user, parse_client_id(body["client_id"]),
                                       lock=False).last_mutation_id
    scope = scope_key(user)
    since = 0 if cursor is None else decode_cursor(cursor, scope)
    reset = cursor is not None and since is None
    since = since or 0
    rows = _change_list(user, since, full=since == 0, limit=limit)
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = _load(user, rows)
    result = {
        "changes": changes,
        "cursor": encode_cursor(rows[-1][2] if rows else since, scope),
        "has_more": has_more,
        "last_mutation_id": last_mutation_id,
    }
    if reset:
        result["reset"] = True
    return result


def _load(user: User, rows: list) -> list[dict]:
    """Whole rows for the listed changes, in the list's order.

    Read per entity by the page's range of versions (one indexed query, instead of
    thousands of ids as parameters) and kept when listed. No row of the range that
    was not listed can be one to send: versions are committed in order, so the list
    saw every committed row below its last version; a row that changed since has a
    newer version and comes with the next page or pull.
    """
    wanted: dict[str, set[uuid.UUID]] = {}
    versions: dict[str, list[int]] = {}
    for name, row_id, version in rows:
        wanted.setdefault(name, set()).add(row_id)
        low_high = versions.setdefault(name, [version, version])
        low_high[0], low_high[1] = min(low_high[0], version), max(low_high[1], version)
    loaded = {}
    for name, ids in wanted.items():
        if name == "revoke":
            continue
        entity = PULLED[name]
        model = entity.model
        in_range = sa.and_(model.version.between(*versions[name]), entity.visible(user))
        if name in PLAIN_ROWS:
            # Read-only rows without relationships: plain rows serialise the same, and
            # skip the ORM's identity map (most of a first pull is history).
            found = db.session.execute(sa.select(*model.__table__.c).where(in_range))
        else:
            found = db.session.scalars(sa.select(model).where(in_range))
        for obj in found:
            if obj.id in ids:
                loaded[(name, obj.id)] = obj
    changes = []
    for name, row_id, version in rows:
        if name == "revoke":
            changes.append({"entity": "customer", "entity_id": str(row_id), "op": "revoke",
                            "version": version, "data": None})
            continue
        obj = loaded.get((name, row_id))
        if obj is None:
            continue
        deleted = name not in PLAIN_ROWS and obj.deleted
        changes.append({"entity": name, "entity_id": str(row_id),
                        "op": "delete" if deleted else "upsert", "version": obj.version,
                        "data": None if deleted else PULLED[name].serialize(obj)})
    return changes
