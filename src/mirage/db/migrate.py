"""`mirage migrate`: create the roles, then apply Alembic migrations as mirage_owner."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from mirage.db.urls import ADMIN_ROLE, APP_ROLE, RoleUrls

_LOCK_KEY = 0x4D49524147  # "MIRAG": serialises concurrent migrators (demo + worker)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "mirage:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def ensure_roles(conn: Connection, role_password: str | None) -> None:
    conn.exec_driver_sql(resources.files("mirage.migrations").joinpath("roles.sql").read_text())
    dbname = conn.exec_driver_sql("select current_database()").scalar_one()
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("no driver connection to run the role set-up on")
    for role in (APP_ROLE, ADMIN_ROLE):
        raw.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(role)
            )
        )
        if role_password:
            raw.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(role_password)
                )
            )


def migrate(urls: RoleUrls, *, role_password: str | None = None, revision: str = "head") -> None:
    engine = create_engine(urls.sync(urls.bootstrap))
    try:
        with engine.begin() as conn:
            conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            ensure_roles(conn, role_password)
            # Everything Alembic creates is owned by mirage_owner, never by the login user.
            conn.exec_driver_sql("SET LOCAL ROLE mirage_owner")
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def current_revision(urls: RoleUrls) -> str | None:
    engine = create_engine(urls.sync(urls.bootstrap))
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql("select to_regclass('public.alembic_version')").scalar()
            if not exists:
                return None
            return conn.exec_driver_sql("select version_num from alembic_version").scalar()
    finally:
        engine.dispose()
