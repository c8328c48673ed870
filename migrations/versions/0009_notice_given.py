"""When a partner gave notice to leave a service (exit terms, CONTRACT section 9)

A leaver of a pooled service keeps paying its share until its notice ends: the notice
runs `notice_months` from `notice_given`. Nullable: without it the end stands as loaded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 07:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("notice_given", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("subscriptions", "notice_given")
