"""SQL statements per webhook and per send, counted by PostgreSQL itself.

    .venv/bin/python bench/query_counts.py [--keep-logs]

Starts a real stack (bench/_stack.py: a throwaway PostgreSQL cluster, ``mirage migrate``,
``mirage sim``, ``mirage api``, one ``mirage worker``) with ``log_statement = 'all'`` and the
client's ``application_name`` in every log line, so each statement the server ran is counted
and attributed to the process that sent it (BEGIN/COMMIT, the tenant context's
``set_config``, pool pings included: they are round trips too). Seeds one tenant the way an
operator would (bench/_seed.py), two paired numbers and a live warm-up conversation, waits for
its first sent message, then stops the worker so nothing else runs, and counts:

- **webhook**: a ``messages.upsert`` (an inbound text from an outside contact) and a
  ``messages.update`` (a delivery receipt of a message the number sent), posted to the API's
  receiver with the instance's signed JWT — once after the number was quiet for 31 s (how
  most numbers of a fleet receive: an event now and then), once more right after (the
  receiver's caches warm). Statements of ``mirage-api:*``.
- **send**: one outgoing message of the conversation through the send pipeline
  (``messaging.service.send_outgoing`` in a child process: decide + claim, the gateway's
  ``sendText`` over HTTP to the simulator, the outcome recorded and the owner's outcome job
  deferred) — the same steps the send job and its in-flight delivery take. Three sends of
  the same number: the first of the process (connection set-up, cold caches), the second
  (caches filling: the cache's listener connects on first use), the third (steady state,
  what a running worker pays). Statements of that child only (``bench-send:*``).

Per path it prints the statements grouped by their text, then one line:
``webhook_queries=<n> send_queries=<n>`` (the quiet-number webhook pair's total ÷ 2 events,
and the third send).

Baseline (main at 2896ef7, before the cache; counts are exact, whatever the machine's load;
the third send was 26 as well):

    webhook, quiet number: upsert 8, update 8 — the receiver's 30 s identity cache had
      expired: BEGIN, set_config, the instance, the tenant's opt-out keywords, COMMIT, a pool
      ping; then set_config + the one pipelined statement
    webhook, back-to-back: upsert 2, update 2 (set_config + the statement)
    send, first of a process: 34 (connection set-up included); next: 26 — per transaction
      a pool ping, BEGIN, set_config, COMMIT; the message (twice, locked), the instance
      (twice), the tenant settings (twice: the decision and the owner's context), the
      tenant, the global kill switch, the number's lock, its sends in flight, the three
      counts, the conversation, the claim, a live notification, the sent update, the
      owner's outcome job
    webhook_queries=8 send_queries=26

With the read cache (kit/cache.py) and the changes around it:

    webhook, quiet number: upsert 2, update 2 — the identity stays cached until the instance
      or the tenant's policies change (announced by the database), so only set_config + the
      pipelined statement remain
    webhook, back-to-back: upsert 2, update 2
    send, first of a process: 32; second: 13; third (steady): 13 — the settings, zone, kill
      switch and the number's status come from the cache, and so do the number's risk
      signals and its conversation's state and windows (migration 0025 announces their
      changes); the counts and the number's other sends being typed are one statement; the
      sent outcome is one UPDATE … RETURNING, and the number is locked to end a failure streak
      only when the cached status shows one; pooled connections are no longer pinged at
      checkout. What is left is per send by nature: per transaction BEGIN, set_config, COMMIT
      (6); the message, locked; the number's lock; the counts; the claim; the live
      notification; the sent update; the owner's outcome job
    webhook_queries=2 send_queries=13   (webhook -75%, send -50%)

The Numbers page's live sends against the caps (docs/number-safety.md, "Where to see it"):
a message marked sent announces its number, inside the sent UPDATE's RETURNING
(``kit.live.notify_expression``): the row re-renders at no extra statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from mirage.kit.http import limits as pool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._seed import (  # noqa: E402
    Db,
    checked,
    cli,
    log,
    mature,
    pair,
    personas_and_settings,
    sign_in,
    start_pair_conversation,
    wait_for,
)
from bench._stack import Stack  # noqa: E402

SETTINGS = {
    "timezone": "America/Sao_Paulo",
    "delay_min_s": 20,
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
QUIET_S = 31.0  # longer than the receiver's identity cache held an entry before the cache
PASSWORD = "counts-bench-password"
SECRET_KEY = "faults-bench-secret-key-0123456789abcdef"  # bench/_stack.py's
MARK = "query-counts: "
_LINE = re.compile(r"^([^|]*)\|LOG:\s+(?:statement|execute [^:]*):\s?(.*)$")


class ServerLog:
    """Statements the server logged since a mark, by client application name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since_mark(self, app_prefix: str) -> list[str]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            lines = f.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            m = _LINE.match(line)
            if m and m.group(1).startswith(app_prefix):
                out.append(m.group(2).strip())
        return out


def show(title: str, statements: list[str]) -> int:
    print(f"\n{title}: {len(statements)} statements")
    for text, n in Counter(_shape(s) for s in statements).most_common():
        print(f"  {n:>3}  {text}")
    return len(statements)


def _shape(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql)
    return sql if len(sql) <= 110 else sql[:107] + "..."


def owner_with_token(stack: Stack, db: Db) -> tuple[str, str]:
    """A tenant and its owner (CLI) and an API token made in the dashboard. The tenant's
    mandatory MFA is turned off and the token marked as made under a step-up, in the
    database: this bench counts statements, it does not exercise MFA."""
    cli(stack, "tenant", "create", "Counts", "--slug", "counts")
    cli(
        stack, "user", "create", "owner@counts.example", "--tenant", "counts", "--role", "owner",
        "--password", PASSWORD,
    )  # fmt: skip
    tenant_id = str(db.one("select id from tenants where slug = 'counts'"))
    db.rows(
        "insert into tenant_settings (id, tenant_id, mfa_required) "
        "values (gen_random_uuid(), %s, false) returning id",
        tenant_id,
    )
    with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=30) as web:
        sign_in(web, "owner@counts.example", PASSWORD)
        r = web.post(
            "/settings/tokens",
            data={
                "name": "counts bench",
                "scopes": ["read", "write", "admin"],
                "expires_in_days": "0",
                "csrf_token": web.cookies.get("mirage_csrf", ""),
            },
        )
        m = re.search(r'id="new-token-value">([^<]+)<', r.text)
        if r.status_code != 201 or m is None:
            raise RuntimeError(f"token not created: {r.status_code}")
    db.rows("update api_tokens set step_up = true returning id")
    return tenant_id, m.group(1).strip()


# --- the send, in a child process (its own application_name) ----------------------------------


def send_child(spec_path: str) -> int:
    """Run with the stack's environment: plan messages (``bench-plan``), then send each with a
    fresh marker in between (``bench-send``), printing one JSON line per send."""
    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.db.engine import session_scope
    from mirage.db.tenancy import tenant_context
    from mirage.messaging import service as messaging
    from mirage.models import OutgoingMessage, Purpose

    spec = json.loads(Path(spec_path).read_text())
    tid = uuid.UUID(spec["tenant_id"])

    async def run() -> None:
        urls = db_engine.resolve_urls(get_settings())
        plan_db = db_engine.make_database(urls, pool_size=2, application_name="bench-plan")
        db_engine.set_database(plan_db)
        ids = []
        with tenant_context(tid):
            async with session_scope() as session:
                for n in range(spec["sends"]):
                    msg = await messaging.plan_message(
                        session,
                        OutgoingMessage(
                            tenant_id=tid,
                            purpose=Purpose.WARMUP,
                            instance_id=uuid.UUID(spec["instance_id"]),
                            conversation_id=uuid.UUID(spec["conversation_id"]),
                            to_number=spec["to_number"],
                            text=f"Oi, tudo certo por aí? ({n + 1})",
                            turn=100 + n,
                            planned_at=datetime.now(UTC) - timedelta(seconds=1),
                            typing_ms=400,
                        ),
                    )
                    ids.append(msg.id)
        await plan_db.dispose()
        send_db = db_engine.make_database(urls, pool_size=2, application_name="bench-send")
        db_engine.set_database(send_db)
        for outgoing_id in ids:
            print(MARK + json.dumps({"ready": str(outgoing_id)}), flush=True)
            sys.stdin.readline()  # the parent marks the log, then says go
            with tenant_context(tid):
                step = await messaging.send_outgoing(outgoing_id)
            print(
                MARK + json.dumps({"sent": str(outgoing_id), "outcome": step.outcome}), flush=True
            )
        await send_db.dispose()

    asyncio.run(run())
    return 0


def _child_line(out: Any) -> str:
    """The child's next line for the bench (its log lines go to the same stdout)."""
    while True:
        line = out.readline()
        if not line:
            return ""
        if line.startswith(MARK):
            return str(line[len(MARK) :])


# --- the webhook envelopes --------------------------------------------------------------------


def _envelope(event: str, gateway_name: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "event": event,
            "instance": gateway_name,
            "data": data,
            "destination": "http://bench",
            "date_time": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "sender": "5511999990000@s.whatsapp.net",
            "server_url": "http://sim",
            "apikey": None,
        }
    ).encode()


def upsert(gateway_name: str) -> bytes:
    return _envelope(
        "messages.upsert",
        gateway_name,
        {
            "key": {
                "remoteJid": "5511987650001@s.whatsapp.net",
                "fromMe": False,
                "id": f"QC{uuid.uuid4().hex[:18].upper()}",
            },
            "pushName": "Ana",
            "status": "DELIVERY_ACK",
            "message": {"conversation": "Oi! Tudo bem por aí?"},
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "instanceId": "bench",
            "source": "android",
        },
    )


def receipt(gateway_name: str, provider_id: str, remote_jid: str) -> bytes:
    return _envelope(
        "messages.update",
        gateway_name,
        {
            "keyId": provider_id,
            "remoteJid": remote_jid,
            "fromMe": True,
            "status": "READ",
            "instanceId": "bench",
        },
    )


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--send-child":
        return send_child(sys.argv[2])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args()
    stack = Stack(time_scale=0.05, poll_seconds=0.2, concurrency=4, with_redis=False)
    stack.cluster.configure("log_statement = 'all'\nlog_line_prefix = '%a|'\n")
    server_log = ServerLog(stack.cluster.log)
    totals: dict[str, int] = {}
    try:
        log(f"starting the stack (logs in {stack.logs})")
        stack.start(workers=1)
        db = Db(stack.dsn())
        tenant_id, token = owner_with_token(stack, db)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=60) as api:
            numbers = []
            for i, name in enumerate(("Ana", "Bia")):
                r = api.post("/api/v1/instances", headers=auth, json={"display_name": name})
                inst = checked(r, f"instance {name}") | {"bench_phone": f"551190000{i + 1:04d}"}
                pair(stack, api, auth, inst)
                numbers.append(inst)
            personas = personas_and_settings(api, auth, SETTINGS)
            conv = start_pair_conversation(api, auth, 0, numbers[0], numbers[1], personas)
        mature(db)
        log("waiting for the conversation's first sent message")
        sent = wait_for(
            "a sent message",
            lambda: db.rows(
                "select provider_message_id, instance_id, to_number from outgoing_messages "
                "where status = 'sent' and provider_message_id is not null limit 1"
            ),
            240,
            1,
        )[0]
        for w in stack.workers:
            w.stop()
        time.sleep(3)  # the simulator's last webhooks (acks) land

        a = numbers[0]
        secret = db.one(
            "select webhook_secret_enc from instances where id = %s", uuid.UUID(a["id"])
        )
        from mirage.kit import crypto

        plain = crypto.decrypt(SECRET_KEY, secret)
        sender = next(n for n in numbers if n["id"] == str(sent[1]))
        sender_secret = crypto.decrypt(
            SECRET_KEY,
            db.one("select webhook_secret_enc from instances where id = %s", sent[1]),
        )

        def post(inst: dict[str, Any], key: str, body: bytes) -> None:
            now = int(time.time())
            bearer = jwt.encode(
                {"iat": now, "exp": now + 600, "app": "evolution", "action": "webhook"},
                key,
                algorithm="HS256",
            )
            r = httpx.post(
                f"{stack.api}/webhooks/evolution/{inst['id']}",
                content=body,
                headers={
                    "Authorization": f"Bearer {bearer}",
                    "X-Mirage-Tenant": tenant_id,
                    "Content-Type": "application/json",
                },
                timeout=30,
            )
            if r.status_code != 200:
                raise RuntimeError(f"webhook: {r.status_code} {r.text[:200]}")

        def counted(title: str, inst: dict[str, Any], key: str, body: bytes) -> int:
            server_log.mark()
            post(inst, key, body)
            time.sleep(0.3)
            return show(title, server_log.since_mark("mirage-api"))

        log(f"quiet for {QUIET_S:.0f} s, then the webhooks")
        to_jid = f"{sent[2]}@s.whatsapp.net"
        time.sleep(QUIET_S)
        quiet = counted(
            "webhook messages.upsert (quiet number)", a, plain, upsert(a["gateway_name"])
        )
        warm = counted(
            "webhook messages.upsert (back-to-back)", a, plain, upsert(a["gateway_name"])
        )
        time.sleep(QUIET_S)
        update = receipt(sender["gateway_name"], sent[0], to_jid)
        quiet_r = counted("webhook messages.update (quiet number)", sender, sender_secret, update)
        warm_r = counted("webhook messages.update (back-to-back)", sender, sender_secret, update)
        totals.update(webhook_quiet=quiet + quiet_r, webhook_warm=warm + warm_r)

        spec = stack.root / "send-spec.json"
        b = numbers[1]
        spec.write_text(
            json.dumps(
                {
                    "tenant_id": tenant_id,
                    "instance_id": a["id"],
                    "conversation_id": conv["id"],
                    "to_number": b["bench_phone"],
                    "sends": 3,
                }
            )
        )
        child = subprocess.Popen(
            [sys.executable, __file__, "--send-child", str(spec)],
            env={**stack.env, "PYTHONPATH": str(ROOT)},
            cwd=stack.logs,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        sends = []
        for label in ("first of its process", "second", "third: steady"):
            line = _child_line(child.stdout)
            if not line.startswith('{"ready"'):
                raise RuntimeError(f"send child: {line!r} (see {stack.logs})")
            server_log.mark()
            child.stdin.write("go\n")
            child.stdin.flush()
            done = json.loads(_child_line(child.stdout))
            time.sleep(0.3)
            n = show(
                f"send ({label}; outcome {done['outcome']})", server_log.since_mark("bench-send")
            )
            sends.append(n)
        child.wait(timeout=60)
        totals.update(send_first=sends[0], send_next=sends[1], send_steady=sends[2])
    finally:
        stack.close()
        if not args.keep_logs:
            stack.remove_files()
    print(
        f"\nwebhook pair, quiet number: {totals['webhook_quiet']}; back-to-back: "
        f"{totals['webhook_warm']}; send, first of a process: {totals['send_first']}; "
        f"second: {totals['send_next']}; third: {totals['send_steady']}"
    )
    print(
        f"webhook_queries={totals['webhook_quiet'] / 2:g} send_queries={totals['send_steady']}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
