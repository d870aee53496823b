"""Number safety: record each number's risk signals on its timeline, score them, act on them.

The signals arrive where the facts already do — a connection update, a QR limit, a failed or
unconfirmed send, an opt-out — and each of those places calls `record` in its own
transaction. `record` appends the entry, recomputes the number's risk score (`score`), notes a
band change on the timeline, and takes the automatic actions:

- a ban or restriction code (403/402) quarantines the number: only an admin releases it;
- entering the critical band quarantines it too;
- the reach-out time lock (463), an error rate over the tenant's threshold once enough sends
  were made in the hour, or a sudden jump of the score pauses it (an operator resumes it).

The policy engine reads the band at every send (`band_for`), decayed to that instant.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.db.tenancy import current_tenant_id
from mirage.kit import jobs, live
from mirage.kit.cache import Cache
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.logging import get_logger
from mirage.models import Instance, NumberSignal, Tenant, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.policy import (
    Band,
    BandThresholds,
    Health,
    NumberState,
    TenantPolicy,
    band_of,
    local_day_start,
    number_caps,
)
from mirage.policy.bands import NO_OUTREACH
from mirage.policy.ramp import warmup_stage as ramp_stage
from mirage.safety import alerts, reasons
from mirage.safety.repository import SignalRepository
from mirage.safety.score import (
    BAN_CODES,
    DEFAULT_HALF_LIFE,
    DELIVERY_SETTLE,
    GRADUAL,
    HORIZON,
    RATIO_WINDOW,
    READ_SETTLE,
    TIME_LOCK_CODE,
    Signal,
    SignalKind,
    ack_signals,
    new_contact_allowance,
    new_contacts_signal,
    outreach_signals,
    risk_score,
    sample_start,
    series,
)

log = get_logger(__name__)
HOUR = timedelta(hours=1)
RELEASE_REASON_MAX = 300


@dataclass(frozen=True)
class Settings:
    """A tenant's safety settings, as the rules use them."""

    thresholds: BandThresholds
    half_life: timedelta
    error_pct: int
    min_sends: int
    score_jump: int


def settings_of(row: TenantSettings) -> Settings:
    return Settings(
        thresholds=BandThresholds(
            yellow=row.risk_yellow_from,
            orange=row.risk_orange_from,
            red=row.risk_red_from,
            critical=row.risk_critical_from,
        ),
        half_life=timedelta(minutes=row.risk_half_life_minutes),
        error_pct=row.auto_pause_error_pct,
        min_sends=row.auto_pause_min_sends,
        score_jump=row.auto_pause_score_jump,
    )


DEFAULT_SETTINGS = Settings(
    thresholds=BandThresholds(),
    half_life=DEFAULT_HALF_LIFE,
    error_pct=50,
    min_sends=5,
    score_jump=20,
)


# Each send decision reads the band (and the warm-up stage): the settings they need are kept
# per process, dropped on every process when tenant_settings change (kit.cache).
_settings_cache: Cache[Settings] = Cache("safety-settings", tables=("tenant_settings",))
# The days a number sent on, over complete past days only (their sends no longer change):
# read once per number and day (the TTL and any instance change drop them sooner).
_active_days_cache: Cache[frozenset[date]] = Cache("active-days", tables=("instances",))
# A number's recent signals, from an hour boundary on (the key moves once an hour): dropped
# when any signal of the tenant is written, so the band is worked out at each decision's
# `now` (the score fades with time) from signals as current as the table.
_signals_cache: Cache[tuple[Signal, ...]] = Cache("number-signals", tables=("number_signals",))


async def _settings(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> Settings:
    """The tenant's settings (the defaults while it has no settings row yet); ``None``: the
    session's tenant. Cached under the tenant whose context reads them, never another's."""
    reading = current_tenant_id()
    tenant_id = tenant_id or reading

    async def load() -> Settings:
        row = await SignalRepository(session).settings_row(tenant_id)
        return DEFAULT_SETTINGS if row is None else settings_of(row)

    if tenant_id is None or tenant_id != reading:
        return await load()
    return await _settings_cache.get_or_load(tenant_id, None, load)


@dataclass(frozen=True)
class Risk:
    score: int
    band: Band


async def risks(
    session: AsyncSession, instance_ids: Sequence[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, Risk]:
    """The live (decayed) risk of each listed number of the session's tenant. One query for
    the signals, one for the settings."""
    if not instance_ids:
        return {}
    now = now or utcnow()
    found = await SignalRepository(session).signals_since(instance_ids, now - HORIZON)
    if not any(found.values()):
        # No signal, no risk: green whatever the thresholds (each is 1 or more).
        return {i: Risk(0, Band.GREEN) for i in found}
    # The numbers are the session's tenant's (row-level security): so are its settings.
    cfg = await _settings(session)
    out: dict[uuid.UUID, Risk] = {}
    for instance_id, signals in found.items():
        score = risk_score(signals, now, cfg.half_life)
        out[instance_id] = Risk(score, band_of(score, cfg.thresholds))
    return out


async def fleet_risk(
    session: AsyncSession, now: datetime
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The overview's part: the tenant's numbers by live band, and those at risk (orange or
    worse) as (name, their safety page). Three statements at most."""
    numbers = await SignalRepository(session).numbers()
    found = await risks(session, [i for i, _n in numbers], now)
    by_band: dict[str, int] = {}
    at_risk: list[tuple[str, str]] = []
    for instance_id, name in numbers:
        band = found[instance_id].band if instance_id in found else Band.GREEN
        by_band[band.value] = by_band.get(band.value, 0) + 1
        if band in NO_OUTREACH:
            at_risk.append((name, f"/instances/{instance_id}/safety"))
    return by_band, at_risk


async def band_for(session: AsyncSession, instance: Instance, now: datetime) -> str:
    """The number's band at ``now`` (a campaign's choice of senders)."""
    return (await risks(session, [instance.id], now))[instance.id].band.value


#: How far back the warm-up stage is worked out (the ramp's last step is reached by then).
STAGE_DAYS = 31


async def warmup_stage(
    session: AsyncSession, instance: Instance, now: datetime, zone: ZoneInfo
) -> int | None:
    """The warm-up stage the number earned by health (`mirage.policy.ramp.warmup_stage`)
    over its complete tenant-local days so far (the last `STAGE_DAYS`); None before it ever
    connected (its age ramp governs)."""
    return (await band_and_stage(session, instance, now, zone))[1]


async def band_and_stage(
    session: AsyncSession, instance: Instance, now: datetime, zone: ZoneInfo
) -> tuple[str, int | None]:
    """The number's band at ``now`` and its warm-up stage (see ``warmup_stage``): what each
    send decision needs, from one read of the number's signals. The days it sent on are
    complete past days (they no longer change): kept per number and day."""
    days = _stage_days(instance, now, zone)
    signals = await _signals_since(session, instance, _signals_from(days, now, zone))
    # No signal, no risk: green and every day green, whatever the settings say.
    cfg = DEFAULT_SETTINGS if not signals else await _settings(session, instance.tenant_id)
    band = band_of(risk_score(signals, now, cfg.half_life), cfg.thresholds).value
    if instance.first_connected_at is None:
        return band, None
    if not days:
        return band, 0
    today = now.astimezone(zone).date()
    active = await _active_days(session, instance, days[0], today, zone)
    return band, _stage(days, active, signals, cfg, zone)


def _stage_days(instance: Instance, now: datetime, zone: ZoneInfo) -> list[date]:
    """The complete tenant-local days the number's stage is worked out over (the last
    `STAGE_DAYS` since it first connected; none before that)."""
    if instance.first_connected_at is None:
        return []
    today = now.astimezone(zone).date()
    first = max(instance.first_connected_at.astimezone(zone).date(), today - timedelta(STAGE_DAYS))
    return [first + timedelta(i) for i in range((today - first).days)]


def _signals_from(days: Sequence[date], now: datetime, zone: ZoneInfo) -> datetime:
    """Since when the signals weigh on the score now and on each of ``days``."""
    since = now - HORIZON
    if days:
        since = min(since, local_day_start(days[0], zone) - HORIZON)
    return since


def _stage(
    days: Sequence[date],
    active: frozenset[date] | set[date],
    signals: Sequence[Signal],
    cfg: Settings,
    zone: ZoneInfo,
) -> int:
    """The stage after ``days`` (pure): each day's (sent anything, stayed green all day)."""
    facts = []
    for day in days:
        begin = local_day_start(day, zone)
        end = local_day_start(day + timedelta(1), zone)
        # The score only rises at a signal and fades between them: its highest point in the
        # day is at the day's start or at one of the day's signals.
        peaks = [begin, *(x.at for x in signals if begin <= x.at < end)]
        worst = max(risk_score(signals, at, cfg.half_life) for at in peaks)
        facts.append((day in active, worst < cfg.thresholds.yellow))
    return ramp_stage(facts)


@dataclass(frozen=True)
class Standing:
    """A number's live risk and the warm-up stage it earned (None: never connected)."""

    risk: Risk
    stage: int | None


async def standings(
    session: AsyncSession, instances: Sequence[Instance], now: datetime, zone: ZoneInfo
) -> dict[uuid.UUID, Standing]:
    """``band_and_stage`` (with the score) for a page of the session's tenant's numbers: one
    statement for every number's signals, one for the days they sent on, and the settings
    (cached) — not one read per number."""
    if not instances:
        return {}
    days = {i.id: _stage_days(i, now, zone) for i in instances}
    since = min(_signals_from(d, now, zone) for d in days.values())
    repo = SignalRepository(session)
    found = await repo.signals_since([i.id for i in instances], since)
    cfg = await _settings(session) if any(found.values()) else DEFAULT_SETTINGS
    active = await _active_days_of(session, instances, days, now.astimezone(zone).date(), zone)
    out: dict[uuid.UUID, Standing] = {}
    for instance in instances:
        signals = found.get(instance.id, [])
        score = risk_score(signals, now, cfg.half_life)
        stage: int | None = None
        if instance.first_connected_at is not None:
            mine = days[instance.id]
            stage = _stage(mine, active.get(instance.id, set()), signals, cfg, zone) if mine else 0
        out[instance.id] = Standing(Risk(score, band_of(score, cfg.thresholds)), stage)
    return out


async def warmup_stages(
    session: AsyncSession, instance_ids: Sequence[uuid.UUID], now: datetime, zone: ZoneInfo
) -> dict[uuid.UUID, int | None]:
    """``warmup_stage`` of several numbers of the session's tenant at once (a table of
    numbers, by id): their first connection read in one statement, then ``standings``. A
    number not found is left out."""
    if not instance_ids:
        return {}
    tenant_id = current_tenant_id()
    connected = await SignalRepository(session).first_connected(instance_ids)
    numbers = [
        Instance(id=i, tenant_id=tenant_id, first_connected_at=at) for i, at in connected.items()
    ]
    return {i: s.stage for i, s in (await standings(session, numbers, now, zone)).items()}


async def _signals_since(
    session: AsyncSession, instance: Instance, since: datetime
) -> list[Signal]:
    """The number's weighing signals since ``since`` (``SignalRepository.signals_since``)."""
    hour = since.replace(minute=0, second=0, microsecond=0)

    async def load() -> tuple[Signal, ...]:
        return tuple(
            (await SignalRepository(session).signals_since([instance.id], hour))[instance.id]
        )

    if instance.tenant_id != current_tenant_id():
        found = await load()
    else:
        found = await _signals_cache.get_or_load(instance.tenant_id, (instance.id, hour), load)
    # Newest first, at most the repository's limit: the ones since `hour` that are also
    # since `since` are the same as a read from `since` would give.
    return [x for x in found if x.at >= since]


async def _active_days(
    session: AsyncSession, instance: Instance, first: date, today: date, zone: ZoneInfo
) -> frozenset[date]:
    """The complete past days (``first`` … yesterday) the number sent on."""
    key = (instance.id, first, today, zone.key)

    async def load() -> frozenset[date]:
        start = local_day_start(first, zone)
        return frozenset(await SignalRepository(session).active_days(instance.id, start, zone.key))

    if instance.tenant_id != current_tenant_id():
        return await load()
    return await _active_days_cache.get_or_load(instance.tenant_id, key, load)


async def _active_days_of(
    session: AsyncSession,
    instances: Sequence[Instance],
    days: dict[uuid.UUID, list[date]],
    today: date,
    zone: ZoneInfo,
) -> dict[uuid.UUID, frozenset[date]]:
    """``_active_days`` of a page of numbers: those the per-number cache holds (the send
    decisions fill it) from it, the others in one statement (and into the cache)."""
    reading = current_tenant_id()
    out: dict[uuid.UUID, frozenset[date]] = {}
    missing: list[Instance] = []
    for instance in instances:
        mine = days.get(instance.id)
        if not mine:
            continue
        key = (instance.id, mine[0], today, zone.key)
        hit = _active_days_cache.get(instance.tenant_id, key)
        if hit is not None and instance.tenant_id == reading:
            out[instance.id] = hit
        else:
            missing.append(instance)
    if not missing:
        return out
    generation = _active_days_cache.generation
    since = local_day_start(min(days[i.id][0] for i in missing), zone)
    found = await SignalRepository(session).active_days_of([i.id for i in missing], since, zone.key)
    for instance in missing:
        first = days[instance.id][0]
        value = frozenset(d for d in found.get(instance.id, ()) if d >= first)
        out[instance.id] = value
        if instance.tenant_id == reading:
            key = (instance.id, first, today, zone.key)
            _active_days_cache.put(instance.tenant_id, key, value, generation)
    return out


async def number_stage(
    session: AsyncSession, principal: Principal, instance: Instance
) -> int | None:
    """The number's warm-up stage now, for its page."""
    require(principal, "read")
    tenant = await session.get(Tenant, instance.tenant_id)
    zone = ZoneInfo(tenant.timezone if tenant else "America/Sao_Paulo")
    return await warmup_stage(session, instance, utcnow(), zone)


def classify_error(error: str) -> tuple[SignalKind, int | None]:
    """A send failure's signal: the reach-out time lock (463) has a kind of its own."""
    low = error.lower()
    # 463 as a word of its own: never a digit run inside a phone number or an id.
    if re.search(rf"\b{TIME_LOCK_CODE}\b", low) or "time lock" in low or "timelock" in low:
        return SignalKind.TIME_LOCK, TIME_LOCK_CODE
    return SignalKind.SEND_FAILED, None


async def record(
    session: AsyncSession,
    instance: Instance,
    kind: SignalKind,
    *,
    code: int | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> NumberSignal:
    """Append a signal to the number's timeline, rescore it and act (see the module doc)."""
    now = now or utcnow()
    cfg = await _settings(session, instance.tenant_id)
    repo = SignalRepository(session)
    signals = (await repo.signals_since([instance.id], now - HORIZON))[instance.id]
    before = risk_score(signals, now, cfg.half_life)
    after = risk_score([*signals, Signal(kind.value, now, code)], now, cfg.half_life)
    # Written once with its score: the timeline is append-only (no UPDATE for the app role).
    row = await repo.add(
        NumberSignal(
            tenant_id=instance.tenant_id,
            instance_id=instance.id,
            kind=kind.value,
            code=code,
            detail=(detail or None) and detail[:300],
            score=after,
            at=now,
        )
    )
    old_band = instance.risk_band or band_of(before, cfg.thresholds).value
    band = band_of(after, cfg.thresholds)
    instance.risk_score = after
    instance.risk_band = band.value
    if band.value != old_band:
        change = reasons.encode("band_change", from_band=old_band, to_band=band.value)
        await _note(session, instance, SignalKind.BAND_CHANGED, change, now)
    signal = kind.value if code is None else f"{kind.value} {code}"
    reason = reasons.encode("band_signal", score=after, signal=signal)
    await alerts.on_band(session, instance, band, reason, now)
    log.info(
        "safety.signal",
        instance_id=str(instance.id),
        kind=kind.value,
        code=code,
        score=after,
        band=band.value,
    )
    await _act(session, instance, kind, code, before, after, band, cfg, now)
    await _maybe_recover(session, instance, kind, now)
    await session.flush()
    await live.notify(session, instance.tenant_id, "instance", instance.id)
    return row


async def outreach_sent(
    session: AsyncSession,
    instance_id: uuid.UUID,
    *,
    streak: int,
    sent: int,
    replied: int,
    now: datetime | None = None,
) -> list[SignalKind]:
    """A campaign message of this number just went out (its owner tells, with the number's
    engagement: ``score.outreach_signals``): record the signals it owes. Returns their kinds."""
    owed = outreach_signals(streak, sent, replied)
    if not owed:
        return []
    instance = await session.get(Instance, instance_id)
    if instance is None:
        return []
    for kind, figures in owed:
        code = "unanswered_run" if kind == SignalKind.UNANSWERED else "low_replies"
        await record(session, instance, kind, detail=reasons.encode(code, **figures), now=now)
    return [kind for kind, _ in owed]


async def reported_by_recipient(
    session: AsyncSession, instance_id: uuid.UUID, reason: str, now: datetime | None = None
) -> bool:
    """A person told the tenant they blocked or reported this number (an operator recorded it
    as a suppression with that reason): a ``blocked`` signal on the number that wrote to them.
    WhatsApp reports blocks to no one; this is the only way Mirage hears of them."""
    instance = await session.get(Instance, instance_id)
    if instance is None:
        return False
    code = "reported_complaint" if reason == "complaint" else "reported_blocked"
    await record(session, instance, SignalKind.BLOCKED, detail=reasons.encode(code), now=now)
    return True


#: The signals ``assess_sends`` writes, and the reason code of each one's detail.
SEND_SIGNALS: dict[SignalKind, str] = {
    SignalKind.LOW_DELIVERY: "low_delivery",
    SignalKind.LOW_READS: "low_reads",
    SignalKind.NEW_CONTACTS: "new_contacts_day",
}


async def assess_sends(
    session: AsyncSession, now: datetime | None = None
) -> list[tuple[uuid.UUID, SignalKind]]:
    """A look at the session's tenant's numbers' sends (the periodic ``safety.assess_tenant``
    job: never on the send or webhook path), recording the signals owed:

    - ``low_delivery`` / ``low_reads``: the delivery and read ratios of each number's recent
      settled sends (``score.ack_signals``), each judging only sends no earlier signal of its
      kind judged (``score.sample_start``);
    - ``new_contacts``: today's campaign sends over what the number's warm-up stage allows
      (``score.new_contacts_signal``), once a tenant-local day.

    Five statements whatever the fleet (more only for the numbers that owe something).
    Returns (number, kind) of each signal recorded."""
    now = now or utcnow()
    repo = SignalRepository(session)
    numbers = [i for i, _name in await repo.numbers()]
    if not numbers:
        return []
    tenant_id = current_tenant_id()
    tenant = await session.get(Tenant, tenant_id) if tenant_id else None
    zone = ZoneInfo(tenant.timezone if tenant else "America/Sao_Paulo")
    day_start = local_day_start(now.astimezone(zone).date(), zone)
    last = await repo.last_signals(list(SEND_SIGNALS), min(now - RATIO_WINDOW, day_start))
    starts = {
        i: (
            sample_start(now, last.get((i, SignalKind.LOW_DELIVERY)), DELIVERY_SETTLE),
            sample_start(now, last.get((i, SignalKind.LOW_READS)), READ_SETTLE),
        )
        for i in numbers
    }
    samples = await repo.ack_samples(
        starts, delivery_until=now - DELIVERY_SETTLE, reads_until=now - READ_SETTLE
    )
    owed: dict[uuid.UUID, list[tuple[SignalKind, dict[str, int]]]] = {}
    for instance_id, (delivery, reads) in samples.items():
        if found := ack_signals(delivery, reads):
            owed[instance_id] = found
    strangers = await repo.campaign_sends_since(day_start)
    today = {
        i for (i, kind), at in last.items() if kind == SignalKind.NEW_CONTACTS and at >= day_start
    }
    # Every allowance is 1 or more: a number with fewer sends, or signalled today already,
    # owes nothing (its stage is not read).
    due = [i for i, count in strangers.items() if count > 1 and i not in today]
    if due:
        candidates = await repo.numbers_by_id(due)
        standing = await standings(session, candidates, now, zone)
        # Only the warm-up ramp of the caps is read: it depends on the zone, not the settings.
        policy = TenantPolicy(timezone=zone.key)
        for instance in candidates:
            state = NumberState(
                connected=instance.connected,
                health=instance.health,
                paused=instance.paused,
                first_connected_at=instance.first_connected_at,
                sent_last_hour=0,
                sent_today=0,
                last_sent_at=None,
                band=standing[instance.id].risk.band.value,
                warmup_stage=standing[instance.id].stage,
            )
            allowance = new_contact_allowance(number_caps(now, policy, state).warmup)
            figures = new_contacts_signal(
                strangers[instance.id], allowance, signalled_today=instance.id in today
            )
            if figures is not None:
                owed.setdefault(instance.id, []).append((SignalKind.NEW_CONTACTS, figures))
    recorded: list[tuple[uuid.UUID, SignalKind]] = []
    for instance_id in sorted(owed):  # one lock order
        # Read again under the lock: ``record`` updates its score and band from these values.
        locked = await session.get(
            Instance, instance_id, with_for_update=True, populate_existing=True
        )
        if locked is None:
            continue
        for kind, figures in owed[instance_id]:
            detail = reasons.encode(SEND_SIGNALS[kind], **figures)
            await record(session, locked, kind, detail=detail, now=now)
            recorded.append((instance_id, kind))
    return recorded


#: The recovery ladder's job (mirage.instances.tasks), deferred by name: it restarts and logs
#: out through the gateway, which is the numbers' domain.
RECOVER_JOB = "instances.recover"
#: "Connected but cannot send" (mirage.instances.health.DEGRADED_FAILURES in a row).
RECOVER_AFTER_FAILURES = 3


async def _maybe_recover(
    session: AsyncSession, instance: Instance, kind: SignalKind, now: datetime
) -> None:
    """Start the recovery ladder of a number that is open but whose sends keep failing (one
    ladder at a time per number)."""
    if kind not in (SignalKind.SEND_FAILED, SignalKind.NOT_ACKED):
        return  # (a time lock is WhatsApp's rule, not a broken session: no restart helps)
    if (
        instance.state != "open"
        or instance.consecutive_send_failures < RECOVER_AFTER_FAILURES
        or instance.recovery_at is not None
        or instance.health == Health.QUARANTINED
    ):
        return
    instance.recovery_at = now
    try:
        async with session.begin_nested():
            await jobs.defer(
                session,
                RECOVER_JOB,
                tenant_id=instance.tenant_id,
                schedule_at=now,
                queueing_lock=f"recover:{instance.id}",
                instance_id=str(instance.id),
            )
    except AlreadyEnqueued:
        pass


async def note_recovery(
    session: AsyncSession, instance: Instance, detail: str, now: datetime
) -> None:
    """A step of the recovery ladder, on the timeline."""
    await _note(session, instance, SignalKind.RECOVERY, detail, now)
    await session.flush()
    await live.notify(session, instance.tenant_id, "instance", instance.id)


async def last_recovery_failed(session: AsyncSession, instance: Instance) -> bool:
    """Whether the ladder's last attempt on the number failed at the gateway."""
    detail = await SignalRepository(session).last_detail(instance.id, SignalKind.RECOVERY)
    return detail is not None and " failed: " in detail


async def mark_dead(session: AsyncSession, instance: Instance, now: datetime) -> None:
    """The ladder ran out: the number is quarantined (an admin decides what happens to it)."""
    await _note(session, instance, SignalKind.RECOVERY, "dead", now)
    await _quarantine(session, instance, reasons.encode("dead"), now)
    await session.flush()
    await live.notify(session, instance.tenant_id, "instance", instance.id)


async def _note(
    session: AsyncSession,
    instance: Instance,
    kind: SignalKind,
    detail: str,
    now: datetime,
    actor_user_id: uuid.UUID | None = None,
) -> None:
    """An action on the timeline (no weight on the score)."""
    await SignalRepository(session).add(
        NumberSignal(
            tenant_id=instance.tenant_id,
            instance_id=instance.id,
            kind=kind.value,
            detail=detail[:300],
            score=instance.risk_score,
            at=now,
            actor_user_id=actor_user_id,
        )
    )


async def _act(
    session: AsyncSession,
    instance: Instance,
    kind: SignalKind,
    code: int | None,
    before: int,
    after: int,
    band: Band,
    cfg: Settings,
    now: datetime,
) -> None:
    """The automatic actions, the most severe first; each at most once."""
    if kind == SignalKind.DISCONNECT and code in BAN_CODES:
        await _quarantine(session, instance, reasons.encode("banned", code=code), now)
        return
    if band == Band.CRITICAL:
        await _quarantine(session, instance, reasons.encode("critical", score=after), now)
        return
    if kind == SignalKind.TIME_LOCK:
        await _auto_pause(session, instance, reasons.encode("time_lock"), now)
        return
    if kind in (SignalKind.SEND_FAILED, SignalKind.NOT_ACKED):
        repo = SignalRepository(session)
        failed = await repo.count_since(
            instance.id,
            (SignalKind.SEND_FAILED, SignalKind.NOT_ACKED, SignalKind.TIME_LOCK),
            now - HOUR,
        )
        total = failed + await repo.sent_since(instance.id, now - HOUR)
        if total >= cfg.min_sends and failed * 100 >= cfg.error_pct * total:
            reason = reasons.encode("error_rate", failed=failed, total=total)
            await _auto_pause(session, instance, reason, now)
            return
    # Engagement builds up over many sends: the band tightens the number, nothing "jumped".
    if kind not in GRADUAL and after - before >= cfg.score_jump:
        await _auto_pause(
            session, instance, reasons.encode("score_jump", before=before, after=after), now
        )


async def _auto_pause(
    session: AsyncSession, instance: Instance, reason: str, now: datetime
) -> None:
    if instance.paused_at is not None or instance.health == Health.QUARANTINED:
        return
    instance.paused_at = now
    instance.paused_reason = reason[:200]
    await _note(session, instance, SignalKind.AUTO_PAUSED, reason, now)
    log.warning("safety.auto_paused", instance_id=str(instance.id), reason=reason)


async def _quarantine(
    session: AsyncSession,
    instance: Instance,
    reason: str,
    now: datetime,
    actor_user_id: uuid.UUID | None = None,
) -> None:
    if instance.health == Health.QUARANTINED:
        return
    instance.health = Health.QUARANTINED
    instance.health_reason = reason[:200]
    instance.health_changed_at = now
    await _note(session, instance, SignalKind.QUARANTINED, reason, now, actor_user_id)
    await alerts.on_quarantine(session, instance, reason, now)
    log.warning("safety.quarantined", instance_id=str(instance.id), reason=reason)


# --- what operators do ---------------------------------------------------------------------

SETTING_FIELDS = (
    "risk_yellow_from",
    "risk_orange_from",
    "risk_red_from",
    "risk_critical_from",
    "risk_half_life_minutes",
    "band_new_contacts_per_day",
    "auto_pause_error_pct",
    "auto_pause_min_sends",
    "auto_pause_score_jump",
)
NOT_RISING = N_("risk bands: the thresholds must rise (yellow < orange < red < critical)")


async def get_settings(session: AsyncSession, principal: Principal) -> TenantSettings:
    require(principal, "read")
    return await _settings_row(session, principal.tenant_id)


async def _settings_row(session: AsyncSession, tenant_id: uuid.UUID) -> TenantSettings:
    repo = SignalRepository(session)
    row = await repo.settings_row(tenant_id)
    if row is None:
        row = await repo.add_settings(TenantSettings(tenant_id=tenant_id))
    return row


async def update_settings(
    session: AsyncSession, principal: Principal, values: dict[str, int]
) -> TenantSettings:
    """Change the safety settings (admins; audited). The next decision uses them."""
    require(principal, "write", role=Role.ADMIN)
    bands = BandThresholds(
        yellow=values["risk_yellow_from"],
        orange=values["risk_orange_from"],
        red=values["risk_red_from"],
        critical=values["risk_critical_from"],
    )
    if bands.problems():
        raise ValidationFailed(NOT_RISING, field="risk_orange_from")
    row = await _settings_row(session, principal.tenant_id)
    before = {name: getattr(row, name) for name in SETTING_FIELDS}
    for name in SETTING_FIELDS:
        setattr(row, name, values[name])
    changed = {k: [before[k], values[k]] for k in SETTING_FIELDS if before[k] != values[k]}
    if changed:
        await audit.record(
            session,
            tenant_id=principal.tenant_id,
            principal=principal,
            action="settings.update",
            target_type="safety",
            changed=changed,
        )
    await session.flush()
    return row


async def _number(session: AsyncSession, principal: Principal, instance_id: uuid.UUID) -> Instance:
    require(principal, "read")
    instance = await session.get(Instance, instance_id, with_for_update=True)
    if instance is None or instance.tenant_id != principal.tenant_id:
        raise NotFound("number not found")
    return instance


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(N_("reason: say why (it is kept in the audit log)"), field="reason")
    if len(text) > RELEASE_REASON_MAX:
        raise ValidationFailed(
            N_("reason: at most 300 characters"),
            field="reason",
        )
    return text


async def quarantine_number(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID, reason: str | None
) -> Instance:
    """An admin's quarantine: no send at all until an admin releases it (audited)."""
    require(principal, "write", role=Role.ADMIN)
    why = _reason(reason)
    instance = await _number(session, principal, instance_id)
    if instance.health == Health.QUARANTINED:
        raise Conflict(N_("the number is already quarantined"))
    await _quarantine(session, instance, why, utcnow(), principal.user_id)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="instance.quarantine",
        target_type="instance",
        target_id=instance.id,
        reason=why,
    )
    await session.flush()
    await live.notify(session, instance.tenant_id, "instance", instance.id)
    return instance


async def release_quarantine(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID, reason: str | None
) -> Instance:
    """Only an admin releases a quarantined number, saying why (audited, on the timeline).

    The number comes back paused: an operator resumes it when ready, and the band (the
    signals have not gone away) still tightens its caps until they fade.
    """
    require(principal, "write", role=Role.ADMIN)
    why = _reason(reason)
    instance = await _number(session, principal, instance_id)
    if instance.health != Health.QUARANTINED:
        raise Conflict(N_("the number is not quarantined"))
    now = utcnow()
    previous = instance.health_reason
    # A health verdict from the gateway's signals again (the next reassessment refines it).
    instance.health = Health.HEALTHY
    instance.health_reason = None
    instance.health_changed_at = now
    if instance.paused_at is None:
        instance.paused_at = now
        instance.paused_reason = reasons.encode("released")
    await _note(session, instance, SignalKind.RELEASED, why, now, principal.user_id)
    await alerts.on_release(session, instance, why, now)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action="instance.release",
        target_type="instance",
        target_id=instance.id,
        reason=why,
        quarantine_reason=reasons.english(previous),
        quarantine_reason_code=reasons.code_of(previous),
    )
    await session.flush()
    await live.notify(session, instance.tenant_id, "instance", instance.id)
    return instance


async def get_number(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID
) -> Instance:
    """One of the tenant's numbers (404 otherwise: another tenant's is not found)."""
    require(principal, "read")
    instance = await session.get(Instance, instance_id)
    if instance is None or instance.tenant_id != principal.tenant_id:
        raise NotFound("number not found")
    return instance


async def number_ids(session: AsyncSession, principal: Principal) -> list[uuid.UUID]:
    require(principal, "read")
    return [i for i, _name in await SignalRepository(session).numbers()]


async def timeline(
    session: AsyncSession,
    principal: Principal,
    instance_id: uuid.UUID,
    *,
    limit: int = 50,
    before_seq: int | None = None,
) -> list[NumberSignal]:
    require(principal, "read")
    instance = await session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("number not found")
    return list(await SignalRepository(session).timeline(instance_id, limit, before_seq))


async def chart(
    session: AsyncSession, principal: Principal, instance_id: uuid.UUID, now: datetime | None = None
) -> list[tuple[datetime, int]]:
    """The number's risk score over the last 24 hours (49 points)."""
    require(principal, "read")
    instance = await session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("number not found")
    now = now or utcnow()
    cfg = await _settings(session, instance.tenant_id)
    found = await SignalRepository(session).signals_since(
        [instance_id], now - HORIZON - timedelta(days=1)
    )
    signals: list[Signal] = found[instance_id]
    return series(signals, now, half_life=cfg.half_life)


async def sweep_alerts(session: AsyncSession, now: datetime | None = None) -> int:
    """Resolve the open band alerts of the session's tenant whose number's band faded back
    to green or yellow with no new signal (the score only falls between signals). Returns
    how many were resolved."""
    now = now or utcnow()
    open_alerts = [a for a in await alerts.open_band_alerts(session) if a.instance_id]
    if not open_alerts:
        return 0
    found = await risks(session, [a.instance_id for a in open_alerts if a.instance_id], now)
    resolved = 0
    for alert in open_alerts:
        risk = found.get(alert.instance_id) if alert.instance_id else None
        if risk is not None and await alerts.resolve_faded(session, alert, risk.band, now):
            resolved += 1
    return resolved
