"""While the tenant's quiet hours cover now, an active conversation's page says until when
(their end in the tenant's zone, past midnight when they wrap it): why its round waits."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from mirage.conversations.service import quiet_until
from tests.conftest import TenantFixture, make_token, sign_in, sql
from tests.conversations.conftest import PERSONA
from tests.conversations.test_views_waiting import _number

MANAUS = ZoneInfo("America/Manaus")  # UTC-4


def test_quiet_until_wraps_midnight() -> None:
    at = datetime(2026, 3, 10, 23, 30, tzinfo=MANAUS)
    assert quiet_until(time(22), time(6), MANAUS, at) == datetime(2026, 3, 11, 6, tzinfo=MANAUS)
    after = at + timedelta(hours=2)  # 01:30 the next day
    assert quiet_until(time(22), time(6), MANAUS, after) == datetime(2026, 3, 11, 6, tzinfo=MANAUS)
    assert quiet_until(time(22), time(0), MANAUS, at) == datetime(2026, 3, 11, tzinfo=MANAUS)
    assert quiet_until(time(13), time(15), MANAUS, at.replace(hour=14)) == at.replace(
        hour=15, minute=0
    )
    assert quiet_until(time(22), time(6), MANAUS, at.replace(hour=12)) is None
    assert quiet_until(None, None, MANAUS, at) is None


async def test_the_page_says_quiet_hours_hold_the_round_until_their_end(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    auth = {"Authorization": f"Bearer {await make_token(tenant_a)}"}
    numbers = [
        await _number(bootstrap_conninfo, tenant_a, n, "open", p)
        for n, p in (("Q1", "5511900000601"), ("Q2", "5511900000602"))
    ]
    personas = []
    for name in ("Gil", "Hana"):
        r = await client.post("/api/v1/personas", headers=auth, json={"name": name, **PERSONA})
        assert r.status_code == 201, r.text
        personas.append(r.json()["id"])
    r = await client.post(
        "/api/v1/conversations",
        headers=auth,
        json={
            "name": "Silêncio",
            "participants": [
                {"instance_id": i, "persona_id": p} for i, p in zip(numbers, personas, strict=True)
            ],
            "topics": ["futebol"],
            "state": "paused",
        },
    )
    assert r.status_code == 201, r.text
    conv = r.json()["id"]
    await sql(bootstrap_conninfo, "update conversations set state = 'active' where id = %s", conv)
    now = datetime.now(MANAUS)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    r = await client.put(
        "/api/v1/settings",
        headers=auth,
        json={
            "timezone": "America/Manaus",
            "delay_min_s": 20,
            "delay_max_s": 90,
            "quiet_start": f"{now - timedelta(hours=1):%H}:00",
            "quiet_end": f"{end:%H}:00",
            "hourly_cap_per_number": 20,
            "daily_cap_per_number": 120,
            "burst_per_hour": 200,
            "min_gap_seconds": 15,
        },
    )
    assert r.status_code == 200, r.text

    await sign_in(client, tenant_a)
    page = (await client.get(f"/conversations/{conv}")).text
    note = page[page.index('id="quiet-now"') :]
    note = note[: note.index("</p>")]
    assert "Horário de silêncio agora: termina" in note, note
    assert f'datetime="{end.astimezone(UTC).isoformat(timespec="seconds")}"' in note, note
    assert f"{end:%H:%M}" in note and "/settings#cadence" in note

    await sql(bootstrap_conninfo, "update conversations set state = 'paused' where id = %s", conv)
    assert 'id="quiet-now"' not in (await client.get(f"/conversations/{conv}")).text
