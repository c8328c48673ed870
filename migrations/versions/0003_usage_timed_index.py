"""usage_events: a partial index of timed events by service, for the latest KPI quarter

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    timed = sa.text("started_at IS NOT NULL")
    op.create_index(
        "ix_usage_timed",
        "usage_events",
        ["service_id", "completed_at"],
        unique=False,
        sqlite_where=timed,
        postgresql_where=timed,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_timed", table_name="usage_events")
