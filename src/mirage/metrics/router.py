"""/api/v1/metrics: the Métricas page's series as JSON, for tenants who chart elsewhere. Every
figure comes from the rollups (fresh within a minute); any signed-in token may read them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.metrics import service
from mirage.metrics.schemas import (
    CampaignsOut,
    CountsOut,
    DailyOut,
    HeatmapOut,
    NumbersOut,
    PeriodOut,
    SummaryOut,
)
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/metrics", tags=["metrics"], responses=API_ERRORS)

Days = Annotated[
    int,
    Query(ge=1, le=service.MAX_DAYS, description="The last N days (tenant zone), today included."),
]
Number = Annotated[uuid.UUID | None, Query(description="Only this number (instance id).")]
ConversationId = Annotated[
    uuid.UUID | None,
    Query(
        description="Only this warm-up conversation (its id): its messages (a number's own "
        "sends and their copies received by the tenant's other numbers), rounds and policy "
        "decisions. Campaign funnels are not filtered by it."
    ),
]
CampaignId = Annotated[uuid.UUID | None, Query(description="Only this campaign (its id).")]


def _period(f: Any, days: int) -> PeriodOut:
    return PeriodOut(
        start=f.start,
        end=f.end,
        days=days,
        time_zone=f.zone,
        number=f.instance_id,
        conversation=f.conversation_id,
    )


def _number(n: service.NumberRow) -> dict[str, Any]:
    return {
        "id": n.instance_id,
        "name": n.name,
        "sent": n.sent,
        "received": n.received,
        "delivered": n.delivered,
        "read": n.read,
        "replied": n.replied,
        "failed": n.failed,
        "opted_out": n.opted_out,
        "delivered_pct": n.delivered_pct,
        "read_pct": n.read_pct,
        "reply_pct": n.reply_pct,
        "risk_score": n.risk_score,
        "risk_band": n.risk_band,
        "warmup_stage": n.warmup_stage,
    }


def _funnel(c: service.CampaignFunnel) -> dict[str, Any]:
    return {
        "id": c.campaign_id,
        "name": c.name,
        "state": c.state,
        "started_at": c.started_at,
        "planned": c.total,
        **c.reached,
        "waiting": c.waiting,
        "failed": c.unsent.get("failed", {}),
        "expired": c.unsent.get("expired", {}),
        "skipped": c.unsent.get("skipped", {}),
    }


def _counts(items: list[service.Count]) -> list[dict[str, Any]]:
    return [{"key": c.key, "action": c.action, "count": c.count} for c in items]


@router.get("/daily", response_model=DailyOut)
async def daily(
    session: DbSession,
    principal: ApiPrincipal,
    days: Days = 7,
    number: Number = None,
    conversation: ConversationId = None,
) -> Any:
    """Messages per day: sent, received, failed (every day of the period, zeros included)."""
    f = await service.filters(session, days, number, conversation_id=conversation)
    rows = await service.daily(session, f)
    return {"period": _period(f, days), "days": [vars(d) for d in rows]}


@router.get("/heatmap", response_model=HeatmapOut)
async def heatmap(
    session: DbSession,
    principal: ApiPrincipal,
    days: Days = 30,
    number: Number = None,
    conversation: ConversationId = None,
) -> Any:
    """Messages by weekday × hour of day, in the tenant's zone."""
    f = await service.filters(session, days, number, conversation_id=conversation)
    return {"period": _period(f, days), "cells": await service.heatmap(session, f)}


@router.get("/numbers", response_model=NumbersOut)
async def numbers(
    session: DbSession,
    principal: ApiPrincipal,
    days: Days = 7,
    number: Number = None,
    conversation: ConversationId = None,
) -> Any:
    """Per number: sent, received, delivered/read/reply rates, failures, opt-outs."""
    f = await service.filters(session, days, number, conversation_id=conversation)
    rows = await service.numbers(session, f)
    return {"period": _period(f, days), "numbers": [_number(n) for n in rows]}


@router.get("/rounds", response_model=CountsOut)
async def rounds(
    session: DbSession, principal: ApiPrincipal, days: Days = 7, conversation: ConversationId = None
) -> Any:
    """Warm-up rounds that ended in the period, by final state."""
    f = await service.filters(session, days, None, conversation_id=conversation)
    return {"period": _period(f, days), "counts": _counts(await service.rounds(session, f))}


@router.get("/policy-decisions", response_model=CountsOut)
async def decisions(
    session: DbSession,
    principal: ApiPrincipal,
    days: Days = 7,
    number: Number = None,
    conversation: ConversationId = None,
) -> Any:
    """Policy decisions (defer, deny) by reason code."""
    f = await service.filters(session, days, number, conversation_id=conversation)
    return {"period": _period(f, days), "counts": _counts(await service.decisions(session, f))}


@router.get("/campaigns", response_model=CampaignsOut)
async def campaigns(
    session: DbSession, principal: ApiPrincipal, days: Days = 30, campaign: CampaignId = None
) -> Any:
    """Campaign funnels: planned → sent → delivered → read → replied, with what was not sent
    (failed, expired, skipped) by reason, for the campaigns that ran in the period."""
    f = await service.filters(session, days, None)
    await service.check_campaign(session, campaign)
    rows = await service.campaigns(session, f, campaign)
    return {"period": _period(f, days), "campaigns": [_funnel(c) for c in rows]}


@router.get("", response_model=SummaryOut)
async def summary(
    session: DbSession,
    principal: ApiPrincipal,
    days: Days = 7,
    number: Number = None,
    campaign: CampaignId = None,
    conversation: ConversationId = None,
) -> Any:
    """Every series of the Métricas page in one document, with its freshness (the campaign
    filter applies to the funnels, the conversation filter to everything else)."""
    m = await service.overview(session, days, number, campaign, conversation)
    return {
        "period": PeriodOut(
            start=m.period.start,
            end=m.period.end,
            days=days,
            time_zone=m.period.zone,
            number=number,
            conversation=conversation,
        ),
        "days": [vars(d) for d in m.days],
        "heatmap": m.heatmap,
        "numbers": [_number(n) for n in m.numbers],
        "rounds": _counts(m.rounds),
        "decisions": _counts(m.decisions),
        "campaigns": [_funnel(c) for c in m.campaigns],
        "by_kind": m.kinds,
        "fresh_as_of": m.watermark,
    }
