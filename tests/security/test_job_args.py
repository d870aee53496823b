"""The job queue is not tenant-isolated (``procrastinate_*`` tables are readable by the app
role for every tenant), so jobs carry ids, never content or personal data.

After a real round (sends, receipts, inbound replies waking the round) and an inbound
message from a contact, every row of every procrastinate table is checked, whatever task
wrote it: each argument (and lock, and any other text) is an id, a number, a boolean or a
short enum-like word, and none holds a message text, a phone number, a JID or a name."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
from psycopg import sql

from tests.conftest import GatewayWorld, eventually
from tests.conversations.conftest import WarmPair, conversation_body, start_now
from tests.conversations.test_rounds_flow import _round_done

_IDS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\b[0-9a-f]{32}\b"
)
# What an id-only argument may look like once ids are taken out: a short word, a task or
# lock name ("send:", "conversations.on_inbound"), nothing with spaces or addresses.
_ENUM_LIKE = re.compile(r"^[A-Za-z0-9_.:\-]{0,64}$")
_DIGIT_RUN = re.compile(r"\d{8,}")  # a phone number, an epoch in ms stuffed in a string, …


def _problems(value: Any, where: str, pii: set[str]) -> list[str]:
    out: list[str] = []
    if value is None or isinstance(value, bool | int | float):
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            if not _ENUM_LIKE.match(str(k)):
                out.append(f"{where}: odd key {k!r}")
            out += _problems(v, f"{where}.{k}", pii)
        return out
    if isinstance(value, list):
        for i, v in enumerate(value):
            out += _problems(v, f"{where}[{i}]", pii)
        return out
    text = str(value)
    rest = _IDS.sub("", text)
    if not _ENUM_LIKE.match(rest) or "@" in text:
        out.append(f"{where}: not an id or enum-like value: {text[:80]!r}")
    elif _DIGIT_RUN.search(rest):
        out.append(f"{where}: looks like a phone number: {text[:80]!r}")
    for needle in pii:
        if (needle in text) if len(needle) >= 6 else (needle == text):
            out.append(f"{where}: carries personal data or content: {needle[:40]!r}")
    return out


def _personal_data(conninfo: str) -> set[str]:
    """Every message text, name, phone and JID the database knows (all tenants)."""
    queries = [
        "select text from messages",
        "select push_name from messages",
        "select remote_jid from messages",
        "select remote_jid_alt from messages",
        "select participant from messages",
        "select text from outgoing_messages",
        "select phone from instances",
        "select owner_jid from instances",
        "select profile_name from instances",
        "select display_name from instances",
        "select name from personas",
        "select display_name from users",
        "select email from users",
    ]
    values: set[str] = set()
    with psycopg.connect(conninfo) as conn:
        for q in queries:
            values |= {r[0] for r in conn.execute(q).fetchall() if r[0] and len(r[0]) >= 3}
        # The bare phone numbers inside JIDs too.
        values |= {v.split("@", 1)[0] for v in list(values) if "@" in v}
    return values


def _queue_rows(conninfo: str) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every text/json value of every procrastinate table."""
    out: list[tuple[str, str, Any]] = []
    with psycopg.connect(conninfo) as conn:
        columns = conn.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'public' and table_name like 'procrastinate%%' "
            "and data_type in ('text', 'character varying', 'json', 'jsonb', 'ARRAY') "
            "order by 1, 2"
        ).fetchall()
        for table, column in columns:
            query = sql.SQL("select {} from {} where {} is not null").format(
                sql.Identifier(column), sql.Identifier(table), sql.Identifier(column)
            )
            out += [(table, column, r[0]) for r in conn.execute(query).fetchall()]
    return out


async def test_job_arguments_carry_ids_only(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    r = await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    assert r.status_code == 201, r.text
    conv = r.json()
    await start_now(bootstrap_conninfo, conv["id"])
    rnd = await _round_done(client, warm, conv["id"])
    assert rnd["state"] == "completed", rnd["outcome"]
    await gw.sim.control.inbound(warm.numbers[0]["gateway_name"], "5511955552222", "Alguém aí?")

    async def stored() -> bool:
        with psycopg.connect(bootstrap_conninfo) as conn:
            row = conn.execute("select count(*) from messages where text = 'Alguém aí?'").fetchone()
        return bool(row and row[0])

    await eventually(stored, what="the contact's message")

    rows = _queue_rows(bootstrap_conninfo)
    jobs = [v for t, c, v in rows if (t, c) == ("procrastinate_jobs", "args")]
    tasks = {v for t, c, v in rows if (t, c) == ("procrastinate_jobs", "task_name")}
    # The flows that matter ran: replies woke the round through on_inbound jobs.
    assert {"conversations.on_inbound", "messaging.send_message"} <= tasks, tasks
    # … and turns were composed, and send outcomes reported to the round, by jobs too.
    assert {"conversations.compose_turn", "conversations.on_send_outcome"} <= tasks, tasks
    assert any("message_id" in a for a in jobs if isinstance(a, dict))

    pii = _personal_data(bootstrap_conninfo)
    assert "Alguém aí?" in pii and "5511955552222" in pii  # the detector knows the content
    problems: list[str] = []
    for table, column, value in rows:
        problems += _problems(value, f"{table}.{column}", pii)
    assert not problems, problems[:20]
