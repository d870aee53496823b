"""Dashboard: the Métricas page (charts, heatmap, per-number table and its CSV), live.

The page reads the rollups only (never the raw tables); its live part is re-rendered when the
metrics refresh announces new figures for the tenant (``metrics`` events, at most every 30 s).
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.deps import DashboardPrincipal
from mirage.auth.principal import Principal
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.metrics import service
from mirage.policy import BAND_LABELS, WARMUP_RAMP, reasons
from mirage.web.csrf import csrf_protect
from mirage.web.streams import open_stream
from mirage.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
ROUND_LABELS = {
    "completed": N_("Completed"),
    "timed_out": N_("Reply timed out"),
    "blocked": N_("Blocked by the policy"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
    "unsent": N_("Not sent"),
    "unknown": N_("Unconfirmed"),
}
UNKNOWN_CONVERSATION = N_("Unknown conversation: showing every conversation.")
CSV_COLUMNS = (
    "number",
    "sent",
    "received",
    "delivered",
    "delivered_pct",
    "read",
    "read_pct",
    "replied",
    "reply_pct",
    "failed",
    "opted_out",
    "risk_score",
    "risk_band",
    "warmup_stage",
)


class Asked(NamedTuple):
    days: int
    number: uuid.UUID | None
    campaign: uuid.UUID | None
    errors: list[Message]
    conversation: uuid.UUID | None = None


def _filters(request: Request) -> Asked:
    """The period, number, campaign and conversation asked for; anything unreadable falls
    back (and says so)."""
    errors: list[Message] = []
    days, number, campaign = 7, None, None
    raw_days = request.query_params.get("days")
    if raw_days:
        if raw_days.isdigit() and int(raw_days) in service.PERIODS:
            days = int(raw_days)
        else:
            errors.append(Message(N_("Unknown period: showing the last 7 days.")))
    raw_number = request.query_params.get("number")
    if raw_number:
        try:
            number = uuid.UUID(raw_number)
        except ValueError:
            errors.append(Message(N_("Unknown number: showing every number.")))
    raw_campaign = request.query_params.get("campaign")
    if raw_campaign:
        try:
            campaign = uuid.UUID(raw_campaign)
        except ValueError:
            errors.append(Message(N_("Unknown campaign: showing every campaign.")))
    conversation = None
    raw_conversation = request.query_params.get("conversation")
    if raw_conversation:
        try:
            conversation = uuid.UUID(raw_conversation)
        except ValueError:
            errors.append(Message(UNKNOWN_CONVERSATION))
    return Asked(days, number, campaign, errors, conversation)


def _query(
    days: int,
    number: uuid.UUID | None,
    campaign: uuid.UUID | None,
    conversation: uuid.UUID | None = None,
) -> str:
    kept = {
        "days": str(days),
        "number": str(number or ""),
        "campaign": str(campaign or ""),
        "conversation": str(conversation or ""),
    }
    return urlencode({k: v for k, v in kept.items() if v})


async def _context(session: AsyncSession, asked: Asked) -> dict[str, Any]:
    days, number, campaign, errors = asked.days, asked.number, asked.campaign, asked.errors
    choices = await service.number_choices(session)
    if number is not None and number not in {i for i, _ in choices}:
        errors.append(Message(N_("Unknown number: showing every number.")))
        number = None
    campaigns = await service.campaign_choices(session)
    if campaign is not None and campaign not in {i for i, _ in campaigns}:
        errors.append(Message(N_("Unknown campaign: showing every campaign.")))
        campaign = None
    conversation = asked.conversation
    conversations = await service.conversation_choices(session)
    if conversation is not None and conversation not in {i for i, _ in conversations}:
        errors.append(Message(UNKNOWN_CONVERSATION))
        conversation = None
    m = await service.overview(session, days, number, campaign, conversation)
    peak = max((max(row) for row in m.heatmap), default=0)
    return {
        "m": m,
        "days": days,
        "selected": number,
        "choices": choices,
        "selected_campaign": campaign,
        "campaign_choices": campaigns,
        "selected_conversation": conversation,
        "conversation_choices": conversations,
        "periods": service.PERIODS,
        "filter_errors": errors,
        "weekdays": WEEKDAYS,
        "peak": peak,
        "round_labels": ROUND_LABELS,
        "reason_labels": {c.key: reasons.label(c.key) for c in m.decisions},
        "query": _query(days, number, campaign, conversation),
        "band_words": BAND_LABELS,
        "stage_steps": len(WARMUP_RAMP),
    }


@router.get("/analytics")
async def page(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    """Métricas: messages per day, weekday × hour heatmap, per-number table, rounds, blocks."""
    return render(request, "metrics/page.html", await _context(session, _filters(request)))


@router.get("/partials/analytics")
async def partial(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    """The live part alone (the page's fallback when its stream is down)."""
    return render(request, "metrics/_live.html", await _context(session, _filters(request)))


@router.get("/analytics/events")
async def events(request: Request) -> Response:
    """Server-sent events: the live part re-rendered (same filters) when the metrics refresh
    has folded new facts of this tenant."""
    asked = _filters(request)

    def renderer(principal: Principal) -> Renderer:
        async def render_live(event: dict[str, object]) -> list[tuple[str, str]]:
            with tenant_context(principal.tenant_id, principal.user_id):
                async with get_database().sessions() as session, session.begin():
                    ctx = await _context(session, asked._replace(errors=list(asked.errors)))
                    html = render(request, "metrics/_live.html", ctx)
            return [("metrics", bytes(html.body).decode())]

        return render_live

    return await open_stream(request, service.LIVE_KIND, renderer, coalesce_s=1.0)


@router.get("/analytics/numbers.csv")
async def numbers_csv(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    """The per-number table as CSV (same period and number filter as the page)."""
    asked = _filters(request)
    days = asked.days
    f = await service.filters(session, days, asked.number, conversation_id=asked.conversation)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for n in await service.numbers(session, f):
        writer.writerow(
            [
                n.name,
                n.sent,
                n.received,
                n.delivered,
                _num(n.delivered_pct),
                n.read,
                _num(n.read_pct),
                n.replied,
                _num(n.reply_pct),
                n.failed,
                n.opted_out,
                "" if n.risk_score is None else n.risk_score,
                n.risk_band or "",
                "" if n.warmup_stage is None else n.warmup_stage,
            ]
        )
    name = f"mirage-numbers-{days}d.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
