"""CSV contact import throughput and memory, through the real code path.

    .venv/bin/python bench/contacts_import.py [--rows 100000 1000000] [--repeat N] [--data-dir DIR]

For each size: writes a messy-ish Excel pt-BR CSV (Windows-1252, ``;``, CRLF, quoted notes
with newlines, blank lines, ~2% invalid phones, ~2% duplicates, an extra column), then in a
scratch database (embedded PostgreSQL unless MIRAGE_DATABASE_URL is set; the database
``mirage_bench_import`` is dropped and re-created) uploads it (``create_import``: detection and
storage in parts), starts it and runs it (``run_import``: the worker's job body, chunk by chunk,
as ``mirage_app`` under the tenant's RLS context). Each size gets a fresh tenant.
Prints rows/s of the run and of upload+run, the counters, and the process's peak RSS (the
1,000,000-row file is ~52 MB; bounded memory means the peak does not grow with it), with the
machine's load average and the CPU seconds of the database backend and of this process
(other processes share the two cores: wall time moves with them, CPU time much less). The
last line is one JSON
object (``"bench": "contacts_import"``) with the same figures, for scripts. ``--repeat N``
imports each size N times (each into a fresh tenant of the same database) and prints the
median run time and CPU seconds: on a shared machine one run says little.
Target: 100,000 rows in under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "mirage_bench_import"
os.environ.setdefault("MIRAGE_SECRET_KEY", "bench-secret-key")
os.environ.setdefault("MIRAGE_LOG_LEVEL", "WARNING")

from mirage.auth.principal import ROLE_SCOPES, Principal  # noqa: E402
from mirage.contacts import imports_service as svc  # noqa: E402
from mirage.db import embedded  # noqa: E402
from mirage.db import engine as db_engine  # noqa: E402
from mirage.db.migrate import migrate  # noqa: E402
from mirage.db.tenancy import tenant_context  # noqa: E402
from mirage.db.urls import RoleUrls, derive  # noqa: E402
from mirage.kit.logging import configure_logging  # noqa: E402
from mirage.models.tenancy import Role  # noqa: E402

FIRST = ["Ana", "João", "Maria", "José", "Luíza", "Pedro", "Conceição", "Zé", "Bia", "Caio"]
LAST = ["Silva", "Souza", "Araújo", "Conceição", "Pereira", "Lima", "Gonçalves", "Ribeiro"]
CITIES = ["São Paulo", "Rio de Janeiro", "Belém", "Goiânia", "Florianópolis", "Maceió"]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="cp1252", newline="") as f:
        f.write("Nome;Celular;E-mail;Cidade;Observações;Tags;Código\r\n")
        for i in range(rows):
            roll = rng.random()
            n = i % 10**8
            if roll < 0.02:
                phone = rng.choice(["123", "abc", "(11) 1234", "+99 123"])
            elif roll < 0.04 and i > 0:
                phone = f"(11) 9{rng.randrange(i) % 10**8:08d}"  # an earlier row's number
            elif roll < 0.10:
                phone = f"11 8{n % 10**7:07d}"  # a mobile without its ninth digit
            elif i % 3 == 0:
                phone = f"+55 21 9{n // 10**4:04d}-{n % 10**4:04d}"
            else:
                phone = f"(11) 9{n:08d}"
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            note = '"Cliente desde 2019\r\nligar à tarde"' if i % 50 == 0 else ""
            tags = "vip" if i % 7 == 0 else ""
            f.write(f"{name};{phone};;{rng.choice(CITIES)};{note};{tags};C{i}\r\n")
            if i % 1000 == 999:
                f.write("\r\n")


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


def _tenant(urls: RoleUrls) -> Principal:
    tenant_id = uuid.uuid4()
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'Bench', %s)",
            (tenant_id, f"bench-{tenant_id.hex[:8]}"),
        )
    return Principal(
        kind="user",
        tenant_id=tenant_id,
        role=Role.OWNER,
        user_id=None,
        scopes=ROLE_SCOPES[Role.OWNER],
    )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> float:
    return os.getloadavg()[0]


def _python_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _db_cpu_s(urls: RoleUrls) -> float | None:
    """CPU seconds used so far by the database backends serving the bench (as mirage_app):
    a figure other processes on the machine disturb far less than wall time. None when the
    server is not on this machine."""
    with psycopg.connect(RoleUrls.libpq(urls.bootstrap), autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "select pid from pg_stat_activity where datname = %s and usename = 'mirage_app'",
                (DB,),
            )
        ]
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


async def bench(
    rows: int, urls: RoleUrls, workdir: Path, *, trace: bool = False
) -> dict[str, object]:
    path = workdir / f"contacts-{rows}.csv"
    write_csv(path, rows)
    size_mb = path.stat().st_size / 1e6
    principal = _tenant(urls)
    rss_before = _rss_mb()
    load_before = _load()
    if trace:
        tracemalloc.start()
    with tenant_context(principal.tenant_id):
        t0 = time.perf_counter()
        async with db_engine.session_scope() as session:
            with path.open("rb") as f:
                imp = await svc.create_import(
                    session, principal, filename=path.name, stream=f, max_bytes=10**9
                )
            import_id = imp.id
        async with db_engine.session_scope() as session:
            await svc.start_import(
                session,
                principal,
                import_id,
                mapping=None,
                options=svc.ImportOptions(basis="consent", tags=("bench",)),
                enqueue=False,
            )
        db_cpu_before, py_cpu_before = _db_cpu_s(urls), _python_cpu_s()
        t1 = time.perf_counter()
        done = await svc.run_import(import_id)
        t2 = time.perf_counter()
        db_cpu_after, py_cpu = _db_cpu_s(urls), _python_cpu_s() - py_cpu_before
    assert done is not None
    traced = ""
    traced_mb = None
    if trace:
        traced_mb = tracemalloc.get_traced_memory()[1] / 1e6
        traced = f" | traced Python peak {traced_mb:.1f} MB"
        tracemalloc.stop()
    s = svc.summary(done)
    load_after = _load()
    db_cpu = (
        None
        if db_cpu_before is None or db_cpu_after is None
        else round(db_cpu_after - db_cpu_before, 2)
    )
    print(
        f"{rows:>9,} rows ({size_mb:.1f} MB): "
        f"run {t2 - t1:6.2f} s = {rows / (t2 - t1):>9,.0f} rows/s"
        f" | upload+run {t2 - t0:6.2f} s = {rows / (t2 - t0):>9,.0f} rows/s"
        f" | peak RSS {_rss_mb():.0f} MB (before {rss_before:.0f} MB)"
        + traced
        + f" | CPU: database {db_cpu if db_cpu is not None else '?'} s, Python {py_cpu:.2f} s"
        + f" | load {load_before:.1f} → {load_after:.1f}"
    )
    print(
        f"           state={s['state']} imported={s['imported']:,} updated={s['updated']:,} "
        f"duplicates={s['duplicates']:,} invalid={s['invalid']:,} {s['invalid_by_reason']}"
    )
    return {
        "rows": rows,
        "state": s["state"],
        "run_s": round(t2 - t1, 2),
        "rows_per_s": round(rows / (t2 - t1)),
        "upload_run_s": round(t2 - t0, 2),
        "peak_rss_mb": round(_rss_mb()),
        "rss_before_mb": round(rss_before),
        "traced_python_peak_mb": None if traced_mb is None else round(traced_mb, 1),
        "db_cpu_s": db_cpu,
        "python_cpu_s": round(py_cpu, 2),
        "load_avg_1m": [round(load_before, 2), round(load_after, 2)],
        "imported": s["imported"],
        "duplicates": s["duplicates"],
        "invalid": s["invalid"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size (medians)")
    parser.add_argument("--data-dir", type=Path, default=Path(".mirage") / "bench")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="Also report the peak of Python allocations (slower): flat across sizes when "
        "memory is bounded.",
    )
    args = parser.parse_args()
    configure_logging("WARNING", json=True)
    urls = _prepare(args.data_dir)
    db = db_engine.make_database(urls, pool_size=2, application_name="mirage-bench")
    db_engine.set_database(db)
    results: list[dict[str, object]] = []
    medians: list[dict[str, object]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rows in args.rows:
                runs = [
                    await bench(rows, urls, Path(tmp), trace=args.tracemalloc)
                    for _ in range(args.repeat)
                ]
                results.extend(runs)
                if args.repeat > 1:
                    medians.append(_medians(rows, runs))
    finally:
        await db.dispose()
    print(
        json.dumps(
            {
                "bench": "contacts_import",
                "cores": os.cpu_count(),
                "peak_rss_mb": round(_rss_mb()),
                "results": results,
                "medians": medians,
            }
        )
    )


def _medians(rows: int, runs: list[dict[str, object]]) -> dict[str, object]:
    def median(key: str) -> float | None:
        values = [float(v) for r in runs if isinstance(v := r[key], int | float)]
        return round(statistics.median(values), 2) if values else None

    loads = [float(x) for r in runs for x in r["load_avg_1m"]]  # type: ignore[attr-defined]
    out: dict[str, object] = {
        "rows": rows,
        "runs": len(runs),
        "run_s": [r["run_s"] for r in runs],
        "median_run_s": median("run_s"),
        "median_db_cpu_s": median("db_cpu_s"),
        "median_python_cpu_s": median("python_cpu_s"),
        "load_avg_1m": [min(loads), max(loads)],
    }
    print(
        f"{rows:>9,} rows, median of {len(runs)}: run {out['median_run_s']} s "
        f"(runs {out['run_s']}) | CPU: database {out['median_db_cpu_s']} s, "
        f"Python {out['median_python_cpu_s']} s | load {min(loads):.1f}–{max(loads):.1f}"
    )
    return out


if __name__ == "__main__":
    asyncio.run(main())
