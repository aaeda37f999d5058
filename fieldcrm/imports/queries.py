"""Reads of import batches: whose they are, their errors, and the geocoding after them."""

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort

from ..extensions import db
from ..models import Customer, ImportBatch, ImportRowError, User
from ..scope import parse_uuid_or_404


def _batches() -> sa.Select:
    # The file itself is loaded only where it is read (mapping, preview, job).
    return sa.select(ImportBatch).options(sa.orm.defer(ImportBatch.content))


def batch_or_404(user: User, batch_id) -> ImportBatch:
    """An import the user started (admins: any import); 404 otherwise, never 403."""
    query = _batches().where(ImportBatch.id == parse_uuid_or_404(batch_id))
    if user.role != "admin":
        query = query.where(ImportBatch.user_id == user.id)
    batch = db.session.scalar(query)
    if batch is None:
        abort(404)
    return batch


def recent_batches(user: User, limit: int = 10) -> list[ImportBatch]:
    """The user's latest imports, newest first."""
    return list(db.session.scalars(
        _batches().where(ImportBatch.user_id == user.id)
        .order_by(ImportBatch.created_at.desc()).limit(limit)
    ))


def batch_head(batch: ImportBatch, size: int = 1024 * 1024) -> bytes:
    """The first ``size`` bytes of the uploaded file: plenty for a preview of its first rows."""
    return db.session.scalar(sa.select(sa.func.substr(ImportBatch.content, 1, size))
                             .where(ImportBatch.id == batch.id))


def row_errors(batch: ImportBatch, page: int = 1000) -> Iterator[ImportRowError]:
    """The batch's rejected rows in file order, read a page at a time."""
    last = -1
    while True:
        rows = list(db.session.scalars(
            sa.select(ImportRowError).where(ImportRowError.batch_id == batch.id,
                                            ImportRowError.id > last)
            .order_by(ImportRowError.id).limit(page)
        ))
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1].id


@dataclass(frozen=True)
class GeocodeProgress:
    """How many of the customers an import created still wait for their coordinates."""

    pending: int
    done: int

    @property
    def total(self) -> int:
        return self.pending + self.done


def geocoding_progress(batch: ImportBatch) -> GeocodeProgress | None:
    """Geocoding of the batch's new customers, or None when it created none.

    The import records the range of ``seq`` (the first version, unique and
    increasing) of the customers it created; those in its territory within
    that range are counted. A customer created by someone else in the same
    territory while the import ran is counted too: rare, and harmless for a
    progress bar. Customers whose row gave coordinates need no geocoding and
    are not counted (their status is neither pending, ok nor failed).
    """
    span = (batch.mapping or {}).get("seq")
    if not span:
        return None
    counts = dict(db.session.execute(
        sa.select(Customer.geocode_status, sa.func.count())
        .where(Customer.seq.between(*span), Customer.territory_id == batch.territory_id,
               ~Customer.deleted)
        .group_by(Customer.geocode_status)
    ).all())
    done = counts.get("ok", 0) + counts.get("failed", 0)
    return GeocodeProgress(pending=counts.get("pending", 0), done=done)

