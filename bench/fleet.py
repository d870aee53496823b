"""A fleet on one machine: are sends on time, and how many per second, at N tenants × M numbers?

    .venv/bin/python bench/fleet.py [--tenants 4] [--numbers 25] [--conversations 48]
        [--backlog 0] [--minutes 3] [--time-scale 1.0] [--workers 2] [--concurrency 4]

Starts, as separate processes (bench/_stack.py): a throwaway PostgreSQL cluster, ``mirage
migrate``, ``mirage sim``, one ``mirage api`` and ``--workers`` ``mirage worker``s. Seeds, the
way an operator would: per tenant a CLI tenant and owner, an API token from the settings
page, ``--numbers`` numbers created through the API and paired by the simulator's scan, two
personas, bench settings (caps and gaps set high, no quiet hours: the policy is not the
limit) and its share of ``--conversations`` live warm-up conversations (each its own pair
of numbers, open all day). The numbers are then dated 60 days old in the database, so the
first-day warm-up ramp (20 messages a day) is not the limit either.

``--backlog N`` adds N queued sends, spread over every number: campaign-like messages
(one unique text each, to an outside contact) planned through the real pipeline —
``messaging.plan_message`` from a short script in its own process connected to the same
database, as a future campaign owner will. There is no campaign owner yet, so they are
``warmup`` messages without a round or conversation (the warm-up owner's policy context is
then "active, always open"; its outcome job runs and finds no round). They are planned
for tomorrow and then, in one statement, made due now (message and job): the morning after
quiet hours, everything due at once.

Human delays (typing, reading, pauses) run at ``--time-scale`` (1 = real delays); rules and
the minute-by-minute periodic jobs keep real time. After ``--minutes`` it prints:

- sends/s (with a backlog: backlog sends ÷ the time from due to its last send, or to the
  end of the run if it did not drain), and sends per 30 s;
- lateness (typing excluded): claim = claimed_at − planned_at, delivery = sent_at −
  claimed_at − typing, total = claim + max(0, delivery); p50/p99 for conversation messages
  and for the backlog separately; a due message never claimed counts with (end − planned);
- duplicates: provider ids recorded on two messages, and texts the gateway received from a
  number more often than Mirage claimed them (the simulator's /messages log, polled);
- due-but-unsent at the end (planned more than 5 s ago and still ``planned``, or ``sending``
  for over 60 s past its typing time), the oldest due job, jobs by task and state, job start
  lateness by task (from procrastinate's events);
- rounds by state/outcome, policy deferrals, CPU (average and peak) and memory per process,
  load averages.

The last line is ``sends_per_s=<x> lateness_p99_s=<x> duplicates=<n> unsent_due=<n>``
(lateness of the conversation messages when there are conversations, else of the backlog).
Everything started is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from mirage.kit.http import limits as pool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._seed import (  # noqa: E402
    Db,
    checked,
    log,
    mature,
    owner_with_token,
    pair,
    personas_and_settings,
    sim_call,
    start_pair_conversation,
)
from bench._stack import Proc, Stack  # noqa: E402

PASSWORD = "fleet-bench-password-1"
BENCH_SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 20,  # the defaults: real human pauses between turns
    "delay_max_s": 90,
    "quiet_start": None,
    "quiet_end": None,
    "hourly_cap_per_number": 1000,
    "daily_cap_per_number": 10000,
    "burst_per_hour": 100000,
    "min_gap_seconds": 0,
    "reply_timeout_s": 600,
    "kill_switch": False,
}
BACKLOG_PREFIX = "Oferta fleet #"
SIM_LOG_MAX = 5000  # the simulator keeps this many log entries (not tunable)
UNSENT_GRACE_S = 5.0
STALE_SENDING_S = 60.0


# --- seeding ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    slug: str
    tenant_id: str
    token: str
    numbers: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def seed_tenants(stack: Stack, db: Db, args: argparse.Namespace) -> list[Tenant]:
    sim_call(stack, "PUT", "/config", json={"timeScale": 0.1, "webhookRetryScale": 0.5})
    tenants: list[Tenant] = []
    for t in range(args.tenants):
        slug = f"fleet-t{t + 1:02d}"
        tenant_id, token = owner_with_token(
            stack, db, name=f"Fleet {t + 1:02d}", slug=slug, email=f"owner@{slug}.example",
            password=PASSWORD,
        )  # fmt: skip
        tenants.append(Tenant(slug, tenant_id, token))
    log(f"{len(tenants)} tenants with tokens; creating and pairing numbers")

    def make(job: tuple[Tenant, int]) -> dict[str, Any]:
        ten, i = job
        t = tenants.index(ten)
        with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=60) as api:
            name = f"T{t + 1:02d} N{i + 1:03d}"
            r = api.post("/api/v1/instances", headers=ten.auth, json={"display_name": name})
            inst = checked(r, f"instance {name}") | {"bench_phone": f"55119{t + 1:02d}{i + 1:05d}"}
            pair(stack, api, ten.auth, inst)
            inst["phone"] = inst["bench_phone"]
            return inst

    jobs = [(ten, i) for i in range(args.numbers) for ten in tenants]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.pair_parallel) as pool:
        for n, (job, inst) in enumerate(zip(jobs, pool.map(make, jobs), strict=True), 1):
            job[0].numbers.append(inst)
            if n % 50 == 0:
                log(f"  {n}/{len(jobs)} numbers paired ({time.monotonic() - started:.0f}s)")
    per_tenant = _share(args.conversations, args.tenants)
    with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=60) as api:
        for ten, k_convs in zip(tenants, per_tenant, strict=True):
            personas = personas_and_settings(api, ten.auth, BENCH_SETTINGS)
            for k in range(k_convs):
                a, b = ten.numbers[2 * k], ten.numbers[2 * k + 1]
                ten.conversations.append(start_pair_conversation(api, ten.auth, k, a, b, personas))
    mature(db)
    return tenants


def _share(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# --- the backlog (planned in its own process, through messaging.plan_message) -----------------


def plan_backlog_main(spec_path: str) -> int:
    """Run with the stack's environment: plan every backlog message through the pipeline."""
    import asyncio

    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.db.engine import session_scope
    from mirage.db.tenancy import tenant_context
    from mirage.messaging import cadence
    from mirage.messaging import service as messaging
    from mirage.models import OutgoingMessage, Purpose

    spec = json.loads(Path(spec_path).read_text())
    rng = random.Random(15)
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    async def run() -> int:
        import uuid

        urls = db_engine.resolve_urls(get_settings())
        db = db_engine.make_database(urls, pool_size=2, application_name="fleet-bench-plan")
        db_engine.set_database(db)
        planned = 0
        for ten in spec["tenants"]:
            tid = uuid.UUID(ten["tenant_id"])
            items = ten["messages"]
            with tenant_context(tid):
                for start in range(0, len(items), 250):
                    async with session_scope() as session:
                        for n, instance_id in items[start : start + 250]:
                            text = (
                                f"{BACKLOG_PREFIX}{n:06d}: {rng.choice(_OFFERS)} "
                                f"{rng.choice(_CLOSES)}"
                            )
                            await messaging.plan_message(
                                session,
                                OutgoingMessage(
                                    tenant_id=tid,
                                    purpose=Purpose.WARMUP,
                                    instance_id=uuid.UUID(instance_id),
                                    to_number=f"55219{n:08d}",
                                    text=text,
                                    turn=1,
                                    planned_at=tomorrow,
                                    typing_ms=int(cadence.typing_time(text, rng) * 1000),
                                ),
                            )
                            planned += 1
        await db.app_engine.dispose()
        await db.admin_engine.dispose()
        return planned

    print(json.dumps({"planned": asyncio.run(run())}), flush=True)
    return 0


_OFFERS = (
    "seu pedido saiu para entrega hoje.",
    "temos horários livres amanhã à tarde, quer agendar?",
    "o boleto de outubro já está disponível no app.",
    "a promoção de aniversário vai até domingo.",
    "confirmamos sua reserva para sexta às 20h.",
)
_CLOSES = ("Qualquer dúvida é só chamar!", "Obrigado!", "Até mais 👋", "Abraço, equipe.")


def plan_backlog(stack: Stack, db: Db, tenants: list[Tenant], total: int) -> tuple[int, float]:
    """Plan ``total`` messages over every number; returns (planned, seconds it took)."""
    shares = _share(total, len(tenants))
    spec: dict[str, Any] = {"tenants": []}
    n = 0
    for ten, count in zip(tenants, shares, strict=True):
        msgs = []
        for i in range(count):
            n += 1
            msgs.append([n, ten.numbers[i % len(ten.numbers)]["id"]])
        spec["tenants"].append({"tenant_id": ten.tenant_id, "messages": msgs})
    path = stack.root / "backlog.json"
    path.write_text(json.dumps(spec))
    t = time.monotonic()
    with (stack.logs / "plan-backlog.log").open("ab") as out:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--plan-backlog", str(path)],
            env=stack.env | {"PYTHONPATH": str(ROOT)},
            cwd=stack.logs,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"planning the backlog failed; see {stack.logs}/plan-backlog.log")
    planned = int(json.loads(done.stdout.strip().splitlines()[-1])["planned"])
    return planned, time.monotonic() - t


def release_backlog(db: Db) -> datetime:
    """Make every backlog message (and its send job) due now, in one transaction."""
    rows = db.rows(
        "with due as (select now() as t), m as ("
        "  update outgoing_messages set planned_at = (select t from due) "
        "  where text like %s and status = 'planned' returning id::text) "
        "update procrastinate_jobs set scheduled_at = (select t from due) "
        "where task_name = 'messaging.send_message' and status = 'todo' "
        "and args->>'outgoing_id' in (select id from m) returning (select t from due)",
        BACKLOG_PREFIX + "%",
    )
    if not rows:
        raise RuntimeError("no backlog job was released")
    return rows[0][0]


# --- watching the run ------------------------------------------------------------------------


class ProcWatch:
    """CPU (average over the window, peak over 5 s samples) and peak RSS per process; the
    database counts the postmaster and all its children."""

    def __init__(self, named: dict[str, int], pg_pid: int | None) -> None:
        import psutil

        self.psutil = psutil
        self.named = named
        self.pg_pid = pg_pid
        self.start_cpu: dict[str, float] = {}
        self.last: dict[str, tuple[float, float]] = {}
        self.peak_cpu: dict[str, float] = defaultdict(float)
        self.peak_rss: dict[str, float] = defaultdict(float)
        self.t0 = time.monotonic()

    def _procs(self, name: str) -> list[Any]:
        ps = self.psutil
        try:
            if name == "postgres" and self.pg_pid:
                root = ps.Process(self.pg_pid)
                return [root, *root.children(recursive=True)]
            return [ps.Process(self.named[name])]
        except ps.Error:
            return []

    def _cpu_rss(self, name: str) -> tuple[float, float]:
        cpu = rss = 0.0
        for p in self._procs(name):
            with contextlib.suppress(self.psutil.Error):
                c = p.cpu_times()
                cpu += c.user + c.system
                try:  # PSS: shared pages (PostgreSQL's buffers) split between processes
                    rss += p.memory_full_info().pss
                except (AttributeError, self.psutil.Error):
                    rss += p.memory_info().rss
        return cpu, rss

    def names(self) -> list[str]:
        return [*self.named, *(["postgres"] if self.pg_pid else [])]

    def begin(self) -> None:
        self.t0 = time.monotonic()
        for name in self.names():
            cpu, rss = self._cpu_rss(name)
            self.start_cpu[name] = cpu
            self.last[name] = (self.t0, cpu)
            self.peak_rss[name] = rss

    def sample(self) -> dict[str, float]:
        now = time.monotonic()
        out = {}
        for name in self.names():
            cpu, rss = self._cpu_rss(name)
            t_prev, c_prev = self.last.get(name, (now, cpu))
            pct = 100 * max(0.0, cpu - c_prev) / max(1e-6, now - t_prev)
            self.last[name] = (now, cpu)
            self.peak_cpu[name] = max(self.peak_cpu[name], pct)
            self.peak_rss[name] = max(self.peak_rss[name], rss)
            out[name] = pct
        return out

    def report(self) -> list[str]:
        wall = max(1e-6, time.monotonic() - self.t0)
        lines = []
        for name in self.names():
            cpu, _ = self._cpu_rss(name)
            avg = 100 * max(0.0, cpu - self.start_cpu.get(name, cpu)) / wall
            lines.append(
                f"  {name:<9} cpu avg {avg:5.1f}%  peak(5s) {self.peak_cpu[name]:5.1f}%  "
                f"memory (PSS) peak {self.peak_rss[name] / 2**20:6.0f} MiB"
            )
        return lines


class GatewayLog(threading.Thread):
    """Polls the simulator's message log (it keeps the last 5,000) and keeps every entry
    sent by one of the bench's numbers, by message id; notes when entries were missed."""

    def __init__(self, stack: Stack, names: set[str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.names = stack, names
        self.entries: dict[str, tuple[str, str]] = {}
        self.seen_ids: set[str] = set()
        self.gaps = 0
        self.stop = threading.Event()

    def poll(self) -> None:
        got = sim_call(self.stack, "GET", "/messages", params={"limit": 10_000})
        ids = [e["id"] for e in got]
        if self.seen_ids and len(got) >= SIM_LOG_MAX and not self.seen_ids.intersection(ids):
            self.gaps += 1  # more than the log holds arrived since the last poll
        for e in got:
            self.seen_ids.add(e["id"])
            if e.get("fromInstance") in self.names:
                self.entries[e["id"]] = (e["fromInstance"], e["text"])

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(Exception):
                self.poll()
            self.stop.wait(2.0)


def queue_snapshot(db: Db) -> str:
    rows = db.rows(
        "select status, count(*) filter (where scheduled_at is null or scheduled_at <= now()), "
        "count(*) from procrastinate_jobs where status in ('todo', 'doing') group by 1"
    )
    d = {str(s): (int(due), int(n)) for s, due, n in rows}
    todo_due, todo = d.get("todo", (0, 0))
    doing = d.get("doing", (0, 0))[1]
    oldest = db.one(
        "select extract(epoch from now() - min(coalesce(scheduled_at, "
        "(select min(at) from procrastinate_events e where e.job_id = j.id)))) "
        "from procrastinate_jobs j where status = 'todo' "
        "and (scheduled_at is null or scheduled_at <= now())"
    )
    return f"jobs todo {todo} (due {todo_due}, oldest due {float(oldest or 0):.1f}s) doing {doing}"


# --- figures ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


def lateness(db: Db, t0: datetime, t_end: datetime, scale: float) -> dict[str, dict[str, Any]]:
    """Per kind: claim = claimed − ready, where ready = max(planned, the end of the number's
    previous send: one send per number at a time, so a number's queue waits out its own
    typing); raw claim = claimed − planned; delivery = sent − claimed − typing."""
    rows = db.rows(
        "select instance_id, (round_id is null and conversation_id is null and text like %s), "
        "planned_at, claimed_at, sent_at, typing_ms, status from outgoing_messages "
        "where (planned_at >= %s and planned_at <= %s) or (claimed_at >= %s) "
        "order by instance_id, claimed_at nulls last",
        BACKLOG_PREFIX + "%",
        t0,
        t_end,
        t0,
    )
    prev_end: dict[Any, datetime] = {}
    measured: list[tuple[bool, float | None, float | None, float | None, bool]] = []
    # Claim lateness by minute of the window (planned time): a burst's or a steady state's.
    minutes: dict[tuple[bool, int], list[float]] = defaultdict(list)
    for instance_id, backlog, planned, claimed, sent, typing_ms, status in rows:
        in_window = t0 <= planned <= t_end
        if claimed is None:
            if in_window and status == "planned":
                # Not claimed by the end: late by at least (end − ready), ready counting the
                # number's own sends before it (still typing at the end: not late yet).
                ready = max(planned, prev_end.get(instance_id, planned))
                late = max(0.0, (t_end - ready).total_seconds())
                raw = (t_end - planned).total_seconds()
                measured.append((bool(backlog), late, raw, None, True))
            continue
        ready = max(planned, prev_end.get(instance_id, planned))
        typing = timedelta(seconds=typing_ms / 1000 * scale)
        prev_end[instance_id] = sent or claimed + typing
        if not in_window:
            continue
        d = None if sent is None else (sent - claimed - typing).total_seconds()
        minute = int((planned - t0).total_seconds() // 60)
        minutes[(bool(backlog), minute)].append((claimed - ready).total_seconds())
        measured.append(
            (
                bool(backlog),
                (claimed - ready).total_seconds(),
                (claimed - planned).total_seconds(),
                d,
                False,
            )
        )
    out: dict[str, dict[str, Any]] = {}
    for kind in ("conversations", "backlog"):
        mine = [m for m in measured if m[0] == (kind == "backlog")]
        claim = [m[1] for m in mine if m[1] is not None]
        raw = [m[2] for m in mine if m[2] is not None]
        deliver = [m[3] for m in mine if m[3] is not None]
        total = [(m[1] or 0.0) + max(0.0, m[3] or 0.0) for m in mine]
        out[kind] = {
            "n": len(mine),
            "never_claimed": sum(1 for m in mine if m[4]),
            "claim": (pct(claim, 50), pct(claim, 99)),
            "raw": (pct(raw, 50), pct(raw, 99)),
            "deliver": (pct(deliver, 50), pct(deliver, 99)),
            "total": (pct(total, 50), pct(total, 99), max(total) if total else float("nan")),
            "claim_p99_by_minute": [
                (m, len(v), pct(v, 99))
                for (b, m), v in sorted(minutes.items())
                if b == (kind == "backlog")
            ],
        }
    return out


def job_lateness(db: Db, t0: datetime, t1: datetime) -> list[str]:
    rows = db.rows(
        "select j.task_name, extract(epoch from s.at - greatest(d.at, "
        "coalesce(j.scheduled_at, d.at))) from procrastinate_jobs j "
        "join procrastinate_events s on s.job_id = j.id and s.type = 'started' "
        "join lateral (select min(at) as at from procrastinate_events e "
        "  where e.job_id = j.id and e.type = 'deferred') d on true "
        "where s.at >= %s and s.at <= %s",
        t0,
        t1,
    )
    by: dict[str, list[float]] = defaultdict(list)
    for task, late in rows:
        by[str(task)].append(max(0.0, float(late or 0)))
    lines = []
    for task, vals in sorted(by.items(), key=lambda kv: -len(kv[1])):
        lines.append(
            f"  {task:<34} started {len(vals):6d}  start lateness p50 {pct(vals, 50):6.2f}s "
            f"p99 {pct(vals, 99):7.2f}s max {max(vals):7.2f}s"
        )
    return lines


def duplicates(db: Db, gw: GatewayLog, polled_after: datetime) -> tuple[int, int, int]:
    """(gateway extra copies, provider ids recorded twice, sent per Mirage but never seen).
    "Never seen" counts only sends recorded before ``polled_after`` (the gateway's log was
    read after it): one recorded later may simply have gone out after the last read."""
    claimed: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    for gateway_name, text, status, before_poll in db.rows(
        "select i.gateway_name, m.text, m.status, m.sent_at <= %s from outgoing_messages m "
        "join instances i on i.id = m.instance_id where m.claimed_at is not null",
        polled_after,
    ):
        claimed[(gateway_name, text)] += 1
        if status == "sent" and before_poll:
            sent[(gateway_name, text)] += 1
    at_gateway = Counter(gw.entries.values())
    extra = sum(max(0, n - claimed[k]) for k, n in at_gateway.items())
    missing = sum(max(0, n - at_gateway[k]) for k, n in sent.items())
    twice = int(
        db.one(
            "select count(*) from (select provider_message_id from outgoing_messages "
            "where provider_message_id is not null group by 1 having count(*) > 1) d"
        )
    )
    return extra, twice, missing


def fmt(x: float) -> str:
    return "nan" if x != x else f"{x:.2f}"


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tenants", type=int, default=4)
    p.add_argument("--numbers", type=int, default=25, help="numbers per tenant")
    p.add_argument("--conversations", type=int, default=48, help="in all, spread over tenants")
    p.add_argument("--backlog", type=int, default=0, help="queued sends, due at once")
    p.add_argument("--minutes", type=float, default=3.0, help="measured traffic")
    p.add_argument("--time-scale", type=float, default=1.0, help="MIRAGE_TIME_SCALE (1 = real)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=4, help="jobs per worker")
    p.add_argument("--poll-seconds", type=float, default=0.5, help="MIRAGE_JOB_POLL_SECONDS")
    p.add_argument("--pair-parallel", type=int, default=12, help="numbers paired at once")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--plan-backlog", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.plan_backlog:
        return plan_backlog_main(args.plan_backlog)
    if max(_share(args.conversations, args.tenants)) * 2 > args.numbers:
        p.error("each conversation needs its own two numbers of its tenant")

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    stack = Stack(
        time_scale=args.time_scale,
        poll_seconds=args.poll_seconds,
        concurrency=args.concurrency,
        with_redis=False,
        max_connections=60 + 20 * args.workers,
    )
    interrupted = False
    final = "sends_per_s=nan lateness_p99_s=nan duplicates=nan unsent_due=nan"
    problems = False
    gw: GatewayLog | None = None
    try:
        log(f"starting the stack (logs in {stack.logs}); load {os.getloadavg()}")
        stack.start(workers=args.workers)
        db = Db(stack.dsn())
        t_seed = time.monotonic()
        tenants = seed_tenants(stack, db, args)
        n_numbers = sum(len(t.numbers) for t in tenants)
        n_convs = sum(len(t.conversations) for t in tenants)
        log(
            f"seeded {len(tenants)} tenants, {n_numbers} numbers, {n_convs} conversations "
            f"in {time.monotonic() - t_seed:.0f}s"
        )
        gw = GatewayLog(stack, {n["gateway_name"] for t in tenants for n in t.numbers})
        gw.start()
        backlog_planned, plan_s = 0, 0.0
        if args.backlog:
            backlog_planned, plan_s = plan_backlog(stack, db, tenants, args.backlog)
            log(f"backlog: {backlog_planned} messages planned in {plan_s:.0f}s (due tomorrow)")
        pg_pid = None
        with contextlib.suppress(Exception):
            pg_pid = int((stack.cluster.pgdata / "postmaster.pid").read_text().split()[0])
        named = {
            p.name: p.pid
            for p in stack.procs
            if isinstance(p, Proc) and p.alive() and p.name != "redis"
        }
        named["bench"] = os.getpid()
        watch = ProcWatch(named, pg_pid)
        t0 = db.one("select now()")
        if args.backlog:
            t0 = release_backlog(db)
            log(f"backlog released: {backlog_planned} sends due at {t0:%H:%M:%S}")
        watch.begin()
        loads = [os.getloadavg()]
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(10.0, max(0.0, end - time.monotonic())))
            cpu = watch.sample()
            loads.append(os.getloadavg())
            sent = db.one("select count(*) from outgoing_messages where sent_at >= %s", t0)
            busy = " ".join(f"{k}:{v:.0f}%" for k, v in cpu.items() if v >= 5)
            log(f"sent {sent} | {queue_snapshot(db)} | load {loads[-1][0]:.1f} | cpu {busy}")
        t1 = db.one("select now()")
        gw.poll()
        gw.stop.set()
        # ---- figures at the end of the window -------------------------------------------
        wall = (t1 - t0).total_seconds()
        sent_rows = db.rows(
            "select sent_at, (round_id is null and conversation_id is null and text like %s) "
            "from outgoing_messages where sent_at >= %s and sent_at <= %s",
            BACKLOG_PREFIX + "%",
            t0,
            t1,
        )
        sent_total = len(sent_rows)
        backlog_sent = [s for s, b in sent_rows if b]
        buckets = Counter(int((s - t0).total_seconds() // 30) for s, _ in sent_rows)
        timeline = " ".join(f"{buckets.get(i, 0) / 30:.1f}" for i in range(int(wall // 30) + 1))
        if args.backlog:
            drained = len(backlog_sent) >= backlog_planned
            span = (max(backlog_sent) - t0).total_seconds() if drained and backlog_sent else wall
            sends_per_s = len(backlog_sent) / max(1e-6, span)
        else:
            sends_per_s = sent_total / max(1e-6, wall)
        late = lateness(db, t0, t1, args.time_scale)
        unsent_due = int(
            db.one(
                "select count(*) from outgoing_messages where status = 'planned' "
                "and planned_at < %s - make_interval(secs => %s)",
                t1,
                UNSENT_GRACE_S,
            )
        )
        stale_sending = int(
            db.one(
                "select count(*) from outgoing_messages where status = 'sending' and "
                "claimed_at + make_interval(secs => typing_ms / 1000.0 * %s + %s) < %s",
                args.time_scale,
                STALE_SENDING_S,
                t1,
            )
        )
        statuses = dict(
            db.rows(
                "select status, count(*) from outgoing_messages where planned_at >= %s group by 1",
                t0,
            )
        )
        rounds = db.rows(
            "select state, coalesce(left(outcome, 48), '-'), count(*) from rounds "
            "where coalesce(ended_at, now()) >= %s group by 1, 2 order by 3 desc",
            t0,
        )
        deferrals = db.rows(
            "select reason, count(*) from policy_decisions where created_at >= %s group by 1",
            t0,
        )
        jobs = db.rows(
            "select task_name, status, count(*) from procrastinate_jobs "
            "where status in ('todo', 'doing') group by 1, 2 order by 3 desc"
        )
        oldest = db.one(
            "select task_name || ' ' || round(extract(epoch from now() - scheduled_at)::numeric,"
            " 1) || 's' from procrastinate_jobs where status = 'todo' "
            "and scheduled_at <= now() order by scheduled_at limit 1"
        )
        jl = job_lateness(db, t0, t1)
        extra, twice, missing = duplicates(db, gw, t1)
        cpu_lines = watch.report()
        loads.append(os.getloadavg())
        # ---- the report -------------------------------------------------------------------
        print(
            f"fleet: {len(tenants)} tenants × {args.numbers} numbers = {n_numbers} numbers, "
            f"{n_convs} conversations, backlog {backlog_planned} "
            f"(planned in {plan_s:.0f}s); {args.workers} workers × {args.concurrency} slots, "
            f"poll {args.poll_seconds}s; time scale {args.time_scale} "
            f"({'real human delays' if args.time_scale == 1 else 'compressed human delays'}); "
            f"numbers aged 60 days in the database (the first-day warm-up cap is not the "
            f"limit); caps 1000/h, 10000/day, burst 100000/h, no gap, no quiet hours",
            flush=True,
        )
        print(f"window {wall:.0f}s; sent {sent_total} ({len(backlog_sent)} of the backlog)")
        print(f"sends/s per 30 s: {timeline}")
        if args.backlog:
            how = (
                f"drained in {span:.0f}s"
                if drained
                else f"NOT drained: {len(backlog_sent)}/{backlog_planned} in {wall:.0f}s"
            )
            print(f"backlog: {sends_per_s:.1f} sends/s ({how})")
        for kind in ("conversations", "backlog"):
            f = late[kind]
            if not f["n"]:
                continue
            print(
                f"lateness {kind} (n={f['n']}, never claimed {f['never_claimed']}): "
                f"total p50 {fmt(f['total'][0])}s p99 {fmt(f['total'][1])}s "
                f"max {fmt(f['total'][2])}s | claim p50 {fmt(f['claim'][0])}s "
                f"p99 {fmt(f['claim'][1])}s | claimed − planned (incl. waiting for the "
                f"number's earlier sends) p50 {fmt(f['raw'][0])}s p99 {fmt(f['raw'][1])}s | "
                f"delivery beyond typing p50 "
                f"{fmt(f['deliver'][0])}s p99 {fmt(f['deliver'][1])}s"
            )
            print(
                "  claim p99 by minute (sends): "
                + " ".join(f"{m}:{fmt(p)}s({n})" for m, n, p in f["claim_p99_by_minute"])
            )
        gaps = f" (gateway log: {gw.gaps} polls missed entries)" if gw.gaps else ""
        print(
            f"duplicates: gateway copies beyond claims {extra}, provider ids twice {twice}; "
            f"sent per Mirage but unseen at the gateway {missing}{gaps}"
        )
        print(
            f"due but unsent at the end: {unsent_due} planned > {UNSENT_GRACE_S:.0f}s ago; "
            f"{stale_sending} sending > {STALE_SENDING_S:.0f}s past typing; oldest due job "
            f"{oldest or '-'}"
        )
        print(f"messages planned in the window by status: {statuses}")
        print(
            "rounds open or ended in the window: "
            + (", ".join(f"{s}/{o}:{n}" for s, o, n in rounds) or "-")
        )
        print(f"policy decisions: {dict(deferrals) or '-'}")
        print("jobs still todo/doing: " + (", ".join(f"{t} {s}:{n}" for t, s, n in jobs) or "-"))
        print("job start lateness in the window:")
        print("\n".join(jl) or "  -")
        print("processes:")
        print("\n".join(cpu_lines))
        print(
            "load averages (1/5/15 min): start "
            + "/".join(f"{x:.1f}" for x in loads[0])
            + ", max 1-min "
            + f"{max(lo[0] for lo in loads):.1f}, end "
            + "/".join(f"{x:.1f}" for x in loads[-1])
            + f" (cpus: {os.cpu_count()})"
        )
        lat_kind = "conversations" if late["conversations"]["n"] else "backlog"
        p99 = late[lat_kind]["total"][1]
        dups = extra + twice
        problems = bool(dups or stale_sending)
        final = (
            f"sends_per_s={sends_per_s:.2f} lateness_p99_s={fmt(p99)} duplicates={dups} "
            f"unsent_due={unsent_due + stale_sending}"
        )
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping everything")
    finally:
        if gw is not None:
            gw.stop.set()
        stack.close()
        if args.keep_logs or interrupted or problems:
            log(f"logs kept in {stack.logs}")
            with contextlib.suppress(Exception):
                subprocess.run(["rm", "-rf", str(stack.cluster.root)], check=False)
        else:
            stack.remove_files()
    print(final, flush=True)
    if interrupted:
        return 130
    return 1 if problems else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
