"""The centre's cost ledger and the year-end outturn

services.funding: `price` (every existing service) or `cost`, reconciled at outturn;
services.baseline_unit_cost and baseline_period: a unit's cost before sharing.
cost_centre_shares: where a cost centre's cost goes, service by service (setup sheet
`CostCentres`). cost_lines: actual and budgeted costs by cost centre, subjective and
month (`costs import`). outturns: a service's approved outturn for a financial year.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(
            sa.Column("funding", sa.String(length=5), server_default="price", nullable=False)
        )
        batch.add_column(sa.Column("baseline_unit_cost", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("baseline_period", sa.String(length=40), nullable=True))
    op.create_table(
        "cost_centre_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cost_centre", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("driver", sa.String(length=40), nullable=True),
        sa.Column("share", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_cost_centre_shares_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_centre_shares")),
        sa.UniqueConstraint(
            "cost_centre", "service_id", name=op.f("uq_cost_centre_shares_cost_centre_service_id")
        ),
    )
    op.create_index(
        op.f("ix_cost_centre_shares_cost_centre"), "cost_centre_shares", ["cost_centre"]
    )
    op.create_table(
        "cost_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cost_centre", sa.String(length=40), nullable=False),
        sa.Column("subjective", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_lines")),
    )
    op.create_index("ix_cost_lines_kind_month", "cost_lines", ["kind", "month"])
    op.create_table(
        "outturns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("actual", sa.BigInteger(), nullable=False),
        sa.Column("charged", sa.BigInteger(), nullable=False),
        sa.Column("approved_by", sa.String(length=254), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_outturns_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outturns")),
        sa.UniqueConstraint(
            "financial_year", "service_id", name=op.f("uq_outturns_financial_year_service_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("outturns")
    op.drop_index("ix_cost_lines_kind_month", table_name="cost_lines")
    op.drop_table("cost_lines")
    op.drop_index(op.f("ix_cost_centre_shares_cost_centre"), table_name="cost_centre_shares")
    op.drop_table("cost_centre_shares")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("baseline_period")
        batch.drop_column("baseline_unit_cost")
        batch.drop_column("funding")
