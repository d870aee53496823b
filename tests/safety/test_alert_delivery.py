"""Delivering alerts: the targets pass the egress guard at every attempt (a private address
is refused whatever the name resolved to when saved), a failed webhook is retried with a wait
and each attempt is stored; a refused one is not retried."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mirage.config import get_settings
from mirage.kit.egress import guarded_socket
from mirage.kit.netguard import AddressPolicy, ForbiddenAddress, UnsafeURL, check_host
from mirage.safety import delivery
from mirage.safety.alerting import AlertKind, Event, Notice
from mirage.simulator.server import BackgroundServer
from tests.conftest import GatewayWorld, eventually, make_tenant, make_token, sql

AT = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
NOTICE = Notice("a1", Event.TEST, AlertKind.TEST, None, None, None, "test", AT, AT, AT)


def test_an_smtp_host_is_checked_like_a_url_host() -> None:
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "0x7f000001", "[::1]"):
        with pytest.raises(UnsafeURL):
            check_host(host)
    for host in ("", "smtp.example.com/x", "a@b.com", "smtp example.com"):
        with pytest.raises(UnsafeURL):
            check_host(host)
    assert check_host("SMTP.Example.com.") == "smtp.example.com"
    assert check_host("127.0.0.1", AddressPolicy.from_setting("127.0.0.0/8")) == "127.0.0.1"


async def test_the_smtp_socket_refuses_a_name_that_resolves_inside() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(ForbiddenAddress):
        await guarded_socket("smtp.example.com", 25, AddressPolicy(), resolver=rebinding)


async def test_targets_in_the_private_network_are_refused_at_delivery_time() -> None:
    # The default policy (no exception): loopback is refused before anything is sent.
    got = await delivery.post_webhook(
        delivery.WebhookTarget("http://127.0.0.1:9/h", "s" * 16), NOTICE
    )
    assert got.outcome == "refused" and not got.retry and "loopback" in (got.detail or "")
    target = delivery.EmailTarget("127.0.0.1", 25, "none", None, None, "a@x.com", ("b@x.com",))
    got = await delivery.send_email(target, NOTICE)
    assert got.outcome == "refused" and "loopback" in (got.detail or "")


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[list[int], str]]:
    """A receiver answering with the statuses in its list, then 204."""
    answers: list[int] = []

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(status_code=answers.pop(0) if answers else 204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with BackgroundServer(app) as url:
        yield answers, f"{url}/hook"


async def test_a_webhook_answer_decides_delivered_retry_or_refused(
    flaky: tuple[list[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, url = flaky
    monkeypatch.setattr(get_settings(), "alert_allow_private_hosts", "127.0.0.1")
    target = delivery.WebhookTarget(url, "s" * 16)
    answers.extend([503, 404])
    assert (await delivery.post_webhook(target, NOTICE)).outcome == "failed"
    got = await delivery.post_webhook(target, NOTICE)
    assert (got.outcome, got.status) == ("refused", 404)
    assert (await delivery.post_webhook(target, NOTICE)).outcome == "sent"


async def test_a_failed_delivery_is_retried_later_and_each_attempt_stored(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    flaky: tuple[list[int], str],
    bootstrap_conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers, url = flaky
    monkeypatch.setattr(get_settings(), "alert_allow_private_hosts", "127.0.0.1")
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.put(
        "/api/v1/alerts/settings",
        headers=auth,
        json={"webhook_url": url, "webhook_secret": "retry-secret-0123456789"},
    )
    assert r.status_code == 200, r.text
    answers.append(503)
    r = await client.post("/api/v1/alerts/test", headers=auth)
    assert r.status_code == 202, r.text
    alert_id = uuid.UUID(r.json()["id"])

    async def attempts() -> list[tuple[int, str, int | None, bool]]:
        rows = await sql(
            bootstrap_conninfo,
            "select attempt, outcome, status, final from safety_alert_deliveries "
            "where alert_id = %s order by attempt",
            alert_id,
        )
        return [(a, o, s, f) for a, o, s, f in rows]

    async def sent() -> bool:
        return len(await attempts()) == 2

    # The first answer is a 503: the job is retried after its wait (4 s), and gets through.
    await eventually(sent, timeout_s=30, what=attempts)
    assert await attempts() == [(1, "failed", 503, False), (2, "sent", 204, False)]
    r = await client.get(f"/api/v1/alerts/{alert_id}", headers=auth)
    assert [(d["attempt"], d["outcome"]) for d in r.json()["deliveries"]] == [
        (1, "failed"),
        (2, "sent"),
    ]


def test_alert_emails_are_written_in_the_language_the_tenant_chose() -> None:
    opened = Notice(
        "a2",
        Event.OPENED,
        AlertKind.QUARANTINE,
        "critical",
        str(uuid.uuid4()),
        "Vendas 01",
        "@banned?code=403",
        AT,
        None,
        AT,
    )
    en = delivery.email_message(opened, "a@example.com", ("b@example.com",), "en")
    pt = delivery.email_message(opened, "a@example.com", ("b@example.com",), "pt_BR")
    assert en["Subject"] == "[Mirage] Vendas 01 was quarantined"
    assert "banned or restricted by WhatsApp (code 403)" in en.get_body().get_content()
    assert pt["Subject"] != en["Subject"] and "Vendas 01" in pt["Subject"]
    assert "WhatsApp" in pt.get_body().get_content()
    assert "banned or restricted" not in pt.get_body().get_content()  # the reason translated too
    # The webhook gets the English text and the stable code, as the API does.
    payload = opened.payload()
    assert payload["reason"] == "automatic: banned or restricted by WhatsApp (code 403)"
    assert payload["reason_code"] == "banned"
    test = delivery.email_message(NOTICE, "a@example.com", ("b@example.com",), "en")
    assert test["Subject"] == "[Mirage] Test alert"


async def test_the_email_language_is_a_setting_with_a_closed_list(
    client: httpx.AsyncClient, database: object
) -> None:
    t = await make_tenant(mfa=False)
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.get("/api/v1/alerts/settings", headers=auth)
    assert r.status_code == 200 and r.json()["email_language"] == "pt_BR"
    r = await client.put("/api/v1/alerts/settings", headers=auth, json={"email_language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["email_language"] == "en"
    r = await client.put("/api/v1/alerts/settings", headers=auth, json={"email_language": "fr"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/api/v1/alerts/settings", headers=auth)
    assert r.json()["email_language"] == "en"  # the refused change lost nothing
