"""Background jobs: a queue in the database, worked by ``flask --app fieldcrm worker``.

Any number of worker processes on any number of hosts may run. A worker
claims a due job with one ``UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING``
statement: on PostgreSQL the inner select takes the row with
``FOR UPDATE SKIP LOCKED``, so concurrent workers pass over each other's rows
instead of waiting; on SQLite the statement takes the single write lock first
and never reads a stale snapshot. The claim marks the job running with a
lease (``locked_until``) and commits, so the work itself runs outside the
claim transaction, and a job whose worker died is taken again when its lease
expires. Handlers are plain functions registered by kind with
``@handler("kind")``; what they leave in the session is committed together
with the job's new status.
"""

import logging
import os
import signal
import socket
import threading
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
    """Raised by a handler to run the job again after ``delay`` seconds.

    The handler's uncommitted changes are rolled back. With ``counts=False``
    the attempt does not count towards a handler's attempt limit (the service
    asked us to wait, e.g. HTTP 429, which says nothing about the job).
    """

    def __init__(self, delay: float, reason: str = "", *, counts: bool = True):
        super().__init__(reason or f"retry in {delay}s")
        self.delay = delay
        self.counts = counts


class GiveUp(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a handler to mark the job failed now, without further attempts.

    Unlike any other exception, the handler's changes in the session are kept
    and committed with the failure (e.g. "address not found" on the customer).
    """


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
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]


def claim_next(kinds: list[str] | None = None, *, due_by: datetime | None = None) -> Job | None:
    """Take one due job (queued, or running with an expired lease) and mark it running.

    Only kinds this process has a handler for are taken (unless ``kinds`` names
    others), so a worker of an older release leaves new kinds to newer ones.
    ``due_by`` limits the claim to jobs due by then (default: now). The claim is
    committed before it returns, so no two workers ever hold the same job.
    """
    now = utcnow()
    kinds = list(kinds) if kinds else sorted(HANDLERS)
    if not kinds:
        return None
    due = (
        sa.select(Job.id)
        .where(Job.kind.in_(kinds))
        .where(sa.or_(sa.and_(Job.status == "queued", Job.run_at <= (due_by or now)),
                      sa.and_(Job.status == "running", Job.locked_until < now)))
        .order_by(Job.run_at)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claim = (
        sa.update(Job)
        .where(Job.id == due.scalar_subquery())
        .values(status="running", attempts=Job.attempts + 1, locked_by=worker_name(),
                locked_until=now + LEASE)
        .returning(Job)
    )
    job = db.session.scalars(claim, execution_options={"populate_existing": True}).first()
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
        _finish(job, "queued", str(exc), run_at=utcnow() + timedelta(seconds=exc.delay),
                refund_attempt=not exc.counts)
        return
    except GiveUp as exc:
        _finish(job, "failed", str(exc))
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


def _finish(job: Job, status: str, error: str | None, run_at: datetime | None = None,
            refund_attempt: bool = False) -> None:
    job = db.session.get(Job, job.id)
    job.status = status
    job.last_error = error
    job.locked_by = None
    job.locked_until = None
    if refund_attempt:
        job.attempts = max(job.attempts - 1, 0)
    if run_at is not None:
        job.run_at = run_at
    if status in ("done", "failed"):
        job.finished_at = utcnow()
    db.session.commit()


class _StopSignal:
    """SIGTERM/SIGINT ask a running worker to stop after its current job; a second one
    stops it at once."""

    def __init__(self):
        self.event = threading.Event()
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def _handle(self, signum, frame):
        if self.event.is_set():  # asked twice: stop now; the lease hands the job on
            raise KeyboardInterrupt
        log.info("signal %s: stopping after the current job", signum)
        self.event.set()

    def __exit__(self, *exc_info):
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


def work(*, once: bool = False, idle_sleep: float = 1.0, kinds: list[str] | None = None,
         stop: threading.Event | None = None) -> int:
    """Run due jobs; with ``once`` stop when none is due. Returns how many ran.

    Without ``once`` the loop runs until ``stop`` is set or the process gets
    SIGTERM/SIGINT (it finishes the current job first), and it outlives a
    database that is briefly unreachable.
    """
    if once:
        return _work_once(kinds)
    with _StopSignal() as stopped:
        stop = stop or stopped
        ran = 0
        while not (stop.is_set() or stopped.is_set()):
            try:
                job = claim_next(kinds)
            except sa.exc.DBAPIError:
                db.session.rollback()
                log.warning("worker cannot reach the database; trying again", exc_info=True)
                stop.wait(max(idle_sleep, 5.0))
                continue
            if job is None:
                stop.wait(idle_sleep)
                continue
            _run_logged(job)
            ran += 1
        return ran


def _work_once(kinds: list[str] | None) -> int:
    """The jobs due when called; a job retried meanwhile waits for the next run."""
    started = utcnow()
    ran = 0
    while (job := claim_next(kinds, due_by=started)) is not None:
        _run_logged(job)
        ran += 1
    return ran


def _run_logged(job: Job) -> None:
    current_app.logger.info("job %s %s (attempt %s)", job.id, job.kind, job.attempts)
    run_job(job)
