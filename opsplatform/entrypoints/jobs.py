"""Scheduled jobs: the monthly close, the quarterly assessment and the daily query
reminder, each run exactly once; then the e-mail outbox is delivered (opsplatform/notify.py).

A run is claimed by inserting its (job, period) row, which the unique constraint lets
only one process do; the work then runs in a transaction of its own, so a crash
leaves either all of it or none, and the run is retried: a failed run on the next
tick, a run whose process died once it is an hour old. APScheduler only provides
the ticks, in one dedicated process (its job stores are not safe to share).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.close import close_month
from billing.disputes import query_reminder
from opsplatform.calendars import load_calendars
from opsplatform.config import load_mail
from opsplatform.db import Database, utcnow
from opsplatform.models import JobRun, Subscription
from opsplatform.notify import deliver
from opsplatform.periods import Month, Quarter
from opsplatform.schedule import (
    MONTHLY_CLOSE,
    QUARTERLY_ASSESS,
    QUERY_REMINDER,
    due_runs,
    reminder_due,
)
from opsplatform.settings import centre_settings
from sla.publication import publication_ready, write_publication
from sla.service import assess_quarter

log = logging.getLogger("opsplatform.entrypoints.jobs")
STALE_AFTER = timedelta(hours=1)
SCHEDULER = "scheduler"  # who the audit log names for a scheduled run


def _close(session: Session, period: str, instance: Path) -> str:
    statements = close_month(session, Month.parse(period), SCHEDULER)
    return f"{len(statements)} draft statement(s) for {period}"


def _assess(session: Session, period: str, instance: Path) -> str:
    quarter = Quarter.parse(period)
    results = assess_quarter(session, quarter)
    folder = instance / "publications"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"performance-{quarter}.xlsx"
    write_publication(session, quarter, path)
    told = publication_ready(session, str(quarter), path.name)
    return f"{len(results)} KPI result(s); draft publication {path}; {told} told"


def _remind(session: Session, period: str, instance: Path) -> str:
    waiting = query_reminder(session, date.fromisoformat(period), load_calendars(session))
    return f"{waiting} quer{'y' if waiting == 1 else 'ies'} waiting more than 5 working days"


JOBS = {MONTHLY_CLOSE: _close, QUARTERLY_ASSESS: _assess, QUERY_REMINDER: _remind}


def _claim(database: Database, job: str, period: str) -> bool:
    try:
        with database.transaction() as session:
            session.add(JobRun(job=job, period=period, status="running"))
        return True
    except IntegrityError:
        pass
    now = utcnow()
    with database.transaction() as session:
        retried = cast(
            CursorResult[Any],  # what an UPDATE gives, though Session.execute says any Result
            session.execute(
                update(JobRun)
                .where(JobRun.job == job, JobRun.period == period)
                .where(
                    or_(
                        JobRun.status == "failed",
                        and_(JobRun.status == "running", JobRun.started_at < now - STALE_AFTER),
                    )
                )
                .values(
                    status="running", attempts=JobRun.attempts + 1, started_at=now, outcome=None
                )
            ),
        )
        return retried.rowcount == 1


def _finish(database: Database, job: str, period: str, status: str, outcome: str) -> None:
    with database.transaction() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.job == job, JobRun.period == period)
            .values(status=status, finished_at=utcnow(), outcome=outcome)
        )


def tick(database: Database, instance: Path, today: date | None = None) -> list[JobRun]:
    """Run every job that is due and not yet done; return the runs this call made."""
    today = today or date.today()
    with database.transaction() as session:
        first = session.scalar(select(func.min(Subscription.start)))
        if first is None:
            return []
        settings = centre_settings(session)
        calendar = load_calendars(session)["england"]
        done = {
            (job, period)
            for job, period in session.execute(
                select(JobRun.job, JobRun.period).where(JobRun.status == "done")
            )
        }
    made = []
    due = due_runs(today, Month.of(first), settings.close_working_day, calendar)
    for job, period in due + reminder_due(today, calendar):
        if job == QUARTERLY_ASSESS:
            last_close = (MONTHLY_CLOSE, str(Quarter.parse(period).months()[-1]))
            if last_close not in done:
                continue  # assessed only once the quarter's last month has closed
        if (job, period) in done or not _claim(database, job, period):
            continue
        try:
            with database.transaction() as session:
                outcome = JOBS[job](session, period, instance)
            status = "done"
        except Exception as error:  # recorded, and retried on the next tick
            status, outcome = "failed", f"{type(error).__name__}: {error}"
            log.exception("%s %s failed", job, period)
        _finish(database, job, period, status, outcome)
        if status == "done":
            done.add((job, period))
        log.info("%s %s %s: %s", job, period, status, outcome)
        with database.transaction() as session:
            made.append(session.scalars(select(JobRun).filter_by(job=job, period=period)).one())
    sent = deliver(database, load_mail())
    if sent:
        log.info("%s notification(s) sent", sent)
    return made


def run_forever(database: Database, instance: Path, minutes: int) -> None:
    """Tick now (catching up missed runs) and every `minutes` after, until stopped."""
    # only the scheduler process needs APScheduler, a tenth of a second to import
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="Europe/London")
    scheduler.add_job(
        tick,
        "interval",
        minutes=minutes,
        args=(database, instance),
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
