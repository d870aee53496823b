"""Signals land on the number's timeline where the facts arrive, and the automatic actions
follow: a ban quarantines, a time lock or an error rate over the threshold pauses; only an
admin releases a quarantine, with a reason, audited."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, Forbidden, ValidationFailed
from mirage.messaging import service as messaging
from mirage.models import AuditEvent, Instance
from mirage.models.tenancy import Role
from mirage.policy import Band, Health
from mirage.providers import ConnectionState
from mirage.safety import reasons
from mirage.safety import service as safety
from mirage.safety.score import SignalKind
from mirage.webhooks.normalize import ConnectionUpdate
from tests.conftest import TenantFixture, make_tenant, sign_in, sql


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
                display_name="Safe",
                gateway_name=f"safe-{iid.hex}",
                token_enc="x",
                webhook_secret_enc="x",
                state=ConnectionState.OPEN,
                owner_jid="5511900000001@s.whatsapp.net",
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


async def _kinds(t: TenantFixture, iid: uuid.UUID) -> list[tuple[str, int | None]]:
    async def read(session, inst):  # type: ignore[no-untyped-def]
        rows = await safety.timeline(session, _principal(t, Role.VIEWER), iid, limit=100)
        return [(r.kind, r.code) for r in reversed(rows)]

    return await _with(t, iid, read)  # type: ignore[no-any-return]


async def test_disconnects_are_on_the_timeline_and_a_ban_quarantines(
    number: tuple[TenantFixture, uuid.UUID],
) -> None:
    t, iid = number

    async def update(state: ConnectionState, code: int):  # type: ignore[no-untyped-def]
        async def go(session, inst):  # type: ignore[no-untyped-def]
            await instances.apply_connection(
                session, inst, ConnectionUpdate(state, code, None, None)
            )
            return inst.health, inst.risk_band, messaging.why_cannot_send(inst)

        return await _with(t, iid, go)

    # A silent reconnect after a transient close (Evolution sends "connecting" again).
    assert await update(ConnectionState.CONNECTING, 408) == (
        "healthy",
        "green",
        "number_not_connected",
    )
    assert await update(ConnectionState.OPEN, 200) == ("healthy", "green", None)
    health, band, why = await update(ConnectionState.CLOSE, 403)
    assert (health, band, why) == (Health.QUARANTINED, Band.CRITICAL, "number_quarantined")
    assert await _kinds(t, iid) == [
        ("disconnect", 408),
        ("disconnect", 403),
        ("band_changed", None),
        ("quarantined", None),
    ]
    # A quarantine is not undone by the gateway: the number opening again stays quarantined.
    assert (await update(ConnectionState.OPEN, 200))[0] == Health.QUARANTINED


async def test_a_time_lock_pauses_the_number(number: tuple[TenantFixture, uuid.UUID]) -> None:
    t, iid = number
    kind, code = safety.classify_error("BadRequest: Error: 463 reach-out timelock")
    assert (kind, code) == (SignalKind.TIME_LOCK, 463)
    # A 463 inside a phone number is no time lock.
    assert safety.classify_error("NumberNotOnWhatsApp: 5511946312345")[0] == SignalKind.SEND_FAILED

    async def lock(session, inst):  # type: ignore[no-untyped-def]
        await safety.record(session, inst, kind, code=code, detail="463")
        return inst.paused_reason, inst.risk_band, messaging.why_cannot_send(inst)

    reason, band, why = await _with(t, iid, lock)
    # Stored as a code (translated where shown), read back with its English text.
    assert reason == "@time_lock" and "463" in (reasons.english(reason) or "")
    assert (band, why) == (Band.YELLOW, "number_paused")


async def test_the_error_rate_pauses_only_after_enough_sends(
    number: tuple[TenantFixture, uuid.UUID],
) -> None:
    t, iid = number
    start = utcnow()

    async def fail(i: int):  # type: ignore[no-untyped-def]
        async def go(session, inst):  # type: ignore[no-untyped-def]
            await safety.record(
                session,
                inst,
                SignalKind.SEND_FAILED,
                detail="GatewayError",
                now=start + timedelta(seconds=i),
            )
            return inst.paused_at is not None

        return await _with(t, iid, go)

    # The tenant's defaults: 50% of at least 5 sends in the hour.
    assert [await fail(i) for i in range(4)] == [False] * 4
    assert await fail(4) is True
    kinds = [k for k, _c in await _kinds(t, iid)]
    assert kinds.count("send_failed") == 5 and kinds[-1] == "auto_paused"


async def test_only_an_admin_releases_a_quarantine_with_a_reason(
    number: tuple[TenantFixture, uuid.UUID],
) -> None:
    t, iid = number
    admin = _principal(t, Role.ADMIN)

    async def act(fn):  # type: ignore[no-untyped-def]
        async with session_scope() as session:
            await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
            return await fn(session)

    with pytest.raises(Conflict):
        await act(lambda s: safety.release_quarantine(s, admin, iid, "why not"))
    with pytest.raises(ValidationFailed):
        await act(lambda s: safety.quarantine_number(s, admin, iid, "  "))
    await act(lambda s: safety.quarantine_number(s, admin, iid, "suspicious replies"))
    with pytest.raises(Forbidden):
        await act(lambda s: safety.release_quarantine(s, _principal(t, Role.OPERATOR), iid, "ok"))
    with pytest.raises(ValidationFailed):
        await act(lambda s: safety.release_quarantine(s, admin, iid, ""))
    inst = await act(lambda s: safety.release_quarantine(s, admin, iid, "checked the phone"))
    # Back to a health verdict, but paused: an operator resumes it when ready.
    assert inst.health == Health.HEALTHY and inst.paused_at is not None

    async def audit(session):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.details).where(AuditEvent.target_id == str(iid))
        )
        return [(a, d.get("reason")) for a, d in rows.all()]

    assert sorted(await act(audit)) == [
        ("instance.quarantine", "suspicious replies"),
        ("instance.release", "checked the phone"),
    ]
    assert [k for k, _c in await _kinds(t, iid)] == ["quarantined", "released"]


async def test_the_warmup_stage_climbs_on_green_days_and_steps_back(
    number: tuple[TenantFixture, uuid.UUID], bootstrap_conninfo: str
) -> None:
    """Tenant-local days −6…−1 (today is not over): sends on −5, −4, −3 and −1."""
    t, iid = number
    zone = ZoneInfo("America/Sao_Paulo")
    now = utcnow()
    noon = datetime.combine(now.astimezone(zone).date(), time(12), zone)
    await sql(
        bootstrap_conninfo,
        "update instances set first_connected_at = %s where id = %s",
        noon - timedelta(days=6),
        iid,
    )
    for back in (5, 4, 3, 1):
        await sql(
            bootstrap_conninfo,
            "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
            "planned_at, status, sent_at) values (gen_random_uuid(), %s, %s, '5511999990000', "
            "'oi', 0, %s, 'sent', %s)",
            t.tenant_id,
            iid,
            noon - timedelta(days=back),
            noon - timedelta(days=back),
        )

    async def stage(session, inst):  # type: ignore[no-untyped-def]
        return await safety.warmup_stage(session, inst, now, zone)

    # idle (−6), up, up, up, idle (−2: one idle day keeps the step), up.
    assert await _with(t, iid, stage) == 4
    await sql(
        bootstrap_conninfo,
        "insert into number_signals (id, tenant_id, instance_id, kind, code, at) "
        "values (gen_random_uuid(), %s, %s, 'time_lock', 463, %s)",
        t.tenant_id,
        iid,
        noon - timedelta(days=3),
    )
    # A time lock on −3: that day left green and stepped back instead of up.
    assert await _with(t, iid, stage) == 2


async def test_the_overview_counts_the_bands_and_raises_an_alert_for_numbers_at_risk(
    number: tuple[TenantFixture, uuid.UUID], client: httpx.AsyncClient
) -> None:
    t, iid = number

    async def lock(session, inst):  # type: ignore[no-untyped-def]
        # Two 463s: 50 points, the orange band (and the first one pauses the number).
        await safety.record(session, inst, SignalKind.TIME_LOCK, code=463)
        await safety.record(session, inst, SignalKind.TIME_LOCK, code=463)
        return inst.risk_band

    assert await _with(t, iid, lock) == Band.ORANGE
    await sign_in(client, t, step_up=False)
    html = (await client.get("/")).text
    assert 'data-band-count="orange">1<' in html
    assert 'data-alert="numbers_at_risk"' in html and f"/instances/{iid}/safety" in html
