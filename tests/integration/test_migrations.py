"""The Alembic migrations build exactly the schema the models describe, on SQLite and on
PostgreSQL, and the newest one can be undone and made again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import billing.models  # noqa: F401  (registers the billing tables)
import migrations
import sla.models  # noqa: F401  (registers the KPI result tables)
from opsplatform.db import Base


def differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            options = {
                "compare_type": True,
                "include_object": migrations.compared(connection.dialect.name),
            }
            context = MigrationContext.configure(connection, opts=options)
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(databases, migrated_template):
    url = databases.new(template=migrated_template)
    assert differences(url) == []


def test_the_newest_migration_goes_down_and_up_again(databases, migrated_template):
    url = databases.new(template=migrated_template)
    migrations.downgrade(url, "0001")
    assert "notifications" not in tables(url)
    migrations.upgrade(url)
    assert "notifications" in tables(url)
    assert differences(url) == []
