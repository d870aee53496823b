"""/api/v1/outreach-policies and /api/v1/campaigns (drafts and their preview)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from mirage.auth.deps import ApiPrincipal
from mirage.db.deps import DbSession
from mirage.outreach import service
from mirage.outreach.schemas import (
    CampaignIn,
    CampaignOut,
    OutreachPolicyIn,
    OutreachPolicyOut,
    PreviewIn,
    PreviewOut,
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
