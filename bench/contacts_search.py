"""Contact list and search latency at 1,000,000 contacts in one tenant, through the repository.

    .venv/bin/python bench/contacts_search.py [--contacts 1000000] [--runs 40] [--data-dir DIR]

Seeds a scratch database (embedded PostgreSQL unless MIRAGE_DATABASE_URL is set; the database
``mirage_bench_search`` is dropped and re-created) with set-based ``INSERT … SELECT
generate_series`` as the bootstrap superuser: the tenant's contacts (names from a small pool
so common words match ~10%, a rare name on 0.01%, e-mails on 30%, 1% opted out), two tags
(10% and 0.1% of contacts) and a second tenant of 100,000 contacts (RLS must keep its rows out
of the way). Then, as mirage_app under the tenant's RLS context, runs each list/search query
of ``ContactRepository.page`` (via ``service.build_filter``, as the API does) ``--runs`` times
and prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "mirage_bench_search"
os.environ.setdefault("MIRAGE_SECRET_KEY", "bench-secret-key")
os.environ.setdefault("MIRAGE_LOG_LEVEL", "WARNING")

from mirage.contacts.repository import ContactRepository  # noqa: E402
from mirage.contacts.schemas import ContactFilterIn  # noqa: E402
from mirage.contacts.service import build_filter, decode_cursor, encode_cursor  # noqa: E402
from mirage.db import embedded  # noqa: E402
from mirage.db import engine as db_engine  # noqa: E402
from mirage.db.migrate import migrate  # noqa: E402
from mirage.db.tenancy import tenant_context  # noqa: E402
from mirage.db.urls import RoleUrls, derive  # noqa: E402
from mirage.kit.logging import configure_logging  # noqa: E402

FIRST = "Ana João Maria José Luíza Pedro Conceição Bia Caio Rita Lucas Júlia Rafael Bruna"
LAST = "Silva Souza Araújo Pereira Lima Gonçalves Ribeiro Almeida Costa Carvalho Rocha Dias"

SEED_SQL = """
insert into contacts (id, tenant_id, name, phone_e164, email, legal_basis, consent_state,
                      li_assessment_ref, provenance_source, provenance_at, opted_out_at,
                      custom_fields, created_at, updated_at)
select gen_random_uuid(), %(tenant)s,
       case when i %% 10000 = 0 then 'Quitéria Zanoni ' || i
            else (string_to_array(%(first)s, ' '))[1 + i %% 14] || ' '
                 || (string_to_array(%(last)s, ' '))[1 + (i / 14) %% 12] end,
       '+55' || (array[11, 21, 31, 41, 51, 61, 71, 81, 91])[1 + i %% 9]
             || (%(base)s + i)::text,
       case when i %% 10 < 3 then 'pessoa' || i || '@exemplo.com.br' end,
       case when i %% 5 = 0 then 'legitimate_interest' else 'consent' end,
       case when i %% 5 = 0 then 'none' when i %% 50 = 1 then 'revoked' else 'granted' end,
       case when i %% 5 = 0 then 'LIA-2026-01' end,
       'bench', now() - interval '30 days',
       case when i %% 100 = 7 then now() - interval '1 day' end,
       jsonb_build_object('cidade', 'São Paulo'),
       now() - (i || ' seconds')::interval, now()
from generate_series(1, %(n)s) i
"""


def _prepare(data_dir: Path, n: int) -> tuple[RoleUrls, uuid.UUID, dict[str, uuid.UUID]]:
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
    tenant, other = uuid.uuid4(), uuid.uuid4()
    tags = {"common": uuid.uuid4(), "rare": uuid.uuid4()}
    started = time.perf_counter()
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        conn.execute("set maintenance_work_mem = '256MB'")
        for tid, slug in ((tenant, "bench"), (other, "other")):
            conn.execute(
                "insert into tenants (id, name, slug) values (%s, %s, %s)", (tid, slug, slug)
            )
        params = {"first": FIRST, "last": LAST}
        conn.execute(SEED_SQL, {**params, "tenant": tenant, "n": n, "base": 960_000_000})
        conn.execute(SEED_SQL, {**params, "tenant": other, "n": n // 10, "base": 970_000_000})
        for name, tid in tags.items():
            conn.execute(
                "insert into tags (id, tenant_id, name) values (%s, %s, %s)", (tid, tenant, name)
            )
        # 10% and 0.1% of the tenant's contacts.
        conn.execute(
            "insert into contact_tags (id, tenant_id, contact_id, tag_id) "
            "select gen_random_uuid(), tenant_id, id, %s from contacts "
            "where tenant_id = %s and abs(hashtext(id::text)) %% 10 = 0",
            (tags["common"], tenant),
        )
        conn.execute(
            "insert into contact_tags (id, tenant_id, contact_id, tag_id) "
            "select gen_random_uuid(), tenant_id, id, %s from contacts "
            "where tenant_id = %s and abs(hashtext(id::text)) %% 1000 = 1",
            (tags["rare"], tenant),
        )
        conn.execute("vacuum analyze contacts")
        conn.execute("vacuum analyze contact_tags")
    print(f"seeded {n:,} + {n // 10:,} contacts in {time.perf_counter() - started:.1f} s")
    return urls, tenant, tags


async def _bench(
    urls: RoleUrls, tenant: uuid.UUID, tags: dict[str, uuid.UUID], runs: int, n: int
) -> None:
    db = db_engine.make_database(urls, pool_size=2, application_name="bench-search")
    db_engine.set_database(db)

    async def page(f: ContactFilterIn, cursor: str | None = None) -> list[Any]:
        with tenant_context(tenant):
            async with db.sessions() as session, session.begin():
                rows = await ContactRepository(session).page(
                    build_filter(f), decode_cursor(cursor), 51
                )
                return list(rows)

    # A cursor deep in the list (page ~10,000 of 50): keyset cost does not grow with depth.
    with tenant_context(tenant):
        async with db.sessions() as session, session.begin():
            first = await ContactRepository(session).page(build_filter(ContactFilterIn()), None, 1)
    deep = await page(ContactFilterIn())
    mid = encode_cursor(deep[-1].created_at, deep[-1].id)
    conninfo = RoleUrls.libpq(urls.bootstrap)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "select created_at, id from contacts where tenant_id = %s "
            "order by created_at desc, id desc offset %s limit 1",
            (tenant, n // 2),
        ).fetchone()
    assert row is not None and first
    deep_cursor = encode_cursor(row[0], row[1])

    cases: list[tuple[str, ContactFilterIn, str | None]] = [
        ("first page, no filter", ContactFilterIn(), None),
        ("next page (keyset)", ContactFilterIn(), mid),
        (f"page at row {n // 2:,} (keyset)", ContactFilterIn(), deep_cursor),
        ("text, common first name (maria, 7%)", ContactFilterIn(q="maria"), None),
        ("text, common first name, next page", ContactFilterIn(q="maria"), "auto"),
        ("text, common surname (silva, 8%)", ContactFilterIn(q="silva"), None),
        ("text, two words (maria silva)", ContactFilterIn(q="maria silva"), None),
        ("text, prefix (ma, 14%)", ContactFilterIn(q="ma"), None),
        ("text, rare name (quitéria, 0.01%)", ContactFilterIn(q="quitéria"), None),
        ("text, rare surname (zanoni)", ContactFilterIn(q="zanoni"), None),
        ("text, no match (xyzzy)", ContactFilterIn(q="xyzzy"), None),
        ("text, e-mail prefix", ContactFilterIn(q="pessoa12342@"), None),
        ("phone prefix (21 96012)", ContactFilterIn(q="21 96012"), None),
        ("exact phone", ContactFilterIn(q="(51) 96012-3457"), None),
        ("tag filter, 10%", ContactFilterIn(tag_id=tags["common"]), None),
        ("tag filter, 10%, next page", ContactFilterIn(tag_id=tags["common"]), "auto"),
        ("tag filter, 0.1%", ContactFilterIn(tag_id=tags["rare"]), None),
        ("tag 10% + text maria", ContactFilterIn(tag_id=tags["common"], q="maria"), None),
        ("opted out (1%)", ContactFilterIn(opted_out=True), None),
        ("consent revoked (2%)", ContactFilterIn(consent="revoked"), None),
        ("basis LI + text silva", ContactFilterIn(basis="legitimate_interest", q="silva"), None),
    ]
    print(f"{'query':<40} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for label, f, cursor in cases:
        if cursor == "auto":
            rows = await page(f)
            cursor = encode_cursor(rows[-2].created_at, rows[-2].id) if len(rows) > 1 else None
        await page(f, cursor)  # warm
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            rows = await page(f, cursor)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{label:<40} {len(rows):>5} {statistics.median(times):>8.1f} {p95:>8.1f}")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, default=Path(".mirage") / "bench")
    args = parser.parse_args()
    configure_logging("WARNING", json=True)
    urls, tenant, tags = _prepare(args.data_dir, args.contacts)
    asyncio.run(_bench(urls, tenant, tags, args.runs, args.contacts))


if __name__ == "__main__":
    main()
