"""Delivery and read ratios and the day's new contacts weigh on a number's risk: a periodic look
at each tenant's sends (``safety.service.assess_sends``) records ``low_delivery`` when under
80% of its recent settled sends reached the phone, ``low_reads`` when under 30% of the
delivered were read (each judging only sends no earlier signal of its kind judged), and
``new_contacts`` once a day when its campaign sends today went over a quarter of its warm-up
cap. All three are gradual: they move the band, never the sudden-jump pause."""

from __future__ import annotations

import contextlib
import html
import uuid
from datetime import UTC, datetime, time, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from procrastinate.exceptions import AlreadyEnqueued

from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit import jobs
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.models.tenancy import Role
from mirage.policy import Band
from mirage.policy.ramp import degrade, stage_cap
from mirage.providers import ConnectionState
from mirage.safety import service as safety
from mirage.safety import tasks as safety_tasks
from mirage.safety.score import (
    DELIVERY_SETTLE,
    LOW_DELIVERY_PCT,
    LOW_READ_PCT,
    MIN_ACK_SAMPLE,
    RATIO_WINDOW,
    AckSample,
    SignalKind,
    ack_signals,
    new_contact_allowance,
    new_contacts_signal,
    sample_start,
)
from mirage.safety.views import KIND_LABELS
from tests.conftest import TenantFixture, make_tenant, sign_in, sql

ZONE = ZoneInfo("America/Sao_Paulo")  # the tenants' default zone
PROPS = settings(max_examples=150, deadline=None)

# --- the rules (pure) --------------------------------------------------------------------------


@PROPS
@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))
def test_ratio_signals_only_under_the_floors_once_the_sample_is_big_enough(
    sent: int, delivered: int, read: int
) -> None:
    delivered, read = min(delivered, sent), min(read, delivered, sent)
    kinds = [k for k, _ in ack_signals(AckSample(sent, delivered), AckSample(0, delivered, read))]
    low_delivery = sent >= MIN_ACK_SAMPLE and delivered / sent < LOW_DELIVERY_PCT / 100
    low_reads = delivered >= MIN_ACK_SAMPLE and read / delivered < LOW_READ_PCT / 100
    assert (SignalKind.LOW_DELIVERY in kinds) == low_delivery
    assert (SignalKind.LOW_READS in kinds) == low_reads


def test_at_a_floor_is_not_under_it_and_the_details_say_how_many() -> None:
    assert ack_signals(AckSample(20, 16), AckSample(0, 20, 6)) == []  # 80% and 30% exactly
    assert ack_signals(AckSample(35, 28), AckSample(0, 0)) == []  # 80%, 0.8 × 35 is inexact
    assert ack_signals(AckSample(20, 15), AckSample(0, 20, 5)) == [
        (SignalKind.LOW_DELIVERY, {"delivered": 15, "sent": 20}),
        (SignalKind.LOW_READS, {"read": 5, "delivered": 20}),
    ]
    assert ack_signals(AckSample(19, 0), AckSample(0, 19, 0)) == []  # too few to judge


MINUTE = timedelta(minutes=1)
BASE = datetime(2026, 12, 1, tzinfo=UTC)


def _looks(sends: list[tuple[int, bool]], minutes: int) -> tuple[list[set[int]], int]:
    """Every ten minutes over ``minutes``, the delivery rule on ``sends`` ((minute, delivered)):
    the sends each ``low_delivery`` signal judged, and how many settled sends of the last
    window no signal judged at the end."""
    last: datetime | None = None
    judged: list[set[int]] = []
    for tick in range(0, minutes + 1, 10):
        now = BASE + tick * MINUTE
        start, end = sample_start(now, last, DELIVERY_SETTLE), now - DELIVERY_SETTLE
        sample = {i for i, (m, _ok) in enumerate(sends) if start < BASE + m * MINUTE <= end}
        delivered = sum(1 for i in sample if sends[i][1])
        found = ack_signals(AckSample(len(sample), delivered), AckSample(0, 0))
        if found:
            judged.append(sample)
            last = now
            assert all(BASE + sends[i][0] * MINUTE >= now - RATIO_WINDOW for i in sample)
    return judged, len(sample) if not found else 0


@PROPS
@given(st.lists(st.tuples(st.integers(0, 48 * 60), st.booleans()), max_size=400))
def test_each_low_delivery_signal_judges_its_own_sends(sends: list[tuple[int, bool]]) -> None:
    """Looking again and again never blames the same sends twice: the samples of two signals
    share no send, and each holds at least the minimum sample."""
    judged, _left = _looks(sends, 48 * 60)
    assert all(len(s) >= MIN_ACK_SAMPLE for s in judged)
    assert all(not a & b for a, b in combinations(judged, 2))


def test_a_long_undelivered_run_owes_one_signal_per_twenty_fresh_sends() -> None:
    """One send a minute for two days, none delivered, a look every ten minutes: a signal each
    time twenty more have settled (a look adds ten) — not one per look — and every settled send
    judged once, but for the fewer than twenty since the last signal."""
    sends = [(m, False) for m in range(48 * 60)]
    judged, left = _looks(sends, 48 * 60)
    assert all(MIN_ACK_SAMPLE <= len(s) < MIN_ACK_SAMPLE + 10 for s in judged)
    settled = 48 * 60 - 10 + 1  # minutes 0 … 2870 by the last look
    assert sum(len(s) for s in judged) + left == settled
    assert left < MIN_ACK_SAMPLE


def test_the_new_contact_allowance_is_a_quarter_of_the_warm_up_cap() -> None:
    # Stages 0–4 (20, 50, 100, 200, 1000 a day): 5 is baileys-antiban's "≤ 5 strangers a
    # day", 250 Meta's first tier of new people a day.
    assert [new_contact_allowance(stage_cap(s)) for s in range(5)] == [5, 12, 25, 50, 250]
    assert new_contact_allowance(degrade(stage_cap(0))) == 2  # a risky band halves the ramp
    assert new_contact_allowance(0) == 0  # a number that may send nothing
    assert new_contacts_signal(50, 0, signalled_today=False) is None
    assert new_contacts_signal(5, 5, signalled_today=False) is None
    assert new_contacts_signal(6, 5, signalled_today=False) == {"count": 6, "allowance": 5}


@PROPS
@given(st.lists(st.integers(0, 40), min_size=1, max_size=40), st.integers(0, 4))
def test_new_contacts_owe_one_signal_a_day_at_most(increments: list[int], stage: int) -> None:
    """Looks through a day whose campaign sends keep growing: exactly one signal if the day
    went over the allowance, none otherwise."""
    allowance = new_contact_allowance(stage_cap(stage))
    count, signalled, owed = 0, False, 0
    for more in increments:
        count += more
        if new_contacts_signal(count, allowance, signalled) is not None:
            owed, signalled = owed + 1, True
    assert owed == (1 if count > allowance else 0)


def test_the_timeline_names_every_kind() -> None:
    assert set(KIND_LABELS) == set(SignalKind)


# --- on a real database ------------------------------------------------------------------------


def _admin(t: TenantFixture) -> Principal:
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=Role.OWNER,
        user_id=t.user_id,
        scopes=ROLE_SCOPES[Role.OWNER],
        mfa_enrolled=False,
        mfa_verified_at=None,
    )


async def _number(t: TenantFixture, name: str, first_connected: datetime | None) -> uuid.UUID:
    iid = uuid.uuid4()
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            session.add(
                Instance(
                    id=iid,
                    tenant_id=t.tenant_id,
                    display_name=name,
                    gateway_name=f"ratio-{iid.hex}",
                    token_enc="x",
                    webhook_secret_enc="x",
                    state=ConnectionState.OPEN,
                    owner_jid="5511900000001@s.whatsapp.net",
                    needs_pairing=False,
                    first_connected_at=first_connected,
                )
            )
    return iid


RANK = {2: "SERVER_ACK", 3: "DELIVERY_ACK", 4: "READ", 5: "PLAYED", 6: "DELETED"}


async def _outbound(
    conninfo: str, t: TenantFixture, iid: uuid.UUID, rank: int, at: datetime, n: int = 1
) -> None:
    """``n`` messages the number sent at ``at``, now at ``rank`` (as the gateway told)."""
    for _ in range(n):
        m = uuid.uuid4()
        await sql(
            conninfo,
            "insert into messages (id, tenant_id, instance_id, provider_message_id, direction, "
            "from_me, remote_jid, message_type, status, status_rank, status_history, created_at) "
            "values (%s, %s, %s, %s, 'outbound', true, '5521900000009@s.whatsapp.net', "
            "'conversation', %s, %s, '[]', %s)",
            m,
            t.tenant_id,
            iid,
            m.hex,
            RANK[rank],
            rank,
            at,
        )


async def _campaign_sends(
    conninfo: str, t: TenantFixture, iid: uuid.UUID, at: datetime, n: int, purpose: str = "campaign"
) -> None:
    for _ in range(n):
        await sql(
            conninfo,
            "insert into outgoing_messages (id, tenant_id, purpose, instance_id, to_number, "
            "text, turn, planned_at, status, sent_at) "
            "values (%s, %s, %s, %s, %s, 'oi', 0, %s, 'sent', %s)",
            uuid.uuid4(),
            t.tenant_id,
            purpose,
            iid,
            f"55119{uuid.uuid4().int % 10**8:08d}",
            at,
            at,
        )


async def _assess(t: TenantFixture, now: datetime) -> list[tuple[uuid.UUID, SignalKind]]:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            return await safety.assess_sends(session, now)


async def _entries(conninfo: str, iid: uuid.UUID) -> list[tuple[str, str | None]]:
    rows = await sql(
        conninfo,
        "select kind, detail from number_signals where instance_id = %s order by seq",
        iid,
    )
    return [(k, d) for k, d in rows]


async def _state(t: TenantFixture, iid: uuid.UUID) -> Instance:
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            found = await session.get(Instance, iid)
            assert found is not None
            return found


@pytest.mark.usefixtures("no_background_jobs")  # the periodic look would judge these sends too
async def test_a_low_delivery_ratio_is_signalled_once_per_fresh_sample(
    bootstrap_conninfo: str,
) -> None:
    t, other = await make_tenant(mfa=False), await make_tenant(mfa=False)
    # The tenant lowers the sudden-jump pause to 10 points: a ratio signal (15) still does not
    # pause the number — it is gradual.
    with tenant_context(t.tenant_id):
        async with session_scope() as session:
            row = await safety.get_settings(session, _admin(t))
            values = {name: getattr(row, name) for name in safety.SETTING_FIELDS}
            await safety.update_settings(session, _admin(t), values | {"auto_pause_score_jump": 10})
    now = utcnow()
    poor, fine = await _number(t, "Poor", now), await _number(t, "Fine", now)
    elsewhere = await _number(other, "Elsewhere", now)
    ago = now - timedelta(hours=2)
    # Poor: 25 settled sends, 18 delivered (72%: under 80%); read receipts all there.
    await _outbound(bootstrap_conninfo, t, poor, 4, ago, 12)
    await _outbound(bootstrap_conninfo, t, poor, 5, ago, 6)
    await _outbound(bootstrap_conninfo, t, poor, 2, ago, 7)
    # Ten more just now, none delivered yet: not settled, not judged.
    await _outbound(bootstrap_conninfo, t, poor, 2, now - timedelta(minutes=2), 10)
    # A deleted message is neither delivered nor read (as on the metrics page).
    await _outbound(bootstrap_conninfo, t, poor, 6, ago, 1)
    # Older than the day: outside the window.
    await _outbound(bootstrap_conninfo, t, poor, 2, now - timedelta(hours=25), 30)
    # Fine: 25 settled sends, 20 delivered and read (80%: at the floor, not under it).
    await _outbound(bootstrap_conninfo, t, fine, 4, ago, 20)
    await _outbound(bootstrap_conninfo, t, fine, 2, ago, 5)
    # Another tenant's number as poor as can be: not this tenant's look.
    await _outbound(bootstrap_conninfo, other, elsewhere, 2, ago, 40)

    assert await _assess(t, now) == [(poor, SignalKind.LOW_DELIVERY)]
    assert await _entries(bootstrap_conninfo, poor) == [
        ("low_delivery", "@low_delivery?delivered=18&sent=26"),
    ]
    assert await _entries(bootstrap_conninfo, fine) == []
    assert await _entries(bootstrap_conninfo, elsewhere) == []
    state = await _state(t, poor)
    assert (state.risk_score, state.risk_band, state.paused_at) == (15, Band.GREEN, None)

    # Looked at again (the next ten minutes): the same sends are not blamed twice.
    assert await _assess(t, now + timedelta(minutes=10)) == []
    # Twenty fresh sends, none delivered, settled by the next look: a second signal on those
    # and the ten that were too recent before.
    await _outbound(bootstrap_conninfo, t, poor, 2, now - timedelta(minutes=5), 20)
    later = now + timedelta(minutes=20)
    assert await _assess(t, later) == [(poor, SignalKind.LOW_DELIVERY)]
    entries = await _entries(bootstrap_conninfo, poor)
    assert entries[-2:] == [
        ("low_delivery", "@low_delivery?delivered=0&sent=30"),
        ("band_changed", "@band_change?from_band=green&to_band=yellow"),
    ]
    state = await _state(t, poor)
    assert state.risk_band == Band.YELLOW and state.paused_at is None
    # The other tenant's own look finds its number.
    assert await _assess(other, now) == [(elsewhere, SignalKind.LOW_DELIVERY)]


@pytest.mark.usefixtures("no_background_jobs")
async def test_a_low_read_ratio_is_a_weaker_signal_on_sends_read_receipts_had_time_for(
    bootstrap_conninfo: str,
) -> None:
    t = await make_tenant(mfa=False)
    now = utcnow()
    iid = await _number(t, "Unread", now)
    # 30 delivered two to five hours ago, 5 of them read (17%: under 30%).
    await _outbound(bootstrap_conninfo, t, iid, 4, now - timedelta(hours=2), 5)
    await _outbound(bootstrap_conninfo, t, iid, 3, now - timedelta(hours=5), 25)
    # Delivered half an hour ago, unread: in the delivery sample, too early for the reads'.
    await _outbound(bootstrap_conninfo, t, iid, 3, now - timedelta(minutes=30), 10)

    assert await _assess(t, now) == [(iid, SignalKind.LOW_READS)]
    assert await _entries(bootstrap_conninfo, iid) == [
        ("low_reads", "@low_reads?read=5&delivered=30"),
    ]
    assert (await _state(t, iid)).risk_score == 5
    # Looked at again: the thirty judged are not judged twice, the ten fresh ones are too few.
    assert await _assess(t, now + timedelta(hours=2)) == []


@pytest.mark.usefixtures("no_background_jobs")
async def test_new_contacts_over_the_warm_up_allowance_owe_one_signal_a_day(
    bootstrap_conninfo: str,
) -> None:
    t = await make_tenant(mfa=False)
    # Noon, tenant time: every instant of the test is on one local day, then the next.
    today = datetime.combine(utcnow().astimezone(ZONE).date(), time(12), ZONE)
    now = today.astimezone(UTC)
    # New today: stage 0, 20 a day, 5 new contacts.
    fresh = await _number(t, "Nova", now - timedelta(hours=3))
    # Connected ten days ago, idle but yesterday (a green day with sends): stage 1, 50 a day,
    # 12 new contacts.
    older = await _number(t, "Madura", now - timedelta(days=10))
    await _campaign_sends(bootstrap_conninfo, t, older, now - timedelta(days=1), 1, "warmup")
    # New today and in the yellow band: the ramp halved, 2 new contacts.
    risky = await _number(t, "Arriscada", now - timedelta(hours=3))
    await sql(
        bootstrap_conninfo,
        "insert into number_signals (id, tenant_id, instance_id, kind, detail, at) "
        "values (gen_random_uuid(), %s, %s, 'unanswered', '@unanswered_run?count=20', %s)",
        t.tenant_id,
        risky,
        now - timedelta(minutes=1),
    )

    await _campaign_sends(bootstrap_conninfo, t, fresh, now - timedelta(hours=1), 5)
    await _campaign_sends(bootstrap_conninfo, t, fresh, now - timedelta(hours=1), 30, "warmup")
    await _campaign_sends(bootstrap_conninfo, t, older, now - timedelta(hours=1), 12)
    await _campaign_sends(bootstrap_conninfo, t, risky, now - timedelta(hours=1), 2)
    assert await _assess(t, now) == []  # each at its allowance (warm-up sends are not new)

    for iid in (fresh, older, risky):
        await _campaign_sends(bootstrap_conninfo, t, iid, now - timedelta(minutes=30), 1)
    got = await _assess(t, now)
    assert sorted(got) == sorted((i, SignalKind.NEW_CONTACTS) for i in (fresh, older, risky))
    assert (await _entries(bootstrap_conninfo, fresh))[-1] == (
        "new_contacts",
        "@new_contacts_day?count=6&allowance=5",
    )
    assert (await _entries(bootstrap_conninfo, older))[-1] == (
        "new_contacts",
        "@new_contacts_day?count=13&allowance=12",
    )
    assert ("new_contacts", "@new_contacts_day?count=3&allowance=2") in await _entries(
        bootstrap_conninfo, risky
    )

    # Later the same day, more new contacts: already signalled today.
    await _campaign_sends(bootstrap_conninfo, t, fresh, now + timedelta(hours=2), 10)
    assert await _assess(t, now + timedelta(hours=3)) == []
    # The next day starts a new count: six more owe a new signal.
    tomorrow = now + timedelta(days=1)
    await _campaign_sends(bootstrap_conninfo, t, fresh, tomorrow - timedelta(hours=1), 6)
    assert await _assess(t, tomorrow) == [(fresh, SignalKind.NEW_CONTACTS)]
    kinds = [k for k, _d in await _entries(bootstrap_conninfo, fresh)]
    assert kinds.count("new_contacts") == 2


@pytest.mark.usefixtures("no_background_jobs")  # this test runs the jobs itself
async def test_the_periodic_job_looks_at_each_tenants_sends(bootstrap_conninfo: str) -> None:
    t = await make_tenant(mfa=False)
    now = utcnow()
    iid = await _number(t, "Periódica", now)
    await _outbound(bootstrap_conninfo, t, iid, 2, now - timedelta(hours=2), 25)
    # (AlreadyEnqueued: the ten minutes' own is waiting, and does the same.)
    with contextlib.suppress(AlreadyEnqueued):
        await safety_tasks.assess_all.defer_async()
    await jobs.app.run_worker_async(
        wait=False, install_signal_handlers=False, queues=["maintenance", "upkeep"]
    )
    assert await _entries(bootstrap_conninfo, iid) == [
        ("low_delivery", "@low_delivery?delivered=0&sent=25")
    ]


@pytest.mark.usefixtures("no_background_jobs")
async def test_the_timeline_shows_the_new_signals_in_the_readers_language(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    now = utcnow()
    iid = await _number(t, "Vendas R", now)
    await _outbound(bootstrap_conninfo, t, iid, 2, now - timedelta(hours=2), 10)
    await _outbound(bootstrap_conninfo, t, iid, 3, now - timedelta(hours=2), 20)
    await _campaign_sends(bootstrap_conninfo, t, iid, now, 6)
    found = await _assess(t, now)
    assert sorted(k for _i, k in found) == sorted(
        [SignalKind.LOW_DELIVERY, SignalKind.LOW_READS, SignalKind.NEW_CONTACTS]
    )

    await sign_in(client, t)
    page = html.unescape((await client.get(f"/instances/{iid}/safety")).text)
    for text in (
        "Taxa de entrega baixa",
        "20 de 30 mensagens recentes chegaram ao celular do destinatário",
        "Taxa de leitura baixa",
        "0 de 20 mensagens entregues recentes foram lidas",
        "Muitos contatos novos hoje",
        "mais que as 5 que o aquecimento permite",
    ):
        assert text in page, text
    assert "@low_" not in page and "@new_contacts" not in page
    client.cookies.set("mirage_lang", "en")
    page_en = html.unescape((await client.get(f"/instances/{iid}/safety")).text)
    client.cookies.delete("mirage_lang")
    for text in (
        "Low delivery ratio",
        "20 of 30 recent messages reached the recipient's phone",
        "Many new contacts today",
    ):
        assert text in page_en, text
