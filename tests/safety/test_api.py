"""/api/v1 for number safety: risk and timeline of a number, quarantine and its release."""

from __future__ import annotations

import uuid

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.models import Instance
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from tests.conftest import make_tenant, make_token


async def test_quarantine_and_release_over_the_api(client: httpx.AsyncClient) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        session.add(
            Instance(
                id=iid,
                tenant_id=t.tenant_id,
                display_name="Api",
                gateway_name=f"safe-{iid.hex}",
                token_enc="x",
                webhook_secret_enc="x",
            )
        )
    base = f"/api/v1/instances/{iid}"
    r = await client.get(f"{base}/risk", headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["score"], r.json()["band"], len(r.json()["last_24h"])) == (0, "green", 49)

    r = await client.post(f"{base}/release", headers=auth, json={"reason": "x"})
    assert r.status_code == 409 and "not quarantined" in r.json()["detail"]
    r = await client.post(f"{base}/quarantine", headers=auth, json={"reason": "   "})
    assert r.status_code == 422 and "blank" in r.text
    r = await client.post(f"{base}/quarantine", headers=auth, json={"reason": "odd replies"})
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/instances/{iid}", headers=auth)
    assert r.json()["health"] == "quarantined"
    r = await client.post(f"{base}/release", headers=auth, json={"reason": "phone checked"})
    assert r.status_code == 200, r.text
    got = (await client.get(f"/api/v1/instances/{iid}", headers=auth)).json()
    assert (got["health"], got["paused"]) == ("healthy", True)

    timeline = (await client.get(f"{base}/timeline?limit=1", headers=auth)).json()
    assert [(e["kind"], e["detail"]) for e in timeline] == [("released", "phone checked")]
    older = await client.get(f"{base}/timeline?before={timeline[0]['seq']}", headers=auth)
    assert [e["kind"] for e in older.json()] == ["quarantined"]
    fleet = (await client.get("/api/v1/safety/risks", headers=auth)).json()
    assert fleet == [{"instance_id": str(iid), "score": 0, "band": "green"}]
    # Another tenant's number is not found.
    other = {"Authorization": f"Bearer {await make_token(await make_tenant())}"}
    assert (await client.get(f"{base}/timeline", headers=other)).status_code == 404


async def test_safety_settings_change_the_bands(client: httpx.AsyncClient) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    current = (await client.get("/api/v1/safety/settings", headers=auth)).json()
    assert current["risk_yellow_from"] == 20 and current["risk_half_life_minutes"] == 120
    bad = {**current, "risk_orange_from": 10}
    r = await client.put("/api/v1/safety/settings", headers=auth, json=bad)
    assert r.status_code == 422 and "must rise" in r.json()["detail"]
    r = await client.put("/api/v1/safety/settings", headers=auth, json={**current, "nope": 1})
    assert r.status_code == 422
    stricter = {**current, "risk_yellow_from": 4, "band_new_contacts_per_day": 2}
    r = await client.put("/api/v1/safety/settings", headers=auth, json=stricter)
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/safety/settings", headers=auth)).json() == stricter
    # The band follows the tenant's thresholds: a single failed send (4 points) is now yellow.
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = Instance(
            id=iid,
            tenant_id=t.tenant_id,
            display_name="S",
            gateway_name=f"safe-{iid.hex}",
            token_enc="x",
            webhook_secret_enc="x",
        )
        session.add(inst)
        await session.flush()
        await safety.record(session, inst, SignalKind.SEND_FAILED, detail="x")
    risk = (await client.get(f"/api/v1/instances/{iid}/risk", headers=auth)).json()
    assert (risk["score"], risk["band"]) == (4, "yellow")
    # The timeline gives coded details in words, with their stable code; free text as it is.
    timeline = (await client.get(f"/api/v1/instances/{iid}/timeline", headers=auth)).json()
    assert [(e["kind"], e["detail"], e["detail_code"]) for e in timeline] == [
        ("band_changed", "green→yellow", "band_change"),
        ("send_failed", "x", None),
    ]
