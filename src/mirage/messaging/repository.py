"""Queries for outgoing messages and policy decisions (under RLS)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import Message, OutgoingMessage, OutgoingStatus, PolicyDecision, Purpose
from mirage.models.messaging import COUNTED_STATUSES, DecisionAction

# The gateway's delivery ranks (messages.status_rank) by name.
_DELIVERY = {
    0: "ERROR",
    1: "PENDING",
    2: "SERVER_ACK",
    3: "DELIVERY_ACK",
    4: "READ",
    5: "PLAYED",
    6: "DELETED",
}


class SendCounts(NamedTuple):
    """What one number has sent: the caps' inputs."""

    last_hour: int
    today: int
    last_sent_at: datetime | None
    #: Of today's, those to external contacts (campaign sends): the yellow band's count.
    new_contacts_today: int = 0


def _counts(hour_ago: datetime, day_start: datetime) -> tuple[Any, Any, Any, Any]:
    """What the caps count of a number's sends (``COUNTED_STATUSES`` only): in the rolling
    hour, since the day's start, the last one, and campaign sends today (new contacts, for the
    yellow band)."""
    return (
        func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= hour_ago),
        func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= day_start),
        func.max(OutgoingMessage.sent_at),
        func.count(OutgoingMessage.id).filter(
            OutgoingMessage.sent_at >= day_start,
            OutgoingMessage.purpose == Purpose.CAMPAIGN,
        ),
    )


def _number_counts(
    instance_id: uuid.UUID, hour_ago: datetime, day_start: datetime
) -> Select[int, int, datetime | None, int]:
    """One number's sends as the caps count them (``_counts``). One definition, asked alone
    (``send_counts``), inside the send decision's statement, or for a page of numbers
    (``numbers_counts``)."""
    return select(*_counts(hour_ago, day_start)).where(
        OutgoingMessage.instance_id == instance_id,
        OutgoingMessage.status.in_(COUNTED_STATUSES),
    )


class SentMessage(NamedTuple):
    """What recording a send needs next (its owner, its number)."""

    purpose: Purpose
    instance_id: uuid.UUID


class PolicyCounts(NamedTuple):
    """The message counts one send decision needs (``OutgoingRepository.policy_counts``)."""

    number: SendCounts
    tenant_last_hour: int
    tenant_last_sent_at: datetime | None
    # (claimed_at, typing_ms) of the number's other sends now being typed.
    in_flight: tuple[tuple[datetime, int], ...]


def _send_counts(row: Sequence[Any]) -> SendCounts:
    hour, day, last, strangers = row
    return SendCounts(int(hour), int(day), last, int(strangers))


class OutgoingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, msg: OutgoingMessage) -> OutgoingMessage:
        self.session.add(msg)
        await self.session.flush()
        return msg

    async def add_unless_exists(self, msg: OutgoingMessage) -> OutgoingMessage | None:
        """Insert ``msg`` unless a unique index already holds one like it (then None): a
        conflict leaves the caller's transaction intact, unlike a failed flush."""
        values = {
            c.key: getattr(msg, c.key)
            for c in OutgoingMessage.__table__.columns
            if getattr(msg, c.key, None) is not None
        }
        stmt = (
            pg_insert(OutgoingMessage)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(OutgoingMessage.id)
        )
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if new_id is None else await self.get(new_id)

    async def get(
        self, outgoing_id: uuid.UUID, *, for_update: bool = False
    ) -> OutgoingMessage | None:
        stmt = select(OutgoingMessage).where(OutgoingMessage.id == outgoing_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def save(self) -> None:
        """Write pending changes now (within the transaction), not at some later query."""
        await self.session.flush()

    async def lock_number(self, instance_id: uuid.UUID) -> None:
        """Serialize the claims of one number until the transaction ends (the caps and "one
        send at a time" are read and written under it). The database does it, not a queue
        lock: a message waiting for tomorrow never holds back another's send."""
        await self.session.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"send:{instance_id}"},
        )

    async def mark_sent(
        self,
        outgoing_id: uuid.UUID,
        provider_id: str,
        when: datetime,
        *,
        announce: ColumnElement[Any] | None = None,
    ) -> SentMessage | None:
        """A claimed send went out: recorded in one statement, only while it is still claimed
        (None otherwise: something else decided its fate meanwhile). ``announce``: an
        expression evaluated for the updated row (a live notification), in the same
        statement."""
        returned: list[ColumnElement[Any]] = [
            OutgoingMessage.purpose,  # type: ignore[list-item]
            OutgoingMessage.instance_id,  # type: ignore[list-item]
        ]
        if announce is not None:
            returned.append(announce)
        stmt = (
            update(OutgoingMessage)
            .where(
                OutgoingMessage.id == outgoing_id,
                OutgoingMessage.status == OutgoingStatus.SENDING,
            )
            .values(
                status=OutgoingStatus.SENT,
                sent_at=when,
                provider_message_id=provider_id,
                last_error=None,
            )
            .returning(*returned)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return SentMessage(Purpose(row[0]), row[1]) if row is not None else None

    async def take_parked(self, instance_id: uuid.UUID, now: datetime) -> uuid.UUID | None:
        """The number's next parked message that is due (earliest planned, then id), unparked
        in the same statement so that one finishing send takes it; one that another
        transaction holds is skipped (it is being decided right now)."""
        nxt = (
            select(OutgoingMessage.id)
            .where(
                OutgoingMessage.instance_id == instance_id,
                OutgoingMessage.status == OutgoingStatus.PLANNED,
                OutgoingMessage.parked_at.is_not(None),
                OutgoingMessage.planned_at <= now,
            )
            .order_by(OutgoingMessage.planned_at, OutgoingMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(OutgoingMessage)
            .where(OutgoingMessage.id == nxt)
            .values(parked_at=None)
            .returning(OutgoingMessage.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def stale(
        self,
        *,
        planned_before: datetime,
        claimed_before: datetime,
        woken_before: datetime,
        limit: int = 500,
    ) -> Sequence[OutgoingMessage]:
        """Messages whose next step is overdue: planned long ago and still planned, or claimed
        long ago and still unconfirmed. Normally none; each is checked for a live job. A
        parked message is overdue only when nothing of its number will wake it soon: no send
        of the number being typed (claimed since ``claimed_before``) and no other planned
        message with a job of its own (unparked) due before ``woken_before`` — either one,
        when done, takes the next."""
        other = OutgoingMessage.__table__.alias("other")
        driver = (
            select(other.c.id)
            .where(
                other.c.tenant_id == OutgoingMessage.tenant_id,
                other.c.instance_id == OutgoingMessage.instance_id,
                or_(
                    and_(
                        other.c.status == OutgoingStatus.PLANNED.value,
                        other.c.parked_at.is_(None),
                        other.c.planned_at < woken_before,
                    ),
                    and_(
                        other.c.status == OutgoingStatus.SENDING.value,
                        other.c.claimed_at >= claimed_before,
                    ),
                ),
            )
            .exists()
        )
        stmt = (
            select(OutgoingMessage)
            .where(
                or_(
                    and_(
                        OutgoingMessage.status == OutgoingStatus.PLANNED,
                        OutgoingMessage.planned_at < planned_before,
                        or_(OutgoingMessage.parked_at.is_(None), ~driver),
                    ),
                    and_(
                        OutgoingMessage.status == OutgoingStatus.SENDING,
                        func.coalesce(OutgoingMessage.claimed_at, OutgoingMessage.planned_at)
                        < claimed_before,
                    ),
                )
            )
            .order_by(OutgoingMessage.planned_at)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def with_live_job(self, outgoing_ids: Sequence[str], task_name: str) -> set[str]:
        """Of these messages, those a send job is waiting or running for. (The job queue is
        not a tenant table; the ids are this tenant's own messages. Waiting and running jobs
        are the queue's live part, which its partial index covers.)"""
        if not outgoing_ids:
            return set()
        rows = await self.session.execute(
            text(
                "select args->>'outgoing_id' from procrastinate_jobs "
                "where status in ('todo', 'doing') and task_name = :task "
                "and args->>'outgoing_id' = any(:ids)"
            ),
            {"task": task_name, "ids": list(outgoing_ids)},
        )
        return {r[0] for r in rows if r[0]}

    async def deferred(self, now: datetime) -> Sequence[OutgoingMessage]:
        """Planned messages the policy moved to later (their latest decision a deferral) and
        not yet due, locked; one a job holds is skipped (it is being decided right now)."""
        latest = (
            select(PolicyDecision.action)
            .where(PolicyDecision.outgoing_message_id == OutgoingMessage.id)
            .order_by(PolicyDecision.created_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            select(OutgoingMessage)
            .where(
                OutgoingMessage.status == OutgoingStatus.PLANNED,
                OutgoingMessage.planned_at > now,
                latest == DecisionAction.DEFER,
            )
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def for_round(self, round_id: uuid.UUID) -> Sequence[OutgoingMessage]:
        stmt = (
            select(OutgoingMessage)
            .where(OutgoingMessage.round_id == round_id)
            .order_by(OutgoingMessage.turn)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def cancel_planned_for_round(self, round_id: uuid.UUID) -> None:
        await self.session.execute(
            update(OutgoingMessage)
            .where(
                OutgoingMessage.round_id == round_id,
                OutgoingMessage.status == OutgoingStatus.PLANNED,
            )
            .values(status=OutgoingStatus.CANCELLED, last_error="cancelled: its round ended")
            .execution_options(synchronize_session="fetch")
        )

    async def cancel_planned(self, outgoing_ids: Sequence[uuid.UUID], why: str) -> set[uuid.UUID]:
        """Cancel those of these messages still planned (a message being claimed holds its row
        lock, so this waits and then finds it ``sending``: never cancelled mid-send)."""
        if not outgoing_ids:
            return set()
        rows = await self.session.execute(
            update(OutgoingMessage)
            .where(
                OutgoingMessage.id.in_(list(outgoing_ids)),
                OutgoingMessage.status == OutgoingStatus.PLANNED,
            )
            .values(status=OutgoingStatus.CANCELLED, last_error=why[:300])
            .returning(OutgoingMessage.id)
            .execution_options(synchronize_session=False)
        )
        return set(rows.scalars())

    async def confirmations_to(self, to_number: str, exclude: uuid.UUID) -> int:
        """Opt-out confirmations to ``to_number`` other than ``exclude``, sent or claimed."""
        stmt = select(func.count()).where(
            OutgoingMessage.purpose == Purpose.OPTOUT_CONFIRMATION,
            OutgoingMessage.to_number == to_number,
            OutgoingMessage.id != exclude,
            OutgoingMessage.status.in_(COUNTED_STATUSES),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def same_text_since(self, body: str, since: datetime) -> list[datetime]:
        """When the tenant's numbers sent (or claimed) this exact text since ``since``."""
        at = func.coalesce(OutgoingMessage.sent_at, OutgoingMessage.claimed_at)
        stmt = (
            select(at)
            .where(
                OutgoingMessage.text == body,
                OutgoingMessage.status.in_(COUNTED_STATUSES),
                at >= since,
            )
            .order_by(at)
        )
        return [t for t in (await self.session.execute(stmt)).scalars() if t is not None]

    async def first_inbound(
        self, asks: Sequence[tuple[uuid.UUID, str, datetime]]
    ) -> dict[int, datetime]:
        """For each (number, remote jid, since) asked: when that chat first wrote to the
        number after ``since`` (by index in ``asks``); absent when it did not. One statement."""
        if not asks:
            return {}
        rows = await self.session.execute(
            text(
                "select a.i, min(m.created_at) from unnest("
                "cast(:inst as uuid[]), cast(:jid as text[]), cast(:since as timestamptz[])) "
                "with ordinality as a(inst, jid, since, i) "
                "join messages m on m.instance_id = a.inst and not m.from_me "
                "and (m.remote_jid = a.jid or m.remote_jid_alt = a.jid) "
                "and m.created_at > a.since group by a.i"
            ),
            {
                "inst": [a[0] for a in asks],
                "jid": [a[1] for a in asks],
                "since": [a[2] for a in asks],
            },
        )
        return {int(i) - 1: at for i, at in rows.all()}

    async def next_planned(self, conversation_id: uuid.UUID) -> OutgoingMessage | None:
        stmt = (
            select(OutgoingMessage)
            .where(
                OutgoingMessage.conversation_id == conversation_id,
                OutgoingMessage.status == OutgoingStatus.PLANNED,
            )
            .order_by(OutgoingMessage.planned_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def recent_texts(self, limit: int = 300) -> list[str]:
        """The tenant's latest texts (sent or planned): the repetition guard's memory."""
        stmt = (
            select(OutgoingMessage.text)
            .where(
                OutgoingMessage.status.in_(
                    (OutgoingStatus.PLANNED, OutgoingStatus.SENDING, OutgoingStatus.SENT)
                )
            )
            .order_by(OutgoingMessage.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def send_counts(
        self, instance_id: uuid.UUID, *, hour_ago: datetime, day_start: datetime
    ) -> SendCounts:
        row = (await self.session.execute(_number_counts(instance_id, hour_ago, day_start))).one()
        return _send_counts(row)

    async def numbers_counts(
        self, instance_ids: Sequence[uuid.UUID], *, hour_ago: datetime, day_start: datetime
    ) -> dict[uuid.UUID, SendCounts]:
        """``send_counts`` of each listed number, in one statement (a page of numbers); those
        that sent nothing today or in the hour get zeros (and no last send: only today's and
        the hour's sends are read)."""
        if not instance_ids:
            return {}
        stmt = (
            select(OutgoingMessage.instance_id, *_counts(hour_ago, day_start))
            .where(
                OutgoingMessage.instance_id.in_(list(instance_ids)),
                OutgoingMessage.status.in_(COUNTED_STATUSES),
                OutgoingMessage.sent_at >= min(hour_ago, day_start),
            )
            .group_by(OutgoingMessage.instance_id)
        )
        found = {i: SendCounts(0, 0, None, 0) for i in instance_ids}
        for instance_id, *row in (await self.session.execute(stmt)).all():
            found[instance_id] = _send_counts(row)
        return found

    async def policy_counts(
        self,
        instance_id: uuid.UUID,
        *,
        hour_ago: datetime,
        day_start: datetime,
        deciding: uuid.UUID | None = None,
    ) -> PolicyCounts:
        """What a send decision reads from the messages, in one statement: the number's counts
        (the same statement as ``send_counts``, as a subquery), the tenant's sends in the last
        hour, the tenant's last send, and the number's other sends now being typed (all but
        ``deciding``). Each part is its own subquery, planned as when asked alone (its own
        index); one round trip, not four."""
        number = _number_counts(instance_id, hour_ago, day_start).subquery()
        tenant_hour = (
            select(func.count(OutgoingMessage.id))
            .where(
                OutgoingMessage.sent_at >= hour_ago,
                OutgoingMessage.status.in_(COUNTED_STATUSES),
            )
            .scalar_subquery()
        )
        tenant_last = select(func.max(OutgoingMessage.sent_at)).scalar_subquery()
        typing = select(OutgoingMessage.claimed_at, OutgoingMessage.typing_ms).where(
            OutgoingMessage.instance_id == instance_id,
            OutgoingMessage.status == OutgoingStatus.SENDING,
            OutgoingMessage.claimed_at.is_not(None),
        )
        if deciding is not None:
            typing = typing.where(OutgoingMessage.id != deciding)
        sending = typing.subquery()
        claimed = select(func.array_agg(sending.c.claimed_at)).scalar_subquery()
        typed = select(func.array_agg(sending.c.typing_ms)).scalar_subquery()
        stmt = select(*number.c, tenant_hour, tenant_last, claimed, typed)
        *mine, t_hour, t_last, claims, typings = (await self.session.execute(stmt)).one()
        return PolicyCounts(
            number=_send_counts(mine),
            tenant_last_hour=int(t_hour),
            tenant_last_sent_at=t_last,
            in_flight=tuple(zip(claims or (), typings or (), strict=True)),
        )

    async def sent_since(
        self, instance_ids: Sequence[uuid.UUID], *, day_start: datetime, hour_ago: datetime
    ) -> Sequence[tuple[uuid.UUID | None, int, int]]:
        """Sends since the day's start and in the last hour: one row per listed number that
        sent, and one (None) for all the others together. One statement."""
        ids = bindparam("listed_ids", list(instance_ids), type_=ARRAY(PG_UUID(as_uuid=True)))
        listed = case((OutgoingMessage.instance_id == any_(ids), OutgoingMessage.instance_id))
        stmt = (
            select(
                listed,
                func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= day_start),
                func.count(OutgoingMessage.id).filter(OutgoingMessage.sent_at >= hour_ago),
            )
            .where(
                OutgoingMessage.sent_at >= min(day_start, hour_ago),
                OutgoingMessage.status.in_(COUNTED_STATUSES),
            )
            .group_by(listed)
        )
        return [(i, int(d), int(h)) for i, d, h in (await self.session.execute(stmt)).all()]

    async def find_sent_record(
        self, instance_id: uuid.UUID, to_jids: Sequence[str], text: str, since: datetime
    ) -> Message | None:
        """The gateway's own record of a send (SEND_MESSAGE webhook): proof it went out."""
        stmt = (
            select(Message)
            .where(
                Message.instance_id == instance_id,
                Message.from_me.is_(True),
                or_(
                    Message.remote_jid.in_(list(to_jids)), Message.remote_jid_alt.in_(list(to_jids))
                ),
                Message.text == text,
                Message.created_at >= since,
            )
            .order_by(Message.created_at)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def statuses(self, provider_ids: Sequence[str]) -> dict[str, str]:
        if not provider_ids:
            return {}
        stmt = (
            select(Message.provider_message_id, func.max(Message.status_rank))
            .where(Message.provider_message_id.in_(list(provider_ids)))
            .group_by(Message.provider_message_id)
        )
        return {
            pid: _DELIVERY.get(rank, "PENDING")
            for pid, rank in (await self.session.execute(stmt)).all()
        }


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, decision: PolicyDecision) -> None:
        self.session.add(decision)
        await self.session.flush()

    async def for_round(self, round_id: uuid.UUID) -> Sequence[PolicyDecision]:
        stmt = (
            select(PolicyDecision)
            .where(PolicyDecision.round_id == round_id)
            .order_by(PolicyDecision.created_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def latest_for(self, outgoing_id: uuid.UUID) -> PolicyDecision | None:
        stmt = (
            select(PolicyDecision)
            .where(PolicyDecision.outgoing_message_id == outgoing_id)
            .order_by(PolicyDecision.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def recent(self, limit: int = 50) -> Sequence[PolicyDecision]:
        stmt = select(PolicyDecision).order_by(PolicyDecision.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()
