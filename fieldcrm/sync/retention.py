"""Tombstone retention: a deleted row is kept SYNC_TOMBSTONE_DAYS, then purged.

Devices learn of a delete by pulling its tombstone. Once a tombstone is purged,
a device whose cursor is older than it would never learn of that delete, so the
counter row remembers the highest version purged (``purged_version``) and a
cursor below it gets ``reset: true`` and a full pull (fieldcrm.sync.pull).

A tombstone that another row still points at stays: a deleted customer keeps
its history, a deleted visit the notes and orders taken during it. Purging never
breaks a reference and never drops history. It runs with the nightly job and by
hand as ``flask fieldcrm purge-tombstones``.
"""

from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..models import SyncCounter, utcnow
from .entities import ENTITIES


def _unreferenced(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """Conditions that no row of any table points at the row of ``table`` (by foreign key)."""
    conditions = []
    for other in db.metadata.tables.values():
        for key in other.foreign_keys:
            if key.column.table is table:
                referring = other.alias() if other is table else other
                conditions.append(~sa.exists().where(
                    referring.c[key.parent.name] == table.c[key.column.name]))
    return conditions


def purge_tombstones(now: datetime | None = None, days: int | None = None) -> dict[str, int]:
    """Delete the tombstones last changed more than ``days`` ago that nothing refers to;
    the number purged per entity. The caller commits."""
    now = now or utcnow()
    days = current_app.config["SYNC_TOMBSTONE_DAYS"] if days is None else days
    horizon = now - timedelta(days=days)
    purged, highest = {}, 0
    for name, entity in ENTITIES.items():
        table = entity.model.__table__
        if "deleted" not in table.c:
            continue
        old = sa.and_(table.c.deleted, table.c.updated_at < horizon, *_unreferenced(table))
        versions = db.session.execute(sa.select(sa.func.count(), sa.func.max(table.c.version))
                                      .where(old)).one()
        if versions[0]:
            db.session.execute(sa.delete(table).where(old))
            purged[name] = versions[0]
            highest = max(highest, versions[1])
    if highest:
        db.session.execute(sa.update(SyncCounter).where(SyncCounter.id == 1).values(
            purged_version=sa.case((SyncCounter.purged_version < highest, highest),
                                   else_=SyncCounter.purged_version)))
    return purged


@click.command("purge-tombstones")
@click.option("--days", type=click.IntRange(min=1),
              help="Keep tombstones this many days (default: SYNC_TOMBSTONE_DAYS).")
@with_appcontext
def purge_command(days):
    """Delete old tombstones nothing refers to; devices that synced before get a full pull."""
    purged = purge_tombstones(days=days)
    db.session.commit()
    click.echo(", ".join(f"{name}: {count}" for name, count in purged.items()) or "nothing to purge")
