"""Pulled rows serialised without per-value Python conversions.

A first pull is tens of thousands of rows, most of them history entries. Loading
them as ORM objects (or plain rows) and turning every UUID and time into a
Python object and back into a string cost more than a second. Here the database
formats the values itself, exactly as the API's serializers write them
(fieldcrm.api.serialize.json_value):

- UUIDs: lowercase with hyphens, as ``str(uuid)``;
- times: UTC in ISO 8601, ``2026-11-23T19:30:05.120000+00:00``, with the
  fraction left out when it is zero, as ``datetime.isoformat()``;
- dates ``YYYY-MM-DD``; decimals (scale 2) as strings with two places.

Rows of an entity without float columns (history, contacts, notes, follow-ups,
products) come back as the finished JSON text of the whole change, built by the
database (``||`` and ``to_json`` / ``json_quote``), and are written into the
response as they are. Rows with floats (customers, visits) come back as tuples
of ready values and go through the JSON encoder: SQLite has no shortest
round-trip formatting of a float, and Python's is the one the API writes.

Only entities whose serializer is one of the plain ones below, with columns of
kinds this module knows, take this path; any other (orders with their lines,
territories with their reps, a serializer changed later) is loaded through the
ORM as before. The formatting rules are json_value's, written again in SQL for
speed: tests/test_sync_pull_rows.py checks that both give the same JSON, value
by value and type by type, for every pulled entity on both databases.

On SQLite the formatting relies on how SQLAlchemy stores values there: a UUID
as its 32 lowercase hex digits, a time as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive
UTC, fieldcrm.models.UTCDateTime), a date as 'YYYY-MM-DD'.
"""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql

from ..api import serialize as ser
from ..extensions import db
from ..models import UTCDateTime
from .entities import history_json

# The fields each plain serializer writes, in its order.
HISTORY_FIELDS = ("id", "version", "customer_id", "at", "user_id", "kind", "entity", "entity_id",
                  "field", "old", "new", "ref_id")
SERIALIZER_FIELDS: dict[Callable, tuple[str, ...]] = {
    ser.customer_json: ser.COMMON_FIELDS + ser.CUSTOMER_FIELDS + ser.CUSTOMER_READ_ONLY,
    ser.contact_json: ser.COMMON_FIELDS + ser.CONTACT_FIELDS,
    ser.product_json: ser.COMMON_FIELDS + ser.PRODUCT_FIELDS,
    ser.visit_json: ser.COMMON_FIELDS + ser.VISIT_FIELDS,
    ser.note_json: ser.COMMON_FIELDS + ser.NOTE_FIELDS,
    ser.followup_json: ser.COMMON_FIELDS + ser.FOLLOWUP_FIELDS,
    history_json: HISTORY_FIELDS,
}
COMPACT = {"separators": (",", ":")}


class RawJSON(str):
    """JSON text that goes into the response as it is."""


def _kind(column: sa.Column) -> str | None:
    """How a column's value is formatted; None when this module does not know it."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "time"
    if isinstance(kind, sa.Uuid):
        return "uuid"
    if isinstance(kind, sa.Float):
        return "float"
    if isinstance(kind, sa.Numeric):
        return "decimal" if kind.scale == 2 else None
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.Date) and not isinstance(kind, sa.DateTime):
        return "date"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.String):
        return "text"
    return None


def _lit(text: str) -> sa.ColumnElement:
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text)


def _concat(*parts) -> sa.ColumnElement:
    return functools.reduce(lambda a, b: a.op("||", return_type=sa.Text)(b), parts)


def uuid_text(column, dialect: str) -> sa.ColumnElement:
    """A UUID column as ``str(uuid)`` writes it."""
    if dialect == "postgresql":
        return sa.cast(column, sa.Text)
    # SQLite keeps the 32 lowercase hex digits SQLAlchemy's Uuid writes (uuid.hex).
    raw = sa.type_coerce(column, sa.Text)
    text = sa.func.printf(_lit("%.8s-%.4s-%.4s-%.4s-%.12s"), raw, sa.func.substr(raw, 9),
                          sa.func.substr(raw, 13), sa.func.substr(raw, 17), sa.func.substr(raw, 21))
    return sa.case((column.is_(None), None), else_=text)  # printf writes NULL as ''


def _time_text(column, dialect: str) -> sa.ColumnElement:
    # '.000000' can only be the fraction: isoformat() leaves a zero fraction out.
    if dialect == "postgresql":
        text = sa.func.to_char(sa.func.timezone(_lit("UTC"), column),
                               _lit('YYYY-MM-DD"T"HH24:MI:SS.US'))
    else:
        # SQLite keeps the naive UTC time as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format).
        text = sa.func.replace(sa.type_coerce(column, sa.Text), " ", "T")
    return _concat(sa.func.replace(text, ".000000", ""), _lit("+00:00"))  # NULL stays NULL


def _value_text(column, kind: str, dialect: str) -> sa.ColumnElement:
    """The column as the JSON value's text form (a string, not yet quoted), NULL kept."""
    if kind == "uuid":
        return uuid_text(column, dialect)
    if kind == "time":
        return _time_text(column, dialect)
    if kind == "date":
        return sa.func.to_char(column, _lit("YYYY-MM-DD")) if dialect == "postgresql" \
            else sa.type_coerce(column, sa.Text)
    if kind == "decimal":
        return sa.cast(column, sa.Text) if dialect == "postgresql" else sa.case(
            (column.is_(None), None), else_=sa.func.printf(_lit("%.2f"), column))
    return column


def _json_text(column, kind: str, dialect: str) -> sa.ColumnElement:
    """The column's value as JSON text ('null' for NULL)."""
    if kind == "bool":
        return sa.case((column.is_(None), _lit("null")), (column, _lit("true")), else_=_lit("false"))
    if kind == "int":
        return sa.func.coalesce(sa.cast(column, sa.Text), _lit("null"))
    text = sa.type_coerce(_value_text(column, kind, dialect), sa.Text)
    if kind != "text":
        # UUIDs, times, dates and decimals have nothing to escape: quotes are enough.
        return sa.func.coalesce(_concat(_lit('"'), text, _lit('"')), _lit("null"))
    if dialect == "postgresql":
        return sa.func.coalesce(sa.cast(sa.func.to_json(text), sa.Text), _lit("null"))
    return sa.func.json_quote(text)


@dataclass(frozen=True)
class FastRows:
    """How one entity's rows are read ready to send."""

    name: str
    model: type
    columns: tuple[tuple[str, sa.Column, str], ...]  # (field, column, kind)
    as_text: bool  # the database writes the whole change as JSON text
    statements: dict = dataclasses.field(default_factory=dict, compare=False)  # per dialect, built once

    def statement(self, dialect: str) -> sa.Select:
        """The rows of the listed versions (parameter ``versions``, see ``versions_value``)."""
        if dialect not in self.statements:
            self.statements[dialect] = self.select(dialect).where(listed(self.model, dialect))
        return self.statements[dialect]

    def select(self, dialect: str) -> sa.Select:
        model = self.model
        deleted = model.deleted if hasattr(model, "deleted") else sa.false()
        head = (uuid_text(model.id, dialect), model.version, deleted)
        if self.as_text:
            parts = [_lit(f'{{"entity":"{self.name}","entity_id":"'), uuid_text(model.id, dialect),
                     _lit('","op":"upsert","version":'), sa.cast(model.version, sa.Text),
                     _lit(',"data":{')]
            for number, (field, column, kind) in enumerate(self.columns):
                parts += [_lit(("," if number else "") + f'"{field}":'),
                          _json_text(column, kind, dialect)]
            parts.append(_lit("}}"))
            selected = (*head, _concat(*parts))
        else:
            selected = (*head, *(_value_text(column, kind, dialect)
                                 for _, column, kind in self.columns))
        # Positional labels: the id is selected twice as the same expression.
        return sa.select(*(column.label(f"c{number}") for number, column in enumerate(selected)))


def fast_rows(name: str, entity) -> FastRows | None:
    """The fast path for an entity, or None when its rows must go through the ORM."""
    fields = SERIALIZER_FIELDS.get(entity.serialize)
    if fields is None:
        return None
    table_columns = entity.model.__table__.c
    columns = []
    for field in fields:
        column = table_columns.get(field)
        kind = None if column is None else _kind(column)
        if kind is None:
            return None
        columns.append((field, getattr(entity.model, field), kind))
    as_text = all(kind != "float" for _, _, kind in columns)
    return FastRows(name, entity.model, tuple(columns), as_text)


def listed(model, dialect: str) -> sa.ColumnElement[bool]:
    """``model.version`` is one of the parameter ``versions``: one text parameter (a JSON
    list on SQLite, an array literal on PostgreSQL — cheaper to send than thousands of
    values) read through the version index, and one statement whatever their number."""
    versions = sa.bindparam("versions", type_=sa.Text)
    if dialect == "postgresql":
        return model.version == sa.any_(sa.cast(versions, postgresql.ARRAY(sa.BigInteger)))
    return model.version.in_(sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(versions)))


def versions_value(versions, dialect: str) -> str:
    """The value of the ``versions`` parameter of ``listed``."""
    text = ",".join(map(str, sorted(versions)))
    return f"{{{text}}}" if dialect == "postgresql" else f"[{text}]"


def load(fast: FastRows, versions) -> dict[int, object]:
    """The changes for the rows of ``versions`` (those that still have them), by version."""
    dialect = db.session.get_bind().dialect.name
    dumps = current_app.json.dumps
    names = [name for name, _, _ in fast.columns]
    found = {}
    for row in db.session.connection().execute(fast.statement(dialect),
                                               {"versions": versions_value(versions, dialect)}):
        row_id, version, deleted = row[0], row[1], row[2]
        if deleted:
            found[version] = {"entity": fast.name, "entity_id": row_id, "op": "delete",
                             "version": version, "data": None}
        elif fast.as_text:
            found[version] = RawJSON(row[3])
        else:
            found[version] = RawJSON(dumps(
                {"entity": fast.name, "entity_id": row_id, "op": "upsert", "version": version,
                 "data": dict(zip(names, row[3:], strict=True))}, **COMPACT))
    return found


def encode(result: dict) -> str:
    """The pull's response body: ``result`` as JSON, with RawJSON changes written as they are."""
    dumps = current_app.json.dumps
    changes = ",".join(change if isinstance(change, RawJSON) else dumps(change, **COMPACT)
                       for change in result["changes"])
    rest = dumps({key: value for key, value in result.items() if key != "changes"}, **COMPACT)
    return '{"changes":[' + changes + "]" + ("," + rest[1:] if rest != "{}" else "}")
