"""Alembic environment: runs on a connection handed in by mirage.db.migrate (as mirage_owner)."""

from __future__ import annotations

from alembic import context

from mirage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `mirage migrate`, which sets up roles first")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
