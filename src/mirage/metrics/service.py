"""Metrics: the rollups' refresh (incremental and full) and the series pages and the API show.

Freshness: the periodic refresh (``metrics.refresh``, every 30 s) folds every fact changed
since the watermark minus ``OVERLAP`` — a transaction that began before the last refresh but
committed after it is still seen, and folding a bucket again changes nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.db.engine import admin_session_scope
from mirage.kit.clock import utcnow
from mirage.kit.errors import ValidationFailed
from mirage.kit.i18n import N_
from mirage.kit.live import notify
from mirage.kit.logging import get_logger
from mirage.metrics.repository import Filters, Fold, MetricsRepository, RollupRepository
from mirage.models.outreach import RECIPIENT_RANK, UNSENT_FINAL, RecipientStatus
from mirage.safety import service as safety

log = get_logger(__name__)

OVERLAP = timedelta(minutes=5)
LIVE_KIND = "metrics"
PERIODS = (1, 7, 30, 90)  # days the page and the API offer
MAX_DAYS = 366
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the watermark before the first refresh


# --- refresh (maintenance: admin session) ----------------------------------------------------


async def refresh_in(session: AsyncSession) -> Fold:
    """One incremental refresh in the caller's (admin) transaction: serialised by an advisory
    lock, so several workers never fold at once; the one that waited folds little."""
    started = time.perf_counter()
    repo = RollupRepository(session)
    await repo.lock()
    watermark = await repo.watermark()
    since = watermark - OVERLAP if watermark > NEVER else NEVER
    fold = await repo.fold(since)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    await repo.advance(fold.watermark, elapsed_ms)
    for tenant in fold.tenants:
        await notify(session, tenant, LIVE_KIND, tenant)
    return fold


async def refresh() -> Fold:
    """The periodic job's work: fold what changed, in one transaction."""
    async with admin_session_scope() as session:
        fold = await refresh_in(session)
    if fold.message_buckets or fold.decision_buckets or fold.round_buckets or fold.campaigns:
        log.info(
            "metrics.refreshed",
            message_buckets=fold.message_buckets,
            decision_buckets=fold.decision_buckets,
            round_buckets=fold.round_buckets,
            campaigns=fold.campaigns,
            tenants=len(fold.tenants),
        )
    return fold


@dataclass(frozen=True)
class Rebuilt:
    tenant: str | None
    message_buckets: int
    decision_buckets: int
    round_buckets: int
    elapsed_ms: int
    campaigns: int = 0


class UnknownTenant(ValidationFailed):
    title = "Unknown tenant"


async def rebuild(slug: str | None = None) -> Rebuilt:
    """Recompute the rollups from the raw tables (one tenant, or all), in one transaction
    under the refresh lock: readers see the old figures until the new ones commit."""
    started = time.perf_counter()
    async with admin_session_scope() as session:
        repo = RollupRepository(session)
        tenant: uuid.UUID | None = None
        if slug is not None:
            tenant = await repo.tenant_by_slug(slug)
            if tenant is None:
                raise UnknownTenant(N_("No tenant with the slug %(slug)s"), params={"slug": slug})
        await repo.lock()
        await repo.clear(tenant)
        fold = await repo.fold(NEVER, tenant)
        if tenant is None:  # everything is counted up to this transaction's start
            await repo.advance(fold.watermark, round((time.perf_counter() - started) * 1000))
        for t in fold.tenants:
            await notify(session, t, LIVE_KIND, t)
    return Rebuilt(
        slug,
        fold.message_buckets,
        fold.decision_buckets,
        fold.round_buckets,
        round((time.perf_counter() - started) * 1000),
        fold.campaigns,
    )


# --- reading (request paths: tenant session) ------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    days: int
    zone: str


def period(zone_name: str, days: int, now: datetime | None = None) -> Period:
    """The last ``days`` whole days in the tenant's zone, today included, as UTC bounds."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(
            N_("The period must be between 1 and %(max)s days"), params={"max": MAX_DAYS}
        )
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    local_now = (now or utcnow()).astimezone(zone)
    first = local_now.date() - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    tomorrow = local_now.date() + timedelta(days=1)
    end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).astimezone(UTC)
    return Period(start, end, days, zone_name)


@dataclass(frozen=True)
class Day:
    day: date
    sent: int
    received: int
    failed: int


@dataclass(frozen=True)
class NumberRow:
    instance_id: uuid.UUID
    name: str
    sent: int
    received: int
    delivered: int
    read: int
    replied: int
    failed: int
    opted_out: int
    # The number's live risk (mirage.safety): now, whatever the period; None for a number
    # since deleted.
    risk_score: int | None = None
    risk_band: str | None = None
    # Its warm-up stage now (mirage.safety: earned by green days with sends); None before it
    # ever connected, or for a number since deleted.
    warmup_stage: int | None = None

    @property
    def delivered_pct(self) -> float | None:
        return _pct(self.delivered, self.sent)

    @property
    def read_pct(self) -> float | None:
        return _pct(self.read, self.sent)

    @property
    def reply_pct(self) -> float | None:
        return _pct(self.replied, self.sent)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Count:
    key: str
    count: int
    action: str | None = None


# The funnel's steps after "planned" (every recipient): how many got at least this far.
FUNNEL_STEPS = (
    RecipientStatus.SENT,
    RecipientStatus.DELIVERED,
    RecipientStatus.READ,
    RecipientStatus.REPLIED,
)


@dataclass(frozen=True)
class CampaignFunnel:
    """One campaign's recipients: planned (all) → sent → delivered → read → replied, and those
    that went no further than deferred, or ended unsent (failed, expired, skipped) by reason."""

    campaign_id: uuid.UUID
    name: str
    state: str
    started_at: datetime | None
    total: int
    reached: dict[str, int]  # step (sent, delivered, read, replied) -> recipients
    waiting: int  # planned or deferred, not sent yet
    unsent: dict[str, dict[str, int]]  # failed / expired / skipped -> reason -> recipients

    def pct(self, step: str) -> float | None:
        return _pct(self.reached.get(step, 0), self.total)


def funnels_of(rows: list[tuple[Any, ...]]) -> list[CampaignFunnel]:
    """Funnels from (campaign id, name, state, started at, status, reason, recipients) rows,
    in the rows' order of campaigns."""
    by_campaign: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_campaign.setdefault(row[0], []).append(row)
    out = []
    for campaign_id, group in by_campaign.items():
        counts: dict[RecipientStatus, int] = {}
        unsent: dict[str, dict[str, int]] = {}
        for _c, _n, _s, _t, status, reason, n in group:
            st = RecipientStatus(status)
            counts[st] = counts.get(st, 0) + int(n)
            if st in UNSENT_FINAL:
                by_reason = unsent.setdefault(st.value, {})
                by_reason[reason or ""] = by_reason.get(reason or "", 0) + int(n)
        sent_or_later = {s: n for s, n in counts.items() if s not in UNSENT_FINAL}
        reached = {
            step.value: sum(
                n for s, n in sent_or_later.items() if RECIPIENT_RANK[s] >= RECIPIENT_RANK[step]
            )
            for step in FUNNEL_STEPS
        }
        first = group[0]
        out.append(
            CampaignFunnel(
                campaign_id=campaign_id,
                name=str(first[1]),
                state=str(first[2]),
                started_at=first[3],
                total=sum(counts.values()),
                reached=reached,
                waiting=counts.get(RecipientStatus.PLANNED, 0)
                + counts.get(RecipientStatus.DEFERRED, 0),
                unsent=unsent,
            )
        )
    return out


@dataclass
class Metrics:
    period: Period
    instance_id: uuid.UUID | None
    days: list[Day]
    heatmap: list[list[int]]  # [weekday 0=Monday][hour 0..23], tenant zone
    numbers: list[NumberRow]
    rounds: list[Count]
    decisions: list[Count]
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    campaigns: list[CampaignFunnel] = field(default_factory=list)
    campaign_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    watermark: datetime | None = None
    refreshed_at: datetime | None = None

    @property
    def totals(self) -> dict[str, int]:
        return {
            "sent": sum(d.sent for d in self.days),
            "received": sum(d.received for d in self.days),
            "failed": sum(d.failed for d in self.days),
        }


async def filters(
    session: AsyncSession,
    days: int,
    instance_id: uuid.UUID | None,
    now: datetime | None = None,
    conversation_id: uuid.UUID | None = None,
) -> Filters:
    repo = MetricsRepository(session)
    p = period(await repo.tenant_zone(), days, now)
    if instance_id is not None and instance_id not in {i for i, _ in await repo.numbers()}:
        raise ValidationFailed(N_("Unknown number %(number)s"), params={"number": str(instance_id)})
    if conversation_id is not None and conversation_id not in {
        i for i, _ in await repo.conversations()
    }:
        raise ValidationFailed(
            N_("Unknown conversation %(conversation)s"),
            params={"conversation": str(conversation_id)},
        )
    return Filters(p.start, p.end, p.zone, instance_id, conversation_id)


async def daily(session: AsyncSession, f: Filters) -> list[Day]:
    """Every day of the period (zero when nothing happened), in the tenant's zone."""
    rows = {r[0]: r for r in await MetricsRepository(session).daily(f)}
    zone = ZoneInfo(f.zone)
    first, last = f.start.astimezone(zone).date(), (f.end - timedelta(seconds=1)).astimezone(zone)
    out, day = [], first
    while day <= last.date():
        r = rows.get(day)
        out.append(Day(day, int(r[1]), int(r[2]), int(r[3])) if r else Day(day, 0, 0, 0))
        day += timedelta(days=1)
    return out


async def heatmap(session: AsyncSession, f: Filters) -> list[list[int]]:
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, n in await MetricsRepository(session).heatmap(f):
        grid[weekday - 1][hour] += n
    return grid


async def numbers(session: AsyncSession, f: Filters) -> list[NumberRow]:
    """The per-number table, each with its live risk and warm-up stage (read for every
    number of the table at once: a few statements whatever the rows, never one per row)."""
    rows = [NumberRow(*map(_plain, r)) for r in await MetricsRepository(session).per_number(f)]
    ids = [n.instance_id for n in rows]
    found = await safety.risks(session, ids)
    stages = await safety.warmup_stages(session, ids, utcnow(), ZoneInfo(f.zone))
    rows = [replace(n, warmup_stage=stages.get(n.instance_id)) for n in rows]
    return [
        replace(n, risk_score=risk.score, risk_band=risk.band.value)
        if (risk := found.get(n.instance_id))
        else n
        for n in rows
    ]


def _plain(value: Any) -> Any:
    return int(value) if hasattr(value, "__int__") and not isinstance(value, uuid.UUID) else value


async def rounds(session: AsyncSession, f: Filters) -> list[Count]:
    return [Count(s, n) for s, n in await MetricsRepository(session).rounds(f)]


async def decisions(session: AsyncSession, f: Filters) -> list[Count]:
    return [Count(r, n, a) for a, r, n in await MetricsRepository(session).decisions(f)]


async def kinds(session: AsyncSession, f: Filters) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for direction, kind, n in await MetricsRepository(session).by_kind(f):
        out.setdefault(direction, {})[kind] = n
    return out


async def campaigns(
    session: AsyncSession, f: Filters, campaign_id: uuid.UUID | None = None
) -> list[CampaignFunnel]:
    """The funnels of the campaigns that ran in the period (or of one of them)."""
    return funnels_of(await MetricsRepository(session).campaigns(f, campaign_id))


async def campaign_choices(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    return await MetricsRepository(session).campaign_choices()


async def check_campaign(session: AsyncSession, campaign_id: uuid.UUID | None) -> None:
    if campaign_id is not None and campaign_id not in {
        i for i, _ in await campaign_choices(session)
    }:
        raise ValidationFailed(
            N_("Unknown campaign %(campaign)s"), params={"campaign": str(campaign_id)}
        )


async def overview(
    session: AsyncSession,
    days: int,
    instance_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
) -> Metrics:
    """Everything the Métricas page shows, from the rollups. The campaign filter applies to
    the funnels (the message series are not kept per campaign); the conversation filter to
    everything else (a campaign's messages belong to no conversation)."""
    f = await filters(session, days, instance_id, conversation_id=conversation_id)
    await check_campaign(session, campaign_id)
    watermark, refreshed = await MetricsRepository(session).freshness()
    return Metrics(
        period=Period(f.start, f.end, days, f.zone),
        instance_id=instance_id,
        days=await daily(session, f),
        heatmap=await heatmap(session, f),
        numbers=await numbers(session, f),
        rounds=await rounds(session, f),
        decisions=await decisions(session, f),
        kinds=await kinds(session, f),
        campaigns=await campaigns(session, f, campaign_id),
        campaign_id=campaign_id,
        conversation_id=conversation_id,
        watermark=watermark if watermark > NEVER else None,
        refreshed_at=refreshed if refreshed > NEVER else None,
    )


async def conversation_choices(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    return await MetricsRepository(session).conversations()


async def number_choices(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    return await MetricsRepository(session).numbers()
