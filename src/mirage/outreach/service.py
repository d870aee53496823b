"""Outreach policy rules: unique names per tenant, every bound in the schema, and the rule
that a policy only tightens the numbers' own limits (the tenant's settings): its per-number
caps are at most the tenant's, its gap at least the tenant's, its campaign hourly cap at most
the tenant's burst limit. The engine applies the smaller cap and the longer gap anyway; the
check says so at once instead of keeping a setting that would never apply."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.contacts import service as contacts
from mirage.contacts.keywords import OPT_OUT_KEYWORDS
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, NotFound, ValidationFailed
from mirage.kit.i18n import N_, Message
from mirage.models import Campaign, CampaignState, OutreachPolicy, TenantSettings
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.outreach import render
from mirage.outreach.repository import CampaignRepository, OutreachPolicyRepository
from mirage.outreach.schemas import (
    LABELS,
    CampaignIn,
    OutreachPolicyIn,
    PreviewIn,
    PreviewOut,
    PreviewSample,
    VariantInfo,
    fold,
)
from mirage.policy import Reason
from mirage.tenants import settings as tenant_settings

#: The built-in opt-out keywords (the contacts' inbound detector), shown next to a policy's own.
BUILT_IN_KEYWORDS = tuple(sorted(OPT_OUT_KEYWORDS))

ABOVE_NUMBER_CAP = N_(
    "%(field)s: at most %(limit)s. A policy can only tighten the numbers' own limits, and "
    "the tenant's cap per number is %(limit)s (Settings)."
)
BELOW_NUMBER_GAP = N_(
    "%(field)s: at least %(limit)s. A policy can only tighten the numbers' own limits, and "
    "the tenant's minimum gap between sends is %(limit)s s (Settings)."
)
ABOVE_BURST = N_(
    "%(field)s: at most %(limit)s. The tenant's burst limit allows %(limit)s messages per "
    "hour across all its numbers (Settings)."
)
DUPLICATE_NAME = N_("An outreach policy with this name already exists")


class PolicyInvalid(ValidationFailed):
    """Every reason a policy is refused, each with its field (the form shows each under its
    field; the API lists them in ``errors``)."""

    def __init__(self, problems: list[tuple[str, Message]]) -> None:
        self.problems = problems
        first = problems[0][1]
        super().__init__(
            first.msgid,
            params=first.params,
            field=problems[0][0],
            errors=[{"field": name, "detail": str(message)} for name, message in problems],
        )


def tighten_problems(data: OutreachPolicyIn, limits: TenantSettings) -> list[tuple[str, Message]]:
    """Where ``data`` would loosen the tenant's own limits (empty when it does not)."""
    found: list[tuple[str, Message]] = []
    for name, value, top in (
        ("number_hourly_cap", data.number_hourly_cap, limits.hourly_cap_per_number),
        ("number_daily_cap", data.number_daily_cap, limits.daily_cap_per_number),
    ):
        if value is not None and value > top:
            found.append((name, _message(ABOVE_NUMBER_CAP, name, top)))
    if data.min_gap_seconds is not None and data.min_gap_seconds < limits.min_gap_seconds:
        found.append(
            (
                "min_gap_seconds",
                _message(BELOW_NUMBER_GAP, "min_gap_seconds", limits.min_gap_seconds),
            )
        )
    if data.campaign_hourly_cap is not None and data.campaign_hourly_cap > limits.burst_per_hour:
        found.append(
            (
                "campaign_hourly_cap",
                _message(ABOVE_BURST, "campaign_hourly_cap", limits.burst_per_hour),
            )
        )
    return found


def _message(msgid: str, field: str, limit: int) -> Message:
    return Message(msgid, {"field": Message(LABELS[field]), "limit": limit})


def require_editor(principal: Principal) -> None:
    """Policies govern every campaign's limits: changing them is an admin's (as Settings)."""
    require(principal, "admin", role=Role.ADMIN)


async def tenant_limits(session: AsyncSession, principal: Principal) -> TenantSettings:
    """The tenant's own per-number limits, which a policy may only tighten."""
    return await tenant_settings.get_or_create(session, principal.tenant_id)


async def list_policies(session: AsyncSession, principal: Principal) -> list[OutreachPolicy]:
    require(principal, "read")
    return list(await OutreachPolicyRepository(session).list())


async def get_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID
) -> OutreachPolicy:
    require(principal, "read")
    policy = await OutreachPolicyRepository(session).get(policy_id)
    if policy is None:
        raise NotFound("outreach policy not found")
    return policy


async def _check(
    session: AsyncSession, principal: Principal, data: OutreachPolicyIn, same: uuid.UUID | None
) -> None:
    problems = tighten_problems(data, await tenant_limits(session, principal))
    if problems:
        raise PolicyInvalid(problems)
    other = await OutreachPolicyRepository(session).by_name(data.name)
    if other is not None and other.id != same:
        raise Conflict(DUPLICATE_NAME, field="name")


# The fields an update's audit event compares (only those that changed are stored).
POLICY_AUDITED = (
    "name",
    "number_hourly_cap",
    "number_daily_cap",
    "campaign_hourly_cap",
    "campaign_daily_cap",
    "min_gap_seconds",
    "weekdays",
    "dayparts",
    "contact_start",
    "contact_end",
    "skip_holidays",
    "optout_keywords",
    "confirmation_text",
    "validity_minutes",
    "duplicate_limit",
    "duplicate_window_minutes",
)
CAMPAIGN_AUDITED = ("name", "policy_id", "variants", "include_tag_ids", "exclude_tag_ids")


def _apply(policy: OutreachPolicy, data: OutreachPolicyIn, principal: Principal) -> None:
    policy.name = data.name
    policy.number_hourly_cap = data.number_hourly_cap
    policy.number_daily_cap = data.number_daily_cap
    policy.campaign_hourly_cap = data.campaign_hourly_cap
    policy.campaign_daily_cap = data.campaign_daily_cap
    policy.min_gap_seconds = data.min_gap_seconds
    policy.weekdays = list(data.weekdays)
    policy.dayparts = [str(p) for p in data.dayparts]
    policy.contact_start = data.contact_start
    policy.contact_end = data.contact_end
    policy.skip_holidays = data.skip_holidays
    built_in = {fold(k) for k in BUILT_IN_KEYWORDS}
    policy.optout_keywords = [k for k in data.optout_keywords if fold(k) not in built_in]
    policy.confirmation_text = data.confirmation_text
    policy.validity_minutes = data.validity_minutes
    policy.duplicate_limit = data.duplicate_limit
    policy.duplicate_window_minutes = data.duplicate_window_minutes
    policy.updated_at = utcnow()
    policy.updated_by = principal.user_id


async def tenant_optout_keywords(session: AsyncSession) -> tuple[str, ...]:
    """The extra opt-out keywords of all the tenant's outreach policies (under its context):
    an inbound message is not tied to a campaign, so any policy's keyword counts."""
    return tuple(await OutreachPolicyRepository(session).all_optout_keywords())


async def create_policy(
    session: AsyncSession, principal: Principal, data: OutreachPolicyIn
) -> OutreachPolicy:
    require_editor(principal)
    await _check(session, principal, data, None)
    policy = OutreachPolicy(tenant_id=principal.tenant_id)
    _apply(policy, data, principal)
    policy = await OutreachPolicyRepository(session).add(policy)
    await _audit(session, principal, "outreach_policy.create", policy)
    return policy


async def update_policy(
    session: AsyncSession, principal: Principal, policy_id: uuid.UUID, data: OutreachPolicyIn
) -> OutreachPolicy:
    require_editor(principal)
    policy = await get_policy(session, principal, policy_id)
    await _check(session, principal, data, policy.id)
    before = audit.snapshot(policy, POLICY_AUDITED)
    _apply(policy, data, principal)
    await session.flush()
    await _audit(session, principal, "outreach_policy.update", policy, before, POLICY_AUDITED)
    return policy


async def delete_policy(session: AsyncSession, principal: Principal, policy_id: uuid.UUID) -> None:
    require_editor(principal)
    policy = await get_policy(session, principal, policy_id)
    if await OutreachPolicyRepository(session).campaigns_using(policy.id):
        raise Conflict(POLICY_IN_USE)
    await _audit(session, principal, "outreach_policy.delete", policy)
    await OutreachPolicyRepository(session).delete(policy)


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target: OutreachPolicy | Campaign,
    before: dict[str, Any] | None = None,
    fields: tuple[str, ...] = (),
) -> None:
    """One event about a policy or a campaign; an update carries what changed."""
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=action,
        target_type="campaign" if isinstance(target, Campaign) else "outreach_policy",
        target_id=target.id,
        name=target.name,
        before=before,
        after=audit.snapshot(target, fields) if before is not None else None,
    )


# --- campaigns (drafts) -----------------------------------------------------------------------

MAX_CAMPAIGNS = 500
POLICY_IN_USE = N_("this policy is used by a campaign; change the campaign first")
NOT_A_DRAFT = N_("only a draft campaign can be changed or deleted")
DUPLICATE_CAMPAIGN = N_("a campaign with this name already exists")
UNKNOWN_POLICY = N_("choose an existing sending policy")
BAD_VARIANT = N_("variant %(n)s: %(problem)s")


def parse_variants(variants: list[str]) -> list[render.Template]:
    """Each variant's template, or a 422 naming the variant and what is wrong where."""
    templates: list[render.Template] = []
    for index, text in enumerate(variants):
        try:
            templates.append(render.parse(text))
        except render.TemplateError as exc:
            raise ValidationFailed(
                BAD_VARIANT,
                params={"n": index + 1, "problem": str(exc)},
                field="variants",
                variant=index,
                position=exc.position,
            ) from None
    return templates


async def list_campaigns(session: AsyncSession, principal: Principal) -> list[Campaign]:
    require(principal, "read")
    return list(await CampaignRepository(session).list(MAX_CAMPAIGNS))


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> Campaign:
    require(principal, "read")
    campaign = await CampaignRepository(session).get(campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def _check_campaign(
    session: AsyncSession, principal: Principal, data: CampaignIn, same: uuid.UUID | None
) -> None:
    if await OutreachPolicyRepository(session).get(data.policy_id) is None:
        raise ValidationFailed(UNKNOWN_POLICY, field="policy_id")
    parse_variants(data.variants)
    await contacts.audience_size(session, principal, data.include_tag_ids, data.exclude_tag_ids)
    other = await CampaignRepository(session).by_name(data.name)
    if other is not None and other.id != same:
        raise Conflict(DUPLICATE_CAMPAIGN, field="name")


def _apply_campaign(campaign: Campaign, data: CampaignIn, principal: Principal) -> None:
    campaign.name = data.name
    campaign.policy_id = data.policy_id
    campaign.variants = list(data.variants)
    campaign.include_tag_ids = list(data.include_tag_ids)
    campaign.exclude_tag_ids = list(data.exclude_tag_ids)
    campaign.updated_at = utcnow()
    campaign.updated_by = principal.user_id


async def create_campaign(
    session: AsyncSession, principal: Principal, data: CampaignIn
) -> Campaign:
    require(principal, "write", role=Role.OPERATOR)
    await _check_campaign(session, principal, data, None)
    campaign = Campaign(tenant_id=principal.tenant_id, state=CampaignState.DRAFT)
    _apply_campaign(campaign, data, principal)
    campaign = await CampaignRepository(session).add(campaign)
    await _audit(session, principal, "campaign.create", campaign)
    return campaign


async def update_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: CampaignIn
) -> Campaign:
    require(principal, "write", role=Role.OPERATOR)
    campaign = await get_campaign(session, principal, campaign_id)
    if campaign.state is not CampaignState.DRAFT:
        raise Conflict(NOT_A_DRAFT)
    await _check_campaign(session, principal, data, campaign.id)
    before = audit.snapshot(campaign, CAMPAIGN_AUDITED)
    _apply_campaign(campaign, data, principal)
    await session.flush()
    await _audit(session, principal, "campaign.update", campaign, before, CAMPAIGN_AUDITED)
    return campaign


async def delete_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> None:
    require(principal, "write", role=Role.OPERATOR)
    campaign = await get_campaign(session, principal, campaign_id)
    if campaign.state is not CampaignState.DRAFT:
        raise Conflict(NOT_A_DRAFT)
    await _audit(session, principal, "campaign.delete", campaign)
    await CampaignRepository(session).delete(campaign)


def skip_reason(member: contacts.AudienceMember) -> str | None:
    """Why the policy engine would refuse every send to this contact (its deny reasons, in
    its order), or None: the preview says so instead of rendering as if it would be sent."""
    if member.suppressed or member.opted_out:
        return Reason.SUPPRESSED.value
    if member.consent_state == "revoked":
        return Reason.CONSENT_REVOKED.value
    if member.legal_basis == "consent" and member.consent_state != "granted":
        return Reason.NO_BASIS.value
    return None


async def preview(
    session: AsyncSession, principal: Principal, data: PreviewIn, *, seed: object = "preview"
) -> PreviewOut:
    """The message rendered for real contacts of the audience (or the chosen ones), with the
    same choices a send to them would make (the seed is the campaign's id once saved), the
    audience's size, and each variant's spintax breadth."""
    require(principal, "read")
    templates = parse_variants(data.variants)
    size = await contacts.audience_size(
        session, principal, data.include_tag_ids, data.exclude_tag_ids
    )
    members = await contacts.audience_sample(
        session,
        principal,
        data.include_tag_ids,
        data.exclude_tag_ids,
        limit=data.limit,
        contact_ids=data.contact_ids,
    )
    samples = []
    for m in members:
        index, rendered = render.render_message(
            templates, render.contact_values(m.name, m.custom_fields), seed, m.id
        )
        samples.append(
            PreviewSample(
                contact_id=m.id,
                name=m.name,
                phone_e164=m.phone_e164,
                variant=index,
                text=rendered.text,
                missing=list(rendered.missing),
                too_long=rendered.too_long,
                skipped=skip_reason(m),
            )
        )
    distinct = min(sum(t.count() for t in templates), 1_000_000)
    warning = False
    if data.policy_id is not None:
        policy = await OutreachPolicyRepository(session).get(data.policy_id)
        if policy is None:
            raise ValidationFailed(UNKNOWN_POLICY, field="policy_id")
        warning = distinct * policy.duplicate_limit < size.reachable
    return PreviewOut(
        audience=size.matching,
        reachable=size.reachable,
        more=size.more,
        variants=[
            VariantInfo(index=i, distinct_texts=t.count(), variables=sorted(t.variables))
            for i, t in enumerate(templates)
        ],
        samples=samples,
        distinct_texts=distinct,
        duplicate_warning=warning,
    )


async def campaign_preview(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, limit: int = 5
) -> PreviewOut:
    """A saved campaign's preview: rendered as its sends will be (seeded by its id)."""
    campaign = await get_campaign(session, principal, campaign_id)
    data = PreviewIn(
        variants=campaign.variants,
        include_tag_ids=campaign.include_tag_ids,
        exclude_tag_ids=campaign.exclude_tag_ids,
        policy_id=campaign.policy_id,
        limit=limit,
    )
    return await preview(session, principal, data, seed=campaign.id)
