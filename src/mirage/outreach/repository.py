"""Queries for outreach policies, campaigns and their recipients (under the tenant's RLS
context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter, Grouping

from mirage.models import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    Instance,
    OutreachPolicy,
    RecipientStatus,
    SkipReason,
)
from mirage.models.outreach import RECIPIENT_RANK, UNSENT_FINAL


class OutreachPolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> Sequence[OutreachPolicy]:
        stmt = select(OutreachPolicy).order_by(func.lower(OutreachPolicy.name), OutreachPolicy.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, policy_id: uuid.UUID) -> OutreachPolicy | None:
        return await self.session.get(OutreachPolicy, policy_id)

    async def by_name(self, name: str) -> OutreachPolicy | None:
        stmt = select(OutreachPolicy).where(func.lower(OutreachPolicy.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, policy: OutreachPolicy) -> OutreachPolicy:
        self.session.add(policy)
        await self.session.flush()
        return policy

    async def delete(self, policy: OutreachPolicy) -> None:
        await self.session.delete(policy)
        await self.session.flush()

    async def all_optout_keywords(self) -> Sequence[str]:
        """Every extra opt-out keyword of the tenant's policies (one statement, any number of
        policies), deduplicated."""
        stmt = select(func.unnest(OutreachPolicy.optout_keywords)).distinct()
        return [str(k) for k in (await self.session.execute(stmt)).scalars().all()]

    async def confirmation_text_for(self, phone_e164: str, sender_id: uuid.UUID) -> str | None:
        """The confirmation text of the policy that governs this person's latest campaign
        message — from this sender first —, else of the tenant's latest-edited policy."""
        latest = (
            select(OutreachPolicy.confirmation_text)
            .join(Campaign, Campaign.policy_id == OutreachPolicy.id)
            .join(CampaignRecipient, CampaignRecipient.campaign_id == Campaign.id)
            .where(CampaignRecipient.phone_e164 == phone_e164)
            .order_by(
                (CampaignRecipient.sender_id == sender_id).desc(),
                CampaignRecipient.sent_at.desc().nulls_last(),
                Campaign.created_at.desc(),
            )
            .limit(1)
        )
        found = (await self.session.execute(latest)).scalar_one_or_none()
        if found is not None:
            return str(found)
        any_policy = (
            select(OutreachPolicy.confirmation_text)
            .order_by(OutreachPolicy.updated_at.desc())
            .limit(1)
        )
        found = (await self.session.execute(any_policy)).scalar_one_or_none()
        return None if found is None else str(found)

    async def campaigns_using(self, policy_id: uuid.UUID) -> int:
        stmt = select(func.count(Campaign.id)).where(Campaign.policy_id == policy_id)
        return int((await self.session.execute(stmt)).scalar_one())


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, limit: int) -> Sequence[Campaign]:
        stmt = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, campaign_id: uuid.UUID) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def by_name(self, name: str) -> Campaign | None:
        stmt = select(Campaign).where(func.lower(Campaign.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def delete(self, campaign: Campaign) -> None:
        await self.session.delete(campaign)
        await self.session.flush()


# --- campaign execution: the frozen audience, one delivery record per recipient -------------

_RANK = func.campaign_recipient_rank  # the database's own ranks (migration 0016)
OPEN = (RecipientStatus.PLANNED, RecipientStatus.DEFERRED)
TRACKED = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)


def forward_only(status: RecipientStatus) -> ColumnElement[bool]:
    """The rows an update to ``status`` may touch: those it moves forward (a deferral may
    also restate a deferral). The trigger of migration 0016 refuses anything else anyway."""
    new_rank = RECIPIENT_RANK[status]
    moves = _RANK(CampaignRecipient.status) < new_rank
    if status in UNSENT_FINAL:
        moves = _RANK(CampaignRecipient.status) < RECIPIENT_RANK[RecipientStatus.SENT]
    if status is RecipientStatus.DEFERRED:
        moves = _RANK(CampaignRecipient.status) <= new_rank
    return moves


def _array(param: BindParameter[Any]) -> ColumnElement[Any]:
    """A bound array, parenthesised so that it can be subscripted (``(:pool)[i]``)."""
    return type_coerce(Grouping(param), ARRAY(PG_UUID(as_uuid=True)))


class RecipientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def freeze(
        self,
        tenant_id: uuid.UUID,
        campaign_id: uuid.UUID,
        audience: Select[tuple[uuid.UUID, str, str | None]],
        pool: Sequence[uuid.UUID],
    ) -> int:
        """Copy the audience into the campaign's recipients in one statement: blocked ones
        skipped with their reason, malformed numbers skipped as invalid, each given its sender
        — the one that messaged the contact before, if it is in the pool (sticky), else one
        of the pool by a hash of the contact (spread evenly, the same on every run)."""
        a = audience.subquery("a")
        contact_id, phone, blocked = a.c[0], a.c[1], a.c[2]
        pool_ids = bindparam("pool", list(pool), type_=ARRAY(PG_UUID(as_uuid=True)))
        prior = aliased(CampaignRecipient)
        sticky = (
            select(prior.sender_id)
            .where(prior.contact_id == contact_id, prior.sender_id == any_(pool_ids))
            .order_by(prior.created_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        spread = _array(pool_ids)[
            literal(1) + func.mod(func.abs(func.hashtext(cast(contact_id, Text))), len(pool))
        ]
        invalid = phone.op("!~", is_comparison=True)(r"^\+[1-9][0-9]{6,14}$")
        reason = case(
            (blocked.is_not(None), blocked),
            (invalid, literal(SkipReason.INVALID.value)),
            else_=null(),
        )
        status = case(
            (or_(blocked.is_not(None), invalid), literal(RecipientStatus.SKIPPED.value)),
            else_=literal(RecipientStatus.PLANNED.value),
        )
        rows = select(
            func.gen_random_uuid(),
            literal(tenant_id),
            literal(campaign_id),
            contact_id,
            phone,
            status,
            reason,
            func.coalesce(sticky, spread),
        )
        stmt = (
            pg_insert(CampaignRecipient)
            .from_select(
                [
                    "id",
                    "tenant_id",
                    "campaign_id",
                    "contact_id",
                    "phone_e164",
                    "status",
                    "reason",
                    "sender_id",
                ],
                rows,
            )
            .on_conflict_do_nothing(constraint="uq_campaign_recipients_contact")
        )
        # Counted in the database (the rows inserted never travel to the client).
        inserted = stmt.returning(CampaignRecipient.id).cte("inserted")
        count = select(func.count()).select_from(inserted)
        return int((await self.session.execute(count)).scalar_one())

    async def open_phones(
        self, campaign_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> Sequence[tuple[uuid.UUID, str]]:
        """(id, phone) of planned recipients, by id, a page at a time (one status: the
        status index gives them in id order, no sort of the whole campaign per page)."""
        stmt = select(CampaignRecipient.id, CampaignRecipient.phone_e164).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status == RecipientStatus.PLANNED,
        )
        if after is not None:
            stmt = stmt.where(CampaignRecipient.id > after)
        stmt = stmt.order_by(CampaignRecipient.id).limit(limit)
        return [(i, p) for i, p in (await self.session.execute(stmt)).all()]

    async def advance(
        self,
        ids: Sequence[uuid.UUID],
        status: RecipientStatus,
        reason: str | None = None,
        **values: Any,
    ) -> int:
        """Move these recipients to ``status`` — only those it moves forward."""
        if not ids:
            return 0
        stmt = (
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_(list(ids)), forward_only(status))
            .values(status=status, reason=reason, updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def set_values(self, ids: Sequence[uuid.UUID], **values: Any) -> None:
        """Change what is not the status (the message, the plan, a claim)."""
        if not ids:
            return
        await self.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_(list(ids)))
            .values(updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )

    async def by_outgoing(
        self, outgoing_id: uuid.UUID, *, for_update: bool = False
    ) -> CampaignRecipient | None:
        stmt = select(CampaignRecipient).where(CampaignRecipient.outgoing_id == outgoing_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, recipient_id: uuid.UUID) -> CampaignRecipient | None:
        return await self.session.get(CampaignRecipient, recipient_id)

    async def to_plan(
        self, campaign_id: uuid.UUID, sender_id: uuid.UUID, limit: int
    ) -> Sequence[CampaignRecipient]:
        """A sender's next recipients with no message yet, locked (others skip them)."""
        stmt = (
            select(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.sender_id == sender_id,
                CampaignRecipient.status.in_(OPEN),
                CampaignRecipient.outgoing_id.is_(None),
            )
            .order_by(CampaignRecipient.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def in_plan(
        self, campaign_id: uuid.UUID, sender_id: uuid.UUID
    ) -> tuple[int, datetime | None]:
        """How many of a sender's recipients have a message waiting, and the last one's time."""
        stmt = select(func.count(), func.max(CampaignRecipient.planned_at)).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.sender_id == sender_id,
            CampaignRecipient.status.in_(OPEN),
            CampaignRecipient.outgoing_id.is_not(None),
        )
        n, last = (await self.session.execute(stmt)).one()
        return int(n), last

    async def planned_messages(
        self, campaign_id: uuid.UUID, senders: Sequence[uuid.UUID] | None = None
    ) -> list[uuid.UUID]:
        """The messages of not-yet-sent recipients (of these senders, or all)."""
        stmt = select(CampaignRecipient.outgoing_id).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status.in_(OPEN),
            CampaignRecipient.outgoing_id.is_not(None),
        )
        if senders is not None:
            stmt = stmt.where(CampaignRecipient.sender_id.in_(list(senders)))
        return [i for i in (await self.session.execute(stmt)).scalars() if i is not None]

    async def release(self, outgoing_ids: Sequence[uuid.UUID]) -> None:
        """These recipients' messages were cancelled before any send: no message now."""
        if not outgoing_ids:
            return
        await self.session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.outgoing_id.in_(list(outgoing_ids)),
                CampaignRecipient.status.in_(OPEN),
            )
            .values(outgoing_id=None, planned_at=None, valid_until=None, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def reassign(
        self,
        campaign_id: uuid.UUID,
        from_senders: Sequence[uuid.UUID],
        to_senders: Sequence[uuid.UUID],
        now: datetime,
    ) -> int:
        """Move the not-yet-sent recipients (with no message waiting) of ``from_senders`` to
        ``to_senders``, spread by a hash of the contact; the move is recorded on each."""
        if not from_senders or not to_senders:
            return 0
        to_ids = bindparam("to_ids", list(to_senders), type_=ARRAY(PG_UUID(as_uuid=True)))
        target = _array(to_ids)[
            literal(1)
            + func.mod(
                func.abs(func.hashtext(cast(CampaignRecipient.contact_id, Text))), len(to_senders)
            )
        ]
        result = await self.session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.sender_id.in_(list(from_senders)),
                CampaignRecipient.status.in_(OPEN),
                CampaignRecipient.outgoing_id.is_(None),
            )
            .values(
                reassigned_from=CampaignRecipient.sender_id,
                reassigned_at=now,
                sender_id=target,
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def close_open(self, campaign_id: uuid.UUID, reason: str) -> int:
        """Every not-yet-sent recipient expires (a cancelled or ended campaign)."""
        result = await self.session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.status.in_(OPEN),
            )
            .values(status=RecipientStatus.EXPIRED, reason=reason, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def open_count(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status.in_(OPEN),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def tracked(
        self, campaign_id: uuid.UUID, since: datetime, limit: int
    ) -> Sequence[CampaignRecipient]:
        """Sent recipients whose receipts or reply may still come (sent after ``since``)."""
        stmt = (
            select(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.status.in_(TRACKED),
                CampaignRecipient.sent_at > since,
            )
            .order_by(CampaignRecipient.sent_at)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def funnel(self, campaign_id: uuid.UUID) -> Sequence[tuple[str, str | None, int]]:
        """(status, reason, count) of the campaign's recipients: one grouped statement."""
        stmt = (
            select(CampaignRecipient.status, CampaignRecipient.reason, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status, CampaignRecipient.reason)
        )
        return [(str(s), r, int(n)) for s, r, n in (await self.session.execute(stmt)).all()]

    async def mark_opted_out(
        self, phone_e164: str, sent_since: datetime, now: datetime
    ) -> Sequence[uuid.UUID]:
        """The person's recipients whose campaign message went out since ``sent_since`` opted
        out now; returns their campaigns. Claimed counts: the person may answer before the
        send's outcome is recorded."""
        stmt = (
            update(CampaignRecipient)
            .where(
                CampaignRecipient.phone_e164 == phone_e164,
                CampaignRecipient.claimed_at >= sent_since,
                CampaignRecipient.opted_out_at.is_(None),
            )
            .values(opted_out_at=now)
            .returning(CampaignRecipient.campaign_id)
        )
        return sorted(set((await self.session.execute(stmt)).scalars()))

    async def sender_engagement(
        self, tenant_id: uuid.UUID, sender_id: uuid.UUID, since: datetime
    ) -> tuple[int, int, int]:
        """A sender's campaign messages sent since ``since``: (how many since anyone last
        replied to one of them, how many in all, how many answered) — one statement on
        ``ix_campaign_recipients_sender_sent``."""
        week = (
            select(CampaignRecipient.sent_at, CampaignRecipient.replied_at)
            .where(
                CampaignRecipient.tenant_id == tenant_id,
                CampaignRecipient.sender_id == sender_id,
                CampaignRecipient.sent_at.is_not(None),
                CampaignRecipient.sent_at >= since,
            )
            .cte("week")
        )
        last_reply = select(func.max(week.c.replied_at)).scalar_subquery()
        stmt = select(
            func.count().filter(or_(last_reply.is_(None), week.c.sent_at > last_reply)),
            func.count(),
            func.count(week.c.replied_at),
        ).select_from(week)
        streak, sent, replied = (await self.session.execute(stmt)).one()
        return int(streak), int(sent), int(replied)

    async def last_sender_to(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> uuid.UUID | None:
        """The number whose campaign message last went out to this contact, if any."""
        stmt = (
            select(CampaignRecipient.sender_id)
            .where(
                CampaignRecipient.tenant_id == tenant_id,
                CampaignRecipient.contact_id == contact_id,
                CampaignRecipient.sent_at.is_not(None),
                CampaignRecipient.sender_id.is_not(None),
            )
            .order_by(CampaignRecipient.sent_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def opted_out(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.opted_out_at.is_not(None),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def load(
        self, campaign_id: uuid.UUID, hour_ago: datetime, day_start: datetime
    ) -> tuple[int, int, datetime | None]:
        """The campaign's claims (sends) in the rolling hour, since the day's start, last."""
        claimed = CampaignRecipient.claimed_at
        stmt = select(
            func.count().filter(claimed >= hour_ago),
            func.count().filter(claimed >= day_start),
            func.max(claimed),
        ).where(CampaignRecipient.campaign_id == campaign_id, claimed.is_not(None))
        hour, day, last = (await self.session.execute(stmt)).one()
        return int(hour), int(day), last

    async def page(
        self,
        campaign_id: uuid.UUID,
        statuses: Sequence[RecipientStatus],
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[CampaignRecipient]:
        stmt = select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        if statuses:
            stmt = stmt.where(CampaignRecipient.status.in_(list(statuses)))
        if after is not None:
            stmt = stmt.where(CampaignRecipient.id > after)
        stmt = stmt.order_by(CampaignRecipient.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def tenant_number(self, phone_digits: str) -> uuid.UUID | None:
        """The tenant's own number with this phone (a test send's target), if any."""
        stmt = select(Instance.id).where(Instance.phone == phone_digits).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def campaigns_to_drive(self, since: datetime) -> Sequence[uuid.UUID]:
        """The tenant's campaigns with work to do: running or scheduled ones, and those whose
        receipts and replies may still come (paused, or finished after ``since``)."""
        stmt = select(Campaign.id).where(
            or_(
                Campaign.state.in_(
                    (CampaignState.RUNNING, CampaignState.SCHEDULED, CampaignState.PAUSED)
                ),
                Campaign.finished_at > since,
            )
        )
        return list((await self.session.execute(stmt)).scalars())

    async def lock_campaign(self, campaign_id: uuid.UUID) -> Campaign | None:
        stmt = select(Campaign).where(Campaign.id == campaign_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()
