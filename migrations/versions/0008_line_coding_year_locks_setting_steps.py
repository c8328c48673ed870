"""Statement lines coded for the ledgers; locked years; charging settings by month

Each statement line keeps its VAT code and the ledger codes of both sides (the centre's
cost centre and subjective, the client's, the purchase order) as they were when it was
built, so an issued statement never changes when the setup does; lines built before
this migration are coded S where they charged VAT and O otherwise, and take their
codes from their service and the client's subscription. `year_locks` records the
financial years closed for good; `setting_steps` the months from which a changed
charging setting applies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINE_CODES = (
    ("cost_centre", 40),
    ("subjective", 40),
    ("client_cost_centre", 40),
    ("client_subjective", 40),
    ("po_number", 60),
)


def upgrade() -> None:
    op.add_column(
        "statement_lines",
        sa.Column("vat_code", sa.String(length=1), nullable=False, server_default="O"),
    )
    for name, length in LINE_CODES:
        op.add_column("statement_lines", sa.Column(name, sa.String(length=length), nullable=True))
    op.execute("UPDATE statement_lines SET vat_code = 'S' WHERE vat_rate > 0")
    op.execute(
        "UPDATE statement_lines SET "
        "cost_centre = (SELECT cost_centre FROM services WHERE services.id = service_id), "
        "subjective = (SELECT subjective FROM services WHERE services.id = service_id)"
    )
    for name in ("client_cost_centre", "client_subjective", "po_number"):
        op.execute(
            f"UPDATE statement_lines SET {name} = (SELECT s.{name} FROM subscriptions s "
            "JOIN statements st ON st.client_id = s.client_id "
            "WHERE st.id = statement_lines.statement_id "
            "AND s.service_id = statement_lines.service_id "
            "ORDER BY s.start DESC LIMIT 1)"
        )
    op.create_table(
        "year_locks",
        sa.Column("financial_year", sa.String(length=7), primary_key=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=254), nullable=False),
    )
    op.create_table(
        "setting_steps",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("applies_from", sa.String(length=7), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("setting_steps")
    op.drop_table("year_locks")
    for name, _length in reversed(LINE_CODES):
        op.drop_column("statement_lines", name)
    op.drop_column("statement_lines", "vat_code")
