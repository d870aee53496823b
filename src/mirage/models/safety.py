"""Number safety: the append-only timeline of each number's risk signals and the actions
taken on them (mirage.safety)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin

# mirage.safety.score.SignalKind's values (tests/safety checks they agree); spelled out here
# so that the models do not import a domain.
SIGNAL_KINDS = (
    "disconnect",
    "send_failed",
    "not_acked",
    "time_lock",
    "opt_out",
    "blocked",
    "qr_loop",
    "band_changed",
    "auto_paused",
    "quarantined",
    "released",
    "recovery",
)


class NumberSignal(IdMixin, Base):
    """Append-only for the runtime role (SELECT/INSERT only): rows leave only with their
    number or tenant (the foreign keys' cascade, run by the table owner)."""

    __tablename__ = "number_signals"
    __table_args__ = (
        CheckConstraint(f"kind in {SIGNAL_KINDS!r}", name="kind_valid"),
        Index("ix_number_signals_instance", "tenant_id", "instance_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    instance_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("instances.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # A disconnect's code (Baileys' DisconnectReason), an error's status; none for most.
    code: Mapped[int | None] = mapped_column(Integer)
    # Why, in a few words (an error class, a band change "green→yellow", a release reason).
    detail: Mapped[str | None] = mapped_column(String(300))
    # The risk score right after this entry (actions and signals alike): the chart's points.
    score: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Timeline order: several entries of one transaction share ``at`` (now()).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), nullable=False)
