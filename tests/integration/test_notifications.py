"""E-mail notifications (opsplatform/notify.py) delivered to a real SMTP server on 127.0.0.1:
statements issued, a publication drafted, queries waiting more than five working days."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import select, update

from billing.disputes import raise_query
from billing.models import StatementQuery
from opsplatform.entrypoints import jobs
from opsplatform.models import Notification
from tests.support import small_centre, write_book, write_csv

JUNE_3 = date(2026, 6, 3)


class Inbox:
    """What the SMTP server received; it refuses mail for addresses in `refuse`."""

    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox(monkeypatch):
    from aiosmtpd.controller import Controller

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("OPSPLATFORM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPSPLATFORM_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("OPSPLATFORM_MAIL_FROM", "recharging@centre.gov.uk")
    monkeypatch.setenv("OPSPLATFORM_BASE_URL", "https://ops.centre.gov.uk/")
    yield handler
    controller.stop()


@pytest.fixture
def centre(cli, tmp_path, database):
    """The small centre with contact addresses, users, May 2026 usage closed (not issued)."""
    book = small_centre()
    book["Clients"] = [
        ["code", "name", "email"],
        ["WYR", "Wyre Council", "invoices@wyre.gov.uk"],
        ["LAN", "Lancaster City Council", None],
        ["PRS", "Preston City Council", "finance@preston.gov.uk"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))
    rows = [
        {"event_id": "m1", "client": "WYR", "service": "PAY", "date": "2026-05-04", "quantity": 7}
    ]
    cli("usage", "import", write_csv(tmp_path / "may.csv", rows))
    cli("billing", "close", "2026-05")
    for email, role, client in [
        ("pay@wyre.gov.uk", "client", "WYR"),
        ("INVOICES@wyre.gov.uk", "client", "WYR"),  # the contact address again: one message
        ("finance@centre.gov.uk", "finance", None),
        ("manager@centre.gov.uk", "manager", None),
        ("audit@centre.gov.uk", "auditor", None),
    ]:
        cli("users", "create", email, "--role", role, *(["--client", client] if client else []))
    return database


def outbox(database) -> list[Notification]:
    with database.transaction() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_issuing_tells_each_council_and_the_scheduler_sends_it(centre, cli, instance, inbox):
    cli("billing", "issue", "2026-05")
    waiting = outbox(centre)
    assert sorted(n.recipient for n in waiting) == [
        "finance@preston.gov.uk",
        "invoices@wyre.gov.uk",
        "pay@wyre.gov.uk",
    ]  # Lancaster has neither an address nor users; staff are not told
    assert all(n.sent_at is None for n in waiting)
    assert inbox.messages == []  # nothing is sent inside the issue itself

    jobs.tick(centre, instance, date(2026, 6, 6))  # a Saturday: no job runs, the outbox goes
    (message,) = inbox.to("pay@wyre.gov.uk")
    assert message["From"] == "recharging@centre.gov.uk"
    assert message["Subject"] == "Statement TSS-202605-WYR for May 2026 issued"
    body = message.get_content()
    assert "Total: £6,361.33 (net £6,361.33, VAT £0.00)" in body
    assert "https://ops.centre.gov.uk/statements/TSS-202605-WYR" in body
    assert len(inbox.messages) == 3
    assert all(n.sent_at is not None and n.attempts == 1 for n in outbox(centre))

    jobs.tick(centre, instance, date(2026, 6, 6))
    assert len(inbox.messages) == 3  # each sent once


def test_without_a_mail_server_messages_wait_and_are_sent_once_one_is_set(
    centre, cli, instance, monkeypatch
):
    cli("billing", "issue", "2026-05")
    monkeypatch.delenv("OPSPLATFORM_SMTP_HOST", raising=False)
    jobs.tick(centre, instance, date(2026, 6, 6))
    assert [n.attempts for n in outbox(centre)] == [0, 0, 0]

    monkeypatch.setenv("OPSPLATFORM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPSPLATFORM_SMTP_PORT", str(free_port()))  # nobody listens
    jobs.tick(centre, instance, date(2026, 6, 6))
    assert [(n.attempts, n.sent_at) for n in outbox(centre)] == [(0, None)] * 3


def test_a_refused_recipient_is_recorded_and_retried_the_others_are_sent(
    centre, cli, instance, inbox
):
    inbox.refuse.add("pay@wyre.gov.uk")
    cli("billing", "issue", "2026-05")
    jobs.tick(centre, instance, date(2026, 6, 6))
    failed = {n.recipient: n for n in outbox(centre) if n.sent_at is None}
    assert list(failed) == ["pay@wyre.gov.uk"]
    assert failed["pay@wyre.gov.uk"].attempts == 1
    assert "550" in failed["pay@wyre.gov.uk"].error
    assert len(inbox.messages) == 2

    inbox.refuse.clear()
    jobs.tick(centre, instance, date(2026, 6, 6))
    assert len(inbox.to("pay@wyre.gov.uk")) == 1
    assert all(n.sent_at is not None and n.error is None for n in outbox(centre))


def test_an_assessed_quarter_tells_the_managers_the_publication_is_ready(centre, instance, inbox):
    jobs.tick(centre, instance, date(2026, 7, 3))
    (message,) = inbox.to("manager@centre.gov.uk")
    assert message["Subject"] == "Performance publication for 2026-27-Q1 ready to review"
    assert "performance-2026-27-Q1.xlsx" in message.get_content()
    assert "https://ops.centre.gov.uk/performance/2026-27-Q1/commentary" in message.get_content()
    assert inbox.to("finance@centre.gov.uk") == [] and inbox.to("audit@centre.gov.uk") == []


def raise_on(database, raised: datetime) -> int:
    with database.transaction() as session:
        query = raise_query(session, "TSS-202605-WYR", 1, "Seven payslips?", "pay@wyre.gov.uk")
        session.flush()
        session.execute(
            update(StatementQuery).where(StatementQuery.id == query.id).values(raised_at=raised)
        )
        return query.id


def reminders(inbox) -> list:
    return [m for m in inbox.messages if "waited more than 5 working days" in m["Subject"]]


def test_queries_open_more_than_five_working_days_are_reminded_daily(centre, instance, inbox):
    query = raise_on(centre, datetime(2026, 6, 1, 10, tzinfo=UTC))  # Monday 1 June
    jobs.tick(centre, instance, date(2026, 6, 8))  # 5 working days later: not yet
    assert reminders(inbox) == []
    runs = jobs.tick(centre, instance, date(2026, 6, 9))  # the 6th working day
    assert [(r.job, r.period, r.status) for r in runs] == [("query_reminder", "2026-06-09", "done")]
    assert runs[0].outcome == "1 query waiting more than 5 working days"
    sent = reminders(inbox)
    assert sorted(m["To"] for m in sent) == ["finance@centre.gov.uk"]
    body = sent[0].get_content()
    assert f"Query {query} from Wyre Council on TSS-202605-WYR: open for 6 working days" in body
    assert f"https://ops.centre.gov.uk/queries/{query}" in body

    assert jobs.tick(centre, instance, date(2026, 6, 9)) == []  # once a day
    assert jobs.tick(centre, instance, date(2026, 6, 13)) == []  # not at weekends
    jobs.tick(centre, instance, date(2026, 6, 15))
    assert len(reminders(inbox)) == 2


def test_no_reminder_when_nothing_waits_long(centre, instance, inbox):
    raise_on(centre, datetime(2026, 6, 8, 10, tzinfo=UTC))
    runs = {r.job: r for r in jobs.tick(centre, instance, date(2026, 6, 9))}
    assert runs["query_reminder"].outcome == "0 queries waiting more than 5 working days"
    assert reminders(inbox) == []
