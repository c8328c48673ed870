"""Scheduled jobs (CONTRACT.md section 7): due runs done once, recorded, failures retried."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from opsplatform.db import Database, utcnow
from opsplatform.entrypoints import jobs
from opsplatform.models import JobRun
from opsplatform.schedule import MONTHLY_CLOSE, QUARTERLY_ASSESS
from tests.support import small_centre, write_book

JUNE_3 = date(2026, 6, 3)  # the 3rd working day of June 2026: April and May are closed


@pytest.fixture(autouse=True)
def closes_and_assessments_only(monkeypatch):
    """The daily query reminder is left out here (tests/integration/test_notifications.py)."""
    monkeypatch.setattr(jobs, "reminder_due", lambda today, calendar: [])


@pytest.fixture
def centre(cli, tmp_path, database):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    return database


def job_runs(database) -> list[tuple[str, str, str, int]]:
    with database.transaction() as session:
        rows = session.scalars(select(JobRun).order_by(JobRun.id))
        return [(r.job, r.period, r.status, r.attempts) for r in rows]


def statements(cli, **filters) -> dict[str, str]:
    args = [f"--{k}={v}" for k, v in filters.items()]
    return {s["number"]: s["status"] for s in cli.json("billing", "list", *args)}


def summary(runs) -> list[tuple[str, str, str]]:
    return [(r.job, r.period, r.status) for r in runs]


def test_tick_runs_due_closes_creates_drafts_and_records_the_runs(centre, cli, instance):
    assert statements(cli) == {}
    runs = jobs.tick(centre, instance, JUNE_3)
    assert summary(runs) == [
        (MONTHLY_CLOSE, "2026-04", "done"),
        (MONTHLY_CLOSE, "2026-05", "done"),
    ]
    assert all("3 draft statement(s)" in r.outcome for r in runs)
    assert all(r.finished_at is not None and r.finished_at >= r.started_at for r in runs)
    assert statements(cli) == {
        f"TSS-2026{m}-{c}": "draft" for m in ("04", "05") for c in ("WYR", "LAN", "PRS")
    }
    assert job_runs(centre) == [
        (MONTHLY_CLOSE, "2026-04", "done", 1),
        (MONTHLY_CLOSE, "2026-05", "done", 1),
    ]


def test_a_second_tick_runs_nothing_again(centre, cli, instance):
    jobs.tick(centre, instance, JUNE_3)
    before = job_runs(centre)
    assert jobs.tick(centre, instance, JUNE_3) == []
    assert jobs.tick(centre, instance, date(2026, 6, 30)) == []
    assert job_runs(centre) == before


def test_nothing_runs_before_the_close_working_day(centre, cli, instance):
    assert jobs.tick(centre, instance, date(2026, 5, 5)) == []  # 4 May is a bank holiday
    assert job_runs(centre) == []
    assert statements(cli) == {}
    runs = jobs.tick(centre, instance, date(2026, 5, 6))
    assert summary(runs) == [(MONTHLY_CLOSE, "2026-04", "done")]


def test_an_empty_database_has_nothing_to_run(database, instance):
    assert jobs.tick(database, instance, JUNE_3) == []
    assert job_runs(database) == []


def test_the_close_working_day_setting_is_used(cli, tmp_path, database, instance):
    book = small_centre()
    book["Settings"].append(["close_working_day", 5])
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))
    # 5th working day: May 2026 -> Fri 8 May; June 2026 -> Fri 5 June
    assert summary(jobs.tick(database, instance, JUNE_3)) == [(MONTHLY_CLOSE, "2026-04", "done")]
    assert jobs.tick(database, instance, date(2026, 6, 4)) == []
    assert summary(jobs.tick(database, instance, date(2026, 6, 5))) == [
        (MONTHLY_CLOSE, "2026-05", "done")
    ]


def test_quarterly_assessment_runs_after_the_quarters_close(centre, cli, instance):
    jobs.tick(centre, instance, JUNE_3)
    runs = jobs.tick(centre, instance, date(2026, 7, 3))
    assert summary(runs) == [
        (MONTHLY_CLOSE, "2026-06", "done"),
        (QUARTERLY_ASSESS, "2026-27-Q1", "done"),
    ]
    assert (instance / "publications" / "performance-2026-27-Q1.xlsx").is_file()
    assert jobs.tick(centre, instance, date(2026, 7, 31)) == []


def test_missed_runs_are_caught_up(centre, cli, instance):
    runs = jobs.tick(centre, instance, date(2026, 10, 5))
    assert summary(runs) == [
        (MONTHLY_CLOSE, "2026-04", "done"),
        (MONTHLY_CLOSE, "2026-05", "done"),
        (MONTHLY_CLOSE, "2026-06", "done"),
        (QUARTERLY_ASSESS, "2026-27-Q1", "done"),
        (MONTHLY_CLOSE, "2026-07", "done"),
        (MONTHLY_CLOSE, "2026-08", "done"),
        (MONTHLY_CLOSE, "2026-09", "done"),
        (QUARTERLY_ASSESS, "2026-27-Q2", "done"),
    ]
    assert len(statements(cli)) == 6 * 3


def test_a_scheduled_close_is_audited_as_the_scheduler(centre, cli, instance):
    jobs.tick(centre, instance, date(2026, 5, 6))
    (entry,) = [e for e in cli.json("audit", "list") if e["action"] == "billing close"]
    assert (entry["actor"], entry["subject"]) == ("scheduler", "2026-04")
    assert sorted(entry["detail"]["statements"]) == [
        "TSS-202604-LAN",
        "TSS-202604-PRS",
        "TSS-202604-WYR",
    ]


def test_a_failed_scheduled_close_leaves_no_audit_entry(centre, cli, instance, monkeypatch):
    real = jobs.JOBS[MONTHLY_CLOSE]

    def half_done(session, period, folder):
        real(session, period, folder)
        raise RuntimeError("crashed after closing")

    monkeypatch.setitem(jobs.JOBS, MONTHLY_CLOSE, half_done)
    jobs.tick(centre, instance, date(2026, 5, 6))
    assert [e["action"] for e in cli.json("audit", "list")] == ["setup load"]


def test_issued_statements_are_not_touched_by_the_close(centre, cli, instance):
    cli("billing", "close", "2026-04")
    issued = {s["number"]: s for s in cli.json("billing", "issue", "2026-04")}
    runs = jobs.tick(centre, instance, JUNE_3)
    assert summary(runs)[0] == (MONTHLY_CLOSE, "2026-04", "done")
    after = {s["number"]: s for s in cli.json("billing", "list", "--month", "2026-04")}
    assert after == issued


# -- claims: each (job, period) once -------------------------------------------------------


def test_two_claims_of_the_same_run_only_one_succeeds(centre):
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is True
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is False
    other = Database(centre.url)  # another scheduler process sharing the database
    try:
        assert jobs._claim(other, MONTHLY_CLOSE, "2026-04") is False
    finally:
        other.engine.dispose()
    # a different period or job is a different run
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-05") is True
    assert jobs._claim(centre, QUARTERLY_ASSESS, "2026-04") is True
    assert job_runs(centre) == [
        (MONTHLY_CLOSE, "2026-04", "running", 1),
        (MONTHLY_CLOSE, "2026-05", "running", 1),
        (QUARTERLY_ASSESS, "2026-04", "running", 1),
    ]


def test_concurrent_claims_exactly_one_wins(centre):
    databases = [Database(centre.url) for _ in range(6)]
    barrier = threading.Barrier(len(databases))
    results: list[bool] = []

    def claim(db):
        barrier.wait()
        results.append(jobs._claim(db, MONTHLY_CLOSE, "2026-04"))

    threads = [threading.Thread(target=claim, args=(db,)) for db in databases]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for db in databases:
            db.engine.dispose()
    assert sorted(results) == [False] * 5 + [True]
    assert job_runs(centre) == [(MONTHLY_CLOSE, "2026-04", "running", 1)]


def test_a_done_run_cannot_be_claimed_again(centre, instance):
    jobs.tick(centre, instance, date(2026, 5, 6))
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is False


def test_a_run_whose_process_died_is_reclaimed_once_stale(centre):
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is True
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is False  # still fresh
    with centre.transaction() as session:
        session.execute(update(JobRun).values(started_at=utcnow() - timedelta(hours=2)))
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is True
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is False
    assert job_runs(centre) == [(MONTHLY_CLOSE, "2026-04", "running", 2)]


def test_a_stale_run_is_finished_by_the_next_tick(centre, cli, instance):
    assert jobs._claim(centre, MONTHLY_CLOSE, "2026-04") is True
    # a fresh claim held by another process: this tick leaves it alone
    assert summary(jobs.tick(centre, instance, date(2026, 5, 6))) == []
    with centre.transaction() as session:
        session.execute(update(JobRun).values(started_at=utcnow() - timedelta(hours=2)))
    runs = jobs.tick(centre, instance, date(2026, 5, 6))
    assert [(r.job, r.period, r.status, r.attempts) for r in runs] == [
        (MONTHLY_CLOSE, "2026-04", "done", 2)
    ]
    assert len(statements(cli)) == 3


# -- failures ------------------------------------------------------------------------------


def test_a_failing_job_is_recorded_and_retried_on_the_next_tick(centre, cli, instance, monkeypatch):
    def boom(session, period, folder):
        raise RuntimeError(f"the ledger is locked for {period}")

    with monkeypatch.context() as patch:
        patch.setitem(jobs.JOBS, MONTHLY_CLOSE, boom)
        runs = jobs.tick(centre, instance, date(2026, 5, 6))
    assert summary(runs) == [(MONTHLY_CLOSE, "2026-04", "failed")]
    assert runs[0].outcome == "RuntimeError: the ledger is locked for 2026-04"
    with centre.transaction() as session:
        row = session.scalars(select(JobRun)).one()
        assert (row.status, row.outcome, row.attempts) == (
            "failed",
            "RuntimeError: the ledger is locked for 2026-04",
            1,
        )
    assert statements(cli) == {}

    retried = jobs.tick(centre, instance, date(2026, 5, 6))
    assert [(r.job, r.period, r.status, r.attempts) for r in retried] == [
        (MONTHLY_CLOSE, "2026-04", "done", 2)
    ]
    assert "3 draft statement(s)" in retried[0].outcome
    assert len(statements(cli)) == 3
    assert jobs.tick(centre, instance, date(2026, 5, 6)) == []


def test_a_job_that_fails_part_way_leaves_nothing_behind(centre, cli, instance, monkeypatch):
    real = jobs.JOBS[MONTHLY_CLOSE]

    def half_done(session, period, folder):
        real(session, period, folder)
        session.flush()
        raise RuntimeError("crashed after closing")

    monkeypatch.setitem(jobs.JOBS, MONTHLY_CLOSE, half_done)
    runs = jobs.tick(centre, instance, date(2026, 5, 6))
    assert summary(runs) == [(MONTHLY_CLOSE, "2026-04", "failed")]
    assert statements(cli) == {}


def test_a_failed_run_keeps_failing_until_it_succeeds(centre, instance, monkeypatch):
    def boom(session, period, folder):
        raise ValueError("no driver values")

    monkeypatch.setitem(jobs.JOBS, MONTHLY_CLOSE, boom)
    for attempt in (1, 2, 3):
        runs = jobs.tick(centre, instance, date(2026, 5, 6))
        assert [(r.status, r.attempts) for r in runs] == [("failed", attempt)]
    with centre.transaction() as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_the_quarter_is_not_assessed_while_its_last_months_close_has_failed(
    centre, cli, instance, monkeypatch
):
    """Section 7: "after each quarter's close, assess it": not before June is closed (the
    draft publication's costs come from the quarter's statements)."""
    jobs.tick(centre, instance, JUNE_3)
    real = jobs.JOBS[MONTHLY_CLOSE]

    def june_fails(session, period, folder):
        if period == "2026-06":
            raise RuntimeError("June's usage is still being loaded")
        return real(session, period, folder)

    with monkeypatch.context() as patch:
        patch.setitem(jobs.JOBS, MONTHLY_CLOSE, june_fails)
        runs = jobs.tick(centre, instance, date(2026, 7, 3))
    assert (MONTHLY_CLOSE, "2026-06", "failed") in summary(runs)
    assert (QUARTERLY_ASSESS, "2026-27-Q1", "done") not in summary(runs)
    runs = jobs.tick(centre, instance, date(2026, 7, 3))
    assert summary(runs) == [
        (MONTHLY_CLOSE, "2026-06", "done"),
        (QUARTERLY_ASSESS, "2026-27-Q1", "done"),
    ]


# -- the command ---------------------------------------------------------------------------


class June3(date):
    @classmethod
    def today(cls):
        return JUNE_3


def test_scheduler_once_json_prints_the_runs(centre, cli, monkeypatch):
    monkeypatch.setattr(jobs, "date", June3)
    runs = cli.json("scheduler", "--once")
    assert [(r["job"], r["period"], r["status"]) for r in runs] == [
        (MONTHLY_CLOSE, "2026-04", "done"),
        (MONTHLY_CLOSE, "2026-05", "done"),
    ]
    assert all(r["attempts"] == 1 and "draft statement" in r["outcome"] for r in runs)
    assert len(statements(cli)) == 6
    assert cli.json("scheduler", "--once") == []


def test_scheduler_once_without_json(centre, cli, monkeypatch):
    monkeypatch.setattr(jobs, "date", June3)
    output = cli("scheduler", "--once").stdout
    assert "monthly_close 2026-04: done" in output
    assert "monthly_close 2026-05: done" in output


def test_scheduler_once_on_an_empty_database(cli, instance):
    assert cli.json("scheduler", "--once") == []


def test_scheduler_rejects_a_bad_interval(cli, instance):
    cli("scheduler", "--every", "0", expect=2)
