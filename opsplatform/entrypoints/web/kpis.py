"""Pages: the KPI definitions, for centre staff to read and managers to change.

A change is checked exactly as the setup workbook's `KPIs` sheet checks a row, and goes in
the audit log with its before and after (importers.setup.change_kpi does both).
Results already assessed as final keep the targets they were assessed against.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from billing.issue import ISSUED
from importers.setup import change_kpi, kpi_values
from opsplatform.entrypoints.access import COMMENTATORS, STAFF, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import measure_text
from opsplatform.errors import Refused
from opsplatform.models import Kpi, Sla

kpis = Blueprint("kpis", __name__)

EDITABLE = {"name": "Name", "target": "Target", "amber": "Amber threshold", "limit": "Time limit"}
CALENDAR_UNITS = {
    "working_days": "working days",
    "calendar_days": "days",
    "seconds": "seconds",
    "service_hours": "seconds of opening hours",
}


def limit_text(limit: Decimal, calendar: str) -> str:
    """A time limit as people say it: `3 working days`, and a limit in seconds in whole
    hours or minutes where it is one: `8 hours`, `8 opening hours`, `90 seconds`."""
    opening = calendar == "service_hours"
    if calendar in ("seconds", "service_hours"):
        for unit, size in (("hour", 3600), ("minute", 60)):
            if limit >= size and limit % size == 0:
                count = limit // size
                return f"{count:f} {'opening ' if opening else ''}{unit}{'' if count == 1 else 's'}"
    return f"{limit.normalize():f} {CALENDAR_UNITS[calendar]}"


def how_measured(kpi: Kpi) -> str:
    """What the KPI measures, in one sentence."""
    if kpi.service is None:
        service = "the centre's work"
    else:  # "revenues and benefits", but "ICT service desk"
        name = kpi.service.name
        service = name if name[:2].isupper() else name[:1].lower() + name[1:]
    if kpi.method == "within":
        if kpi.limit is None:
            return f"The share of {service} completed within a time limit, which is not set."
        limit = limit_text(kpi.limit, kpi.calendar)
        return f"The share of {service} completed within {limit} of being started."
    if kpi.method == "average_elapsed":
        return (
            f"The average time from start to completion of {service}, "
            f"in {CALENDAR_UNITS[kpi.calendar]}."
        )
    if kpi.method == "as_at":
        return (
            "Figures to date submitted each month by each client: a quarter takes its latest "
            "month's, never a sum of months."
        )
    return "Figures submitted for each month and client, combined as a ratio of sums."


def thresholds(kpi: Kpi) -> str:
    """How the KPI's status is read from its value, in one sentence."""
    target, amber = measure_text(kpi.target, kpi.unit), measure_text(kpi.amber, kpi.unit)
    if kpi.direction == "higher":
        return f"Green at {target} or more; amber from {amber}; red below {amber}."
    return f"Green at {target} or less; amber up to {amber}; red above {amber}."


@kpis.get("/kpis")
@signed_in(*STAFF)
def kpi_list() -> ResponseReturnValue:
    with database().reading() as session:
        found = session.scalars(
            select(Kpi).options(selectinload(Kpi.service)).order_by(Kpi.code)
        ).all()
        slas = dict(session.execute(select(Sla.kpi_id, func.count()).group_by(Sla.kpi_id)).all())
        rows = [
            {
                "kpi": k,
                "measured": how_measured(k),
                "thresholds": thresholds(k),
                "slas": slas.get(k.id, 0),
            }
            for k in found
        ]
        return render_template(
            "dashboard/kpis.html", rows=rows, may_change=current_user.role in COMMENTATORS
        )


@kpis.route("/kpis/<code>", methods=["GET", "POST"])
@signed_in(*COMMENTATORS)
def kpi_change(code: str) -> ResponseReturnValue:
    with database().transaction() as session:
        kpi = session.scalars(
            select(Kpi).options(selectinload(Kpi.service)).where(Kpi.code == code)
        ).one_or_none()
        if kpi is None:
            abort(404)
        form = kpi_values(kpi, EDITABLE)
        errors: list[tuple[str, str]] = []
        if request.method == "POST":
            form = {field: request.form.get(field, "").strip() for field in EDITABLE}
            try:
                changed = change_kpi(
                    session,
                    kpi,
                    form,
                    actor=current_user.email,
                    issued=ISSUED,
                )
            except Refused as refusal:
                session.rollback()
                errors = [
                    (f"{EDITABLE[p.column]}: {p.message}", f"#{p.column}")
                    if p.column in EDITABLE
                    else (p.message, "#name")
                    for p in refusal.problems
                ]
            else:
                if changed is None:
                    flash(f"Nothing changed in {kpi.code}", "success")
                else:
                    flash(f"{kpi.code} changed: {', '.join(changed)}", "success")
                return redirect(url_for("kpis.kpi_list"))
        page = render_template(
            "dashboard/kpi_change.html",
            kpi=kpi,
            form=form,
            errors=errors,
            field_errors={href[1:]: text for text, href in reversed(errors)},
            measured=how_measured(kpi),
            limit_unit=CALENDAR_UNITS[kpi.calendar],
        )
    return page, 400 if errors else 200
