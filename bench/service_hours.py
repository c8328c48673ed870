"""A quarter's KPI assessment on the service-hours clock, against the same on seconds.

Usage: python -m bench.service_hours [EVENTS] (default 200,000; 50 clients, one timed
service, events spread over April to June 2026, each open 0 to 8 days and paused for an
hour). Assesses 2026-27 Q1 with the service's KPI on the `seconds` calendar (wall-clock
seconds less the pause, within 3 days), then on `service_hours` (08:00 to 18:00 Monday
to Friday, within 30 open hours), twice in turn, and prints the faster timing of each
and their ratio; the target is a ratio of at most 3.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bench.common import insert_events, loaded_database, timed
from opsplatform.calendars import WEEKDAYS
from opsplatform.models import Kpi, Service, ServiceHours
from opsplatform.periods import Quarter
from sla.service import assess_quarter

CLIENTS, SERVICES = 50, 1
QUARTER = "2026-27-Q1"
LIMITS = {"seconds": 3 * 86400, "service_hours": 30 * 3600}  # each calendar's KPI limit
ROUNDS = 2


def main(events: int) -> None:
    results: dict[str, float] = {}
    quarter = Quarter.parse(QUARTER)
    with tempfile.TemporaryDirectory() as folder:
        database = loaded_database(Path(folder), CLIENTS, SERVICES, kpis=1)
        insert_events(
            database, events, CLIENTS, SERVICES, start=date(2026, 4, 1), days=91, timed=1,
            paused=True,
        )  # fmt: skip
        with database.transaction() as session:
            service = session.scalars(select(Service)).one()
            for weekday in WEEKDAYS[:5]:
                session.add(
                    ServiceHours(
                        service_id=service.id, weekday=weekday, open="08:00", close="18:00"
                    )
                )
        values = {}
        for _ in range(ROUNDS):
            for calendar, limit in LIMITS.items():
                with database.transaction() as session:
                    kpi = session.scalars(select(Kpi)).one()
                    kpi.calendar, kpi.limit = calendar, limit
                before = results.get(calendar)
                with timed(calendar, results), database.transaction() as session:
                    values[calendar] = assess_quarter(session, quarter)[0].measure
                results[calendar] = min(results[calendar], before or results[calendar])
    print(f"events: {events:,}; clients: {CLIENTS}; quarter: {QUARTER}")
    for label, seconds in results.items():
        measure = values[label]
        print(f"{label:>14}: {seconds:7.2f} s ({measure.events:,} events, {measure.value:.2f}%)")
    ratio = results["service_hours"] / results["seconds"]
    print(f"{'ratio':>14}: {ratio:7.2f} (target <= 3)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
