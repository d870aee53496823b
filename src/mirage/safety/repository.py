"""Queries for number safety: the signal timeline (insert and read only: the table is
append-only for the runtime role) and the send counts the error-rate rule needs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import DateTime, column, func, select, values
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import (
    AlertDelivery,
    Instance,
    Message,
    NumberSignal,
    OutgoingMessage,
    OutgoingStatus,
    Purpose,
    SafetyAlert,
    TenantSettings,
)
from mirage.models.messaging import COUNTED_STATUSES
from mirage.safety.score import ACTIONS, AckSample, Signal, SignalKind

#: The most entries one number's score reads (a flood of signals saturates the score anyway).
SCORE_ROWS = 2000


class SignalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def numbers(self) -> Sequence[tuple[uuid.UUID, str]]:
        """The tenant's numbers: (id, name), by name."""
        stmt = select(Instance.id, Instance.display_name).order_by(Instance.display_name)
        return [(i, n) for i, n in (await self.session.execute(stmt)).all()]

    async def settings_row(self, tenant_id: uuid.UUID | None) -> TenantSettings | None:
        """The tenant's settings; ``None``: the session's tenant's (row-level security shows
        only its row)."""
        stmt = select(TenantSettings)
        if tenant_id is not None:
            stmt = stmt.where(TenantSettings.tenant_id == tenant_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_settings(self, row: TenantSettings) -> TenantSettings:
        async with self.session.begin_nested():
            self.session.add(row)
            await self.session.flush()
        await self.session.refresh(row)
        return row

    async def add(self, row: NumberSignal) -> NumberSignal:
        self.session.add(row)
        await self.session.flush()
        return row

    async def signals_since(
        self, instance_ids: Sequence[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, list[Signal]]:
        """The weighing signals (actions left out) of each number since ``since``."""
        if not instance_ids:
            return {}
        actions = [a.value for a in ACTIONS]
        stmt = (
            select(NumberSignal.instance_id, NumberSignal.kind, NumberSignal.at, NumberSignal.code)
            .where(
                NumberSignal.instance_id.in_(instance_ids),
                NumberSignal.at >= since,
                NumberSignal.kind.not_in(actions),
            )
            .order_by(NumberSignal.at.desc())
            .limit(SCORE_ROWS * len(instance_ids))
        )
        found: dict[uuid.UUID, list[Signal]] = {i: [] for i in instance_ids}
        for instance_id, kind, at, code in (await self.session.execute(stmt)).all():
            found[instance_id].append(Signal(kind, at, code))
        return found

    async def timeline(
        self, instance_id: uuid.UUID, limit: int, before_seq: int | None = None
    ) -> Sequence[NumberSignal]:
        """The number's entries, newest first (``before_seq``: the next page)."""
        stmt = select(NumberSignal).where(NumberSignal.instance_id == instance_id)
        if before_seq is not None:
            stmt = stmt.where(NumberSignal.seq < before_seq)
        stmt = stmt.order_by(NumberSignal.seq.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def last_detail(self, instance_id: uuid.UUID, kind: SignalKind) -> str | None:
        stmt = (
            select(NumberSignal.detail)
            .where(NumberSignal.instance_id == instance_id, NumberSignal.kind == kind.value)
            .order_by(NumberSignal.seq.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_since(
        self, instance_id: uuid.UUID, kinds: Sequence[SignalKind], since: datetime
    ) -> int:
        stmt = select(func.count()).where(
            NumberSignal.instance_id == instance_id,
            NumberSignal.kind.in_([k.value for k in kinds]),
            NumberSignal.at >= since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def active_days(self, instance_id: uuid.UUID, since: datetime, zone: str) -> set[date]:
        """The tenant-local dates on which the number got at least one message out."""
        day = func.date(func.timezone(zone, OutgoingMessage.sent_at))
        stmt = (
            select(day)
            .where(
                OutgoingMessage.instance_id == instance_id,
                OutgoingMessage.status == OutgoingStatus.SENT,
                OutgoingMessage.sent_at >= since,
            )
            .group_by(day)
        )
        return set((await self.session.execute(stmt)).scalars().all())

    async def active_days_of(
        self, instance_ids: Sequence[uuid.UUID], since: datetime, zone: str
    ) -> dict[uuid.UUID, set[date]]:
        """``active_days`` of each listed number, in one statement."""
        if not instance_ids:
            return {}
        day = func.date(func.timezone(zone, OutgoingMessage.sent_at))
        stmt = (
            select(OutgoingMessage.instance_id, day)
            .where(
                OutgoingMessage.instance_id.in_(list(instance_ids)),
                OutgoingMessage.status == OutgoingStatus.SENT,
                OutgoingMessage.sent_at >= since,
            )
            .group_by(OutgoingMessage.instance_id, day)
        )
        found: dict[uuid.UUID, set[date]] = {}
        for instance_id, on in (await self.session.execute(stmt)).all():
            found.setdefault(instance_id, set()).add(on)
        return found

    async def sent_since(self, instance_id: uuid.UUID, since: datetime) -> int:
        """Messages the number got out since ``since`` (the error rate's other half)."""
        stmt = select(func.count()).where(
            OutgoingMessage.instance_id == instance_id,
            OutgoingMessage.status == OutgoingStatus.SENT,
            OutgoingMessage.sent_at >= since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def last_signals(
        self, kinds: Sequence[SignalKind], since: datetime
    ) -> dict[tuple[uuid.UUID, str], datetime]:
        """When each of the tenant's numbers last had each of ``kinds`` (since ``since``)."""
        stmt = (
            select(NumberSignal.instance_id, NumberSignal.kind, func.max(NumberSignal.at))
            .where(NumberSignal.kind.in_([k.value for k in kinds]), NumberSignal.at >= since)
            .group_by(NumberSignal.instance_id, NumberSignal.kind)
        )
        return {(i, k): at for i, k, at in (await self.session.execute(stmt)).all()}

    async def ack_samples(
        self,
        starts: dict[uuid.UUID, tuple[datetime, datetime]],
        *,
        delivery_until: datetime,
        reads_until: datetime,
    ) -> dict[uuid.UUID, tuple[AckSample, AckSample]]:
        """Each listed number's outbound messages (``starts``: where its delivery and its read
        sample begin, exclusive), in one statement: the delivery sample (created up to
        ``delivery_until``: sent, delivered) and the read sample (up to ``reads_until``:
        delivered, read). Delivered and read as the metrics count them (status ranks 3–5 and
        4–5: a deleted message is neither). Numbers with no such message are left out."""
        if not starts:
            return {}
        w = values(
            column("instance_id", PG_UUID(as_uuid=True)),
            column("delivery_from", DateTime(timezone=True)),
            column("reads_from", DateTime(timezone=True)),
            name="w",
        ).data([(i, d, r) for i, (d, r) in starts.items()])
        in_delivery = (Message.created_at > w.c.delivery_from) & (
            Message.created_at <= delivery_until
        )
        in_reads = (Message.created_at > w.c.reads_from) & (Message.created_at <= reads_until)
        delivered = Message.status_rank.between(3, 5)
        read = Message.status_rank.between(4, 5)
        earliest = min(min(d, r) for d, r in starts.values())
        stmt = (
            select(
                Message.instance_id,
                func.count().filter(in_delivery),
                func.count().filter(in_delivery & delivered),
                func.count().filter(in_reads & delivered),
                func.count().filter(in_reads & read),
            )
            .join(w, w.c.instance_id == Message.instance_id)
            .where(
                Message.direction == "outbound",
                Message.created_at > earliest,
                Message.created_at <= max(delivery_until, reads_until),
            )
            .group_by(Message.instance_id)
        )
        found: dict[uuid.UUID, tuple[AckSample, AckSample]] = {}
        for instance_id, sent, got, got_for_reads, seen in (await self.session.execute(stmt)).all():
            found[instance_id] = (
                AckSample(sent=int(sent), delivered=int(got)),
                AckSample(sent=int(got_for_reads), delivered=int(got_for_reads), read=int(seen)),
            )
        return found

    async def campaign_sends_since(self, day_start: datetime) -> dict[uuid.UUID, int]:
        """Each of the tenant's numbers' campaign sends since ``day_start``: what the policy
        counts as new contacts today (``NumberState.new_contacts_today``: the same statuses
        and the same ``sent_at``). Numbers with none are left out."""
        stmt = (
            select(OutgoingMessage.instance_id, func.count(OutgoingMessage.id))
            .where(
                OutgoingMessage.purpose == Purpose.CAMPAIGN,
                OutgoingMessage.status.in_(COUNTED_STATUSES),
                OutgoingMessage.sent_at >= day_start,
            )
            .group_by(OutgoingMessage.instance_id)
        )
        return {i: int(n) for i, n in (await self.session.execute(stmt)).all()}

    async def numbers_by_id(self, instance_ids: Sequence[uuid.UUID]) -> list[Instance]:
        stmt = select(Instance).where(Instance.id.in_(list(instance_ids))).order_by(Instance.id)
        return list((await self.session.execute(stmt)).scalars().all())

    async def first_connected(
        self, instance_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, datetime | None]:
        """When each listed number of the tenant first connected (None: never)."""
        stmt = select(Instance.id, Instance.first_connected_at).where(Instance.id.in_(instance_ids))
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}


class AlertRepository:
    """The tenant's safety alerts and their delivery attempts (row-level security: the
    session's tenant's only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_for(self, instance_id: uuid.UUID, kind: str) -> SafetyAlert | None:
        stmt = (
            select(SafetyAlert)
            .where(
                SafetyAlert.instance_id == instance_id,
                SafetyAlert.kind == kind,
                SafetyAlert.resolved_at.is_(None),
            )
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_of_kind(self, kind: str) -> Sequence[SafetyAlert]:
        stmt = (
            select(SafetyAlert)
            .where(SafetyAlert.kind == kind, SafetyAlert.resolved_at.is_(None))
            .order_by(SafetyAlert.opened_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def count_open(self) -> int:
        stmt = select(func.count()).where(
            SafetyAlert.resolved_at.is_(None), SafetyAlert.kind != "test"
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def listed(
        self, state: str, limit: int, before: datetime | None = None
    ) -> Sequence[tuple[SafetyAlert, str | None]]:
        """Alerts newest first with their number's name; ``state``: open, resolved or all."""
        stmt = select(SafetyAlert, Instance.display_name).outerjoin(
            Instance, Instance.id == SafetyAlert.instance_id
        )
        if state == "open":
            stmt = stmt.where(SafetyAlert.resolved_at.is_(None))
        elif state == "resolved":
            stmt = stmt.where(SafetyAlert.resolved_at.is_not(None))
        if before is not None:
            stmt = stmt.where(SafetyAlert.opened_at < before)
        stmt = stmt.order_by(SafetyAlert.opened_at.desc(), SafetyAlert.id).limit(limit)
        return [(a, n) for a, n in (await self.session.execute(stmt)).all()]

    async def get(self, alert_id: uuid.UUID) -> tuple[SafetyAlert, str | None] | None:
        stmt = (
            select(SafetyAlert, Instance.display_name)
            .outerjoin(Instance, Instance.id == SafetyAlert.instance_id)
            .where(SafetyAlert.id == alert_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def deliveries(
        self, alert_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[AlertDelivery]]:
        found: dict[uuid.UUID, list[AlertDelivery]] = {i: [] for i in alert_ids}
        if not alert_ids:
            return found
        stmt = (
            select(AlertDelivery)
            .where(AlertDelivery.alert_id.in_(alert_ids))
            .order_by(AlertDelivery.at, AlertDelivery.attempt)
        )
        for row in (await self.session.execute(stmt)).scalars().all():
            found[row.alert_id].append(row)
        return found

    async def add(self, row: SafetyAlert | AlertDelivery) -> None:
        self.session.add(row)
        await self.session.flush()
