"""The audit log: every change recorded with who, when, what and its before/after detail.

Entries are written in the same transaction as the change, so a change that is rolled
back leaves no entry and a change that lands always has one.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.models import AuditEvent


def record(session: Session, actor: str, action: str, subject: str, **detail: object) -> None:
    """Add an audit entry to the session's transaction."""
    session.add(
        AuditEvent(
            actor=actor, action=action, subject=subject, detail=json.dumps(detail, default=str)
        )
    )


def recent(session: Session, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """The newest entries first, skipping the newest `offset`."""
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    )
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": json.loads(e.detail),
        }
        for e in rows
    ]
