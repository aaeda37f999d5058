"""The job queue: claims with leases, retries, failure, and workers that never share a job."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fieldcrm import jobs
from fieldcrm.models import Job, Territory, utcnow


@pytest.fixture
def ran(monkeypatch):
    """Handlers for the test kinds; ``ran`` lists the ids of the jobs they ran."""
    done: list = []
    monkeypatch.setitem(jobs.HANDLERS, "test-ok", lambda job: done.append(job.id))
    return done


def add_jobs(db, count: int, kind: str = "test-ok", **fields) -> list[Job]:
    rows = [jobs.enqueue(kind, {"n": n}) for n in range(count)]
    for row in rows:
        for name, value in fields.items():
            setattr(row, name, value)
    db.session.commit()
    return rows


def fresh(db, job: Job) -> Job:
    return db.session.get(Job, job.id, populate_existing=True)


def test_claim_takes_the_oldest_due_job_and_leases_it(db, ran):
    later, first = add_jobs(db, 2)
    later.run_at = utcnow() - timedelta(seconds=5)
    first.run_at = utcnow() - timedelta(seconds=60)
    db.session.commit()

    job = jobs.claim_next()
    assert job.id == first.id
    row = fresh(db, job)
    assert row.status == "running" and row.attempts == 1 and row.locked_by
    assert timedelta(minutes=9) < row.locked_until - utcnow() <= jobs.LEASE


def test_future_and_running_jobs_are_not_claimed(db, ran):
    add_jobs(db, 1, run_at=utcnow() + timedelta(minutes=5))
    add_jobs(db, 1, status="running", locked_until=utcnow() + timedelta(minutes=5))
    add_jobs(db, 1, status="done")
    assert jobs.claim_next() is None


def test_a_job_whose_lease_expired_is_claimed_again(db, ran):
    [stale] = add_jobs(db, 1, status="running", attempts=1, locked_by="dead-host:1",
                       locked_until=utcnow() - timedelta(seconds=1))
    job = jobs.claim_next()
    assert job.id == stale.id
    row = fresh(db, job)
    assert row.attempts == 2 and row.locked_by != "dead-host:1"
    assert row.locked_until > utcnow()


def test_work_once_runs_what_is_due_and_marks_it_done(db, ran):
    queued = add_jobs(db, 3)
    assert jobs.work(once=True) == 3
    assert sorted(ran) == sorted(job.id for job in queued)
    for job in queued:
        row = fresh(db, job)
        assert row.status == "done" and row.finished_at and row.locked_until is None


def test_handler_changes_commit_with_the_job(db, monkeypatch):
    monkeypatch.setitem(jobs.HANDLERS, "test-write",
                        lambda job: db.session.add(Territory(name="Made by a job")))
    add_jobs(db, 1, "test-write")
    jobs.work(once=True)
    assert db.session.scalar(sa.select(Territory.name)) == "Made by a job"


def test_retry_later_requeues_without_the_handlers_changes(db, monkeypatch):
    def busy(job):
        db.session.add(Territory(name="never saved"))
        raise jobs.RetryLater(90, "busy")

    monkeypatch.setitem(jobs.HANDLERS, "test-busy", busy)
    [job] = add_jobs(db, 1, "test-busy")
    assert jobs.work(once=True) == 1  # not retried in the same run
    row = fresh(db, job)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "busy")
    assert 85 < (row.run_at - utcnow()).total_seconds() <= 90
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Territory)) == 0


def test_retry_that_does_not_count_refunds_the_attempt(db, monkeypatch):
    monkeypatch.setitem(jobs.HANDLERS, "test-wait",
                        lambda job: (_ for _ in ()).throw(jobs.RetryLater(0, counts=False)))
    [job] = add_jobs(db, 1, "test-wait")
    jobs.work(once=True)
    assert fresh(db, job).attempts == 0


def test_give_up_fails_the_job_and_keeps_the_handlers_changes(db, monkeypatch):
    def hopeless(job):
        db.session.add(Territory(name="kept"))
        raise jobs.GiveUp("no way")

    monkeypatch.setitem(jobs.HANDLERS, "test-hopeless", hopeless)
    [job] = add_jobs(db, 1, "test-hopeless")
    jobs.work(once=True)
    row = fresh(db, job)
    assert (row.status, row.last_error) == ("failed", "no way") and row.finished_at
    assert db.session.scalar(sa.select(Territory.name)) == "kept"


def test_crash_is_retried_with_backoff_then_failed(db, monkeypatch):
    monkeypatch.setitem(jobs.HANDLERS, "test-crash",
                        lambda job: (_ for _ in ()).throw(RuntimeError("boom")))
    [job] = add_jobs(db, 1, "test-crash")
    jobs.work(once=True)
    row = fresh(db, job)
    assert row.status == "queued" and "RuntimeError: boom" in row.last_error
    assert (row.run_at - utcnow()).total_seconds() > 50

    row.attempts = jobs.MAX_ATTEMPTS - 1
    row.run_at = utcnow()
    db.session.commit()
    jobs.work(once=True)
    assert fresh(db, job).status == "failed"


def test_a_worker_takes_only_kinds_it_can_run(db, ran):
    [unknown] = add_jobs(db, 1, "test-from-a-newer-release")
    assert jobs.work(once=True) == 0
    assert fresh(db, unknown).status == "queued"

    assert jobs.work(once=True, kinds=["test-from-a-newer-release"]) == 1
    row = fresh(db, unknown)
    assert row.status == "failed" and "no handler" in row.last_error


def test_kinds_limit_what_a_worker_takes(db, ran, monkeypatch):
    monkeypatch.setitem(jobs.HANDLERS, "test-other", lambda job: None)
    [other] = add_jobs(db, 1, "test-other")
    add_jobs(db, 2)
    assert jobs.work(once=True, kinds=["test-ok"]) == 2
    assert fresh(db, other).status == "queued"


def test_running_worker_stops_when_asked(app, db, monkeypatch):
    stop = threading.Event()
    seen = []

    def count(job):
        seen.append(job.id)
        if len(seen) == 3:
            stop.set()

    monkeypatch.setitem(jobs.HANDLERS, "test-count", count)
    add_jobs(db, 5, "test-count")
    assert jobs.work(idle_sleep=0.01, kinds=["test-count"], stop=stop) == 3


def claim_all(app, kinds, barrier, claimed: list) -> None:
    from fieldcrm.extensions import db

    with app.app_context():
        barrier.wait()
        try:
            while (job := jobs.claim_next(kinds)) is not None:
                claimed.append(job.id)
        finally:
            db.session.remove()


def test_concurrent_workers_never_claim_the_same_job(app, db, ran):
    queued = add_jobs(db, 60)
    barrier = threading.Barrier(4)
    claimed = [[] for _ in range(4)]
    threads = [threading.Thread(target=claim_all, args=(app, ["test-ok"], barrier, mine))
               for mine in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [job_id for mine in claimed for job_id in mine]
    assert sorted(everything) == sorted(job.id for job in queued)  # each exactly once
    assert len(set(everything)) == len(everything)


def test_postgresql_workers_skip_a_job_locked_by_another(app, db, ran):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are PostgreSQL's; SQLite has one writer")
    first, second = add_jobs(db, 2)
    first.run_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with db.engine.connect() as other_worker:
        other_worker.execute(sa.select(Job.id).where(Job.id == first.id).with_for_update())
        job = jobs.claim_next()  # must not wait for the other worker's lock
        assert job.id == second.id
        other_worker.rollback()
    assert jobs.claim_next().id == first.id
