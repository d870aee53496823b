"""/api/v1/outreach-policies and /api/v1/campaigns (drafts and their preview)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from mirage.auth.deps import ApiPrincipal, StepUpApiPrincipal
from mirage.db.deps import DbSession
from mirage.kit.clock import utcnow
from mirage.kit.errors import ValidationFailed
from mirage.models import RecipientStatus
from mirage.outreach import execution, service
from mirage.outreach.schemas import (
    CampaignIn,
    CampaignOut,
    FunnelOut,
    OutreachPolicyIn,
    OutreachPolicyOut,
    PreviewIn,
    PreviewOut,
    RecipientOut,
    RecipientPage,
    StartIn,
    TestSendIn,
    TestSendOut,
)
from mirage.web.errors import API_ERRORS

router = APIRouter(prefix="/outreach-policies", tags=["outreach"], responses=API_ERRORS)


@router.get("", response_model=list[OutreachPolicyOut])
async def list_policies(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_policies(session, principal)


@router.post("", response_model=OutreachPolicyOut, status_code=201)
async def create_policy(body: OutreachPolicyIn, session: DbSession, principal: ApiPrincipal) -> Any:
    """Create a policy. 422 lists every problem (``errors``: field and detail), including a
    per-number cap above the tenant's or a gap below it: a policy only tightens them."""
    return await service.create_policy(session, principal, body)


@router.get("/{policy_id}", response_model=OutreachPolicyOut)
async def get_policy(policy_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_policy(session, principal, policy_id)


@router.put("/{policy_id}", response_model=OutreachPolicyOut)
async def update_policy(
    policy_id: uuid.UUID, body: OutreachPolicyIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_policy(session, principal, policy_id, body)


@router.delete("/{policy_id}", status_code=204)
async def delete_policy(
    policy_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete_policy(session, principal, policy_id)
    return Response(status_code=204)


# Ids are matched as UUIDs in the path itself, so that /campaigns/preview is never taken for
# a campaign (a PUT there is a 405, not a 422 about an id).
campaigns = APIRouter(prefix="/campaigns", tags=["campaigns"], responses=API_ERRORS)


@campaigns.get("", response_model=list[CampaignOut])
async def list_campaigns(session: DbSession, principal: ApiPrincipal) -> list[Any]:
    return await service.list_campaigns(session, principal)


@campaigns.post("", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignIn, session: DbSession, principal: ApiPrincipal) -> Any:
    """Create a draft. 422 names a variant whose template does not parse (``variant``,
    ``position``), an unknown policy or tag."""
    return await service.create_campaign(session, principal, body)


@campaigns.post("/preview", response_model=PreviewOut)
async def preview(body: PreviewIn, session: DbSession, principal: ApiPrincipal) -> Any:
    """Render a message (not saved yet) for real contacts of an audience, and count it."""
    return await service.preview(session, principal, body)


@campaigns.get("/{campaign_id:uuid}", response_model=CampaignOut)
async def get_campaign(campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal) -> Any:
    return await service.get_campaign(session, principal, campaign_id)


@campaigns.get("/{campaign_id:uuid}/preview", response_model=PreviewOut)
async def campaign_preview(
    campaign_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Any:
    """The saved campaign rendered for real contacts, as its sends will render it."""
    return await service.campaign_preview(session, principal, campaign_id, limit)


@campaigns.put("/{campaign_id:uuid}", response_model=CampaignOut)
async def update_campaign(
    campaign_id: uuid.UUID, body: CampaignIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    return await service.update_campaign(session, principal, campaign_id, body)


@campaigns.delete("/{campaign_id:uuid}", status_code=204)
async def delete_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Response:
    await service.delete_campaign(session, principal, campaign_id)
    return Response(status_code=204)


# --- execution: the state machine's actions (409 problem+json on an illegal transition) ------


@campaigns.post("/{campaign_id:uuid}/start", response_model=CampaignOut)
async def start_campaign(
    campaign_id: uuid.UUID, body: StartIn, session: DbSession, principal: StepUpApiPrincipal
) -> Any:
    """Freeze the audience (later imports do not join) and start, or schedule for
    ``start_at``. 409 when the campaign is not a draft."""
    plan = execution.StartPlan(body.sender_ids, body.start_at, body.end_by)
    return await execution.start_campaign(session, principal, campaign_id, plan, utcnow())


@campaigns.post("/{campaign_id:uuid}/pause", response_model=CampaignOut)
async def pause_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Stop sending: messages not yet handed to the gateway are withdrawn (one already
    handed over goes out once and is recorded). 409 unless running or scheduled."""
    return await execution.pause(session, principal, campaign_id, utcnow())


@campaigns.post("/{campaign_id:uuid}/resume", response_model=CampaignOut)
async def resume_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Send the rest; nothing already sent is planned again. 409 unless paused."""
    return await execution.resume(session, principal, campaign_id, utcnow())


@campaigns.post("/{campaign_id:uuid}/cancel", response_model=CampaignOut)
async def cancel_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Final: what was not sent expires. 409 when already completed or cancelled."""
    return await execution.cancel(session, principal, campaign_id, utcnow())


@campaigns.post("/{campaign_id:uuid}/test-send", response_model=TestSendOut, status_code=202)
async def test_send(
    campaign_id: uuid.UUID, body: TestSendIn, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Send the message once to one of the tenant's own numbers (through the policy)."""
    msg = await execution.test_send(
        session, principal, campaign_id, body.sender_id, body.to_instance_id, utcnow()
    )
    return TestSendOut(outgoing_id=msg.id, text=msg.text, planned_at=msg.planned_at)


@campaigns.get("/{campaign_id:uuid}/recipients", response_model=RecipientPage)
async def list_recipients(
    campaign_id: uuid.UUID,
    session: DbSession,
    principal: ApiPrincipal,
    status: Annotated[list[RecipientStatus] | None, Query()] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """One delivery record per recipient, by id; ``status`` filters (repeatable)."""
    after = None
    if cursor:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            raise ValidationFailed("invalid cursor", field="cursor") from None
    rows = await execution.recipients(
        session, principal, campaign_id, status or [], after, limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RecipientPage(
        items=[RecipientOut.model_validate(r) for r in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


@campaigns.get("/{campaign_id:uuid}/funnel", response_model=FunnelOut)
async def campaign_funnel(
    campaign_id: uuid.UUID, session: DbSession, principal: ApiPrincipal
) -> Any:
    """Planned → sent → delivered → read → replied; failures, expiries and skips by reason."""
    campaign = await service.get_campaign(session, principal, campaign_id)
    return execution.funnel_out(campaign, await execution.funnel(session, principal, campaign_id))
