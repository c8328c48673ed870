"""Statements and their lines: drafts rebuilt at each close, issued ones never changed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsplatform.db import Base, Money, Quantity, UTCDateTime, utcnow
from opsplatform.models import Client, Service


class Statement(Base):
    """A client's monthly statement, numbered `{prefix}-{YYYYMM}-{CLIENT}`."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("client_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    month: Mapped[str] = mapped_column(String(7), index=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    net: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    vat: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[date | None] = mapped_column(Date)
    client: Mapped[Client] = relationship()
    lines: Mapped[list[StatementLine]] = relationship(
        back_populates="statement",
        order_by="StatementLine.position",
        cascade="all, delete-orphan",
    )
    queries: Mapped[list[StatementQuery]] = relationship(
        back_populates="statement", cascade="all, delete-orphan", order_by="StatementQuery.id"
    )


class StatementLine(Base):
    """One line: a charge for the month, or a correction naming what it corrects.

    `period` is the month the line is about (earlier than the statement's month for a
    prior-period line); `basis` explains in one sentence how the amount was reached.
    """

    __tablename__ = "statement_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(7))
    description: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    rate: Mapped[Decimal | None] = mapped_column(Quantity)
    amount: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    vat: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    # how the line is coded, as it was when the line was built (CONTRACT section 9)
    vat_code: Mapped[str] = mapped_column(String(1), default="O", server_default="O")
    cost_centre: Mapped[str | None] = mapped_column(String(40))
    subjective: Mapped[str | None] = mapped_column(String(40))
    client_cost_centre: Mapped[str | None] = mapped_column(String(40))
    client_subjective: Mapped[str | None] = mapped_column(String(40))
    po_number: Mapped[str | None] = mapped_column(String(60))
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    corrects: Mapped[str | None] = mapped_column(String(40))
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("pending_lines.id"), index=True)
    statement: Mapped[Statement] = relationship(back_populates="lines")
    service: Mapped[Service | None] = relationship()


class PendingLine(Base):
    """A line waiting for the client's next statement: a manual adjustment or a service credit.

    It goes on the client's next statement: the first draft built for a month after the
    client's latest issued statement and not before `not_before` (the month after what
    it corrects); once that statement is issued the line is billed for good. Until then it
    may be withdrawn (`withdrawn_at`, `withdrawn_by`): kept for the record, billed never.
    """

    __tablename__ = "pending_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    corrects: Mapped[str | None] = mapped_column(String(60))
    not_before: Mapped[str | None] = mapped_column(String(7))
    raised_by: Mapped[str] = mapped_column(String(254))
    approved_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(254))
    client: Mapped[Client] = relationship()
    service: Mapped[Service | None] = relationship()


class Outturn(Base):
    """A service's approved outturn for a financial year: its actual cost against what
    partners were charged for it, the difference raised as one `outturn` pending line
    per partner (billing.outturn). Once approved, the year's outturn is settled."""

    __tablename__ = "outturns"
    __table_args__ = (UniqueConstraint("financial_year", "service_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    financial_year: Mapped[str] = mapped_column(String(7))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    actual: Mapped[Decimal] = mapped_column(Money)
    charged: Mapped[Decimal] = mapped_column(Money)
    approved_by: Mapped[str] = mapped_column(String(254))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    service: Mapped[Service] = relationship()


class StatementQuery(Base):
    """A client's query on a statement (line), and finance's answer; both are timed.

    Draft lines are rebuilt at each close, so the line is held by position with a
    snapshot of what it said. Accepting raises an adjustment for the next statement.
    """

    __tablename__ = "statement_queries"
    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"))
    line_position: Mapped[int | None] = mapped_column(Integer)
    line_summary: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(254))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="open")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(254))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("pending_lines.id"))
    statement: Mapped[Statement] = relationship(back_populates="queries")
