"""A 100,000-recipient campaign over 50 simulated numbers, through the real code paths.

    .venv/bin/python bench/campaign.py [--contacts 100000] [--numbers 50] [--send-seconds 30]

In a scratch database (embedded PostgreSQL unless MIRAGE_DATABASE_URL is set; the database
``mirage_bench_campaign`` is dropped and re-created):

1. seeds the contacts set-based (one ``INSERT … SELECT generate_series``; ~1% opted out, ~1%
   consent revoked) and 50 numbers paired on an in-process simulator (Evolution API over
   real HTTP);
2. **freezes** the audience: ``outreach.execution.start_campaign`` (the API's code path: one
   ``INSERT … SELECT`` into ``campaign_recipients``, then the keyed-hash suppression pages),
   timed;
3. **policy decisions per second**: the owner's ``send_context`` for planned messages (fresh
   reads of the recipient, contact, suppression, campaign load, same-text sends) plus the pure
   ``policy.decide`` — what the send job does per message — and the pure engine alone;
4. **sends per second** at the test time scale (``MIRAGE_TIME_SCALE``, default 0.05 here as in
   the test suite): the driver and the send pipeline run in an in-process worker for
   ``--send-seconds``; every send goes to the simulator over HTTP.

Prints the figures and, last, one JSON object (``"bench": "campaign"``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "mirage_bench_campaign"
os.environ.setdefault("MIRAGE_SECRET_KEY", "bench-secret-key")
os.environ.setdefault("MIRAGE_LOG_LEVEL", "WARNING")
os.environ.setdefault("MIRAGE_TIME_SCALE", "0.05")

from mirage.auth.principal import ROLE_SCOPES, Principal  # noqa: E402
from mirage.config import get_settings  # noqa: E402
from mirage.db import embedded  # noqa: E402
from mirage.db import engine as db_engine  # noqa: E402
from mirage.db.migrate import migrate  # noqa: E402
from mirage.db.tenancy import tenant_context  # noqa: E402
from mirage.db.urls import RoleUrls, derive  # noqa: E402
from mirage.instances.gateway import set_gateway  # noqa: E402
from mirage.kit import crypto, jobs  # noqa: E402
from mirage.kit.clock import utcnow  # noqa: E402
from mirage.kit.logging import configure_logging  # noqa: E402
from mirage.models import OutgoingMessage  # noqa: E402
from mirage.models.tenancy import Role  # noqa: E402
from mirage.outreach import execution  # noqa: E402
from mirage.outreach.repository import RecipientRepository  # noqa: E402
from mirage.policy import NumberState, SendContext, TenantLoad, decide  # noqa: E402
from mirage.providers import EvolutionGateway  # noqa: E402
from mirage.simulator.testing import SimulatorHarness, fast_config  # noqa: E402
from mirage.tenants import settings as tenant_settings  # noqa: E402


def _prepare(data_dir: Path) -> RoleUrls:
    server = os.environ.get("MIRAGE_DATABASE_URL") or embedded.start(data_dir)
    base = make_url(server)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB}" with (force)')
        conn.execute(f'create database "{DB}"')
    urls = derive(base.set(database=DB).render_as_string(hide_password=False))
    migrate(urls)
    return urls


def _seed(urls: RoleUrls, contacts: int) -> tuple[Principal, uuid.UUID]:
    """A tenant with fast settings, an open policy, a draft, and its contacts (set-based)."""
    tenant_id = uuid.uuid4()
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Bench', %s)",
            (tenant_id, f"bench-{tenant_id.hex[:8]}"),
        )
        t0 = time.perf_counter()
        conn.execute(
            "insert into contacts (id, tenant_id, name, phone_e164, legal_basis, consent_state, "
            "provenance_source, provenance_at, opted_out_at) "
            "select gen_random_uuid(), %s, 'Pessoa ' || g, "
            "'+55' || (11 + g %% 89)::text || '9' || lpad(g::text, 8, '0'), 'consent', "
            "case when g %% 100 = 1 then 'revoked' else 'granted' end, 'bench', now(), "
            "case when g %% 100 = 2 then now() end from generate_series(1, %s) g",
            (tenant_id, contacts),
        )
        print(f"seeded {contacts:,} contacts in {time.perf_counter() - t0:.2f} s (set-based)")
    return (
        Principal(
            kind="user",
            tenant_id=tenant_id,
            role=Role.OWNER,
            user_id=None,
            scopes=ROLE_SCOPES[Role.OWNER],
        ),
        tenant_id,
    )


async def _numbers(
    urls: RoleUrls, sim: SimulatorHarness, tenant_id: uuid.UUID, n: int
) -> list[uuid.UUID]:
    """``n`` numbers paired on the simulator and stored as the tenant's connected numbers."""
    key = get_settings().resolved_secret_key()
    ids = []
    long_ago = datetime.now(UTC) - timedelta(days=60)
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        for i in range(n):
            name = f"bench-{tenant_id.hex[:6]}-{i}"
            token = str(uuid.uuid4()).upper()
            phone = f"5511{970000000 + i}"
            await sim.pair(name, number=phone, token=token)
            rid = uuid.uuid4()
            conn.execute(
                "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
                "webhook_secret_enc, state, owner_jid, phone, health, first_connected_at) "
                "values (%s, %s, %s, %s, %s, 'x', 'open', %s, %s, 'healthy', %s)",
                (
                    rid,
                    tenant_id,
                    f"N{i}",
                    name,
                    crypto.encrypt(key, token),
                    f"{phone}@s.whatsapp.net",
                    phone,
                    long_ago,
                ),
            )
            ids.append(rid)
    return ids


async def _draft(principal: Principal) -> uuid.UUID:
    from mirage.outreach import service
    from mirage.outreach.schemas import CampaignIn, OutreachPolicyIn

    with tenant_context(principal.tenant_id):
        async with db_engine.session_scope() as session:
            row = await tenant_settings.get_or_create(session, principal.tenant_id)
            # Room enough that the caps do not stop the bench (they would, as they should).
            row.hourly_cap_per_number = 1000
            row.daily_cap_per_number = 10000
            row.burst_per_hour = 1_000_000
            row.min_gap_seconds = 0
            row.quiet_start = None
            row.quiet_end = None
            policy = await service.create_policy(
                session,
                principal,
                OutreachPolicyIn(
                    name="Bench",
                    weekdays=list(range(7)),
                    contact_start="00:00",  # type: ignore[arg-type]
                    contact_end="00:00",  # type: ignore[arg-type]
                    skip_holidays=False,
                    duplicate_limit=1000,
                    validity_minutes=600,
                ),
            )
            campaign = await service.create_campaign(
                session,
                principal,
                CampaignIn(
                    name="Bench",
                    policy_id=policy.id,
                    variants=["{Oi|Olá|E aí} {primeiro_nome}, {tudo bem|como vai}? #{nome}"],
                ),
            )
            return campaign.id


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=50)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--send-seconds", type=float, default=30.0)
    parser.add_argument("--data-dir", type=Path, default=Path(".mirage") / "bench")
    args = parser.parse_args()
    configure_logging(os.environ.get("MIRAGE_LOG_LEVEL", "WARNING"), json=True)
    urls = _prepare(args.data_dir)
    db = db_engine.make_database(urls, pool_size=8, application_name="mirage-bench")
    db_engine.set_database(db)
    sim = SimulatorHarness(fast_config(api_key="bench-key"))
    await sim.start()
    set_gateway(EvolutionGateway(sim.url, sim.config.api_key), simulator=True)
    result: dict[str, object] = {"bench": "campaign", "cores": os.cpu_count()}
    try:
        principal, tenant_id = _seed(urls, args.contacts)
        senders = await _numbers(urls, sim, tenant_id, args.numbers)
        campaign_id = await _draft(principal)

        # 2. Freeze (the start, as the API runs it; no worker yet, so nothing is sent).
        with tenant_context(tenant_id):
            t0 = time.perf_counter()
            async with db_engine.session_scope() as session:
                campaign = await execution.start_campaign(
                    session,
                    principal,
                    campaign_id,
                    execution.StartPlan(senders),
                    utcnow(),
                )
                frozen = campaign.frozen_count
            freeze_s = time.perf_counter() - t0
        print(f"freeze: {frozen:,} recipients over {len(senders)} numbers in {freeze_s:.2f} s")
        result.update(frozen=frozen, freeze_s=round(freeze_s, 2))

        # 3. Decisions: plan a batch per sender (the driver), then decide each planned message
        #    as the send job does (owner's context read fresh + the pure engine).
        with tenant_context(tenant_id):
            async with db_engine.session_scope() as session:
                campaign = await RecipientRepository(session).lock_campaign(campaign_id)
                assert campaign is not None
                planned = await execution.plan(session, campaign, utcnow())
            async with db_engine.session_scope() as session:
                msgs = list(
                    (await session.execute(select(OutgoingMessage).limit(args.decisions))).scalars()
                )
                row = await tenant_settings.get_or_create(session, tenant_id)
                policy = tenant_settings.as_policy(row, "America/Sao_Paulo")
                idle = NumberState(True, "healthy", False, None, 0, 0, None)
                rounds = max(1, args.decisions // max(1, len(msgs)))
                t0 = time.perf_counter()
                n = 0
                contexts: list[SendContext] = []
                for _ in range(rounds):
                    for msg in msgs:
                        ctx = await execution.send_context(session, msg)
                        decide(
                            utcnow(),
                            global_kill=False,
                            policy=policy,
                            number=idle,
                            tenant=TenantLoad(0),
                            ctx=ctx,
                        )
                        contexts.append(ctx)
                        n += 1
                full_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            pure = 0
            while time.perf_counter() - t0 < 2.0:
                for ctx in contexts:
                    decide(
                        utcnow(),
                        global_kill=False,
                        policy=policy,
                        number=idle,
                        tenant=TenantLoad(0),
                        ctx=ctx,
                    )
                    pure += 1
            pure_s = time.perf_counter() - t0
        print(
            f"decisions: {n / full_s:,.0f}/s with the owner's fresh context "
            f"({n} decisions of {planned} planned messages), {pure / pure_s:,.0f}/s pure engine"
        )
        result.update(decisions_per_s=round(n / full_s), pure_decisions_per_s=round(pure / pure_s))

        # 4. Sends: the driver and the pipeline in a worker, for a bounded time.
        scale = get_settings().time_scale
        await jobs.open_app(RoleUrls.libpq(urls.app), max_size=8)
        worker = asyncio.create_task(
            jobs.app.run_worker_async(
                install_signal_handlers=False, concurrency=8, fetch_job_polling_interval=0.2
            )
        )
        with tenant_context(tenant_id):
            async with db_engine.session_scope() as session:
                await jobs.defer(session, execution.DRIVE_JOB, campaign_id=str(campaign_id))
        t0 = time.perf_counter()
        await asyncio.sleep(args.send_seconds)
        elapsed = time.perf_counter() - t0
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        with psycopg.connect(RoleUrls.libpq(urls.bootstrap)) as conn:
            sent, _first, _last = conn.execute(
                "select count(*), min(sent_at), max(sent_at) from outgoing_messages "
                "where tenant_id = %s and purpose = 'campaign' and status = 'sent'",
                (tenant_id,),
            ).fetchone() or (0, None, None)
            dupes = conn.execute(
                "select count(*) from (select to_number from outgoing_messages where "
                "tenant_id = %s and status in ('sent', 'sending') group by to_number "
                "having count(*) > 1) d",
                (tenant_id,),
            ).fetchone()
            by_status = conn.execute(
                "select status, count(*) from campaign_recipients where campaign_id = %s "
                "group by status order by status",
                (campaign_id,),
            ).fetchall()
        rate = sent / elapsed if elapsed else 0.0
        print(
            f"sends: {sent:,} in {elapsed:.0f} s = {rate:.1f}/s over {len(senders)} numbers "
            f"at time scale {scale} (think 30–90 s × scale + typing per message and number; "
            f"duplicates {dupes[0] if dupes else '?'}); recipients {dict(by_status)}"
        )
        result.update(
            sends=sent,
            send_window_s=round(elapsed, 1),
            sends_per_s=round(rate, 2),
            time_scale=scale,
            duplicates=dupes[0] if dupes else None,
        )
    finally:
        await jobs.close_app(None)
        set_gateway(None)
        await sim.stop()
        await db.dispose()
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    asyncio.run(main())
