"""users.session_token and failure_counts: sessions that end, a throttle all workers share

A session cookie now names its user's session token as well as its id; the token is set at
sign-in and cleared to end every session (sign-out, password reset, role change, disabling).
Existing users start with none, so every session from before the upgrade has ended.
failure_counts holds the sign-in and API token throttle's counts (opsplatform.throttle).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_token", sa.String(length=64), nullable=True))
    op.create_table(
        "failure_counts",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("forget_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_failure_counts")),
    )
    op.create_index(
        op.f("ix_failure_counts_forget_at"), "failure_counts", ["forget_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_failure_counts_forget_at"), table_name="failure_counts")
    op.drop_table("failure_counts")
    # a plain ALTER TABLE on SQLite too (3.35 and later): no copy of users, whose rows
    # API tokens refer to
    op.drop_column("users", "session_token")
