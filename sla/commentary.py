"""Managers' commentary on a quarter's KPI results: what it says, who wrote it, and the
rules for changing it (at most COMMENTARY_LIMIT characters; saved commentary can be changed
but not removed). Every change is audited as "sla comment".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.audit import record
from opsplatform.errors import Problem, Refused
from opsplatform.models import Kpi
from opsplatform.periods import Quarter
from sla.models import KpiCommentary

COMMENTARY_LIMIT = 5000  # characters, about a page


def commentary(session: Session, quarter: Quarter) -> dict[str, str]:
    """Managers' commentary for a quarter, by KPI code."""
    rows = session.execute(
        select(Kpi.code, KpiCommentary.text)
        .join(Kpi, KpiCommentary.kpi_id == Kpi.id)
        .where(KpiCommentary.quarter == str(quarter))
    )
    return dict(rows.all())


def commentary_authors(session: Session, quarter: Quarter) -> dict[str, tuple[str, datetime]]:
    """Who last saved the commentary on each KPI for a quarter, and when, by KPI code."""
    rows = session.execute(
        select(Kpi.code, KpiCommentary.author, KpiCommentary.updated_at)
        .join(Kpi, KpiCommentary.kpi_id == Kpi.id)
        .where(KpiCommentary.quarter == str(quarter))
    )
    return {code: (author, at) for code, author, at in rows}


def set_commentary(session: Session, quarter: Quarter, kpi: str, text: str, author: str) -> None:
    """Record (or replace) the commentary on a KPI for a quarter, as `author` (who the audit
    log names)."""
    found = session.scalars(select(Kpi).where(Kpi.code == kpi.upper())).one_or_none()
    if found is None:
        raise Refused(f"unknown KPI '{kpi}'")
    if not text.strip():
        raise Refused("the commentary is empty")
    if len(text) > COMMENTARY_LIMIT:
        raise Refused(_too_long(found.code))
    existing = session.scalars(
        select(KpiCommentary).filter_by(quarter=str(quarter), kpi_id=found.id)
    ).one_or_none()
    if existing is None:
        session.add(
            KpiCommentary(quarter=str(quarter), kpi_id=found.id, text=text.strip(), author=author)
        )
    else:
        existing.text, existing.author = text.strip(), author
    session.flush()
    record(session, author, "sla comment", f"{found.code} {quarter}", text=text.strip())


def save_commentary(
    session: Session, quarter: Quarter, texts: Mapping[str, str], author: str
) -> list[str]:
    """Save a quarter's commentary from `texts` (KPI code -> text, blank for none), as
    `author`: the codes whose commentary changed. All or nothing: a text that is too long,
    or a blank one where commentary is saved, refuses the lot, each problem naming its KPI
    in `Problem.column`."""
    saved = commentary(session, quarter)
    problems = [
        Problem(_too_long(code), column=code)
        if len(text) > COMMENTARY_LIMIT
        else Problem(
            f"Enter the commentary on {code}: saved commentary can be changed but not removed",
            column=code,
        )
        for code, text in texts.items()
        if len(text) > COMMENTARY_LIMIT or (not text.strip() and saved.get(code))
    ]
    if problems:
        raise Refused(problems)
    changed = [code for code, text in texts.items() if text.strip() not in ("", saved.get(code))]
    for code in changed:
        set_commentary(session, quarter, code, texts[code], author)
    return changed


def _too_long(code: str) -> str:
    return f"The commentary on {code} must be {COMMENTARY_LIMIT:,} characters or fewer"
