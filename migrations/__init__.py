"""Alembic migrations, shipped inside the installed package so `db upgrade` works anywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.schema import SchemaItem

from opsplatform.db import TRIGGER_CHECKED

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision`."""
    command.downgrade(alembic_config(url), revision)


def compared(
    dialect: str,
) -> Callable[[SchemaItem, str | None, str, bool, SchemaItem | None], bool]:
    """Alembic's `include_object` for a database of `dialect`: the schema objects the
    migrations must have built there. PostgreSQL checks the usage ledger's references with
    triggers, not foreign keys (migration 0004), so the models' constraints are not expected."""

    def include(
        obj: SchemaItem,
        name: str | None,
        type_: str,
        reflected: bool,
        compare_to: SchemaItem | None,
    ) -> bool:
        return not (
            type_ == "foreign_key_constraint"
            and dialect == "postgresql"
            and obj.info.get(TRIGGER_CHECKED)
        )

    return include
