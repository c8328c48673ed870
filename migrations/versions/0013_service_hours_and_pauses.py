"""Service hours and paused time (KPIs on the service_hours calendar)

`service_hours`: a service's opening hours, a weekday per row (`mon` to `sun`, opening
and closing HH:MM, Europe/London local time), from the setup workbook's ServiceHours
sheet. usage_events.paused_at and resumed_at: one pause of a timed event, taken off its
elapsed time on the KPI's calendar. New or nullable, so existing rows need nothing, and
an event without a pause keeps its fingerprint.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAUSE = ("paused_at", "resumed_at")


def upgrade() -> None:
    op.create_table(
        "service_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.String(length=3), nullable=False),
        sa.Column("open", sa.String(length=5), nullable=False),
        sa.Column("close", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_service_hours_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_hours")),
        sa.UniqueConstraint(
            "service_id", "weekday", name=op.f("uq_service_hours_service_id_weekday")
        ),
    )
    for name in PAUSE:
        op.add_column("usage_events", sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later)
    for name in reversed(PAUSE):
        op.drop_column("usage_events", name)
    op.drop_table("service_hours")
