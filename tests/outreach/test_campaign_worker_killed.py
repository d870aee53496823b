"""A worker killed (SIGKILL) mid-campaign, with a campaign send held by the gateway: after the
recovery the periodic jobs do (stalled jobs re-queued, messaging's reaper), every recipient is
reached exactly once — nothing lost, nothing sent twice, by what the simulated network saw."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx

from mirage.config import get_settings
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.db.urls import RoleUrls
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.messaging import service as messaging
from tests.conftest import GatewayWorld, eventually, sql
from tests.outreach.conftest import campaign_world, wait_all

DONE = {"sent", "delivered", "read", "replied", "failed", "expired", "skipped"}


async def test_a_worker_killed_mid_campaign_loses_and_duplicates_nothing(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str, role_urls: RoleUrls
) -> None:
    w = await campaign_world(gw, client, numbers=1, contacts=[{"behavior": "ignore"}] * 4)
    number = w.numbers[0]
    # The gateway holds each send a few seconds: time to kill the worker mid-request.
    await gw.sim.control.set_instance_faults(number["gateway_name"], latencyMs=4000)
    await gw.stop_worker()  # only the worker process below takes jobs now
    env = dict(os.environ)
    env["MIRAGE_DATABASE_URL"] = role_urls.bootstrap.render_as_string(hide_password=False)
    env["MIRAGE_EVOLUTION_URL"] = gw.sim.url
    env["MIRAGE_EVOLUTION_API_KEY"] = gw.sim.config.api_key
    env["MIRAGE_SECRET_KEY"] = get_settings().resolved_secret_key()
    log = open(Path(os.environ["MIRAGE_DATA_DIR"]) / "killed-campaign-worker.log", "ab")  # noqa: SIM115, ASYNC230
    worker = subprocess.Popen(  # noqa: ASYNC220 - a real process to kill
        [sys.executable, "-m", "mirage", "worker", "--concurrency", "2"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        r = await client.post(
            "/api/v1/campaigns",
            headers=w.auth,
            json={"name": "Resiste", "policy_id": w.policy["id"], "variants": ["Oi {nome}!"]},
        )
        assert r.status_code == 201, r.text
        campaign_id = r.json()["id"]
        r = await client.post(
            f"/api/v1/campaigns/{campaign_id}/start",
            headers=w.auth,
            json={"sender_ids": [number["id"]]},
        )
        assert r.status_code == 200, r.text

        async def in_flight() -> list[tuple[object, ...]] | None:
            rows = await sql(
                bootstrap_conninfo,
                "select id from outgoing_messages where tenant_id = %s and status = 'sending'",
                w.tenant.tenant_id,
            )
            return rows or None

        await eventually(in_flight, timeout_s=60, what="a campaign send in flight")
        await asyncio.sleep(1.5)  # the request reaches the gateway, which holds it
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()
    await gw.sim.control.clear_instance_faults(number["gateway_name"])

    # What the periodic jobs do after a death: re-queue the dead worker's jobs, and the reaper
    # gives every overdue planned or claimed message a step (a claim asks the gateway's
    # record; it is never sent again).
    await jobs.requeue_stalled(seconds_since_heartbeat=0)
    with tenant_context(w.tenant.tenant_id):
        async with session_scope() as session:
            await messaging.reap(session, utcnow() + messaging.CONFIRM_GRACE + timedelta(minutes=1))
    gw.start_worker()

    rows = await wait_all(bootstrap_conninfo, campaign_id, DONE, timeout_s=120)
    assert len(rows) == 4 and all(r["status"] in ("sent", "delivered", "read") for r in rows)
    phones = {str(r["phone"]).lstrip("+") for r in rows}

    async def all_delivered() -> Counter[str] | None:
        got = Counter(str(m["to"]) for m in await gw.sim.control.messages() if m["to"] in phones)
        return got if len(got) == len(phones) else None

    reached = await eventually(all_delivered, timeout_s=30, what="every contact reached")
    assert set(reached.values()) == {1}, reached  # exactly once each
