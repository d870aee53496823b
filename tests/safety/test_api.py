"""/api/v1 for number safety: risk and timeline of a number, quarantine and its release."""

from __future__ import annotations

import uuid

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.models import Instance
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
