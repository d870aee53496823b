"""End to end against the simulator: a number pushed into degradation (it writes to strangers,
meets the time lock, then WhatsApp bans it) raises its alerts once, and the tenant's webhook
(a local receiver) and SMTP server (aiosmtpd) each get exactly one "opened" notification per
alert — the webhook's signed with the tenant's secret; the release, then the band fading,
send exactly one "resolved" each. Every attempt's outcome is stored next to the alert."""

from __future__ import annotations

import asyncio
import email
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mirage.config import get_settings
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit.clock import utcnow
from mirage.safety import service as safety
from mirage.safety.alerting import valid_signature
from mirage.simulator.server import BackgroundServer
from tests.conftest import GatewayWorld, eventually, free_port, sql
from tests.outreach.conftest import campaign_world, draft

SECRET = "e2e-webhook-secret-0123456789"


@dataclass
class Receiver:
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[tuple[str, str, str]]:
        """(alert id, kind, event) of each POST, in order."""
        out = []
        for _headers, body in self.posts:
            p = json.loads(body)
            out.append((p["alert_id"], p["kind"], p["event"]))
        return out


@dataclass
class Inbox:
    messages: list[email.message.Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"

    def events(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(str(m["X-Mirage-Alert"]), str(m["X-Mirage-Event"])) for m in self.messages]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    got = Receiver()

    async def hook(request: Request) -> Response:
        got.posts.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with BackgroundServer(app) as url:
        yield got, f"{url}/hook"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_a_degrading_number_alerts_once_by_webhook_and_email_then_resolves(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    bootstrap_conninfo: str,
    receiver: tuple[Receiver, str],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook, hook_url = receiver
    inbox, smtp_port = smtp
    # Production refuses loopback targets; the operator's exception lets the local ones in.
    monkeypatch.setattr(get_settings(), "alert_allow_private_hosts", "127.0.0.1")
    w = await campaign_world(gw, client, numbers=2, contacts=[{"behavior": "ignore"}] * 12)
    a, b = (n["id"] for n in w.numbers)
    r = await client.put(
        "/api/v1/alerts/settings",
        headers=w.auth,
        json={
            "webhook_url": hook_url,
            "webhook_secret": SECRET,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_security": "none",
            "email_from": "alertas@mirage.example.com",
            "email_to": ["noc@example.com"],
        },
    )
    assert r.status_code == 200, r.text

    # The test action reaches both targets (its outcomes are stored with it).
    r = await client.post("/api/v1/alerts/test", headers=w.auth)
    assert r.status_code == 202, r.text
    test_id = r.json()["id"]

    async def outcomes(alert_id: str) -> list[tuple[str, str, str]]:
        rows = await sql(
            bootstrap_conninfo,
            "select event, channel, outcome from safety_alert_deliveries where alert_id = %s "
            "order by at, channel",
            alert_id,
        )
        return [(e, c, o) for e, c, o in rows]

    async def tested() -> bool:
        return sorted(await outcomes(test_id)) == [
            ("test", "email", "sent"),
            ("test", "webhook", "sent"),
        ]

    await eventually(tested, timeout_s=30, what=lambda: "the test alert's deliveries")
    assert hook.events() == [(test_id, "test", "test")]
    assert inbox.events() == [(test_id, "test")]

    # A degrades (as tests/safety/test_degradation_e2e.py): strangers fail, then a time lock.
    name = w.numbers[0]["gateway_name"]
    await gw.sim.control.degrade(name, freeStrangers=0, failureStep=1.0, timeLockAfter=2)
    campaign_id = await draft(w, client)
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/start", headers=w.auth, json={"sender_ids": [a, b]}
    )
    assert r.status_code == 200, r.text

    async def has(kind: str) -> bool:
        rows = await sql(
            bootstrap_conninfo,
            "select 1 from number_signals where instance_id = %s and kind = %s",
            a,
            kind,
        )
        return bool(rows)

    await eventually(lambda: has("auto_paused"), timeout_s=90, what="A paused")
    await gw.sim.control.ban(name)
    await eventually(lambda: has("quarantined"), timeout_s=60, what="A quarantined")

    async def alerts_of_a() -> list[tuple[str, str, str, bool]]:
        rows = await sql(
            bootstrap_conninfo,
            "select id::text, kind, band, resolved_at is null from safety_alerts "
            "where instance_id = %s order by kind",
            a,
        )
        return [(i, k, bd, o) for i, k, bd, o in rows]

    found = await alerts_of_a()
    # One alert per kind, however many signals followed: the band's worst is critical.
    assert [(k, bd, o) for _i, k, bd, o in found] == [
        ("quarantine", "critical", True),
        ("risk_band", "critical", True),
    ]
    ids = {k: i for i, k, _bd, _o in found}

    def opened_everywhere() -> bool:
        posted = [(i, e) for i, _k, e in hook.events()]
        mailed = inbox.events()
        return all((ids[k], "opened") in posted and (ids[k], "opened") in mailed for k in ids)

    async def delivered_opened() -> bool:
        return opened_everywhere()

    await eventually(delivered_opened, timeout_s=30, what="the opened notifications")

    # Each signed with the tenant's secret, over the exact body.
    for headers, body in hook.posts:
        assert valid_signature(SECRET, body, headers.get("x-mirage-signature")), headers
        assert headers["content-type"] == "application/json"
    by_alert = json.loads(
        next(b for _h, b in hook.posts if json.loads(b)["alert_id"] == ids["quarantine"])
    )
    assert by_alert["number"] == {"id": a, "name": w.numbers[0]["display_name"]}
    assert by_alert["band"] == "critical" and by_alert["state"] == "open"
    assert by_alert["opened_at"] and by_alert["resolved_at"] is None

    # The release resolves the quarantine alert; the band fading (an hour on, no new signal:
    # the minute's sweep) resolves the band alert.
    r = await client.post(
        f"/api/v1/instances/{a}/release", headers=w.auth, json={"reason": "new SIM, checked"}
    )
    assert r.status_code == 200, r.text
    async with session_scope() as session:
        await bind_context(session, tenant_id=w.tenant.tenant_id, user_id=None)
        from datetime import timedelta

        assert await safety.sweep_alerts(session, utcnow() + timedelta(hours=12)) == 1
    assert [o for *_x, o in await alerts_of_a()] == [False, False]

    async def resolved_everywhere() -> bool:
        posted = [(i, e) for i, _k, e in hook.events()]
        mailed = inbox.events()
        return all((ids[k], "resolved") in posted and (ids[k], "resolved") in mailed for k in ids)

    await eventually(resolved_everywhere, timeout_s=30, what="the resolved notifications")
    await asyncio.sleep(1.0)  # anything extra would have arrived by now

    # Exactly one of each, per alert and target.
    for alert_id in ids.values():
        posted = [e for i, _k, e in hook.events() if i == alert_id]
        mailed = [e for i, e in inbox.events() if i == alert_id]
        assert sorted(posted) == ["opened", "resolved"], hook.events()
        assert sorted(mailed) == ["opened", "resolved"], inbox.events()
        assert sorted(await outcomes(alert_id)) == [
            ("opened", "email", "sent"),
            ("opened", "webhook", "sent"),
            ("resolved", "email", "sent"),
            ("resolved", "webhook", "sent"),
        ]
    resolved_post = json.loads(
        next(
            b
            for _h, b in hook.posts
            if json.loads(b)["alert_id"] == ids["quarantine"]
            and json.loads(b)["event"] == "resolved"
        )
    )
    assert resolved_post["state"] == "resolved" and resolved_post["resolved_at"]

    # The API shows them with their deliveries.
    r = await client.get("/api/v1/alerts?state=resolved", headers=w.auth)
    listed = {x["id"]: x for x in r.json()}
    assert set(ids.values()) <= set(listed)
    assert len(listed[ids["quarantine"]]["deliveries"]) == 4
