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
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from ..extensions import db
from ..models import Customer, History, SyncCounter, User, utcnow
from ..scope import customer_scope, team_ids_query, territory_ids_query
from . import pull_rows
from .entities import PULLED
from .push import ProtocolError, bind_client, parse_client_id

# Rows per pull page (a client may ask for fewer with ``limit``). Each page reads the change
# list again (about 50 ms for a rep's 22,000 rows), so fewer pages make a first pull cheaper;
# 10,000 rows are about 5 MB of JSON, 0.6 MB gzipped, for the phone to apply in one
# transaction (docs/PERFORMANCE.md).
PAGE_SIZE = 10_000
# Entities whose rows the database formats itself (pull_rows); the others go through the ORM.
FAST_ROWS = {name: fast for name, entity in PULLED.items()
             if (fast := pull_rows.fast_rows(name, entity)) is not None}
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


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _revoked_customers(user: User, since: int) -> sa.Select:
    """History entries that moved a customer out of the user's scope since ``since``."""
    entity_id = pull_rows.uuid_text(History.entity_id, _dialect()).label("id")
    if user.role == "admin":
        return sa.select(sa.literal("revoke"), entity_id, History.version).where(sa.false())
    mine = [str(t) for t in db.session.scalars(territory_ids_query(user))]
    owners = [str(u) for u in db.session.scalars(team_ids_query(user))] \
        if user.role == "manager" else [str(user.id)]
    was_mine = sa.or_(
        sa.and_(History.field == "territory_id", History.old.in_(mine)),
        sa.and_(History.field == "owner_id", History.old.in_(owners)),
    )
    return sa.select(sa.literal("revoke"), entity_id, History.version).where(
        History.version > since, History.kind == "change", History.entity == "customer",
        was_mine, ~History.entity_id.in_(sa.select(Customer.id).where(customer_scope(user))),
    )


def _change_list(user: User, since: int, full: bool, limit: int) -> list:
    """(entity, id, version) of the page's changes in version order, one more than ``limit``.

    The id is only read for ``revoke`` (as text); a row is known by its version, which no
    other row of any pulled table has (fieldcrm.versioning hands each row its own), so the
    list costs no id conversion per row.
    """
    branches = []
    no_id = sa.cast(sa.null(), sa.Text).label("id")
    for name, entity in PULLED.items():
        query = sa.select(sa.literal(name), no_id, entity.model.version).where(
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
    # Core, not the ORM: plain rows, without the ORM's per-row result processing.
    return db.session.connection().execute(
        sa.select(*columns).order_by(columns[2]).limit(limit + 1)
    ).all()


def pull(user: User, body: dict) -> dict:
    """The response body of a pull; ProtocolError for a malformed request."""
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ProtocolError(400, "invalid_cursor", _l("cursor must be a string or null."))
    limit = body.get("limit", PAGE_SIZE)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_SIZE:
        raise ProtocolError(400, "invalid_limit",
                            _l("limit must be between 1 and %(n)s.", n=PAGE_SIZE))
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
    changes = _load(rows)
    result = {
        "changes": changes,
        "cursor": encode_cursor(rows[-1][2] if rows else since, scope),
        "has_more": has_more,
        "last_mutation_id": last_mutation_id,
    }
    if reset:
        result["reset"] = True
    return result


def _load(rows: list) -> list:
    """The changes for the listed rows, in the list's order: dicts, or JSON text (pull_rows).

    Read per entity by the listed versions. A version belongs to exactly one row of all
    pulled tables (fieldcrm.versioning), and a row that changes gets a new one, so a row
    read by a listed version is the listed row as the list saw it, in the user's scope:
    no scope filter again. A row that changed since the list was read is not found and
    comes, with its newer version, on the next page or pull.
    """
    wanted: dict[str, set[int]] = {}
    for name, _row_id, version in rows:
        wanted.setdefault(name, set()).add(version)
    loaded = {}  # version -> change
    for name, listed in wanted.items():
        if name == "revoke":
            continue
        entity = PULLED[name]
        model = entity.model
        fast = FAST_ROWS.get(name)
        if fast is not None:
            loaded.update(pull_rows.load(fast, listed))
            continue
        dialect = _dialect()
        for obj in db.session.scalars(
                sa.select(model).where(pull_rows.listed(model, dialect)),
                {"versions": pull_rows.versions_value(listed, dialect)}):
            loaded[obj.version] = {
                "entity": name, "entity_id": str(obj.id),
                "op": "delete" if obj.deleted else "upsert", "version": obj.version,
                "data": None if obj.deleted else entity.serialize(obj)}
    changes = []
    for name, row_id, version in rows:
        if name == "revoke":
            changes.append({"entity": "customer", "entity_id": row_id, "op": "revoke",
                            "version": version, "data": None})
        elif version in loaded:
            changes.append(loaded[version])
    return changes
