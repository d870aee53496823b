"""Whole-database scans (as the bootstrap superuser, so RLS hides nothing): every table of
every schema, discovered from information_schema, so a table added later is covered."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "ARRAY", "bytea")


def text_columns(conn: psycopg.Connection) -> list[tuple[str, str, str, str]]:
    rows = conn.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type "
        "from information_schema.columns c "
        "join information_schema.tables t on t.table_schema = c.table_schema "
        "and t.table_name = c.table_name and t.table_type = 'BASE TABLE' "
        "where c.table_schema not in ('pg_catalog', 'information_schema') "
        "and c.table_schema not like 'pg_toast%%' and c.data_type = any(%s) "
        "order by 1, 2, 3",
        (list(TEXT_TYPES),),
    ).fetchall()
    return [(s, t, c, d) for s, t, c, d in rows]


def occurrences(conninfo: str, needles: Iterable[str]) -> list[tuple[str, str]]:
    """(``schema.table.column``, needle) for every column holding any needle anywhere."""
    wanted = sorted({n for n in needles if n})
    found: list[tuple[str, str]] = []
    with psycopg.connect(conninfo) as conn:
        columns = text_columns(conn)
        assert columns, "no text columns found: the scan itself is broken"
        for schema, table, column, data_type in columns:
            # bytea as its printable form (its ::text is hex, which would hide a plaintext).
            value = (
                sql.SQL("encode(x.{}, 'escape')") if data_type == "bytea" else sql.SQL("x.{}::text")
            ).format(sql.Identifier(column))
            query = sql.SQL(
                "select n from unnest(%s::text[]) n where exists "
                "(select 1 from {}.{} x where strpos({}, n) > 0)"
            ).format(sql.Identifier(schema), sql.Identifier(table), value)
            for (needle,) in conn.execute(query, (wanted,)).fetchall():
                found.append((f"{schema}.{table}.{column}", needle))
    return found
