"""Alembic environment: the URL comes from the caller, the metadata from the models."""

from alembic import context

import billing.models  # noqa: F401  (registers the billing tables)
import opsplatform.models  # noqa: F401  (registers the core tables)
import sla.models  # noqa: F401  (registers the KPI result tables)
from migrations import compared
from opsplatform.db import Base, make_engine

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=compared(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
