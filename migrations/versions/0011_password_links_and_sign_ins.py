"""password_links, users.one_time_until and users.last_signed_in_at (issue 15)

password_links: the e-mailed links that set a password once (invitations, resets), kept
only as SHA-256 hashes of their tokens. users.one_time_until: set while a user's password
is the one-time password `users create` or `users reset` printed, which signs in until
then. users.last_signed_in_at: for the users page. All new or nullable: existing users
keep their passwords as chosen ones, and have not signed in since the upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_TIMES = ("one_time_until", "last_signed_in_at")


def upgrade() -> None:
    for name in USER_TIMES:
        op.add_column("users", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "password_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_links_token_hash")),
    )
    op.create_index(op.f("ix_password_links_user_id"), "password_links", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_password_links_user_id"), table_name="password_links")
    op.drop_table("password_links")
    # plain ALTER TABLE on SQLite too (3.35 and later), as in 0006
    for name in reversed(USER_TIMES):
        op.drop_column("users", name)
