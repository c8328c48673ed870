"""E-mail notifications through an outbox: queued with the change they tell of, sent later.

A notification is a row written in the same transaction as what it announces (a month's
statements issued, a quarter's publication drafted, queries waiting too long), so
nothing is announced that did not happen and nothing that happened goes unannounced.
The scheduler delivers the outbox on every tick over SMTP, as opsplatform.config's
`load_mail` says (OPSPLATFORM_SMTP_*, OPSPLATFORM_MAIL_FROM, and OPSPLATFORM_BASE_URL for
the links in messages; docs/DEPLOYMENT.md); with no mail server set, messages wait.

The messages are written where what they tell of is done: `billing.issue` (statements
issued), `billing.disputes` (queries waiting too long), `sla.publication` (a publication
ready to review); this module only queues them and delivers the outbox.

Delivery is at least once: a message is claimed before it is sent, marked sent after;
a message that fails is tried again on later ticks, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from opsplatform.config import Mail, Smtp, load_mail
from opsplatform.db import Database, utcnow
from opsplatform.models import Notification, User

log = logging.getLogger("opsplatform.notify")
MAX_ATTEMPTS = 5
BATCH = 200  # messages sent per delivery
SIGN_OFF = "\n\nThis message was sent by opsplatform. Please do not reply to it."


def link(path: str) -> str:
    """The web app's address of `path`, for a message (a path alone without a base URL)."""
    return f"{load_mail().base_url}{path}"


def queue(session: Session, kind: str, recipients: Iterable[str], subject: str, body: str) -> int:
    """Add one message per distinct recipient to the outbox; return how many."""
    unique = {r.strip().lower(): r.strip() for r in recipients if r and r.strip()}
    for recipient in unique.values():
        session.add(
            Notification(kind=kind, recipient=recipient, subject=subject, body=body + SIGN_OFF)
        )
    return len(unique)


def staff(session: Session, *roles: str) -> list[str]:
    query = select(User.email).where(User.active.is_(True), User.role.in_(roles))
    return list(session.scalars(query.order_by(User.email)))


def client_users(session: Session) -> dict[int, list[str]]:
    """The active users of every client council, by client id."""
    found: dict[int, list[str]] = {}
    query = select(User.client_id, User.email).where(
        User.active.is_(True), User.client_id.is_not(None)
    )
    for client_id, email in session.execute(query):
        assert client_id is not None  # the query's condition
        found.setdefault(client_id, []).append(email)
    return found


# -- delivery ----------------------------------------------------------------------------------


def deliver(database: Database, mail: Mail) -> int:
    """Send what waits in the outbox; return how many were sent."""
    server = mail.smtp
    if server is None:
        return 0
    with database.transaction() as session:
        waiting = session.execute(
            select(Notification.id, Notification.attempts)
            .where(Notification.sent_at.is_(None), Notification.attempts < MAX_ATTEMPTS)
            .order_by(Notification.id)
            .limit(BATCH)
        ).all()
    if not waiting:
        return 0
    sent = 0
    try:
        smtp = _connect(server)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("cannot reach the mail server %s:%s: %s", server.host, server.port, error)
        return 0
    with smtp:
        for notification_id, attempts in waiting:
            message = _claim(database, notification_id, attempts)
            if message is None:
                continue  # another scheduler took it
            try:
                smtp.send_message(_email(mail.sender, message))
            except (OSError, smtplib.SMTPException) as error:
                _settle(database, notification_id, error=f"{type(error).__name__}: {error}")
                log.warning(
                    "notification %s to %s failed: %s", notification_id, message.recipient, error
                )
                continue
            _settle(database, notification_id)
            sent += 1
    return sent


def _connect(server: Smtp) -> smtplib.SMTP:
    smtp = smtplib.SMTP(server.host, server.port, timeout=30)
    if server.starttls:
        smtp.starttls()
    if server.username:
        smtp.login(server.username, server.password or "")
    return smtp


def _claim(database: Database, notification_id: int, attempts: int) -> Notification | None:
    with database.transaction() as session:
        claimed = cast(
            CursorResult[Any],  # what an UPDATE gives, though Session.execute says any Result
            session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.attempts == attempts,
                    Notification.sent_at.is_(None),
                )
                .values(attempts=attempts + 1)
            ),
        )
        if claimed.rowcount != 1:
            return None
        message = session.get(Notification, notification_id)
        session.expunge(message)
        return message


def _settle(database: Database, notification_id: int, error: str | None = None) -> None:
    values = {"error": error} if error else {"sent_at": utcnow(), "error": None}
    with database.transaction() as session:
        session.execute(
            update(Notification).where(Notification.id == notification_id).values(**values)
        )


def _email(sender: str, notification: Notification) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message.set_content(notification.body)
    return message
