"""KPI profiles (setup sheet `Profiles`) and the profile a frozen result was judged by

kpi_profiles: a KPI's profiled target and amber for a month, for one client or (`all`)
every client and the whole centre. kpi_results.profile_month: the month whose profile a
finalised result was judged against, null where the KPI's or SLA's own target applied
(every existing row).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 11:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kpi_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kpi_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("amber", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["kpi_id"], ["kpis.id"], name=op.f("fk_kpi_profiles_kpi_id_kpis")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_profiles")),
        sa.UniqueConstraint(
            "kpi_id", "scope", "month", name=op.f("uq_kpi_profiles_kpi_id_scope_month")
        ),
    )
    with op.batch_alter_table("kpi_results") as batch:
        batch.add_column(sa.Column("profile_month", sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kpi_results") as batch:
        batch.drop_column("profile_month")
    op.drop_table("kpi_profiles")
