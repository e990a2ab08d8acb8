"""Alembic environment.

Migrations always run on a connection handed in by storage.migrate (which owns the
async engine), so the same code serves `python -m bot db upgrade`, `make run` and tests.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.models import SQLModel

target_metadata = SQLModel.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m bot db upgrade`, not the alembic command")
run_migrations(connection)
