"""End to end against the simulator: a campaign number pushed into degradation (it writes to
strangers) is tightened, paused, then quarantined; its queue moves to the healthy number; it
sends nothing while quarantined; an admin's release is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.conftest import GatewayWorld, eventually, sql
from tests.outreach.conftest import campaign_world, draft, recipients

FINAL = {"sent", "delivered", "read", "replied", "failed", "expired", "skipped"}


async def test_a_degrading_number_is_tightened_paused_quarantined_and_released(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    # The campaign shares its recipients between A and B by a hash of each contact: with 12,
    # A got only two 2% of the time, tried both before its pause and had no queue left to
    # move (a full-run failure). With 20, A has three or more but for 0.02% of runs.
    w = await campaign_world(gw, client, numbers=2, contacts=[{"behavior": "ignore"}] * 20)
    a, b = (n["id"] for n in w.numbers)
    # A's first stranger fails, the second meets the time lock (A is sure to try two).
    name = w.numbers[0]["gateway_name"]
    await gw.sim.control.degrade(name, freeStrangers=0, failureStep=1.0, timeLockAfter=2)
    campaign_id = await draft(w, client)
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start", headers=w.auth, json={"sender_ids": [a, b]}
    )
    assert r.status_code == 200, r.text

    async def timeline() -> list[dict[str, Any]]:
        r = await client.get(f"/api/v1/instances/{a}/timeline?limit=200", headers=w.auth)
        assert r.status_code == 200, r.text
        return list(reversed(r.json()))

    async def has(kind: str) -> bool:
        # Read from the database (polling the API would meet the tenant's rate limit).
        rows = await sql(
            bootstrap_conninfo,
            "select 1 from number_signals where instance_id = %s and kind = %s",
            a,
            kind,
        )
        return bool(rows)

    await eventually(lambda: has("auto_paused"), timeout_s=90, what="A paused")
    # Then WhatsApp bans it (the simulator does so by itself after more strangers, or a delay
    # after the first time lock: tests/simulator/test_sim_degradation.py); here, at once.
    await gw.sim.control.ban(name)
    await eventually(lambda: has("quarantined"), timeout_s=60, what="A quarantined")
    entries = await timeline()
    kinds = [e["kind"] for e in entries]
    # Tightened (a band worse than green), then paused, then quarantined — in that order.
    tightened = next(
        i
        for i, e in enumerate(entries)
        if e["kind"] == "band_changed" and e["detail"].startswith("green→")
    )
    paused, locked = kinds.index("auto_paused"), kinds.index("time_lock")
    order = [kinds.index("send_failed"), locked, tightened, paused, kinds.index("quarantined")]
    assert order == sorted(order), kinds
    assert ("disconnect", 403) in [(e["kind"], e["code"]) for e in entries]
    since: datetime = datetime.fromisoformat(entries[kinds.index("quarantined")]["at"])
    got = (await client.get(f"/api/v1/instances/{a}", headers=w.auth)).json()
    assert got["health"] == "quarantined"

    async def done() -> list[dict[str, Any]] | None:
        rows = await recipients(bootstrap_conninfo, campaign_id)
        return rows if rows and all(x["status"] in FINAL for x in rows) else None

    rows = await eventually(done, timeout_s=90, what="the campaign's recipients all final")
    # A's queue went to B; nobody got two messages; A sent nothing once quarantined.
    moved = [x for x in rows if x["reassigned_from"] == a]
    assert moved and all(x["sender_id"] == b for x in moved)
    sent = await sql(
        bootstrap_conninfo,
        "select to_number, instance_id::text, sent_at from outgoing_messages "
        "where tenant_id = %s and purpose = 'campaign' and status = 'sent'",
        w.tenant.tenant_id,
    )
    assert len({to for to, _i, _at in sent}) == len(sent)
    assert [at for _to, inst, at in sent if inst == a and at >= since] == []
    assert sum(1 for _to, inst, _at in sent if inst != a) == len(sent) > 0

    # Only an admin releases it, with a reason (the token carries a step-up); audited.
    r = await client.post(f"/api/v1/instances/{a}/release", headers=w.auth, json={"reason": ""})
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/instances/{a}/release", headers=w.auth, json={"reason": "new SIM, checked"}
    )
    assert r.status_code == 200, r.text
    audit = await sql(
        bootstrap_conninfo,
        "select details->>'reason' from audit_events where tenant_id = %s and action = %s",
        w.tenant.tenant_id,
        "instance.release",
    )
    assert audit == [("new SIM, checked",)]
    assert (await timeline())[-1]["kind"] == "released"
