"""Withdrawn pending lines (`billing withdraw`)

pending_lines.withdrawn_at and withdrawn_by: an adjustment or service credit withdrawn
before the statement carrying it is issued stays in the table for the record, and the
month close no longer puts it on a draft. Both nullable, so existing rows need nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pending_lines", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("pending_lines", sa.Column("withdrawn_by", sa.String(length=254), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later)
    op.drop_column("pending_lines", "withdrawn_by")
    op.drop_column("pending_lines", "withdrawn_at")
