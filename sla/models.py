"""Frozen quarterly KPI results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsplatform.db import Base, Quantity, UTCDateTime, utcnow


class KpiResult(Base):
    """A KPI's result for a quarter, for one client or (`scope` = `centre`) the whole centre.

    Rows are written when a quarter is finalised and never change afterwards.
    """

    __tablename__ = "kpi_results"
    __table_args__ = (UniqueConstraint("quarter", "kpi_id", "scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(10), index=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    scope: Mapped[str] = mapped_column(String(12))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    value: Mapped[Decimal | None] = mapped_column(Quantity)
    numerator: Mapped[Decimal] = mapped_column(Quantity)
    denominator: Mapped[Decimal] = mapped_column(Quantity)
    target: Mapped[Decimal] = mapped_column(Quantity)
    amber: Mapped[Decimal] = mapped_column(Quantity)
    status: Mapped[str] = mapped_column(String(8))
    events: Mapped[int] = mapped_column(Integer, default=0)
    # the month whose profiled target (opsplatform.models.KpiProfile) was applied, if any
    profile_month: Mapped[str | None] = mapped_column(String(7))
    finalised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KpiCommentary(Base):
    """A manager's commentary on a KPI for a quarter, printed in the publication."""

    __tablename__ = "kpi_commentary"
    __table_args__ = (UniqueConstraint("quarter", "kpi_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(10))
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
