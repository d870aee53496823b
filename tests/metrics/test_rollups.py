"""The rollups equal a direct count over the raw facts, whatever the history: messages in and
out (of every kind), receipts arriving after their message was counted (statuses only move up),
the send pipeline recording a provider id later (the kind changes), opt-outs recorded after
the message, policy decisions, rounds and campaign recipients moving through their statuses
(the funnels); every message, decision and round counted under its warm-up conversation (named
by itself, by the send that wrote it, or — for a message received from one of the tenant's own
numbers — by that number's send with the same provider id, possibly recorded after the copy
arrived) — with incremental refreshes at random points, and
again after concurrent refreshes and a full rebuild.

The expected figures are computed here in Python from the history as generated (not by the
SQL under test)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.metrics import service

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture(autouse=True)
def _no_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the refresh's safety overlap (5 minutes) every refresh of a short test would
    re-fold everything: only what changed since the last refresh is folded here, so a change
    the refresh failed to notice shows."""
    monkeypatch.setattr(service, "OVERLAP", timedelta(0))


NIL = uuid.UUID(int=0)
STATUS = ["ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED", "DELETED"]
OWNERS = ["none", "round", "campaign", "og_warmup", "og_campaign", "og_optout_confirm"]
REASONS = ["quiet_hours", "hourly_cap", "daily_cap", "kill_switch"]
ROUND_STATES = ["completed", "timed_out", "failed", "blocked"]
BASE = datetime(2026, 11, 20, tzinfo=UTC)
ZONE = ZoneInfo("America/Sao_Paulo")  # the tenants' default zone


@dataclass
class Msg:
    id: uuid.UUID
    tenant: int
    instance: int
    direction: str
    remote: str
    created_at: datetime
    rank: int
    owner: str
    outgoing: str | None = None  # purpose recorded by the pipeline for its provider id
    opted_out: bool = False
    conversation: int | None = None  # named by the message itself (a round's message)
    outgoing_conversation: int | None = None  # named by its send (this number's)
    echo_conversation: int | None = None  # named by the send of the own number that wrote it
    echoed: bool = False


@dataclass
class Recipient:
    id: uuid.UUID
    tenant: int
    status: str = "planned"
    reason: str | None = None


# Recipient statuses in their forward order (campaign_recipients' trigger refuses going back;
# the unsent finals only before a send).
RANK = {"planned": 0, "deferred": 1, "sent": 3, "delivered": 4, "read": 5, "replied": 6}
UNSENT = ("failed", "expired", "skipped")


@dataclass
class World:
    tenants: list[uuid.UUID]
    instances: list[list[uuid.UUID]]
    owner_jids: list[list[str]]
    contacts: list[uuid.UUID]
    conversations: list[list[uuid.UUID]]  # two per tenant
    messages: list[Msg] = field(default_factory=list)
    decisions: list[tuple[int, int | None, str, str, datetime, int | None]] = field(
        default_factory=list
    )
    rounds: list[tuple[int, str, datetime, int]] = field(default_factory=list)
    campaigns: list[uuid.UUID] = field(default_factory=list)  # one per tenant
    recipients: list[Recipient] = field(default_factory=list)
    clock: datetime = BASE


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def _one(conn: psycopg.AsyncConnection[Any], query: str, *args: object) -> Any:
    cur = await conn.execute(query, args)
    row = await cur.fetchone()
    return row[0] if row else None


async def _world(conn: psycopg.AsyncConnection[Any]) -> World:
    tenants, instances, jids, contacts, convs, campaigns = [], [], [], [], [], []
    for _ in range(2):
        t = uuid.uuid4()
        await conn.execute(
            "insert into tenants (id, name, slug) values (%s, 'm', %s)", (t, f"m-{t.hex}")
        )
        ids, own = [], []
        for k in range(2):
            i = uuid.uuid4()
            jid = f"55119{i.int % 10**8:08d}@s.whatsapp.net"
            await conn.execute(
                "insert into instances (id, tenant_id, display_name, gateway_name, token_enc, "
                "webhook_secret_enc, owner_jid) values (%s, %s, %s, %s, 'x', 'x', %s)",
                (i, t, f"n{k}", f"m-{i.hex}", jid),
            )
            ids.append(i)
            own.append(jid)
        c = uuid.uuid4()
        await conn.execute(
            "insert into contacts (id, tenant_id, name, phone_e164, legal_basis, consent_state, "
            "provenance_source, provenance_at) values (%s, %s, 'c', %s, 'consent', 'granted', "
            "'t', now())",
            (c, t, "+55119" + str(c.int % 10**8).zfill(8)),
        )
        v = [uuid.uuid4(), uuid.uuid4()]
        for n, cid in enumerate(v):
            await conn.execute(
                "insert into conversations (id, tenant_id, name, topics, windows) "
                "values (%s, %s, %s, '{futebol}', '{}')",
                (cid, t, f"c{n}"),
            )
        p, k = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "insert into outreach_policies (id, tenant_id, name, weekdays, dayparts, "
            "contact_start, contact_end, optout_keywords, confirmation_text, validity_minutes, "
            "duplicate_limit, duplicate_window_minutes) values (%s, %s, 'p', '{0,1,2,3,4}', "
            "'{morning}', '08:00', '18:00', '{}', 'ok', 240, 3, 60)",
            (p, t),
        )
        await conn.execute(
            "insert into campaigns (id, tenant_id, name, policy_id, variants, state, started_at) "
            "values (%s, %s, 'c', %s, '{oi}', 'running', now())",
            (k, t, p),
        )
        tenants.append(t)
        instances.append(ids)
        jids.append(own)
        contacts.append(c)
        convs.append(v)
        campaigns.append(k)
    return World(tenants, instances, jids, contacts, convs, campaigns=campaigns)


def _remote(w: World, tenant: int, pick: int) -> str:
    # Two outside contacts, and the tenant's own other number (a warm-up partner).
    pool = ["5521900000001@s.whatsapp.net", "5521900000002@s.whatsapp.net", w.owner_jids[tenant][1]]
    return pool[pick % len(pool)]


async def _apply(conn: psycopg.AsyncConnection[Any], w: World, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "msg":
        _, tenant, inst, direction, remote, gap, rank, owner, conv = op
        w.clock += timedelta(minutes=gap)
        m = Msg(
            uuid.uuid4(), tenant, inst, direction, _remote(w, tenant, remote), w.clock, rank, owner
        )
        m.conversation = conv if owner == "round" else None  # a round's message names it
        await conn.execute(
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, status, status_rank, status_history, "
            "created_at, round_id, campaign_id, conversation_id) values (%s, %s, %s, %s, %s, "
            "%s, %s, 'conversation', %s, %s, '[]', %s, %s, %s, %s)",
            (
                m.id,
                w.tenants[tenant],
                w.instances[tenant][inst],
                m.id.hex,
                direction,
                direction == "outbound",
                m.remote,
                STATUS[rank],
                rank,
                m.created_at,
                uuid.uuid4() if owner == "round" else None,
                uuid.uuid4() if owner == "campaign" else None,
                None if m.conversation is None else w.conversations[tenant][m.conversation],
            ),
        )
        w.messages.append(m)
        if owner.startswith("og_") and direction == "outbound":
            await _link(conn, w, m, owner.removeprefix("og_"), conv)
    elif kind == "status" and w.messages:
        m = w.messages[op[1] % len(w.messages)]
        m.rank = max(m.rank, op[2])
        # As the webhook receiver does: the status only moves up, updated_at is now().
        await conn.execute(
            "update messages set status = case when %s > status_rank then %s else status end, "
            "status_rank = greatest(status_rank, %s), updated_at = now() where id = %s",
            (op[2], STATUS[op[2]], op[2], m.id),
        )
    elif kind == "link" and w.messages:
        m = w.messages[op[1] % len(w.messages)]
        if m.direction == "outbound" and m.outgoing is None:
            await _link(conn, w, m, op[2], op[3])
    elif kind == "echo" and w.messages:
        # The tenant's other number (whose JID wrote this inbound message to number 0) records
        # the provider id of its send, naming its conversation (or none) — after the copy was
        # stored and perhaps counted.
        m = w.messages[op[1] % len(w.messages)]
        own = w.owner_jids[m.tenant][1]
        if m.direction == "inbound" and m.instance == 0 and m.remote == own and not m.echoed:
            m.echoed, m.echo_conversation = True, op[2]
            await conn.execute(
                "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, "
                "turn, planned_at, purpose, status, sent_at, provider_message_id, "
                "conversation_id) values (%s, %s, %s, %s, 'oi', 0, now(), 'warmup', 'sent', "
                "now(), %s, %s)",
                (
                    uuid.uuid4(),
                    w.tenants[m.tenant],
                    w.instances[m.tenant][1],
                    f"55219{m.id.int % 10**8:08d}",
                    m.id.hex,
                    None if op[2] is None else w.conversations[m.tenant][op[2]],
                ),
            )
    elif kind == "optout" and w.messages:
        m = w.messages[op[1] % len(w.messages)]
        if m.direction == "inbound" and not m.opted_out:
            m.opted_out = True
            await conn.execute(
                "insert into consent_events (id, tenant_id, contact_id, kind, source, "
                "message_id) values (%s, %s, %s, 'opt_out', 'inbound', %s)",
                (uuid.uuid4(), w.tenants[m.tenant], w.contacts[m.tenant], m.id),
            )
    elif kind == "decision":
        _, tenant, inst, action, reason, conv = op
        at = await _one(
            conn,
            "insert into policy_decisions (id, tenant_id, instance_id, action, reason, "
            "conversation_id) values (%s, %s, %s, %s, %s, %s) returning created_at",
            uuid.uuid4(),
            w.tenants[tenant],
            None if inst is None else w.instances[tenant][inst],
            action,
            reason,
            None if conv is None else w.conversations[tenant][conv],
        )
        w.decisions.append((tenant, inst, action, reason, at, conv))
    elif kind == "round":
        _, tenant, state, conv = op
        at = await _one(
            conn,
            "insert into rounds (id, tenant_id, conversation_id, topic, exchanges, planned_at, "
            "state, ended_at) values (%s, %s, %s, 'futebol', 3, now(), %s, now()) "
            "returning ended_at",
            uuid.uuid4(),
            w.tenants[tenant],
            w.conversations[tenant][conv],
            state,
        )
        w.rounds.append((tenant, state, at, conv))
    elif kind == "recipient":  # frozen into the tenant's campaign
        r = Recipient(uuid.uuid4(), op[1])
        await conn.execute(
            "insert into campaign_recipients (id, tenant_id, campaign_id, contact_id, "
            "phone_e164) values (%s, %s, %s, %s, '+5511999990000')",
            (r.id, w.tenants[r.tenant], w.campaigns[r.tenant], uuid.uuid4()),
        )
        w.recipients.append(r)
    elif kind == "advance" and w.recipients:
        r = w.recipients[op[1] % len(w.recipients)]
        status, reason = op[2], op[3]
        if r.status in UNSENT:
            return
        if status in UNSENT:
            if RANK[r.status] >= RANK["sent"]:
                return
        elif RANK[status] <= RANK[r.status]:
            return
        r.status, r.reason = status, reason if status in UNSENT else None
        # As the execution code does, without touching updated_at (the trigger does).
        await conn.execute(
            "update campaign_recipients set status = %s, reason = %s where id = %s",
            (r.status, r.reason, r.id),
        )
    elif kind == "refresh":
        await service.refresh()


async def _link(
    conn: psycopg.AsyncConnection[Any], w: World, m: Msg, purpose: str, conv: int | None
) -> None:
    """The send pipeline records the provider id of the message it sent (after the webhook
    stored the message: the message's kind and conversation change without the message
    changing); a warm-up send names its conversation."""
    m.outgoing = purpose
    m.outgoing_conversation = conv if purpose == "warmup" else None
    await conn.execute(
        "insert into outgoing_messages (id, tenant_id, instance_id, to_number, text, turn, "
        "planned_at, purpose, status, sent_at, provider_message_id, conversation_id) "
        "values (%s, %s, %s, %s, 'oi', 0, now(), %s, 'sent', now(), %s, %s)",
        (
            uuid.uuid4(),
            w.tenants[m.tenant],
            w.instances[m.tenant][m.instance],
            f"55219{m.id.int % 10**8:08d}",  # one opt-out confirmation per number, ever
            purpose,
            m.id.hex,
            None
            if m.outgoing_conversation is None
            else w.conversations[m.tenant][m.outgoing_conversation],
        ),
    )


def _conversation(w: World, m: Msg) -> uuid.UUID:
    for c in (m.conversation, m.outgoing_conversation, m.echo_conversation):
        if c is not None:
            return w.conversations[m.tenant][c]
    return NIL


def _kind(w: World, m: Msg) -> str:
    if m.owner == "campaign":
        return "campaign"
    if m.owner == "round":
        return "warmup"
    if m.outgoing is not None:
        # An opt-out confirmation is outreach: counted with the campaigns.
        return "campaign" if m.outgoing == "optout_confirm" else m.outgoing
    if m.direction == "inbound" and m.remote in w.owner_jids[m.tenant]:
        return "warmup"
    return "manual"


Figures = tuple[
    dict[tuple[Any, ...], tuple[int, ...]],
    dict[tuple[Any, ...], tuple[int, ...]],
    dict[tuple[Any, ...], tuple[int, ...]],
    Counter[Any],
    Counter[Any],
    Counter[Any],
]


def expected(w: World) -> Figures:
    msgs: dict[tuple[Any, ...], list[int]] = {}
    for m in w.messages:
        key = (
            w.tenants[m.tenant],
            w.instances[m.tenant][m.instance],
            _hour(m.created_at),
            m.direction,
            _kind(w, m),
            _conversation(w, m),
        )
        out = m.direction == "outbound"
        replied = m.direction == "inbound" and any(
            p.direction == "outbound"
            and (p.tenant, p.instance, p.remote) == (m.tenant, m.instance, m.remote)
            and m.created_at - timedelta(hours=24) <= p.created_at < m.created_at
            for p in w.messages
        )
        row = [
            1,
            int(out and 3 <= m.rank <= 5),
            int(out and 4 <= m.rank <= 5),
            int(replied),
            int(m.rank == 0),
            int(m.direction == "inbound" and m.opted_out),
        ]
        acc = msgs.setdefault(key, [0] * 6)
        for i, v in enumerate(row):
            acc[i] += v
    decisions: Counter[Any] = Counter(
        (
            w.tenants[t],
            NIL if i is None else w.instances[t][i],
            _hour(at),
            action,
            reason,
            NIL if c is None else w.conversations[t][c],
        )
        for t, i, action, reason, at, c in w.decisions
    )
    rounds: Counter[Any] = Counter(
        (w.tenants[t], _hour(at), s, w.conversations[t][c]) for t, s, at, c in w.rounds
    )
    tenant_hours: dict[tuple[Any, ...], list[int]] = {}
    for (tenant, _instance, hour, direction, kind, _c), counts in msgs.items():
        acc = tenant_hours.setdefault((tenant, hour, direction, kind), [0] * 6)
        for i, v in enumerate(counts):
            acc[i] += v
    # Per number and day in the tenant's zone (the tenants here have the default zone).
    number_days: dict[tuple[Any, ...], list[int]] = {}
    for (tenant, instance, hour, direction, _k, _c), counts in msgs.items():
        day = hour.astimezone(ZONE).date()
        acc = number_days.setdefault((tenant, instance, day), [0] * 7)
        acc[0 if direction == "outbound" else 1] += counts[0]
        for i, v in enumerate(counts[1:]):
            acc[2 + i] += v
    recipients: Counter[Any] = Counter(
        (w.tenants[r.tenant], w.campaigns[r.tenant], r.status, r.reason or "") for r in w.recipients
    )
    return (
        {k: tuple(v) for k, v in msgs.items()},
        {k: tuple(v) for k, v in tenant_hours.items()},
        {k: tuple(v) for k, v in number_days.items()},
        decisions,
        rounds,
        recipients,
    )


async def actual(conn: psycopg.AsyncConnection[Any], w: World) -> Figures:
    t = w.tenants
    cur = await conn.execute(
        "select tenant_id, instance_id, hour, direction, kind, conversation_id, messages, "
        "delivered, read, replied, failed, opted_out from metrics_message_hours "
        "where tenant_id = any(%s)",
        (t,),
    )
    msgs = {tuple(r[:6]): tuple(r[6:]) for r in await cur.fetchall()}
    cur = await conn.execute(
        "select tenant_id, hour, direction, kind, messages, delivered, read, replied, failed, "
        "opted_out from metrics_tenant_hours where tenant_id = any(%s)",
        (t,),
    )
    tenant_hours = {tuple(r[:4]): tuple(r[4:]) for r in await cur.fetchall()}
    cur = await conn.execute(
        "select tenant_id, instance_id, day, sent, received, delivered, read, replied, failed, "
        "opted_out from metrics_number_days where tenant_id = any(%s)",
        (t,),
    )
    number_days = {tuple(r[:3]): tuple(r[3:]) for r in await cur.fetchall()}
    cur = await conn.execute(
        "select tenant_id, instance_id, hour, action, reason, conversation_id, decisions "
        "from metrics_decision_hours where tenant_id = any(%s)",
        (t,),
    )
    decisions: Counter[Any] = Counter({tuple(r[:6]): r[6] for r in await cur.fetchall()})
    cur = await conn.execute(
        "select tenant_id, hour, state, conversation_id, rounds from metrics_round_hours "
        "where tenant_id = any(%s)",
        (t,),
    )
    rounds: Counter[Any] = Counter({tuple(r[:4]): r[4] for r in await cur.fetchall()})
    cur = await conn.execute(
        "select tenant_id, campaign_id, status, reason, recipients "
        "from metrics_campaign_recipients where tenant_id = any(%s)",
        (t,),
    )
    recipients: Counter[Any] = Counter({tuple(r[:4]): r[4] for r in await cur.fetchall()})
    return msgs, tenant_hours, number_days, decisions, rounds, recipients


tenant_i = st.integers(0, 1)
conv_i = st.one_of(st.none(), st.integers(0, 1))  # one of the tenant's two conversations
ops = st.one_of(
    st.tuples(
        st.just("msg"),
        tenant_i,
        st.integers(0, 1),
        st.sampled_from(["inbound", "outbound"]),
        st.integers(0, 2),
        st.sampled_from([0, 1, 7, 45, 130, 60 * 23]),
        st.integers(0, 6),
        st.sampled_from(OWNERS),
        conv_i,
    ),
    st.tuples(st.just("status"), st.integers(0, 50), st.integers(0, 6)),
    st.tuples(
        st.just("link"),
        st.integers(0, 50),
        st.sampled_from(["warmup", "campaign", "optout_confirm"]),
        conv_i,
    ),
    st.tuples(st.just("echo"), st.integers(0, 50), conv_i),
    st.tuples(st.just("optout"), st.integers(0, 50)),
    st.tuples(
        st.just("decision"),
        tenant_i,
        st.one_of(st.none(), st.integers(0, 1)),
        st.sampled_from(["defer", "deny"]),
        st.sampled_from(REASONS),
        conv_i,
    ),
    st.tuples(st.just("round"), tenant_i, st.sampled_from(ROUND_STATES), st.integers(0, 1)),
    st.tuples(st.just("recipient"), tenant_i),
    st.tuples(
        st.just("advance"),
        st.integers(0, 50),
        st.sampled_from([*RANK, *UNSENT]),
        st.sampled_from(["suppressed", "gateway", None]),
    ),
    st.tuples(st.just("refresh")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(ops, min_size=1, max_size=40))  # refreshes fall anywhere in it
async def test_rollups_equal_a_direct_count(
    bootstrap_conninfo: str, history: list[tuple[Any, ...]]
) -> None:
    async with await psycopg.AsyncConnection.connect(bootstrap_conninfo, autocommit=True) as conn:
        w = await _world(conn)
        for op in history:
            await _apply(conn, w, op)
        await service.refresh()
        want = expected(w)
        assert await actual(conn, w) == want
        # Refreshing again (nothing new) changes nothing.
        await service.refresh()
        assert await actual(conn, w) == want


async def test_concurrent_refreshes_and_rebuild_agree(bootstrap_conninfo: str) -> None:
    async with await psycopg.AsyncConnection.connect(bootstrap_conninfo, autocommit=True) as conn:
        w = await _world(conn)
        history: list[tuple[Any, ...]] = [
            ("msg", 0, 0, "outbound", 0, 0, 2, "none", None),
            ("msg", 0, 0, "inbound", 0, 7, 3, "none", None),
            ("msg", 0, 1, "inbound", 2, 45, 3, "none", None),
            ("msg", 1, 0, "outbound", 1, 130, 0, "og_campaign", None),
            ("msg", 1, 1, "outbound", 0, 0, 3, "none", None),
            ("msg", 0, 0, "inbound", 2, 1, 3, "none", None),  # from the tenant's number 1
            ("decision", 0, 0, "deny", "kill_switch", 1),
            ("round", 1, "completed", 0),
            ("recipient", 0),
            ("recipient", 0),
            ("recipient", 1),
            ("advance", 0, "sent", None),
            ("advance", 1, "skipped", "suppressed"),
        ]
        for op in history:
            await _apply(conn, w, op)
        # Several workers at once: serialised by the advisory lock, same result.
        await asyncio.gather(*(service.refresh() for _ in range(4)))
        want = expected(w)
        assert await actual(conn, w) == want
        # A late receipt after those refreshes: the next one folds it.
        await _apply(conn, w, ("status", 0, 4))
        await _apply(conn, w, ("optout", 1))
        # The pipeline records the provider id of a message already counted (as manual).
        await _apply(conn, w, ("link", 4, "warmup", 1))
        # Number 1 records the provider id of its send after number 0 stored (and the refresh
        # counted) its copy: the copy moves to that send's conversation.
        await _apply(conn, w, ("echo", 5, 0))
        # A receipt for a campaign recipient sent before those refreshes.
        await _apply(conn, w, ("advance", 0, "read", None))
        assert await actual(conn, w) != expected(w)
        await asyncio.gather(service.refresh(), service.refresh())
        want = expected(w)
        assert await actual(conn, w) == want
        # A full rebuild of one tenant, and of all, gives the same figures.
        slug = await _one(conn, "select slug from tenants where id = %s", w.tenants[0])
        rebuilt = await service.rebuild(slug)
        assert rebuilt.message_buckets >= 2
        assert await actual(conn, w) == want
        await service.rebuild()
        assert await actual(conn, w) == want


async def test_rebuild_of_an_unknown_tenant_is_refused() -> None:
    with pytest.raises(service.UnknownTenant):
        await service.rebuild("no-such-tenant-slug")
