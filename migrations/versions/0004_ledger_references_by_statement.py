"""usage_events: on PostgreSQL, check the ledger's references once per statement

A foreign key is checked row by row: importing a million events made three million
look-ups, which cost more than the COPY of the rows itself. On PostgreSQL the three
foreign keys of usage_events (batch, client, service) become statement-level triggers
that check a whole statement's new rows with one query each, locking the rows referred
to (FOR KEY SHARE) exactly as a foreign key does, so that a concurrent delete waits;
and the referred-to tables refuse a delete or an update that would leave an event
pointing at nothing. SQLite keeps its foreign keys (see models.ledger_reference).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:10:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (usage_events column, the table it refers to by id)
REFERENCES = (
    ("batch_id", "import_batches"),
    ("client_id", "clients"),
    ("service_id", "services"),
)

CHECK_NEW_ROWS = """
CREATE FUNCTION usage_events_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ref record;
    missing bigint;
BEGIN
    FOR ref IN SELECT * FROM (VALUES {references}) AS r (col, tbl) LOOP
        EXECUTE format(
            'SELECT (SELECT count(DISTINCT %1$I) FROM new_rows) - (SELECT count(*) FROM ('
            'SELECT 1 FROM %2$I WHERE id IN (SELECT %1$I FROM new_rows) FOR KEY SHARE) AS held)',
            ref.col, ref.tbl
        ) INTO missing;
        IF missing > 0 THEN
            RAISE EXCEPTION
                'insert or update on table "usage_events" refers to % row(s) not in "%" (%)',
                missing, ref.tbl, ref.col
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END $$
"""

GUARD_REFERRED = """
CREATE FUNCTION usage_events_guard_referred() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    orphaned boolean;
BEGIN
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM old_rows AS o '
        'WHERE NOT EXISTS (SELECT 1 FROM %1$I AS t WHERE t.id = o.id) '
        'AND EXISTS (SELECT 1 FROM usage_events AS u WHERE u.%2$I = o.id))',
        TG_TABLE_NAME, TG_ARGV[0]
    ) INTO orphaned;
    IF orphaned THEN
        RAISE EXCEPTION
            'delete or update on table "%" would leave usage_events referring to nothing (%)',
            TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for column, table in REFERENCES:
        op.drop_constraint(f"fk_usage_events_{column}_{table}", "usage_events", type_="foreignkey")
    references = ", ".join(f"('{column}', '{table}')" for column, table in REFERENCES)
    op.execute(CHECK_NEW_ROWS.format(references=references))
    op.execute(GUARD_REFERRED)
    for action in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER usage_events_references_{action.lower()} AFTER {action} "
            "ON usage_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION usage_events_check_references()"
        )
    for column, table in REFERENCES:
        for action in ("DELETE", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_usage_{action.lower()} AFTER {action} ON {table} "
                "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION usage_events_guard_referred('{column}')"
            )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for _column, table in REFERENCES:
        for action in ("DELETE", "UPDATE"):
            op.execute(f"DROP TRIGGER {table}_usage_{action.lower()} ON {table}")
    for action in ("INSERT", "UPDATE"):
        op.execute(f"DROP TRIGGER usage_events_references_{action.lower()} ON usage_events")
    op.execute("DROP FUNCTION usage_events_guard_referred()")
    op.execute("DROP FUNCTION usage_events_check_references()")
    for column, table in REFERENCES:
        op.create_foreign_key(
            f"fk_usage_events_{column}_{table}", "usage_events", table, [column], ["id"]
        )
