"""Metrics rollups at scale: the Métricas page's queries on the rollups next to the same figures
computed from the raw tables, and the cost of the incremental refresh.

    .venv/bin/python bench/metrics.py --messages 1000000 [--numbers 50] [--days 90]

Seeds one tenant (embedded PostgreSQL unless MIRAGE_DATABASE_URL is set) with ``--numbers``
numbers and ``--messages`` messages spread over the last ``--days`` days with set-based SQL
(generate_series: both directions, every status, replies, a tenth of them campaign or warm-up
sends), plus policy decisions, rounds and five campaigns with ``--messages`` / 100 recipients in
every status; rebuilds the rollups (``mirage metrics rebuild``'s
code) and refreshes once. Then adds one minute of new facts (new messages and receipts of
recent ones) and times the refresh that folds them (it re-reads the refresh's 5-minute safety
overlap too). Then times every page query through the app role under row-level security,
exactly as the page and the API run them, and the raw-table equivalent of each.

Prints a table and ends with one line: ``max_p95_ms=<ms> refresh_ms=<ms>`` (the worst p95 of
the page's rollup queries, and the refresh of the last minute's facts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mirage.db import embedded
from mirage.db import engine as db_engine
from mirage.db.migrate import migrate
from mirage.db.tenancy import tenant_context
from mirage.db.urls import RoleUrls, derive
from mirage.kit.logging import configure_logging
from mirage.metrics import service
from mirage.metrics.repository import KIND_SQL, OUTGOING_JOIN, Filters

DB = "mirage_bench_metrics"
ZONE = "America/Sao_Paulo"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare(n: int, numbers: int, days: int) -> tuple[RoleUrls, uuid.UUID]:
    data_dir = Path(os.environ.get("MIRAGE_DATA_DIR", ".mirage")) / "bench"
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
    tenant = uuid.uuid4()
    started = time.perf_counter()
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        conn.execute(
            "insert into tenants (id, name, slug, timezone) values (%s, 'Bench', 'bench', %s)",
            (tenant, ZONE),
        )
        conn.execute(
            "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
            "webhook_secret_enc, owner_jid) select gen_random_uuid(), %s, "
            "'Number ' || lpad(g::text, 3, '0'), 'bench-' || g, 'x', 'x', "
            "'55119' || lpad(g::text, 8, '0') || '@s.whatsapp.net' "
            "from generate_series(1, %s) g",
            (tenant, numbers),
        )
        conn.execute(
            "insert into conversations (id, tenant_id, name, topics, windows) "
            "values (gen_random_uuid(), %s, 'bench', '{futebol}', '{}')",
            (tenant,),
        )
        # Messages: g-th message at now() - g * span / n (the newest first), alternating
        # directions so that most inbound ones answer the outbound one before them; statuses
        # spread over every rank; one in ten a campaign or warm-up send.
        conn.execute(
            """
            insert into messages (id, tenant_id, instance_id, provider_message_id, direction,
                from_me, remote_jid, message_type, status, status_rank, status_history,
                created_at, updated_at, campaign_id, round_id, conversation_id)
            select gen_random_uuid(), %(t)s, i.ids[1 + (g / 2) %% %(k)s], 'B' || g,
                   case when g %% 2 = 0 then 'outbound' else 'inbound' end, g %% 2 = 0,
                   '55219' || lpad(((g / 2) %% 20000)::text, 8, '0') || '@s.whatsapp.net',
                   'conversation',
                   (array['ERROR','PENDING','SERVER_ACK','DELIVERY_ACK','READ','PLAYED'])
                       [1 + (case when g %% 37 = 0 then 0 else 2 + g %% 4 end)],
                   case when g %% 37 = 0 then 0 else 2 + g %% 4 end, '[]',
                   now() - g * (%(span)s::interval / %(n)s),
                   now() - g * (%(span)s::interval / %(n)s),
                   case when g %% 20 = 4 then gen_random_uuid() end,
                   case when g %% 20 = 8 then gen_random_uuid() end,
                   case when g %% 20 = 8 then c.id end
              from generate_series(1, %(n)s) g,
                   (select array_agg(id order by display_name) ids from instances
                     where tenant_id = %(t)s) i,
                   (select id from conversations where tenant_id = %(t)s) c
            """,
            {"t": tenant, "k": numbers, "n": n, "span": f"{days} days"},
        )
        conn.execute(
            """
            insert into policy_decisions (id, tenant_id, instance_id, action, reason, created_at)
            select gen_random_uuid(), %(t)s, i.ids[1 + g %% %(k)s],
                   case when g %% 3 = 0 then 'deny' else 'defer' end,
                   (array['quiet_hours','hourly_cap','daily_cap','min_gap','kill_switch'])
                       [1 + g %% 5], now() - g * (%(span)s::interval / %(d)s)
              from generate_series(1, %(d)s) g,
                   (select array_agg(id) ids from instances where tenant_id = %(t)s) i
            """,
            {"t": tenant, "k": numbers, "d": max(1, n // 100), "span": f"{days} days"},
        )
        conn.execute(
            """
            insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at,
                                state, ended_at)
            select gen_random_uuid(), %(t)s, c.id, 'futebol', 4, e, s, e
              from generate_series(1, %(r)s) g, (select id from conversations
                                                 where tenant_id = %(t)s) c,
                   lateral (select now() - g * (%(span)s::interval / %(r)s) e,
                           (array['completed','completed','completed','timed_out','failed'])
                               [1 + g %% 5] s) x
            """,
            {"t": tenant, "r": max(1, n // 200), "span": f"{days} days"},
        )
        # Campaigns: five in the period, their recipients (n / 100 in all) spread over every
        # status (unsent ones with a reason).
        conn.execute(
            "insert into outreach_policies (id, tenant_id, name, weekdays, dayparts, "
            "contact_start, contact_end, optout_keywords, confirmation_text, validity_minutes, "
            "duplicate_limit, duplicate_window_minutes) values (gen_random_uuid(), %s, 'bench', "
            "'{0,1,2,3,4}', '{morning}', '08:00', '18:00', '{}', 'ok', 240, 3, 60)",
            (tenant,),
        )
        conn.execute(
            """
            insert into campaigns (id, tenant_id, name, policy_id, variants, state, started_at)
            select gen_random_uuid(), %(t)s, 'Campaign ' || g, p.id, '{oi}', 'running',
                   now() - g * interval '3 days'
              from generate_series(1, 5) g,
                   (select id from outreach_policies where tenant_id = %(t)s) p
            """,
            {"t": tenant},
        )
        conn.execute(
            """
            insert into campaign_recipients (id, tenant_id, campaign_id, contact_id, phone_e164,
                                             status, reason)
            select gen_random_uuid(), %(t)s, c.ids[1 + g %% 5], gen_random_uuid(),
                   '+5521' || lpad(g::text, 9, '0'), s.status,
                   case when s.status in ('failed', 'expired', 'skipped')
                        then (array['suppressed', 'gateway', 'end_by'])[1 + g %% 3] end
              from generate_series(1, %(r)s) g,
                   (select array_agg(id) ids from campaigns where tenant_id = %(t)s) c,
                   lateral (select (array['planned', 'deferred', 'sent', 'delivered', 'read',
                                          'replied', 'failed', 'expired', 'skipped'])
                                   [1 + g %% 9] as status) s
            """,
            {"t": tenant, "r": max(1, n // 100)},
        )
        conn.execute("vacuum analyze")
    log(f"seeded {n:,} messages in {time.perf_counter() - started:.1f} s")
    return urls, tenant


async def new_minute(conninfo: str, tenant: uuid.UUID, n: int) -> None:
    """One minute of a busy fleet's facts: ``n`` new messages and receipts for ``n`` recent
    outbound messages (their status moves up)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(
            """
            insert into messages (id, tenant_id, instance_id, provider_message_id, direction,
                from_me, remote_jid, message_type, status, status_rank, status_history,
                created_at)
            select gen_random_uuid(), %(t)s, i.ids[1 + g %% array_length(i.ids, 1)],
                   'N' || g || '-' || extract(epoch from now()),
                   case when g %% 2 = 0 then 'outbound' else 'inbound' end, g %% 2 = 0,
                   '55219' || lpad((g %% 20000)::text, 8, '0') || '@s.whatsapp.net',
                   'conversation', 'SERVER_ACK', 2, '[]',
                   now() - (g %% 60) * interval '1 second'
              from generate_series(1, %(n)s) g,
                   (select array_agg(id) ids from instances where tenant_id = %(t)s) i
            """,
            {"t": tenant, "n": n},
        )
        await conn.execute(
            """
            update messages set status = 'READ', status_rank = 4, updated_at = now()
             where id in (select id from messages where tenant_id = %(t)s
                            and direction = 'outbound' and status_rank < 4
                            and created_at > now() - interval '1 hour'
                          order by created_at desc limit %(n)s)
            """,
            {"t": tenant, "n": n},
        )


def raw_queries(f: Filters) -> dict[str, tuple[str, dict[str, Any]]]:
    """The page's figures straight from the raw tables (what the rollups replace)."""
    p = {"start": f.start, "end": f.end, "zone": f.zone}
    where = (
        "m.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid) "
        "and m.created_at >= :start and m.created_at < :end"
    )
    return {
        "daily": (
            f"select (m.created_at at time zone :zone)::date, "
            f"count(*) filter (where m.direction = 'outbound'), "
            f"count(*) filter (where m.direction = 'inbound'), "
            f"count(*) filter (where m.status = 'ERROR') from messages m where {where} "
            f"group by 1 order by 1",
            p,
        ),
        "heatmap": (
            f"select extract(isodow from m.created_at at time zone :zone), "
            f"extract(hour from m.created_at at time zone :zone), count(*) from messages m "
            f"where {where} group by 1, 2",
            p,
        ),
        "per_number": (
            f"select m.instance_id, count(*) filter (where m.direction = 'outbound'), "
            f"count(*) filter (where m.direction = 'inbound'), "
            f"count(*) filter (where m.direction = 'outbound' and m.status_rank between 3 and 5), "
            f"count(*) filter (where m.direction = 'outbound' and m.status_rank between 4 and 5), "
            f"count(*) filter (where m.direction = 'inbound' and exists (select 1 from messages p "
            f"where p.tenant_id = m.tenant_id and p.instance_id = m.instance_id "
            f"and p.direction = 'outbound' and p.remote_jid = m.remote_jid "
            f"and p.created_at < m.created_at "
            f"and p.created_at >= m.created_at - interval '24 hours')), "
            f"count(*) filter (where m.status = 'ERROR') from messages m where {where} "
            f"group by 1",
            p,
        ),
        "by_kind": (
            f"select m.direction, {KIND_SQL}, count(*) from messages m {OUTGOING_JOIN} "
            f"where {where} group by 1, 2",
            p,
        ),
        "rounds": (
            "select state, count(*) from rounds where tenant_id = (select nullif("
            "current_setting('app.tenant_id', true), '')::uuid) and ended_at >= :start "
            "and ended_at < :end group by 1",
            p,
        ),
        "decisions": (
            "select action, reason, count(*) from policy_decisions where tenant_id = (select "
            "nullif(current_setting('app.tenant_id', true), '')::uuid) and created_at >= :start "
            "and created_at < :end group by 1, 2",
            p,
        ),
        "campaigns": (
            "select c.id, c.name, c.state, c.started_at, r.status, r.reason, count(*) "
            "from campaigns c join campaign_recipients r on r.tenant_id = c.tenant_id "
            "and r.campaign_id = c.id where c.tenant_id = (select nullif(current_setting("
            "'app.tenant_id', true), '')::uuid) and c.started_at < :end and (c.finished_at "
            "is null or c.finished_at >= :start) group by 1, 2, 3, 4, 5, 6",
            p,
        ),
    }


async def timed(run: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        out.append((time.perf_counter() - started) * 1000)
    return out


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    tenant: uuid.UUID, repeat: int, raw_repeat: int
) -> dict[str, tuple[list[float], list[float]]]:
    db = db_engine.get_database()
    results: dict[str, tuple[list[float], list[float]]] = {}

    async def in_tenant(work: Callable[[Any], Awaitable[Any]]) -> Any:
        with tenant_context(tenant):
            async with db.sessions() as session, session.begin():
                return await work(session)

    for days in (7, 30):
        f: Filters = await in_tenant(lambda s, d=days: service.filters(s, d, None))
        page: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "daily": lambda s, f=f: service.daily(s, f),
            "heatmap": lambda s, f=f: service.heatmap(s, f),
            "per_number": lambda s, f=f: service.numbers(s, f),
            "by_kind": lambda s, f=f: service.kinds(s, f),
            "rounds": lambda s, f=f: service.rounds(s, f),
            "decisions": lambda s, f=f: service.decisions(s, f),
            "campaigns": lambda s, f=f: service.campaigns(s, f),
        }
        raw = raw_queries(f)
        for name, work in page.items():
            rolled = await timed(lambda w=work: in_tenant(w), repeat)
            query, params = raw[name]

            async def run_raw(s: Any, q: str = query, p: dict[str, Any] = params) -> Any:
                return (await s.execute(text(q), p)).all()

            direct = await timed(lambda r=run_raw: in_tenant(r), raw_repeat)
            results[f"{name} {days}d"] = (rolled, direct)
            log(
                f"{name} {days}d: rollup p95 {pct(rolled, 0.95):.1f} ms, raw p95 "
                f"{pct(direct, 0.95):.1f} ms"
            )
    # The conversation filter (the warm-up round messages, a twentieth of all: one
    # conversation's hours of the period, through the partial index).
    conversation = (await in_tenant(service.conversation_choices))[0][0]
    f = await in_tenant(lambda s: service.filters(s, 30, None, conversation_id=conversation))
    by_conversation: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "daily": lambda s: service.daily(s, f),
        "heatmap": lambda s: service.heatmap(s, f),
        "per_number": lambda s: service.numbers(s, f),
        "by_kind": lambda s: service.kinds(s, f),
        "rounds": lambda s: service.rounds(s, f),
        "decisions": lambda s: service.decisions(s, f),
    }
    for name, work in by_conversation.items():
        rolled = await timed(lambda w=work: in_tenant(w), repeat)
        results[f"{name} 30d conv"] = (rolled, [])
        log(f"{name} 30d, one conversation: rollup p95 {pct(rolled, 0.95):.1f} ms")
    whole: list[float] = await timed(lambda: in_tenant(lambda s: service.overview(s, 30)), repeat)
    results["whole page 30d"] = (whole, [])
    return results


async def run(args: argparse.Namespace) -> None:
    urls, tenant = prepare(args.messages, args.numbers, args.days)
    db = db_engine.make_database(urls, pool_size=4, application_name="bench-metrics")
    db_engine.set_database(db)
    try:
        rebuilt = await service.rebuild()
        log(f"full rebuild: {rebuilt.elapsed_ms:,} ms ({rebuilt.message_buckets:,} buckets)")
        first = time.perf_counter()
        await service.refresh()
        log(f"first refresh after the rebuild: {(time.perf_counter() - first) * 1000:.0f} ms")
        await new_minute(RoleUrls.libpq(urls.bootstrap), tenant, args.minute)
        started = time.perf_counter()
        fold = await service.refresh()
        refresh_ms = (time.perf_counter() - started) * 1000
        log(
            f"refresh of the last minute ({args.minute} new messages + {args.minute} receipts): "
            f"{refresh_ms:.0f} ms, {fold.message_buckets} message buckets"
        )
        results = await measure(tenant, args.repeat, args.raw_repeat)
    finally:
        await db.dispose()

    print(f"\nmessages={args.messages:,} numbers={args.numbers} days={args.days}")
    print(f"full rebuild: {rebuilt.elapsed_ms:,} ms")
    print(f"{'query':<20} {'rollup p50':>11} {'rollup p95':>11} {'raw p50':>10} {'raw p95':>10}")
    worst = 0.0
    for name, (rolled, direct) in results.items():
        p50, p95 = pct(rolled, 0.5), pct(rolled, 0.95)
        if not name.startswith("whole"):
            worst = max(worst, p95)
        raw50 = f"{pct(direct, 0.5):10.1f}" if direct else f"{'-':>10}"
        raw95 = f"{pct(direct, 0.95):10.1f}" if direct else f"{'-':>10}"
        print(f"{name:<20} {p50:11.1f} {p95:11.1f} {raw50} {raw95}")
    print(f"refresh of the last minute's facts: {refresh_ms:.0f} ms")
    print(f"max_p95_ms={worst:.1f} refresh_ms={refresh_ms:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--numbers", type=int, default=50)
    ap.add_argument("--days", type=int, default=90, help="history spread over this many days")
    ap.add_argument("--minute", type=int, default=1000, help="new messages in the last minute")
    ap.add_argument("--repeat", type=int, default=30, help="runs of each rollup query")
    ap.add_argument("--raw-repeat", type=int, default=5, help="runs of each raw query")
    args = ap.parse_args()
    configure_logging("WARNING", json=True)
    try:
        asyncio.run(run(args))
    finally:
        embedded.stop_all()


if __name__ == "__main__":
    main()
