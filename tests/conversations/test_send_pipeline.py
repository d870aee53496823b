"""The send pipeline under stress: settings changes apply to planned sends, and a worker
killed mid-send never produces a duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg

from mirage.config import get_settings
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.db.urls import RoleUrls
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from mirage.messaging.repository import OutgoingRepository
from tests.conftest import GatewayWorld, eventually, sql
from tests.conversations.conftest import (
    FAST_SETTINGS,
    WarmPair,
    conversation_body,
    put_settings,
    start_now,
)


def _one(conninfo: str, sql: str, *args: object) -> object:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


async def test_changing_quiet_hours_defers_planned_sends(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    # Slow delays: the first message is planned minutes ahead (even at the test time scale).
    body = conversation_body(warm, delay_min_s=1800, delay_max_s=3600)
    conv = (await client.post("/api/v1/conversations", headers=warm.auth, json=body)).json()
    await start_now(bootstrap_conninfo, conv["id"])

    async def planned() -> object:
        return _one(
            bootstrap_conninfo,
            "select id from outgoing_messages where conversation_id = %s and status = 'planned'",
            conv["id"],
        )

    msg_id = await eventually(planned, timeout_s=30, what="a planned message")
    # Now quiet hours start: from an hour ago to two hours ahead, local time.
    local = datetime.now(ZoneInfo("America/Sao_Paulo"))
    quiet = {
        "quiet_start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "quiet_end": (local + timedelta(hours=2)).strftime("%H:%M"),
    }
    await put_settings(client, warm, {**FAST_SETTINGS, **quiet})
    # The planned send comes due (as time would bring it): the engine defers it.
    await sql(
        bootstrap_conninfo, "update outgoing_messages set planned_at = now() where id = %s", msg_id
    )
    await sql(
        bootstrap_conninfo,
        "update procrastinate_jobs set scheduled_at = now() where status = 'todo' "
        "and task_name = 'messaging.send_message' and args->>'outgoing_id' = %s",
        str(msg_id),
    )

    async def deferred() -> object:
        return _one(
            bootstrap_conninfo,
            "select until from policy_decisions where "
            "outgoing_message_id = %s and reason = 'quiet_hours'",
            msg_id,
        )

    until = await eventually(deferred, timeout_s=30, what="a quiet-hours decision")
    assert isinstance(until, datetime)
    quiet_end_local = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    assert abs((until - quiet_end_local).total_seconds()) < 120
    status, planned_at = (
        _one(bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id),
        _one(bootstrap_conninfo, "select planned_at from outgoing_messages where id = %s", msg_id),
    )
    assert status == "planned" and planned_at == until
    # The decision is visible on the round's transcript in the API.
    rounds = (
        await client.get(f"/api/v1/conversations/{conv['id']}/rounds", headers=warm.auth)
    ).json()
    assert any(d["reason"] == "quiet_hours" for r in rounds for d in r["decisions"])


async def test_worker_killed_mid_send_sends_once_and_the_round_goes_on(
    gw: GatewayWorld,
    client: httpx.AsyncClient,
    warm: WarmPair,
    bootstrap_conninfo: str,
    role_urls: RoleUrls,
) -> None:
    sender = warm.numbers[0]
    # Hold every send of this pair for a few seconds on the gateway: time to kill the worker.
    for n in warm.numbers:
        await gw.sim.control.set_instance_faults(n["gateway_name"], latencyMs=4000)
    await gw.stop_worker()  # only the worker process below may take jobs now
    env = dict(os.environ)
    env["MIRAGE_DATABASE_URL"] = role_urls.bootstrap.render_as_string(hide_password=False)
    env["MIRAGE_EVOLUTION_URL"] = gw.sim.url
    env["MIRAGE_EVOLUTION_API_KEY"] = gw.sim.config.api_key
    env["MIRAGE_SECRET_KEY"] = get_settings().resolved_secret_key()
    log = open(Path(os.environ["MIRAGE_DATA_DIR"]) / "killed-worker.log", "ab")  # noqa: SIM115, ASYNC230
    worker = subprocess.Popen(  # noqa: ASYNC220 - a real process to kill
        [sys.executable, "-m", "mirage", "worker", "--concurrency", "2"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        conv = (
            await client.post(
                "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm)
            )
        ).json()
        await start_now(bootstrap_conninfo, conv["id"])

        async def in_flight() -> object:
            return _one(
                bootstrap_conninfo,
                "select id from outgoing_messages where "
                "conversation_id = %s and status = 'sending'",
                conv["id"],
            )

        msg_id = await eventually(in_flight, timeout_s=60, what="a send in flight")
        # The claim is committed just before the request leaves; give it a moment to reach the
        # gateway, which holds it (4 s latency + typing), then kill the worker mid-request.
        await asyncio.sleep(1.5)
        worker.send_signal(signal.SIGKILL)  # mid-send: claimed, gateway call not answered
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()
    text, instance_id = (
        _one(bootstrap_conninfo, "select text from outgoing_messages where id = %s", msg_id),
        _one(bootstrap_conninfo, "select instance_id from outgoing_messages where id = %s", msg_id),
    )
    assert str(instance_id) in (sender["id"], warm.numbers[1]["id"])
    for n in warm.numbers:
        await gw.sim.control.clear_instance_faults(n["gateway_name"])

    # The worker died with the send in flight: its job had handed the gateway call off (and
    # is done), or — killed earlier — is stalled. Recovery is what the periodic jobs do: a
    # stalled job is re-queued, and messaging's reaper (every minute) gives a claim older than
    # the confirmation grace a step again. Either way the step asks the gateway's record of
    # the send; it never sends a second copy.
    await jobs.requeue_stalled(seconds_since_heartbeat=0, task_name="messaging.send_message")
    with tenant_context(warm.tenant.tenant_id):
        async with session_scope() as session:
            later = utcnow() + messaging.CONFIRM_GRACE + timedelta(minutes=1)
            await messaging.reap(session, later)
            live = await OutgoingRepository(session).with_live_job(
                [str(msg_id)], messaging.SEND_JOB
            )
    assert live == {str(msg_id)}  # a step is on its way, once
    gw.start_worker()

    async def resolved() -> object:
        status = _one(
            bootstrap_conninfo, "select status from outgoing_messages where id = %s", msg_id
        )
        return status if status in ("sent", "unknown", "failed") else None

    try:
        outcome = await eventually(resolved, timeout_s=90, what="the send resolved", interval_s=0.2)
    except AssertionError:
        with psycopg.connect(bootstrap_conninfo) as conn:
            state = conn.execute(
                "select status, claimed_at, last_error, to_number, instance_id "
                "from outgoing_messages where id = %s",
                (msg_id,),
            ).fetchone()
            seen = conn.execute(
                "select instance_id, from_me, remote_jid, created_at from messages where text = %s",
                (text,),
            ).fetchall()
            jobs_ = conn.execute(
                "select status, attempts from procrastinate_jobs where args->>'outgoing_id' = %s",
                (str(msg_id),),
            ).fetchall()
        raise AssertionError(f"unresolved: {state} seen={seen} jobs={jobs_}") from None
    assert outcome == "sent"
    # Exactly one copy reached the network.
    sent = [m for m in await gw.sim.control.messages() if m.get("text") == text]
    receiver_side = _one(
        bootstrap_conninfo, "select count(*) from messages where text = %s and not from_me", text
    )
    assert receiver_side == 1, sent
    assert (
        _one(bootstrap_conninfo, "select count(*) from messages where text = %s and from_me", text)
        == 1
    )

    # The round continues after the restart.
    async def moved_on() -> object:
        return _one(
            bootstrap_conninfo,
            "select turns_sent from rounds where conversation_id = %s order by created_at limit 1",
            conv["id"],
        )

    async def next_turn() -> bool:
        return bool(
            (await moved_on() or 0) >= 2
            or _one(
                bootstrap_conninfo,
                "select state from rounds where conversation_id = %s order by created_at limit 1",
                conv["id"],
            )
            == "completed"
        )

    await eventually(next_turn, timeout_s=60, what="the round to go on")
    await asyncio.sleep(0)
