"""Dashboard: campaigns — the list, the creation wizard (message and variants with a live
preview rendered for real contacts, the audience by tags with its count, the policy; then, on
the draft's page, the numbers and the schedule), and a campaign's page: start (sender pool,
schedule),
pause, resume, cancel, a test send to one of the tenant's own numbers, the live funnel
(planned → sent → delivered → read → replied; failures, expiries and skips by reason, over
the live stream) and the per-recipient table with a status filter.

HTTP only: every rule is ``outreach.execution``'s (its state machine refuses an illegal
action; the page shows why)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.deps import DashboardPrincipal, StepUpDashboardPrincipal
from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.contacts import service as contacts
from mirage.db.deps import DbSession
from mirage.db.engine import get_database
from mirage.db.tenancy import tenant_context
from mirage.instances import service as instances
from mirage.kit.clock import utcnow
from mirage.kit.errors import DomainError
from mirage.kit.i18n import N_, Message
from mirage.kit.live import Renderer
from mirage.models import Campaign, RecipientStatus, SkipReason
from mirage.models.tenancy import Role
from mirage.outreach import execution, service
from mirage.outreach.schemas import CampaignIn, PreviewIn, PreviewOut
from mirage.policy import reason_label
from mirage.web.csrf import csrf_protect
from mirage.web.forms import error_list_messages, read_form
from mirage.web.streams import open_stream
from mirage.web.templating import add_global, render, render_fragment

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE = 100
FieldErrors = dict[str, list[Message]]

STATUS_LABELS = {
    RecipientStatus.PLANNED: N_("planned"),
    RecipientStatus.DEFERRED: N_("deferred"),
    RecipientStatus.SENT: N_("sent"),
    RecipientStatus.DELIVERED: N_("delivered"),
    RecipientStatus.READ: N_("read"),
    RecipientStatus.REPLIED: N_("replied"),
    RecipientStatus.FAILED: N_("failed"),
    RecipientStatus.EXPIRED: N_("expired"),
    RecipientStatus.SKIPPED: N_("skipped"),
}
# Reasons a recipient's record carries besides the policy engine's own codes.
REASON_LABELS = {
    SkipReason.SUPPRESSED.value: N_("on the do-not-contact list"),
    SkipReason.NO_BASIS.value: N_("no legal basis"),
    SkipReason.NOT_ON_WHATSAPP.value: N_("not on WhatsApp"),
    SkipReason.INVALID.value: N_("invalid number"),
    "gateway": N_("refused by the gateway"),
    "unknown": N_("outcome unknown (not re-sent)"),
    "cancelled": N_("campaign cancelled"),
    "end_by": N_("the campaign's end time came"),
}
BAD_TIME = N_("Use a date and time such as 2026-12-01T09:00")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(RecipientStatus(status), status)


def recipient_reason(code: str | None) -> str:
    if code is None:
        return ""
    return REASON_LABELS.get(code) or reason_label(code)


add_global("campaign_status_label", status_label)
add_global("campaign_reason_label", recipient_reason)
add_global("campaign_state_label", lambda s: execution.STATE_LABELS.get(s, s))


def _allowed(campaign: Campaign) -> set[str]:
    return {a.value for a in execution.Action if execution.allowed(campaign.state, a)}


def _can_run(principal: Principal) -> bool:
    return principal.role.at_least(Role.OPERATOR)


@router.get("/campaigns")
async def list_page(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    return render(
        request,
        "outreach/campaigns.html",
        {
            "campaigns": await service.list_campaigns(session, principal),
            "can_create": _can_run(principal),
        },
    )


async def _recipients_context(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    campaign: Campaign,
    numbers: list[Any],
) -> dict[str, Any]:
    """The recipients table (outreach/_recipients.html): the page of the filter and cursor in
    the query (anything unreadable: the first page of every status)."""
    status = request.query_params.get("status") or ""
    status = status if status in set(RecipientStatus) else ""
    statuses = [RecipientStatus(status)] if status else []
    after = None
    cursor = request.query_params.get("cursor")
    if cursor:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            after = None
    rows = await execution.recipients(session, principal, campaign.id, statuses, after, PAGE + 1)
    kept = {"status": status, "cursor": str(after) if after else ""}
    return {
        "campaign": campaign,
        "c": campaign,
        "rows": rows[:PAGE],
        "next_cursor": str(rows[PAGE - 1].id) if len(rows) > PAGE else None,
        "status_filter": status,
        "number_names": {n.id: n.display_name for n in numbers},
        "recipients_query": urlencode({k: v for k, v in kept.items() if v}),
    }


async def _page_context(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    campaign: Campaign,
    *,
    form: dict[str, Any] | None = None,
    errors: FieldErrors | None = None,
) -> dict[str, Any]:
    numbers = await instances.list_instances(session, principal)
    return {
        **await _recipients_context(request, session, principal, campaign, numbers),
        "funnel": await execution.funnel(session, principal, campaign.id),
        "statuses": list(RecipientStatus),
        "numbers": numbers,
        "can_run": _can_run(principal),
        "allowed": _allowed(campaign),
        "form": form or {"sender_ids": [str(i) for i in campaign.sender_ids]},
        "errors": errors or {},
    }


# --- the creation wizard (before /campaigns/{id}: "new" is not an id) -----------------------

WIZARD_VARIANTS = 3
WIZARD_LABELS = {
    "name": N_("Name"),
    "variants": N_("Message"),
    "policy_id": N_("Sending policy"),
    "include_tag_ids": N_("Contacts with any of these tags"),
    "exclude_tag_ids": N_("Except contacts with these tags"),
}
NOT_SAVED = N_("The campaign was not saved: correct the fields marked below.")
NO_POLICY = N_("Choose a sending policy (create one under Sending policies first).")


async def _wizard_form(request: Request) -> dict[str, Any]:
    """What the wizard submitted: text fields, plus the multi-valued tag choices."""
    form: dict[str, Any] = dict(await read_form(request))
    raw = await request.form()
    for name in ("include_tag_ids", "exclude_tag_ids"):
        form[name] = [str(v) for v in raw.getlist(name)]
    return form


def _variants_of(form: dict[str, Any]) -> list[str]:
    texts = [str(form.get(f"variant_{i}", "")).strip() for i in range(1, WIZARD_VARIANTS + 1)]
    return [t for t in texts if t]


def _ids(values: list[str]) -> list[uuid.UUID] | None:
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        return None


def _parse_wizard(form: dict[str, Any]) -> tuple[CampaignIn | None, FieldErrors]:
    errors: FieldErrors = {}
    include, exclude = _ids(form["include_tag_ids"]), _ids(form["exclude_tag_ids"])
    policy = _ids([form.get("policy_id", "")]) if form.get("policy_id") else None
    if include is None:
        errors["include_tag_ids"] = [Message(N_("Choose tags from the list"))]
    if exclude is None:
        errors["exclude_tag_ids"] = [Message(N_("Choose tags from the list"))]
    if policy is None:
        errors["policy_id"] = [Message(NO_POLICY)]
    variants = _variants_of(form)
    if not variants:
        errors["variant_1"] = [Message(N_("Write the message (at least one variant)"))]
    try:
        data = CampaignIn(
            name=form.get("name", ""),
            policy_id=policy[0] if policy else uuid.UUID(int=0),
            variants=variants or ["-"],
            include_tag_ids=include or [],
            exclude_tag_ids=exclude or [],
        )
    except ValidationError as exc:
        for err in exc.errors():
            (msg,) = error_list_messages([err], WIZARD_LABELS)
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            name = loc[0] if loc else ""
            errors.setdefault("variant_1" if name == "variants" else name, []).append(msg)
        return None, errors
    return (None if errors else data), errors


def _domain_field(exc: DomainError) -> FieldErrors:
    field = str(exc.extra.get("field", ""))
    if field == "variants":
        field = f"variant_{int(exc.extra.get('variant', 0)) + 1}"
    return {field: [exc.message]}


async def _wizard_context(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    form: dict[str, Any],
    errors: FieldErrors,
) -> dict[str, Any]:
    return {
        "form": form,
        "errors": errors,
        "general": errors.get("", []),
        "not_saved": NOT_SAVED if errors else None,
        "tags": await contacts.list_tags(session, principal),
        "policies": await service.list_policies(session, principal),
        "variant_count": WIZARD_VARIANTS,
        "can_create": _can_run(principal),
    }


@router.get("/campaigns/new")
async def new_page(request: Request, session: DbSession, principal: DashboardPrincipal) -> Response:
    form: dict[str, Any] = {"include_tag_ids": [], "exclude_tag_ids": []}
    ctx = await _wizard_context(request, session, principal, form, {})
    return render(request, "outreach/new_campaign.html", ctx)


@router.post("/campaigns/new/preview")
async def wizard_preview(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    """The live preview (an HTMX fragment): the audience counted and the message rendered for
    real contacts, or what is wrong with the message so far."""
    form = await _wizard_form(request)
    include, exclude = _ids(form["include_tag_ids"]), _ids(form["exclude_tag_ids"])
    policy = _ids([form["policy_id"]]) if form.get("policy_id") else []
    variants = _variants_of(form)
    result: PreviewOut | None = None
    problem: Message | None = None
    if include is None or exclude is None or policy is None:
        problem = Message(N_("Choose tags from the list"))
    elif variants:
        try:
            data = PreviewIn(
                variants=variants,
                include_tag_ids=include,
                exclude_tag_ids=exclude,
                policy_id=policy[0] if policy else None,
                limit=3,
            )
            result = await service.preview(session, principal, data)
        except ValidationError as exc:
            problem = error_list_messages(exc.errors()[:1], WIZARD_LABELS)[0]
        except DomainError as exc:
            if exc.status_code in (401, 403):
                raise
            problem = exc.message
    else:
        size = await contacts.audience_size(session, principal, include, exclude)
        result = PreviewOut(
            audience=size.matching,
            reachable=size.reachable,
            more=size.more,
            variants=[],
            samples=[],
            distinct_texts=0,
            duplicate_warning=False,
        )
    return render_fragment(
        request, "outreach/_wizard_preview.html", {"preview": result, "problem": problem}
    )


@router.post("/campaigns/new")
async def create_campaign(
    request: Request, session: DbSession, principal: DashboardPrincipal
) -> Response:
    require(principal, "write", role=Role.OPERATOR)
    form = await _wizard_form(request)
    data, errors = _parse_wizard(form)
    status = 422
    if data is not None:
        try:
            campaign = await service.create_campaign(session, principal, data)
        except DomainError as exc:
            if exc.status_code in (401, 403):
                raise
            errors, status = _domain_field(exc), exc.status_code
        else:
            return RedirectResponse(f"/campaigns/{campaign.id}#start-campaign", status_code=303)
    ctx = await _wizard_context(request, session, principal, form, errors)
    return render(request, "outreach/new_campaign.html", ctx, status_code=status)


@router.get("/campaigns/{campaign_id}")
async def detail_page(
    request: Request, session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    campaign = await service.get_campaign(session, principal, campaign_id)
    ctx = await _page_context(request, session, principal, campaign)
    return render(request, "outreach/campaign.html", ctx)


def _local(value: str, zone: ZoneInfo) -> datetime | None:
    if not value.strip():
        return None
    return datetime.fromisoformat(value.strip()).replace(tzinfo=zone)


@router.post("/campaigns/{campaign_id}/start")
async def start(
    request: Request,
    session: DbSession,
    principal: StepUpDashboardPrincipal,
    campaign_id: uuid.UUID,
) -> Response:
    form = await read_form(request)
    raw = await request.form()
    senders = [str(v) for v in raw.getlist("sender_ids")]
    values: dict[str, Any] = {**form, "sender_ids": senders}
    campaign = await service.get_campaign(session, principal, campaign_id)
    errors: FieldErrors = {}
    zone = ZoneInfo(await execution.tenant_zone(session, principal.tenant_id))
    times: dict[str, datetime | None] = {}
    for name in ("start_at", "end_by"):
        try:
            times[name] = _local(form.get(name, ""), zone)
        except ValueError:
            errors.setdefault(name, []).append(Message(BAD_TIME))
    ids: list[uuid.UUID] = []
    for value in senders:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            errors.setdefault("sender_ids", []).append(Message(execution.NO_SENDERS))
    if not errors:
        plan = execution.StartPlan(ids, times.get("start_at"), times.get("end_by"))
        try:
            await execution.start_campaign(session, principal, campaign_id, plan, utcnow())
        except DomainError as exc:
            if exc.status_code != 422:
                raise
            errors = {str(exc.extra.get("field", "")): [exc.message]}
    if errors:
        ctx = await _page_context(request, session, principal, campaign, form=values, errors=errors)
        return render(request, "outreach/campaign.html", ctx, status_code=422)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


async def _act(
    session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID, action: str
) -> Response:
    controls = {"pause": execution.pause, "resume": execution.resume, "cancel": execution.cancel}
    await controls[action](session, principal, campaign_id, utcnow())
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/pause")
async def pause(
    session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    return await _act(session, principal, campaign_id, "pause")


@router.post("/campaigns/{campaign_id}/resume")
async def resume(
    session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    return await _act(session, principal, campaign_id, "resume")


@router.post("/campaigns/{campaign_id}/cancel")
async def cancel(
    session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    return await _act(session, principal, campaign_id, "cancel")


@router.post("/campaigns/{campaign_id}/test-send")
async def test_send(
    request: Request, session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    form = await read_form(request)
    try:
        sender, target = (
            uuid.UUID(form.get("sender_id", "")),
            uuid.UUID(form.get("to_instance_id", "")),
        )
    except ValueError:
        campaign = await service.get_campaign(session, principal, campaign_id)
        errors: FieldErrors = {"to_instance_id": [Message(execution.NOT_OWN_NUMBER)]}
        ctx = await _page_context(request, session, principal, campaign, errors=errors)
        return render(request, "outreach/campaign.html", ctx, status_code=422)
    await execution.test_send(session, principal, campaign_id, sender, target, utcnow())
    return RedirectResponse(f"/campaigns/{campaign_id}?tested=1", status_code=303)


@router.get("/campaigns/{campaign_id}/recipients")
async def recipients_fragment(
    request: Request, session: DbSession, principal: DashboardPrincipal, campaign_id: uuid.UUID
) -> Response:
    """The recipients table alone (the page re-fetches it live when the funnel changes)."""
    campaign = await service.get_campaign(session, principal, campaign_id)
    numbers = await instances.list_instances(session, principal)
    ctx = await _recipients_context(request, session, principal, campaign, numbers)
    return render(request, "outreach/_recipients.html", ctx)


@router.get("/campaigns-events")
async def events(request: Request) -> Response:
    """Server-sent events: a changed campaign re-renders its funnel."""

    def renderer(principal: Principal) -> Renderer:
        async def render_event(event: dict[str, Any]) -> list[tuple[str, str]]:
            return await _render_funnel(request, principal, uuid.UUID(event["id"]))

        return render_event

    return await open_stream(request, execution.LIVE_KIND, renderer)


async def _render_funnel(
    request: Request, principal: Principal, campaign_id: uuid.UUID
) -> list[tuple[str, str]]:
    with tenant_context(principal.tenant_id, principal.user_id):
        async with get_database().sessions() as session, session.begin():
            try:
                campaign = await service.get_campaign(session, principal, campaign_id)
                funnel = await execution.funnel(session, principal, campaign_id)
            except DomainError:
                return []
            fragment = render_fragment(
                request,
                "outreach/_funnel.html",
                {
                    "campaign": campaign,
                    "funnel": funnel,
                    "can_run": _can_run(principal),
                    "allowed": _allowed(campaign),
                },
            )
    return [(f"funnel-{campaign_id}", bytes(fragment.body).decode())]
