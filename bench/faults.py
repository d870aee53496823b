"""Fault injection against a real stack: does sending survive ordinary operations?

    .venv/bin/python bench/faults.py [--minutes 2.5] [--scenarios baseline,pg,sigterm,...]

Starts, as separate processes: a throwaway PostgreSQL cluster, ``mirage migrate``,
``mirage sim``, one ``mirage api``, two ``mirage worker --health-port`` and (when
``redis-server`` exists) a private Redis; seeds a tenant and a user with the CLI, an API token
through the dashboard, numbers paired through the API and the simulator's scan, personas and
warm-up conversations through the API (the numbers are then dated 60 days old in the
database: the warm-up ramp's 20 messages a day is not under test). Human delays are
compressed (MIRAGE_TIME_SCALE); rules (caps, hold limits, the reaper's minute) keep real time.

Each scenario runs traffic for ``--minutes`` with its fault injected part-way, then lets the
system settle by itself (traffic continues, no fault, nothing is reaped or repaired by hand)
until every message and round created during the scenario is final, or ``--settle-minutes``
has passed. Then it prints one line:

- planned: messages created during the scenario; sent: of those, ``sent``;
- duplicated: texts the gateway (the simulator's message log) received from one number more
  often than Mirage claimed them, plus provider ids recorded twice;
- lost: messages of the scenario still ``planned``/``sending`` after the settle period;
- stuck: rounds of the scenario still ``planned``/``running`` after it, plus messages
  ``sending`` for over 5 minutes with no send job;
- rounds by state, and what the fault did (worker exits, readiness, non-2xx answers).

Scenarios: baseline; pg (a fast restart, then a 20 s outage); sigterm (a deploy: SIGTERM a
worker mid-send, start a new one); sigkill (the same with SIGKILL); ban (a number of one pair
is banned: its conversation is blocked once, then waits); redis (Redis killed: sign-in and the
API keep answering, readiness says degraded; skipped without redis-server).
The last line is machine-readable. Everything started is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from mirage.kit.http import limits as pool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._seed import (
    Db,
    checked,
    log,
    mature,
    owner_with_token,
    pair,
    personas_and_settings,
    sign_in,
    sim_call,
    start_pair_conversation,
)
from bench._stack import Stack, Worker, wait_for

SCENARIOS = ("baseline", "pg", "sigterm", "sigkill", "ban", "redis")
EMAIL = "bench@faults.example"
PASSWORD = "faults-bench-password-1"
FAST_SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 1,
    "delay_max_s": 2,
    "quiet_start": None,
    "quiet_end": None,
    "hourly_cap_per_number": 200,
    "daily_cap_per_number": 1000,
    "burst_per_hour": 5000,
    "min_gap_seconds": 0,
    "reply_timeout_s": 60,
    "kill_switch": False,
}
OPEN = ("planned", "sending")
OPEN_ROUNDS = ("planned", "running")
# While a worker is signalled mid-send, every gateway call takes this long: sends are in
# flight long enough to be caught (the test time scale makes typing delays tiny).
SLOW_GATEWAY_MS = 3000


@dataclass
class Seeded:
    tenant_id: str
    token: str
    numbers: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    gateway_names: set[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Result:
    name: str
    planned: int = 0
    sent: int = 0
    duplicated: int = 0
    lost: int = 0
    stuck: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    rounds: dict[str, int] = field(default_factory=dict)
    settle_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        rounds = " ".join(f"{k}:{v}" for k, v in sorted(self.rounds.items())) or "-"
        other = {k: v for k, v in self.statuses.items() if k != "sent"}
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(other.items())) or "-"
        head = (
            f"{self.name:<9} planned={self.planned} sent={self.sent} "
            f"duplicated={self.duplicated} lost={self.lost} stuck={self.stuck} "
            f"| other messages {statuses} | rounds {rounds} | settled in {self.settle_s:.0f}s"
        )
        tail = "".join(f"\n          {n}" for n in self.notes)
        bad = "".join(f"\n          PROBLEM: {p}" for p in self.problems)
        return head + tail + bad


# --- seeding through the CLI, the dashboard, the API and the simulator's control plane -------


def seed(stack: Stack, db: Db, numbers: int, conversations: int) -> Seeded:
    tenant_id, token = owner_with_token(
        stack, db, name="Faults Bench", slug="faults-bench", email=EMAIL, password=PASSWORD
    )
    auth = {"Authorization": f"Bearer {token}"}
    # The simulated network at a tenth of real speed (acks, deliveries); webhook retries at
    # half of Evolution's schedule (5 s, 10 s, ... becomes 2.5 s, 5 s, ...).
    sim_call(stack, "PUT", "/config", json={"timeScale": 0.1, "webhookRetryScale": 0.5})
    made: list[dict[str, Any]] = []
    with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=60) as api:
        for i in range(numbers):
            name = f"Bench {i + 1:02d}"
            r = api.post("/api/v1/instances", headers=auth, json={"display_name": name})
            inst = checked(r, f"instance {name}") | {"bench_phone": f"5511987{i + 1:06d}"}
            pair(stack, api, auth, inst)
            made.append(inst)
        personas = personas_and_settings(api, auth, FAST_SETTINGS)
        convs = []
        for k in range(conversations):
            a, b = made[(2 * k) % len(made)], made[(2 * k + 1) % len(made)]
            conv = start_pair_conversation(api, auth, k, a, b, personas)
            convs.append(conv | {"numbers": [a, b]})
    mature(db, tenant_id)
    return Seeded(tenant_id, token, made, convs, {m["gateway_name"] for m in made})


# --- measuring -------------------------------------------------------------------------------


def window_counts(
    db: Db, tenant_id: str, t0: datetime, t1: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    messages = db.rows(
        "select status, count(*) from outgoing_messages where tenant_id = %s "
        "and created_at >= %s and created_at < %s group by 1",
        tenant_id,
        t0,
        t1,
    )
    rounds = db.rows(
        "select state, count(*) from rounds where tenant_id = %s "
        "and created_at >= %s and created_at < %s group by 1",
        tenant_id,
        t0,
        t1,
    )
    return {str(s): int(n) for s, n in messages}, {str(s): int(n) for s, n in rounds}


def overdue_sending(db: Db, tenant_id: str) -> int:
    """Messages ``sending`` for longer than the reaper needs (3 min grace + its minute + a
    margin) with no send job. A send in flight has no job (the job hands the gateway call to
    its process), so only the age tells a stranded one."""
    return int(
        db.one(
            "select count(*) from outgoing_messages m where m.tenant_id = %s "
            "and m.status = 'sending' and m.claimed_at < now() - interval '5 minutes' "
            "and not exists (select 1 from procrastinate_jobs j "
            "where j.task_name = 'messaging.send_message' and j.status in ('todo', 'doing') "
            "and j.args->>'outgoing_id' = m.id::text)",
            tenant_id,
        )
    )


@dataclass(frozen=True)
class DupFigures:
    gateway: int  # copies the gateway received beyond what Mirage claimed
    provider_ids: int  # provider message ids recorded on more than one message
    missing: int  # sent according to Mirage, never seen by the gateway


def duplicates(stack: Stack, db: Db, seeded: Seeded) -> DupFigures:
    log_entries = sim_call(stack, "GET", "/messages", params={"limit": 10_000})
    at_gateway = Counter(
        (e["fromInstance"], e["text"])
        for e in log_entries
        if e.get("fromInstance") in seeded.gateway_names
    )
    claimed: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    for gateway_name, text, status in db.rows(
        "select i.gateway_name, m.text, m.status from outgoing_messages m "
        "join instances i on i.id = m.instance_id where m.tenant_id = %s "
        "and m.claimed_at is not null",
        seeded.tenant_id,
    ):
        claimed[(gateway_name, text)] += 1
        if status == "sent":
            sent[(gateway_name, text)] += 1
    extra = sum(max(0, n - claimed[k]) for k, n in at_gateway.items())
    missing = sum(max(0, n - at_gateway[k]) for k, n in sent.items())
    twice = int(
        db.one(
            "select count(*) from (select provider_message_id from outgoing_messages "
            "where provider_message_id is not null group by 1 having count(*) > 1) d"
        )
    )
    return DupFigures(extra, twice, missing)


# --- scenario plumbing ---------------------------------------------------------------------


class Ctx:
    def __init__(self, stack: Stack, db: Db, seeded: Seeded, args: argparse.Namespace) -> None:
        self.stack = stack
        self.db = db
        self.seeded = seeded
        self.args = args
        self.expected_exits: set[int] = set()  # pids the bench stopped on purpose
        self.ban: tuple[dict[str, Any], dict[str, Any], datetime] | None = None
        self.redis_failed = 0

    def sleep_until(self, t: float) -> None:
        while (left := t - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))

    def unexpected_deaths(self) -> list[str]:
        return [
            f"{w.name} (pid {w.pid}) exited with status {w.proc.returncode}"
            for w in self.stack.workers
            if not w.alive() and w.pid not in self.expected_exits
        ]

    def workers_ready(self) -> str:
        return ", ".join(f"{w.name}:{w.ready()}" for w in self.stack.live_workers())

    def in_flight_send(self, timeout: float) -> tuple[str, Worker] | None:
        """A send whose gateway call is under way right now, and the worker holding it (the
        one whose send job claimed it: the job hands the call to its own process)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.db.rows(
                "select m.id::text, (select j.worker_id from procrastinate_jobs j "
                "where j.args->>'outgoing_id' = m.id::text "
                "and j.task_name = 'messaging.send_message' order by j.id desc limit 1) "
                "from outgoing_messages m where m.status = 'sending' and m.tenant_id = %s "
                "and m.claimed_at > now() - interval '2 seconds'",
                self.seeded.tenant_id,
            )
            for message_id, worker_id in rows:
                w = self.stack.worker_of(worker_id) if worker_id is not None else None
                if w is not None:
                    return message_id, w
            time.sleep(0.05)
        return None

    def message_status(self, message_id: str) -> str:
        return str(self.db.one("select status from outgoing_messages where id = %s", message_id))


Fault = Callable[[Ctx, float, float], list[str]]  # (ctx, start, end) -> notes


def no_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    ctx.sleep_until(end)
    return [f"workers ready: {ctx.workers_ready()}"]


def pg_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    notes = []
    pids = {w.pid for w in ctx.stack.live_workers()}
    ctx.sleep_until(start + (end - start) * 0.25)
    log("pg_ctl restart -m fast")
    ctx.stack.cluster.restart()
    notes.append(f"fast restart: {_resume(ctx, datetime.now(UTC))}")
    ctx.sleep_until(start + (end - start) * 0.5)
    log("PostgreSQL stopped for 20 s")
    ctx.stack.cluster.stop()
    time.sleep(10)
    during = ctx.workers_ready()
    time.sleep(10)
    ctx.stack.cluster.start()
    back = datetime.now(UTC)
    log("PostgreSQL back")
    notes.append(f"20 s outage (readiness during it: {during}): {_resume(ctx, back)}")
    ctx.sleep_until(end)
    alive = {w.pid for w in ctx.stack.live_workers()}
    notes.append(f"workers alive after both: {len(pids & alive)}/{len(pids)} (same pids)")
    return notes


def _resume(ctx: Ctx, back: datetime) -> str:
    """How long until every worker is ready again and a message is sent after ``back``."""
    t = time.monotonic()
    try:
        wait_for(
            "workers ready",
            lambda: all(w.ready() == 200 for w in ctx.stack.live_workers()),
            120,
        )
        ready_s = f"{time.monotonic() - t:.1f}s"
    except TimeoutError:
        ready_s = "NOT READY after 120s"
    try:
        wait_for(
            "a send after the interruption",
            lambda: ctx.db.one(
                "select count(*) from outgoing_messages where tenant_id = %s and sent_at > %s",
                ctx.seeded.tenant_id,
                back,
            ),
            180,
            0.5,
        )
        sent_s = f"{time.monotonic() - t:.1f}s"
    except TimeoutError:
        sent_s = "NONE within 180s"
    return f"workers ready again in {ready_s}, first send in {sent_s}"


def _deploy(ctx: Ctx, start: float, end: float, sig: signal.Signals) -> list[str]:
    ctx.sleep_until(start + (end - start) / 3)
    sim_call(ctx.stack, "PUT", "/faults", json={"latencyMs": SLOW_GATEWAY_MS})
    try:
        found = ctx.in_flight_send(timeout=90)
        if found is None:
            return ["PROBLEM: no send was caught in flight within 90 s"]
        message_id, victim = found
        t = time.monotonic()
        ctx.expected_exits.add(victim.pid)
        log(f"{sig.name} {victim.name} (pid {victim.pid}) while it sends {message_id[:8]}")
        victim.signal(sig)
        new, before = ctx.stack.spawn_worker()  # the deploy: its replacement starts at once
        code = victim.wait(timeout=120)
        exited = f"{victim.name} exited {code} after {time.monotonic() - t:.1f}s"
        status_then = ctx.message_status(message_id)
        ctx.stack.await_worker(new, before)
        ready_s = time.monotonic() - t
    finally:
        sim_call(ctx.stack, "DELETE", "/faults")
    ctx.sleep_until(end)
    return [
        f"{exited} (the caught send was '{status_then}' then); {new.name} ready "
        f"{ready_s:.1f}s after the signal",
        f"caught send {message_id}",
    ]


def sigterm_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    return _deploy(ctx, start, end, signal.SIGTERM)


def sigkill_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    return _deploy(ctx, start, end, signal.SIGKILL)


def ban_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    conv = ctx.seeded.conversations[-1]
    victim = conv["numbers"][0]
    ctx.sleep_until(start + (end - start) / 4)
    log(f"ban {victim['display_name']} (conversation {conv['name']})")
    sim_call(ctx.stack, "POST", f"/instances/{victim['gateway_name']}/ban", json={})
    ctx.ban = (conv, victim, datetime.now(UTC))
    ctx.sleep_until(end)
    return []


def ban_report(ctx: Ctx) -> tuple[list[str], list[str]]:
    assert ctx.ban is not None
    conv, victim, at = ctx.ban
    rows = ctx.db.rows(
        "select state, count(*) from rounds where conversation_id = %s and ended_at >= %s "
        "group by 1",
        conv["id"],
        at,
    )
    states = {str(s): int(n) for s, n in rows}
    waiting = ctx.db.one("select waiting_reason from conversations where id = %s", conv["id"])
    first_block = ctx.db.one(
        "select min(ended_at) from rounds where conversation_id = %s and state = 'blocked' "
        "and ended_at >= %s",
        conv["id"],
        at,
    )
    watched = (datetime.now(UTC) - first_block).total_seconds() if first_block else 0
    notes = [
        f"{conv['name']} after the ban: rounds ended {states or '-'}; "
        f"watched {watched:.0f}s after the first block; waiting_reason={waiting!r}"
    ]
    problems = []
    if states.get("blocked", 0) != 1:
        problems.append(f"{states.get('blocked', 0)} blocked rounds for the banned pair (want 1)")
    if waiting is None:
        problems.append("the banned pair's conversation shows no waiting_reason")
    # Lift the ban and pair the number again: the conversation should resume by itself.
    sim_call(ctx.stack, "DELETE", f"/instances/{victim['gateway_name']}/ban")
    try:
        with httpx.Client(limits=pool_limits(), base_url=ctx.stack.api, timeout=60) as api:
            pair(ctx.stack, api, ctx.seeded.auth, victim)
        notes.append(f"{victim['display_name']} unbanned and paired again")
    except Exception as exc:  # reported, not fatal: later scenarios exclude the pair
        notes.append(f"{victim['display_name']} could not be paired again: {exc}")
    return notes, problems


def ban_settled(ctx: Ctx) -> bool:
    """Watch the banned pair for 150 s after its first blocked round (re-blocks show up)."""
    if ctx.ban is None:
        return True
    conv, _, at = ctx.ban
    first = ctx.db.one(
        "select min(ended_at) from rounds where conversation_id = %s and state = 'blocked' "
        "and ended_at >= %s",
        conv["id"],
        at,
    )
    return first is not None and (datetime.now(UTC) - first).total_seconds() >= 150


class Poller(threading.Thread):
    """Sign-in every 30 s and GET /api/v1/me every 0.5 s; counts what did not answer 2xx/3xx."""

    def __init__(self, stack: Stack, token: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.token = stack, token
        self.stop = threading.Event()
        self.counts: Counter[str] = Counter()

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        next_sign_in = 0.0
        with (
            httpx.Client(limits=pool_limits(), base_url=self.stack.api, timeout=10) as api,
            httpx.Client(limits=pool_limits(), base_url=self.stack.api, timeout=10) as web,
        ):
            while not self.stop.is_set():
                if time.monotonic() >= next_sign_in:
                    next_sign_in = time.monotonic() + 30
                    self._count("signin", lambda: sign_in(web, EMAIL, PASSWORD).status_code)
                self._count("api", lambda: api.get("/api/v1/me", headers=auth).status_code)
                self.stop.wait(0.5)

    def _count(self, what: str, call: Callable[[], int]) -> None:
        try:
            status = call()
        except httpx.HTTPError:
            status = 0
        self.counts[f"{what}_total"] += 1
        if status == 429:
            self.counts[f"{what}_429"] += 1
        elif not 200 <= status < 400:
            self.counts[f"{what}_failed"] += 1


def redis_fault(ctx: Ctx, start: float, end: float) -> list[str]:
    stack = ctx.stack
    assert stack.redis is not None
    poller = Poller(stack, ctx.seeded.token)
    poller.start()
    notes = []
    try:
        ctx.sleep_until(start + (end - start) / 3)
        log("Redis killed")
        stack.redis.signal(signal.SIGKILL)
        stack.redis.wait(10)
        time.sleep(5)
        r = httpx.get(f"{stack.api}/health/ready", timeout=10)
        body = r.json()
        notes.append(
            f"readiness with Redis down: {r.status_code} degraded={body.get('degraded')} "
            f"redis={body.get('checks', {}).get('redis', {}).get('status')}"
        )
        ctx.sleep_until(start + (end - start) * 2 / 3)
        log("Redis started again")
        stack.start_redis()
        ctx.sleep_until(end)
        r = httpx.get(f"{stack.api}/health/ready", timeout=10)
        notes.append(f"readiness after Redis came back: {r.status_code} {r.json().get('degraded')}")
    finally:
        poller.stop.set()
        poller.join(15)
    c = poller.counts
    notes.append(
        f"poller: sign-in {c['signin_total']} ({c['signin_failed']} failed, "
        f"{c['signin_429']} limited), API {c['api_total']} ({c['api_failed']} failed, "
        f"{c['api_429']} limited)"
    )
    ctx.redis_failed = c["signin_failed"] + c["api_failed"]
    return notes


FAULTS: dict[str, Fault] = {
    "baseline": no_fault,
    "pg": pg_fault,
    "sigterm": sigterm_fault,
    "sigkill": sigkill_fault,
    "ban": ban_fault,
    "redis": redis_fault,
}


def run_scenario(ctx: Ctx, name: str) -> Result:
    args, db, tenant = ctx.args, ctx.db, ctx.seeded.tenant_id
    dups_before = duplicates(ctx.stack, db, ctx.seeded)
    log(f"scenario {name}: {args.minutes} min of traffic")
    t0 = datetime.now(UTC)
    start = time.monotonic()
    notes = FAULTS[name](ctx, start, start + args.minutes * 60)
    t1 = datetime.now(UTC)
    log(f"scenario {name}: settling (up to {args.settle_minutes} min)")
    settle_start = time.monotonic()
    deadline = settle_start + args.settle_minutes * 60
    while True:
        statuses, rounds = window_counts(db, tenant, t0, t1)
        open_now = sum(statuses.get(s, 0) for s in OPEN) + sum(
            rounds.get(s, 0) for s in OPEN_ROUNDS
        )
        extra_ok = ban_settled(ctx) if name == "ban" else True
        if (open_now == 0 and extra_ok) or time.monotonic() >= deadline:
            break
        time.sleep(2)
    res = Result(name, statuses=statuses, rounds=rounds)
    res.settle_s = time.monotonic() - settle_start
    res.planned = sum(statuses.values())
    res.sent = statuses.get("sent", 0)
    res.lost = sum(statuses.get(s, 0) for s in OPEN)
    orphans = overdue_sending(db, tenant)
    res.stuck = sum(rounds.get(s, 0) for s in OPEN_ROUNDS) + orphans
    dups = duplicates(ctx.stack, db, ctx.seeded)
    res.duplicated = (dups.gateway - dups_before.gateway) + (
        dups.provider_ids - dups_before.provider_ids
    )
    res.notes = [n for n in notes if not n.startswith("PROBLEM: ")]
    deferred = db.rows(
        "select reason, count(*) from policy_decisions where tenant_id = %s "
        "and action = 'defer' and created_at >= %s group by 1",
        tenant,
        t0,
    )
    if deferred:
        counts = {str(r): int(n) for r, n in deferred}
        res.notes.append(f"policy deferrals: {counts}")
    res.problems = [n.removeprefix("PROBLEM: ") for n in notes if n.startswith("PROBLEM: ")]
    if dups.missing:
        res.notes.append(f"sent per Mirage, never seen by the gateway (all so far): {dups.missing}")
    if orphans:
        res.problems.append(f"{orphans} message(s) 'sending' for 5+ min with no send job")
    for n in notes:
        if n.startswith("caught send "):
            mid = n.removeprefix("caught send ")
            final = ctx.message_status(mid)
            res.notes.remove(n)
            res.notes.append(f"the caught send ended '{final}'")
            if final in OPEN:
                res.problems.append(f"the send caught mid-flight is still '{final}'")
    if name == "ban":
        more, bad = ban_report(ctx)
        res.notes += more
        res.problems += bad
    if name == "redis" and ctx.redis_failed:
        res.problems.append(f"{ctx.redis_failed} sign-in/API calls failed around the outage")
    res.problems += ctx.unexpected_deaths()
    for kind, count in (("duplicated", res.duplicated), ("lost", res.lost), ("stuck", res.stuck)):
        if count:
            res.problems.append(f"{count} {kind}")
    ctx.expected_exits |= {w.pid for w in ctx.stack.workers if not w.alive()}  # reported once
    while len(ctx.stack.live_workers()) < 2:  # keep two workers for the next scenario
        ctx.stack.start_worker()
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=2.5, help="traffic per scenario")
    p.add_argument(
        "--settle-minutes", type=float, default=6.0, help="longest wait for final states"
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--numbers", type=int, default=10)
    p.add_argument("--conversations", type=int, default=5)
    p.add_argument("--time-scale", type=float, default=0.03, help="MIRAGE_TIME_SCALE")
    p.add_argument("--concurrency", type=int, default=4, help="jobs per worker")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = p.parse_args()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    if args.conversations * 2 > args.numbers:
        p.error("each conversation needs its own two numbers: --numbers >= 2 * --conversations")

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    stack = Stack(
        time_scale=args.time_scale,
        poll_seconds=0.2,
        concurrency=args.concurrency,
        with_redis="redis" in wanted,
    )
    if "redis" in wanted and stack.redis_port is None:
        log("redis-server not found: the redis scenario is skipped")
        wanted.remove("redis")
    results: list[Result] = []
    interrupted = False
    try:
        log(f"starting the stack (logs in {stack.logs})")
        stack.start(workers=2)
        db = Db(stack.dsn())
        seeded = seed(stack, db, args.numbers, args.conversations)
        log(f"seeded {len(seeded.numbers)} numbers, {len(seeded.conversations)} conversations")
        wait_for(
            "the first message sent",
            lambda: db.one("select count(*) from outgoing_messages where status = 'sent'"),
            180,
            1,
        )
        ctx = Ctx(stack, db, seeded, args)
        for name in wanted:
            res = run_scenario(ctx, name)
            results.append(res)
            print(res.line(), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping everything")
    finally:
        stack.close()
        keep = args.keep_logs or any(r.problems for r in results) or interrupted
        if keep:
            log(f"logs kept in {stack.logs}")
            with contextlib.suppress(Exception):
                subprocess.run(["rm", "-rf", str(stack.cluster.root)], check=False)
        else:
            stack.remove_files()
    total = Result("total")
    for r in results:
        total.planned += r.planned
        total.sent += r.sent
        total.duplicated += r.duplicated
        total.lost += r.lost
        total.stuck += r.stuck
    problems = sum(len(r.problems) for r in results)
    print(
        f"scenarios={len(results)} planned={total.planned} sent={total.sent} "
        f"duplicated={total.duplicated} lost={total.lost} stuck={total.stuck} "
        f"problems={problems}",
        flush=True,
    )
    if interrupted:
        return 130
    return 1 if problems else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
