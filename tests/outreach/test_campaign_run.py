"""Campaigns run end to end against the simulator (real HTTP, real webhooks, the worker):
each recipient gets exactly one message through the send pipeline and the policy, statuses
move forward to delivered/read/replied, pause/resume sends nothing twice, a suppressed
contact gets nothing more, and a number that stops sending hands its queue over within caps."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import GatewayWorld, eventually, sql
from tests.outreach.conftest import campaign_world, draft, recipients, sends, wait_all

FINAL = {"sent", "delivered", "read", "replied", "failed", "expired", "skipped"}


async def test_campaign_sends_each_recipient_once_and_follows_receipts(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    contacts = [
        {"behavior": "ignore"},
        {"behavior": "ignore"},
        {"behavior": "ignore", "reads": False},
        {"behavior": "reply", "replyText": "Oi! Quero saber mais"},
        {"behavior": "ignore", "exists": False},
    ]
    w = await campaign_world(gw, client, numbers=2, contacts=contacts)
    campaign_id = await draft(w, client)
    pool = [n["id"] for n in w.numbers]
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start", headers=w.auth, json={"sender_ids": pool}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "running" and r.json()["frozen_count"] == 5
    # A contact imported after the start does not join the running campaign.
    late = {"phone": "+5511955554444", "legal_basis": "consent", "provenance_source": "t"}
    assert (await client.post("/api/v1/contacts", headers=w.auth, json=late)).status_code == 201

    phones = [c["phone_e164"] for c in w.contacts]

    async def settled() -> list[dict[str, object]] | None:
        rows = await recipients(bootstrap_conninfo, campaign_id)
        by = {r["phone"]: r["status"] for r in rows}
        ok = (
            by.get(phones[0]) == "read"
            and by.get(phones[1]) == "read"
            and by.get(phones[2]) == "delivered"
            and by.get(phones[3]) == "replied"
            and by.get(phones[4]) == "skipped"
        )
        return rows if ok else None

    rows = await eventually(settled, timeout_s=60, what="receipts, a reply and a skip")
    assert len(rows) == 5  # the late contact is not a recipient
    skipped = next(r for r in rows if r["phone"] == phones[4])
    assert skipped["reason"] == "not_on_whatsapp"
    sent = await sends(bootstrap_conninfo, w.tenant)
    # Exactly one message per reachable recipient, from that recipient's (sticky) sender.
    for row in rows[:4]:
        assert len(sent[str(row["phone"]).lstrip("+")]) == 1
    by_phone = {r["phone"]: r for r in rows}
    for to, msgs in sent.items():
        assert msgs[0][0] == by_phone["+" + to]["sender_id"]
    assert {r["sender_id"] for r in rows} <= set(pool)

    # The sends went through the pipeline's policy for an external contact: the funnel counts.
    async def completed() -> dict[str, object] | None:
        f = (await client.get(f"/api/v1/campaigns/{campaign_id}/funnel", headers=w.auth)).json()
        return f if f["state"] == "completed" else None  # type: ignore[no-any-return]

    f = await eventually(completed, timeout_s=20, what="the campaign completed")
    assert f["sent"] == 4 and f["delivered"] == 4 and f["read"] == 3 and f["replied"] == 1
    assert f["skipped"] == {"not_on_whatsapp": 1}
    # Every control on a finished campaign is a 409 problem.
    r = await client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=w.auth)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem")
    # The recipients list filters and pages.
    page = await client.get(
        f"/api/v1/campaigns/{campaign_id}/recipients",
        headers=w.auth,
        params={"status": ["read", "replied"], "limit": 2},
    )
    body = page.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    rest = await client.get(
        f"/api/v1/campaigns/{campaign_id}/recipients",
        headers=w.auth,
        params={"status": ["read", "replied"], "cursor": body["next_cursor"]},
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None


async def test_pause_then_resume_sends_nothing_twice(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    # Slow human cadence (think 20–40 s, compressed by the suite's time scale): the campaign
    # is still sending when it is paused.
    w = await campaign_world(
        gw,
        client,
        numbers=1,
        contacts=[{"behavior": "ignore"}] * 6,
        settings={"delay_min_s": 20, "delay_max_s": 40},
    )
    campaign_id = await draft(w, client)
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start",
        headers=w.auth,
        json={"sender_ids": [w.numbers[0]["id"]]},
    )
    assert r.status_code == 200, r.text

    async def some_sent() -> bool:
        return bool(await sends(bootstrap_conninfo, w.tenant))

    await eventually(some_sent, timeout_s=30, what="a first send")
    r = await client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=w.auth)
    assert r.status_code == 200 and r.json()["state"] == "paused", r.text
    # Pausing twice is an illegal transition.
    assert (
        await client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=w.auth)
    ).status_code == 409
    # Nothing is left planned: the withdrawn messages are cancelled, their recipients free.
    planned = await sql(
        bootstrap_conninfo,
        "select count(*) from outgoing_messages where tenant_id = %s and purpose = 'campaign' "
        "and status = 'planned'",
        w.tenant.tenant_id,
    )
    assert planned[0][0] == 0
    # Those still waiting have no message left to go (one claimed as the pause came goes out
    # once and is recorded: never withdrawn mid-send, never sent again).
    rows = await recipients(bootstrap_conninfo, campaign_id)
    assert [r for r in rows if r["status"] in ("planned", "deferred")]
    queued = await sql(
        bootstrap_conninfo,
        "select count(*) from campaign_recipients r join outgoing_messages m "
        "on m.id = r.outgoing_id where r.campaign_id = %s and m.status = 'planned'",
        campaign_id,
    )
    assert queued[0][0] == 0
    before = await sends(bootstrap_conninfo, w.tenant)
    r = await client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=w.auth)
    assert r.status_code == 200 and r.json()["state"] == "running", r.text
    rows = await wait_all(bootstrap_conninfo, campaign_id, {"delivered", "read"}, timeout_s=90)
    after = await sends(bootstrap_conninfo, w.tenant)
    assert len(after) == 6
    assert all(len(m) == 1 for m in after.values()), after
    assert set(before) <= set(after)
    assert len(rows) == 6


async def test_suppressed_mid_campaign_receives_nothing_more(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    w = await campaign_world(
        gw,
        client,
        numbers=1,
        contacts=[{"behavior": "ignore"}] * 4,
        settings={"delay_min_s": 20, "delay_max_s": 40},
    )
    campaign_id = await draft(w, client)
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start",
        headers=w.auth,
        json={"sender_ids": [w.numbers[0]["id"]]},
    )
    assert r.status_code == 200, r.text
    # The recipient planned last: its message is already queued when it is suppressed.

    async def planned_last() -> list[tuple[object, ...]]:
        return await sql(
            bootstrap_conninfo,
            "select phone_e164 from campaign_recipients where campaign_id = %s "
            "and planned_at is not null order by planned_at desc limit 1",
            campaign_id,
        )

    phone = (await eventually(planned_last, timeout_s=20, what="a plan"))[0][0]
    r = await client.post(
        "/api/v1/suppressions", headers=w.auth, json={"phone": phone, "reason": "manual"}
    )
    assert r.status_code == 201, r.text
    rows = await wait_all(bootstrap_conninfo, campaign_id, FINAL - {"sent"}, timeout_s=90)
    mine = next(r for r in rows if r["phone"] == phone)
    assert (mine["status"], mine["reason"]) == ("skipped", "suppressed")
    sent = await sends(bootstrap_conninfo, w.tenant)
    assert phone.lstrip("+") not in sent
    assert len(sent) == 3 and all(len(m) == 1 for m in sent.values())
    decisions = await sql(
        bootstrap_conninfo,
        "select count(*) from policy_decisions where tenant_id = %s and reason = 'suppressed'",
        w.tenant.tenant_id,
    )
    assert decisions[0][0] == 1  # the engine refused it at the send


async def test_a_number_banned_mid_campaign_hands_its_queue_over_within_caps(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    # Twenty people spread over A and B by a hash of their ids: A holds more than its cap
    # (2 an hour) unless 18 of 20 fell to B (0.02%), so A still has a queue when it is banned
    # however fast it sends meanwhile (with a handful of people, A could send its whole share
    # before the ban was seen, and nothing was left to move).
    cap = 2
    w = await campaign_world(
        gw,
        client,
        numbers=2,
        contacts=[{"behavior": "ignore"}] * 20,
        settings={"delay_min_s": 10, "delay_max_s": 20},
        policy={"number_hourly_cap": cap},
    )
    a, b = (n["id"] for n in w.numbers)
    campaign_id = await draft(w, client)
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start", headers=w.auth, json={"sender_ids": [a, b]}
    )
    assert r.status_code == 200, r.text

    async def a_sent() -> bool:
        return any(
            inst == a
            for msgs in (await sends(bootstrap_conninfo, w.tenant)).values()
            for inst, _s in msgs
        )

    await eventually(a_sent, timeout_s=30, what="a first send from A")
    # A is banned by WhatsApp mid-campaign (the gateway says so by a 403 disconnect); an
    # operator's pause acts the same (``messaging.can_send``).
    await gw.sim.control.ban(w.numbers[0]["gateway_name"])

    async def a_down() -> bool:
        r = await client.get(f"/api/v1/instances/{a}", headers=w.auth)
        return not r.json()["connected"]

    await eventually(a_down, timeout_s=30, what="A seen banned")

    async def settled() -> list[dict[str, object]] | None:
        rows = await recipients(bootstrap_conninfo, campaign_id)
        b_sends = sum(
            1 for m in (await sends(bootstrap_conninfo, w.tenant)).values() for i, _ in m if i == b
        )
        open_ = [x for x in rows if x["status"] in ("planned", "deferred")]
        # Done when everything is sent, or B is at its cap and the rest wait for the next hour.
        if all(x["status"] in FINAL for x in rows) or (
            b_sends >= cap and all(x["sender_id"] == b for x in open_)
        ):
            return rows
        return None

    rows = await eventually(settled, timeout_s=90, what="A's queue moved to B")
    moved = [x for x in rows if x["reassigned_from"] == a]
    assert moved and all(x["sender_id"] == b for x in moved)
    sent = await sends(bootstrap_conninfo, w.tenant)
    per_number = Counter(i for m in sent.values() for i, _s in m)
    assert per_number[b] <= cap
    assert all(len(m) == 1 for m in sent.values())
    # Nothing waits on A any more.
    assert not [x for x in rows if x["status"] in ("planned", "deferred") and x["sender_id"] == a]


async def test_schedule_test_send_and_illegal_transitions(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    w = await campaign_world(gw, client, numbers=2, contacts=[{"behavior": "ignore"}] * 2)
    campaign_id = await draft(w, client)
    base = f"/api/v1/campaigns/{campaign_id}"
    # A draft cannot be paused or resumed: 409 problem+json naming the state and action.
    r = await client.post(f"{base}/pause", headers=w.auth)
    assert r.status_code == 409 and r.json()["state"] == "draft", r.text
    # A test send goes from one of the tenant's numbers to another, through the pipeline.
    a, b = w.numbers
    r = await client.post(
        f"{base}/test-send", headers=w.auth, json={"sender_id": a["id"], "to_instance_id": b["id"]}
    )
    assert r.status_code == 202, r.text
    test_id = r.json()["outgoing_id"]

    async def delivered() -> bool:
        rows = await sql(
            bootstrap_conninfo, "select status from outgoing_messages where id = %s", test_id
        )
        return rows[0][0] == "sent"

    await eventually(delivered, timeout_s=30, what="the test send")
    r = await client.post(
        f"{base}/test-send",
        headers=w.auth,
        json={"sender_id": a["id"], "to_instance_id": str(uuid.uuid4())},
    )
    assert r.status_code == 422, r.text
    # Scheduled for later: frozen now, nothing planned before its start; cancel is final.
    start_at = datetime.now(UTC) + timedelta(hours=1)
    r = await client.post(
        f"{base}/start",
        headers=w.auth,
        json={
            "sender_ids": [a["id"], b["id"]],
            "start_at": start_at.isoformat(),
            "end_by": (start_at + timedelta(hours=2)).isoformat(),
        },
    )
    assert r.status_code == 200 and r.json()["state"] == "scheduled", r.text
    assert r.json()["frozen_count"] == 2
    rows = await recipients(bootstrap_conninfo, campaign_id)
    assert all(x["status"] == "planned" and x["outgoing_id"] is None for x in rows)
    assert (
        await client.post(f"{base}/start", headers=w.auth, json={"sender_ids": [a["id"]]})
    ).status_code == 409
    r = await client.post(f"{base}/cancel", headers=w.auth)
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    rows = await recipients(bootstrap_conninfo, campaign_id)
    assert all((x["status"], x["reason"]) == ("expired", "cancelled") for x in rows)
    assert (await client.post(f"{base}/resume", headers=w.auth)).status_code == 409
    assert not await sends(bootstrap_conninfo, w.tenant)  # the test send is not a recipient's
