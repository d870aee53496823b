"""The rows of the Numbers page come from a cache of rendered rows: a row follows every change
of its number, and the role and language of whoever looks at it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import psycopg

from mirage.instances.views import NumberRow, number_row
from mirage.models import Instance
from tests.conftest import TenantFixture, make_tenant, sign_in, sql


def _row_html(page: str, rid: uuid.UUID) -> str:
    start = page.index(f'<tr id="instance-{rid}"')
    return page[start : page.index("</tr>", start)]


def _add(conninfo: str, t: TenantFixture, name: str) -> uuid.UUID:
    rid = uuid.uuid4()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc) values (%s, %s, %s, %s, 'x', 'x')",
            (rid, t.tenant_id, name, f"row-{rid.hex}"),
        )
    return rid


async def _update(conninfo: str, rid: uuid.UUID, assignments: str, *args: object) -> None:
    await sql(conninfo, f"update instances set {assignments} where id = %s", *args, rid)


async def test_a_cached_row_follows_its_number(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    await sign_in(client, tenant_a)
    rid = _add(bootstrap_conninfo, tenant_a, "Loja Sul")
    row = _row_html((await client.get("/instances")).text, rid)
    assert "desconectado" in row and "Pausar" in row and "saudável" in row
    await _update(
        bootstrap_conninfo,
        rid,
        "state = 'open', phone = '5511988887777', profile_name = 'Sul', paused_at = now(), "
        "health = 'degraded', health_reason = 'low delivery rate'",
    )
    row = _row_html((await client.get("/instances")).text, rid)
    assert "conectado" in row and "desconectado" not in row
    assert "+5511988887777" in row and "Sul</span>" in row
    assert "Retomar" in row and "pausado por um operador" in row
    assert "degradado" in row and "taxa de entrega baixa" in row
    await _update(
        bootstrap_conninfo,
        rid,
        "state = 'close', state_reason = 401, needs_pairing = true, first_connected_at = now()",
    )
    row = _row_html((await client.get("/instances")).text, rid)
    assert "precisa parear de novo" in row and "desconectado pelo celular" in row
    await _update(bootstrap_conninfo, rid, "display_name = 'Loja Sul 2'")
    assert "Loja Sul 2" in _row_html((await client.get("/instances")).text, rid)


async def test_a_cached_row_follows_the_role_and_the_language(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    from mirage.db.engine import session_scope
    from mirage.models.tenancy import Role
    from mirage.tenants import service

    owner = await make_tenant("owner")
    rid = _add(bootstrap_conninfo, owner, "Central")
    await sign_in(client, owner)
    as_owner = _row_html((await client.get("/instances")).text, rid)
    assert "/delete" in as_owner and "Conectar" in as_owner
    client.cookies.set("mirage_lang", "en")
    in_english = _row_html((await client.get("/instances")).text, rid)
    assert "disconnected" in in_english and "Connect" in in_english
    client.cookies.delete("mirage_lang")

    viewer = await make_tenant("viewer")
    async with session_scope() as session:
        await service.add_member(
            session, tenant_id=owner.tenant_id, user_id=viewer.user_id, role=Role.VIEWER
        )
    csrf = await sign_in(client, viewer)
    await client.post("/tenant", data={"tenant_id": str(owner.tenant_id), "csrf_token": csrf})
    as_viewer = _row_html((await client.get("/instances")).text, rid)
    assert "Central" in as_viewer and "desconectado" in as_viewer
    assert "/delete" not in as_viewer and "Conectar" not in as_viewer and "<button" not in as_viewer


def test_a_row_is_the_whole_input_of_its_html() -> None:
    """Two numbers that differ in any field the row holds render differently, and the cache
    answers the same row with the same HTML: the row is the key, nothing else is read."""
    base = NumberRow.of(
        Instance(
            id=uuid.uuid4(),
            display_name="Norte",
            profile_name="Perfil",
            phone="5511900000000",
            state="close",
            state_reason=401,
            needs_pairing=True,
            first_connected_at=datetime.now(UTC),
            health="healthy",
            health_reason=None,
            paused_at=None,
        )
    )
    # Paused, with a health reason and caps: every field below shows in the row.
    base = base._replace(paused=True, health_reason="x", daily_cap=100, hourly_cap=30)
    html = number_row(base, True, True, "pt_BR")
    assert number_row(base, True, True, "pt_BR") is html  # from the cache
    changes = {
        "id": uuid.uuid4(),
        "display_name": "Sul",
        "profile_name": None,
        "phone": None,
        "state": "open",
        "state_reason": 428,
        "needs_pairing": False,
        "paired_before": False,
        "health": "degraded",
        "health_reason": "low delivery rate",
        "paused": False,
        "risk_score": 35,
        "risk_band": "yellow",
        "paused_reason": "@time_lock",
        "paused_code": "time_lock",
        "health_code": "banned",
        "stage": 2,
        "sent_today": 37,
        "daily_cap": 60,
        "sent_last_hour": 3,
        "hourly_cap": 15,
        "tightened": True,
    }
    assert changes.keys() == set(NumberRow._fields)
    for field, value in changes.items():
        changed = base._replace(**{field: value})
        assert number_row(changed, True, True, "pt_BR") != html, field
    assert number_row(base, False, False, "pt_BR") != html
    assert number_row(base, True, False, "pt_BR") != html
    assert number_row(base, True, True, "en") != html
