"""Background jobs: a queue in the database, worked by ``flask --app fieldcrm worker``.

Any number of worker processes on any number of hosts may run: a worker
claims a due job by locking its row (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has a single writer), marks it running with a lease
(``locked_until``) and commits, so the work itself runs outside the claim
transaction. A job whose worker died is taken again when its lease expires.
Handlers are plain functions registered by kind with ``@handler("kind")``.
"""

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .extensions import db
from .models import Job, utcnow

log = logging.getLogger(__name__)
HANDLERS: dict[str, Callable[[Job], None]] = {}
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5


class RetryLater(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a handler to run the job again after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str = ""):
        super().__init__(reason or f"retry in {delay}s")
        self.delay = delay


def handler(kind: str):
    """Register ``fn(job)`` as the handler of jobs of this kind."""
    def register(fn):
        HANDLERS[kind] = fn
        return fn
    return register


def enqueue(kind: str, payload: dict | None = None, *, run_at: datetime | None = None,
            total: int = 0) -> Job:
    """Add a job in the caller's transaction (it runs only if that commits)."""
    job = Job(kind=kind, payload=payload or {}, run_at=run_at or utcnow(), progress_total=total)
    db.session.add(job)
    return job


def report_progress(job: Job, done: int, total: int | None = None) -> None:
    """Record how far a running job is and commit, so progress bars can poll it."""
    job.progress_done = done
    if total is not None:
        job.progress_total = total
    job.locked_until = utcnow() + LEASE
    db.session.commit()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next(kinds: list[str] | None = None) -> Job | None:
    """Take one due job (queued, or running with an expired lease) and mark it running."""
    now = utcnow()
    query = (
        sa.select(Job)
        .where(sa.or_(sa.and_(Job.status == "queued", Job.run_at <= now),
                      sa.and_(Job.status == "running", Job.locked_until < now)))
        .order_by(Job.run_at)
        .limit(1)
    )
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job = db.session.scalar(query)
    if job is None:
        db.session.rollback()
        return None
    job.status = "running"
    job.attempts += 1
    job.locked_by = worker_name()
    job.locked_until = now + LEASE
    db.session.commit()
    return job


def run_job(job: Job) -> None:
    """Run one claimed job to done, a retry, or failure; never raises."""
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        fn(job)
    except RetryLater as exc:
        db.session.rollback()
        _finish(job, "queued", str(exc), run_at=utcnow() + timedelta(seconds=exc.delay))
        return
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s (%s) failed", job.id, job.kind)
        if job.attempts < MAX_ATTEMPTS and not isinstance(exc, LookupError):
            backoff = timedelta(seconds=30 * 2 ** job.attempts)
            _finish(job, "queued", traceback.format_exc(limit=3), run_at=utcnow() + backoff)
        else:
            _finish(job, "failed", traceback.format_exc(limit=3))
        return
    _finish(job, "done", None)


def _finish(job: Job, status: str, error: str | None, run_at: datetime | None = None) -> None:
    job = db.session.get(Job, job.id)
    job.status = status
    job.last_error = error
    job.locked_by = None
    job.locked_until = None
    if run_at is not None:
        job.run_at = run_at
    if status in ("done", "failed"):
        job.finished_at = utcnow()
    db.session.commit()


def work(*, once: bool = False, idle_sleep: float = 1.0, kinds: list[str] | None = None) -> int:
    """Run due jobs; with ``once`` stop when none is due. Returns how many ran."""
    ran = 0
    while True:
        job = claim_next(kinds)
        if job is None:
            if once:
                return ran
            time.sleep(idle_sleep)
            continue
        current_app.logger.info("job %s %s (attempt %s)", job.id, job.kind, job.attempts)
        run_job(job)
        ran += 1
