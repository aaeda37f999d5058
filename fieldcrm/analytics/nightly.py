"""The nightly analytics run: ABC classes, then the at-risk signals, in one transaction.

The nightly run (not one an admin's settings change queued) also purges old
tombstones (fieldcrm.sync.retention).

It runs as the background job ``abc`` (the worker: ``flask --app fieldcrm worker``)
and by hand as ``flask fieldcrm abc``. Each run of the job queues the next one
for 02:00 Europe/Berlin (the next such time after it finished; summer time
handled by the zone), unless one is queued already, so the chain never doubles
even when an admin's settings change queues an extra run. ``flask fieldcrm abc
--schedule`` starts the chain on a new installation (run it once; it does
nothing when a run is queued).

While the run writes, it holds the version counter (``fieldcrm.versioning``),
so other writes wait for its commit: a few seconds at 100,000 customers, at
night.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ..extensions import db
from ..jobs import enqueue, handler
from ..models import Job, utcnow
from ..sync.retention import purge_tombstones
from .abc import AbcResult, recompute_abc
from .revenue import customer_figures
from .risk import RiskResult, flag_at_risk

log = logging.getLogger(__name__)
JOB_KIND = "abc"
NIGHTLY_ZONE = ZoneInfo("Europe/Berlin")
NIGHTLY_AT = time(2, 0)


@dataclass
class NightlyResult:
    abc: AbcResult
    risk: RiskResult

    def __str__(self) -> str:
        return f"ABC: {self.abc}\nAt risk: {self.risk}"


def run_analytics(now: datetime | None = None) -> NightlyResult:
    """Recompute ABC classes and the at-risk flags at ``now``; the caller commits."""
    now = now or utcnow()
    figures = customer_figures(now)
    return NightlyResult(recompute_abc(now, figures), flag_at_risk(now, figures))


def next_run_at(now: datetime) -> datetime:
    """The first 02:00 Europe/Berlin after ``now``, in UTC."""
    local = now.astimezone(NIGHTLY_ZONE)
    day = local.date() if local.time() < NIGHTLY_AT else local.date() + timedelta(days=1)
    return datetime.combine(day, NIGHTLY_AT, tzinfo=NIGHTLY_ZONE).astimezone(UTC)


def schedule_nightly(now: datetime | None = None) -> Job | None:
    """Queue the next nightly run unless a run is queued for later already; the caller commits."""
    now = now or utcnow()
    queued = db.session.scalar(
        sa.select(Job.id).where(Job.kind == JOB_KIND, Job.status == "queued", Job.run_at > now)
        .limit(1)
    )
    if queued is not None:
        return None
    return enqueue(JOB_KIND, {"nightly": True}, run_at=next_run_at(now))


def request_run() -> Job:
    """Queue a run for now (after the admin changed thresholds); the caller commits."""
    return enqueue(JOB_KIND, {"nightly": False})


@handler(JOB_KIND)
def _run_job(job: Job) -> None:
    result = run_analytics()
    purged = purge_tombstones() if job.payload.get("nightly") else {}
    schedule_nightly()
    log.info("analytics run: %s; tombstones purged: %s", result, purged)


@click.command("abc")
@click.option("--schedule", is_flag=True,
              help="Only make sure the nightly run is queued (02:00 Europe/Berlin).")
@with_appcontext
def abc_command(schedule):
    """Recompute ABC classes and at-risk flags now, and queue the nightly run if none is."""
    if not schedule:
        result = run_analytics()
        click.echo(str(result))
    job = schedule_nightly()
    db.session.commit()
    if job is not None:
        click.echo(f"nightly run queued for {job.run_at.astimezone(NIGHTLY_ZONE):%Y-%m-%d %H:%M %Z}")
