"""Alembic environment: runs on a connection handed in by mirage.db.migrate (as mirage_owner)."""

from __future__ import annotations

from alembic import context

from mirage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `mirage migrate`, which sets up roles first")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # procrastinate's tables are managed by its own schema, not by our models.
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


context.configure(
    connection=connection,
    include_object=include_object,
    target_metadata=Base.metadata,
    compare_type=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
