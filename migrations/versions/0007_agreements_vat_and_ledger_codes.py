"""Agreements, VAT treatment and ledger codes (CONTRACT section 9): new setup columns

clients.address and vat_number (for VAT invoices); services.subjective (the centre's
income code, beside its cost_centre); on subscriptions, the VAT treatment of the supply
(`vat`: the service's rate, or outside the scope, exempt or zero-rated), the client's own
ledger codes for the charge, and the agreement behind it (legal basis, notice, review).
All nullable or defaulted, so existing rows need nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIPTION_COLUMNS = (
    ("vat", sa.String(length=16), "service"),
    ("client_cost_centre", sa.String(length=40), None),
    ("client_subjective", sa.String(length=40), None),
    ("basis", sa.String(length=40), None),
    ("notice_months", sa.Integer(), None),
    ("review_date", sa.Date(), None),
)


def upgrade() -> None:
    op.add_column("clients", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("clients", sa.Column("vat_number", sa.String(length=20), nullable=True))
    op.add_column("services", sa.Column("subjective", sa.String(length=40), nullable=True))
    for name, kind, default in SUBSCRIPTION_COLUMNS:
        op.add_column(
            "subscriptions",
            sa.Column(
                name,
                kind,
                nullable=default is None,
                server_default=default,
            ),
        )


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later)
    for name, _kind, _default in reversed(SUBSCRIPTION_COLUMNS):
        op.drop_column("subscriptions", name)
    op.drop_column("services", "subjective")
    op.drop_column("clients", "vat_number")
    op.drop_column("clients", "address")
