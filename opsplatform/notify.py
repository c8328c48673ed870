"""E-mail notifications through an outbox: queued with the change they tell of, sent later.

A notification is a row written in the same transaction as what it announces (a month's
statements issued, a quarter's publication drafted, queries waiting too long), so
nothing is announced that did not happen and nothing that happened goes unannounced.
The scheduler delivers the outbox on every tick over SMTP, configured by environment:

| variable | meaning | default |
| --- | --- | --- |
| OPSPLATFORM_SMTP_HOST | the mail server; unset, nothing is sent (messages wait) | unset |
| OPSPLATFORM_SMTP_PORT | its port | 25 (587 with STARTTLS) |
| OPSPLATFORM_SMTP_STARTTLS | `1` to upgrade the connection with STARTTLS | off |
| OPSPLATFORM_SMTP_USERNAME, OPSPLATFORM_SMTP_PASSWORD | credentials, if it wants them | none |
| OPSPLATFORM_MAIL_FROM | the sender address | `opsplatform@localhost` |
| OPSPLATFORM_BASE_URL | the web app's address, for links in messages | links are paths |

The messages are written where what they tell of is done: `billing.issue` (statements
issued), `billing.disputes` (queries waiting too long), `sla.publication` (a publication
ready to review); this module only queues them and delivers the outbox.

Delivery is at least once: a message is claimed before it is sent, marked sent after;
a message that fails is tried again on later ticks, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opsplatform.db import Database, utcnow
from opsplatform.models import Notification, User

log = logging.getLogger("opsplatform.notify")
MAX_ATTEMPTS = 5
BATCH = 200  # messages sent per delivery
SIGN_OFF = "\n\nThis message was sent by opsplatform. Please do not reply to it."


@dataclass(frozen=True)
class Mailer:
    """Where and how to send: read from the environment."""

    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def from_environment(cls) -> Mailer | None:
        host = os.environ.get("OPSPLATFORM_SMTP_HOST")
        if not host:
            return None
        starttls = os.environ.get("OPSPLATFORM_SMTP_STARTTLS", "").lower() in ("1", "true", "yes")
        return cls(
            host=host,
            port=int(os.environ.get("OPSPLATFORM_SMTP_PORT") or (587 if starttls else 25)),
            starttls=starttls,
            username=os.environ.get("OPSPLATFORM_SMTP_USERNAME") or None,
            password=os.environ.get("OPSPLATFORM_SMTP_PASSWORD") or None,
            sender=os.environ.get("OPSPLATFORM_MAIL_FROM") or "opsplatform@localhost",
        )

    def connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=30)
        if self.starttls:
            smtp.starttls()
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp


def link(path: str) -> str:
    base = os.environ.get("OPSPLATFORM_BASE_URL", "").rstrip("/")
    return f"{base}{path}"


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
        found.setdefault(client_id, []).append(email)
    return found


# -- delivery ----------------------------------------------------------------------------------


def deliver(database: Database, mailer: Mailer | None) -> int:
    """Send what waits in the outbox; return how many were sent."""
    if mailer is None:
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
        smtp = mailer.connect()
    except (OSError, smtplib.SMTPException) as error:
        log.warning("cannot reach the mail server %s:%s: %s", mailer.host, mailer.port, error)
        return 0
    with smtp:
        for notification_id, attempts in waiting:
            message = _claim(database, notification_id, attempts)
            if message is None:
                continue  # another scheduler took it
            try:
                smtp.send_message(_email(mailer, message))
            except (OSError, smtplib.SMTPException) as error:
                _settle(database, notification_id, error=f"{type(error).__name__}: {error}")
                log.warning(
                    "notification %s to %s failed: %s", notification_id, message.recipient, error
                )
                continue
            _settle(database, notification_id)
            sent += 1
    return sent


def _claim(database: Database, notification_id: int, attempts: int) -> Notification | None:
    with database.transaction() as session:
        claimed = session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.attempts == attempts,
                Notification.sent_at.is_(None),
            )
            .values(attempts=attempts + 1)
        ).rowcount
        if claimed != 1:
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


def _email(mailer: Mailer, notification: Notification) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mailer.sender
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message.set_content(notification.body)
    return message
