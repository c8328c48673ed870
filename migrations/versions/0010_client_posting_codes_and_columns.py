"""Clients' own posting codes and posting-file columns (`billing post`)

clients.vat_recoverable_code and creditors_code: the client's own ledger codes for the
VAT it recovers and the creditor it owes, for its expense journal. `posting_columns`:
a client's own posting-file template, a column per row (its number, heading and what it
holds). All nullable or new, so existing rows need nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLIENT_CODES = ("vat_recoverable_code", "creditors_code")


def upgrade() -> None:
    for name in CLIENT_CODES:
        op.add_column("clients", sa.Column(name, sa.String(length=40), nullable=True))
    op.create_table(
        "posting_columns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_posting_columns_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posting_columns")),
        sa.UniqueConstraint(
            "client_id", "position", name=op.f("uq_posting_columns_client_id_position")
        ),
    )


def downgrade() -> None:
    op.drop_table("posting_columns")
    for name in reversed(CLIENT_CODES):
        op.drop_column("clients", name)
