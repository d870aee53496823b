"""Safety alerts against the database: raised where the band or the quarantine changes, one
open per number and kind however the band flaps (the worst band kept), resolved when the band
fades back (the sweep) or the number is released; each opening and resolution defers exactly
one delivery job. The alert targets' settings refuse SSRF targets and keep secrets encrypted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.config import get_settings
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit import crypto
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.models.tenancy import Role
from mirage.policy import Band
from mirage.providers import ConnectionState
from mirage.safety import alerts, reasons
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from tests.conftest import TenantFixture, make_tenant, make_token, sql


def _principal(t: TenantFixture, role: Role) -> Principal:
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=role,
        user_id=t.user_id,
        scopes=ROLE_SCOPES[role],
        mfa_enrolled=False,
        mfa_verified_at=None,
    )


@pytest.fixture
async def number(database: object) -> tuple[TenantFixture, uuid.UUID]:
    t = await make_tenant(mfa=False)
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        session.add(
            Instance(
                id=iid,
                tenant_id=t.tenant_id,
                display_name="Alerta 1",
                gateway_name=f"alert-{iid.hex}",
                token_enc="x",
                webhook_secret_enc="x",
                state=ConnectionState.OPEN,
                owner_jid="5511900000002@s.whatsapp.net",
                needs_pairing=False,
            )
        )
    return t, iid


async def _with(t: TenantFixture, iid: uuid.UUID, fn):  # type: ignore[no-untyped-def]
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        inst = await session.get(Instance, iid, with_for_update=True)
        assert inst is not None
        return await fn(session, inst)


async def _alerts(conninfo: str, iid: uuid.UUID) -> list[tuple[str, str | None, bool]]:
    """(kind, worst band, open) of the number's alerts, oldest first."""
    rows = await sql(
        conninfo,
        "select kind, band, resolved_at is null from safety_alerts where instance_id = %s "
        "order by opened_at, kind",
        iid,
    )
    return [(k, b, o) for k, b, o in rows]


async def _deliveries_deferred(conninfo: str, iid: uuid.UUID) -> list[tuple[str, str]]:
    """(kind, event) of every delivery job deferred for the number's alerts."""
    rows = await sql(
        conninfo,
        "select a.kind, j.args->>'event' from procrastinate_jobs j "
        "join safety_alerts a on a.id::text = j.args->>'alert_id' "
        "where j.task_name = 'safety.deliver_alert' and a.instance_id = %s "
        "order by j.id",
        iid,
    )
    return [(k, e) for k, e in rows]


async def test_one_alert_while_the_band_flaps_with_the_worst_band_then_resolved(
    number: tuple[TenantFixture, uuid.UUID], bootstrap_conninfo: str
) -> None:
    t, iid = number
    now = utcnow()

    async def band(b: Band, minutes: int) -> None:
        async def go(session, inst):  # type: ignore[no-untyped-def]
            await alerts.on_band(
                session, inst, b, f"to {b.value}", now + timedelta(minutes=minutes)
            )

        await _with(t, iid, go)

    for i, b in enumerate([Band.YELLOW, Band.RED, Band.ORANGE, Band.RED, Band.CRITICAL]):
        await band(b, i)
    await band(Band.ORANGE, 5)
    assert await _alerts(bootstrap_conninfo, iid) == [("risk_band", "critical", True)]
    assert await _deliveries_deferred(bootstrap_conninfo, iid) == [("risk_band", "opened")]
    await band(Band.YELLOW, 6)
    await band(Band.GREEN, 7)
    assert await _alerts(bootstrap_conninfo, iid) == [("risk_band", "critical", False)]
    # Back in orange later: a new alert.
    await band(Band.ORANGE, 8)
    assert await _alerts(bootstrap_conninfo, iid) == [
        ("risk_band", "critical", False),
        ("risk_band", "orange", True),
    ]
    assert await _deliveries_deferred(bootstrap_conninfo, iid) == [
        ("risk_band", "opened"),
        ("risk_band", "resolved"),
        ("risk_band", "opened"),
    ]


async def test_signals_raise_the_alert_and_the_sweep_resolves_it_once_the_band_faded(
    number: tuple[TenantFixture, uuid.UUID], bootstrap_conninfo: str
) -> None:
    t, iid = number
    start = utcnow()

    async def signal(kind: SignalKind, code: int | None, minutes: int) -> str | None:
        async def go(session, inst):  # type: ignore[no-untyped-def]
            await safety.record(
                session, inst, kind, code=code, now=start + timedelta(minutes=minutes)
            )
            return inst.risk_band

        return await _with(t, iid, go)  # type: ignore[no-any-return]

    assert await signal(SignalKind.DISCONNECT, 401, 0) == "red"  # 60 points
    assert await signal(SignalKind.SEND_FAILED, None, 1) == "red"
    assert await _alerts(bootstrap_conninfo, iid) == [("risk_band", "red", True)]

    async def sweep(minutes: int) -> int:
        async with session_scope() as session:
            await bind_context(session, tenant_id=t.tenant_id, user_id=None)
            return await safety.sweep_alerts(session, start + timedelta(minutes=minutes))

    # An hour later the score is ~32 (yellow): no signal came, the sweep resolves the alert.
    assert await sweep(30) == 0
    assert await sweep(100) == 1
    assert await sweep(101) == 0
    assert await _alerts(bootstrap_conninfo, iid) == [("risk_band", "red", False)]
    assert await _deliveries_deferred(bootstrap_conninfo, iid) == [
        ("risk_band", "opened"),
        ("risk_band", "resolved"),
    ]


async def test_a_ban_raises_a_band_and_a_quarantine_alert_and_release_resolves_one(
    number: tuple[TenantFixture, uuid.UUID], bootstrap_conninfo: str
) -> None:
    t, iid = number

    async def ban(session, inst):  # type: ignore[no-untyped-def]
        await safety.record(session, inst, SignalKind.DISCONNECT, code=403)

    await _with(t, iid, ban)
    await _with(t, iid, ban)  # banned again: nothing new
    assert await _alerts(bootstrap_conninfo, iid) == [
        ("quarantine", "critical", True),
        ("risk_band", "critical", True),
    ]
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        await safety.release_quarantine(session, _principal(t, Role.ADMIN), iid, "new SIM")
    assert await _alerts(bootstrap_conninfo, iid) == [
        ("quarantine", "critical", False),
        ("risk_band", "critical", True),  # its signals have not faded yet
    ]
    reason = await sql(
        bootstrap_conninfo,
        "select resolved_reason from safety_alerts where instance_id = %s and kind = %s",
        iid,
        "quarantine",
    )
    # Stored as a code and its values (shown in the reader's language; English in the API).
    assert reasons.english(reason[0][0]) == "released from quarantine: new SIM"
    assert reasons.code_of(reason[0][0]) == "released_because"
    assert sorted(await _deliveries_deferred(bootstrap_conninfo, iid)) == [
        ("quarantine", "opened"),
        ("quarantine", "resolved"),
        ("risk_band", "opened"),
    ]


async def test_the_api_lists_alerts_by_state(
    client: httpx.AsyncClient, number: tuple[TenantFixture, uuid.UUID]
) -> None:
    t, iid = number
    now = utcnow()

    async def band(b: Band, minutes: int) -> None:
        async def go(session, inst):  # type: ignore[no-untyped-def]
            await alerts.on_band(session, inst, b, "why", now + timedelta(minutes=minutes))

        await _with(t, iid, go)

    await band(Band.RED, 0)
    await band(Band.GREEN, 1)
    await band(Band.ORANGE, 2)
    from tests.conftest import enroll_mfa

    await enroll_mfa(t)
    auth = {"Authorization": f"Bearer {await make_token(t, scopes=('read',))}"}
    r = await client.get("/api/v1/alerts", headers=auth)
    assert r.status_code == 200, r.text
    [opened] = r.json()
    assert (opened["state"], opened["band"], opened["number_name"]) == (
        "open",
        "orange",
        "Alerta 1",
    )
    assert opened["instance_id"] == str(iid) and opened["deliveries"] == []
    r = await client.get("/api/v1/alerts?state=resolved", headers=auth)
    assert [(a["band"], a["state"]) for a in r.json()] == [("red", "resolved")]
    r = await client.get("/api/v1/alerts?state=all", headers=auth)
    assert len(r.json()) == 2
    r = await client.get(f"/api/v1/alerts/{opened['id']}", headers=auth)
    assert r.status_code == 200 and r.json()["id"] == opened["id"]
    # The next page: older than the newest one's opening.
    r = await client.get(
        "/api/v1/alerts", headers=auth, params={"state": "all", "before": opened["opened_at"]}
    )
    assert [a["band"] for a in r.json()] == ["red"], r.text
    r = await client.get("/api/v1/alerts", headers=auth, params={"before": "0.5"})
    assert r.status_code == 422
    # Another tenant does not see them.
    other = await make_tenant()
    other_auth = {"Authorization": f"Bearer {await make_token(other, scopes=('read',))}"}
    assert (await client.get("/api/v1/alerts?state=all", headers=other_auth)).json() == []
    r = await client.get(f"/api/v1/alerts/{opened['id']}", headers=other_auth)
    assert r.status_code == 404
    # Reading only: the targets cannot be changed, no test alert sent.
    r = await client.put("/api/v1/alerts/settings", headers=auth, json={})
    assert r.status_code == 403
    assert (await client.post("/api/v1/alerts/test", headers=auth)).status_code == 403


async def test_alert_targets_refuse_ssrf_and_store_secrets_encrypted(
    client: httpx.AsyncClient, bootstrap_conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.post("/api/v1/alerts/test", headers=auth)
    assert r.status_code == 422 and "no alert target" in r.text

    async def put(**body: object) -> httpx.Response:
        return await client.put("/api/v1/alerts/settings", headers=auth, json=body)

    secret = "whsec-" + crypto.random_token(16)
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://0x7f000001/",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "ftp://example.com/hook",
    ):
        r = await put(webhook_url=url, webhook_secret=secret)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["field"] == "webhook_url", r.text
    assert (await put(webhook_url="https://hooks.example.com/m")).status_code == 422  # no secret
    r = await put(webhook_url="https://hooks.example.com/m", webhook_secret="short")
    assert r.status_code == 422
    r = await put(smtp_host="127.0.0.1", email_from="a@example.com", email_to=["b@example.com"])
    assert r.status_code == 422
    r = await put(smtp_host="smtp.example.com", email_from="a@example.com")
    assert r.status_code == 422  # no recipient
    r = await put(
        smtp_host="smtp.example.com",
        email_from="a@example.com",
        email_to=["b@example.com\r\nBcc: x@evil.com"],
    )
    assert r.status_code == 422
    password = "smtp-" + crypto.random_token(12)
    r = await put(
        smtp_host="smtp.example.com",
        email_from="a@example.com",
        email_to=["b@example.com"],
        smtp_security="none",
        smtp_password=password,
    )
    assert r.status_code == 422  # a password only over TLS

    r = await put(
        webhook_url="https://hooks.example.com/m",
        webhook_secret=secret,
        smtp_host="smtp.example.com",
        smtp_port=587,
        email_from="alertas@example.com",
        email_to=["ops@example.com", "noc@example.com"],
        smtp_username="mirage",
        smtp_password=password,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["webhook_secret_set"] and got["smtp_password_set"]
    assert "webhook_secret" not in got and "smtp_password" not in got
    rows = await sql(
        bootstrap_conninfo,
        "select alert_webhook_secret_enc, alert_smtp_password_enc from tenant_settings "
        "where tenant_id = %s",
        t.tenant_id,
    )
    [(secret_enc, password_enc)] = rows
    key = get_settings().resolved_secret_key()
    assert secret not in secret_enc and crypto.decrypt(key, secret_enc) == secret
    assert password not in password_enc and crypto.decrypt(key, password_enc) == password
    # null keeps the secrets; the audit log never holds them.
    r = await put(
        webhook_url="https://hooks.example.com/other",
        smtp_host="smtp.example.com",
        email_from="alertas@example.com",
        email_to=["ops@example.com"],
        smtp_username="mirage",
    )
    assert r.status_code == 200 and r.json()["webhook_secret_set"] and r.json()["smtp_password_set"]
    logged = await sql(
        bootstrap_conninfo,
        "select details::text from audit_events where tenant_id = %s and action = %s",
        t.tenant_id,
        "settings.update",
    )
    assert len(logged) == 2
    assert all(secret not in d and password not in d for (d,) in logged)
    # The operator's exception lets a private target through (how the tests reach a local
    # receiver, as MIRAGE_AI_ALLOW_PRIVATE_HOSTS does for the AI URL).
    monkeypatch.setattr(get_settings(), "alert_allow_private_hosts", "127.0.0.0/8")
    assert (await put(webhook_url="http://127.0.0.1:9/hook")).status_code == 200
    r = await client.get("/api/v1/alerts/settings", headers=auth)
    assert r.json()["webhook_url"] == "http://127.0.0.1:9/hook"
