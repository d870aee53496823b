"""CSV imports of contacts: the import (file, detected settings, mapping, options, progress),
the uploaded file in parts, and one row per judged CSV row (the phones already taken by the
import, for duplicates across chunks; the rejected rows with their reason, for download)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.db.types import str_enum


class ImportState(StrEnum):
    UPLOADED = "uploaded"
    PREVIEWED = "previewed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_IMPORT_STATES = (ImportState.COMPLETED, ImportState.FAILED, ImportState.CANCELLED)


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default="0")


class ContactImport(IdMixin, TimestampMixin, Base):
    __tablename__ = "contact_imports"
    __table_args__ = (
        CheckConstraint(
            "state in ('uploaded', 'previewed', 'running', 'completed', 'failed', 'cancelled')",
            name="state_valid",
        ),
        CheckConstraint("delimiter in (';', ',', '\t')", name="delimiter_valid"),
        Index("ix_contact_imports_tenant_created", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    state: Mapped[ImportState] = mapped_column(
        str_enum(ImportState, 10), nullable=False, server_default="uploaded"
    )
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    encoding: Mapped[str] = mapped_column(String(16), nullable=False)
    delimiter: Mapped[str] = mapped_column(String(1), nullable=False)
    quotechar: Mapped[str] = mapped_column(String(1), nullable=False, server_default='"')
    header: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    mapping: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    # tags, basis, li_assessment_ref, source, on_duplicate, region
    options: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # Progress. ``processed`` is the number of data rows consumed by committed chunks: the
    # offset a resumed run starts from.
    rows: Mapped[int] = _counter()
    processed: Mapped[int] = _counter()
    imported: Mapped[int] = _counter()
    updated: Mapped[int] = _counter()
    skipped: Mapped[int] = _counter()
    duplicates: Mapped[int] = _counter()
    suppressed: Mapped[int] = _counter()
    invalid: Mapped[int] = _counter()
    invalid_by_reason: Mapped[dict[str, int]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class ContactImportPart(IdMixin, Base):
    """The uploaded file in parts of at most ``PART_BYTES``, read back in order (a stream,
    never the whole file in memory)."""

    __tablename__ = "contact_import_parts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "import_id", "seq", name="uq_contact_import_parts_seq"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contact_imports.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ContactImportRow(Base):
    """A judged row: an accepted phone (``reason`` null; unique per import, so a later row
    with the same phone is a duplicate in the file, across chunks and resumed runs) or a
    rejected row with its reason and its cells (for the download)."""

    __tablename__ = "contact_import_rows"
    __table_args__ = (
        Index(
            "uq_contact_import_rows_phone",
            "tenant_id",
            "import_id",
            "phone_e164",
            unique=True,
            postgresql_where=text("reason is null"),
        ),
        Index(
            "ix_contact_import_rows_rejected",
            "tenant_id",
            "import_id",
            "row_number",
            postgresql_where=text("reason is not null"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contact_imports.id", ondelete="CASCADE"), nullable=False
    )
    row_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    phone_e164: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(200))
    cells: Mapped[list[str] | None] = mapped_column(JSONB)
