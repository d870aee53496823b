"""Contacts and the consent ledger: contacts, tags, consent events, the tenant-wide
suppression list (keyed hashes that outlive the contact) and data-subject requests."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mirage.db.base import Base, IdMixin, TimestampMixin
from mirage.db.types import str_enum


class LegalBasis(StrEnum):
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"


class ConsentState(StrEnum):
    GRANTED = "granted"  # consent given (basis "consent")
    REVOKED = "revoked"  # consent withdrawn: not to be messaged on that basis
    NONE = "none"  # no consent recorded (basis "legitimate_interest")


class ConsentEventKind(StrEnum):
    BASIS_RECORDED = "basis_recorded"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_REVOKED = "consent_revoked"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class DataRequestKind(StrEnum):
    FIND = "find"
    EXPORT = "export"
    ERASE = "erase"


# Columns whose value the database supplies when the writer leaves it out (a trigger).
_TRIGGER_FILLED: dict[str, Any] = {
    "server_default": FetchedValue(),
    "server_onupdate": FetchedValue(),
}


def _tenant_col() -> Mapped[uuid.UUID]:
    """tenant_id of a child row whose parent is referenced by (id, tenant_id): that key
    proves the tenant (see the composite foreign keys of migration 0012)."""
    return mapped_column(UUID(as_uuid=True), nullable=False)


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


# Search keys: stored columns. Why columns and not expression or trigram indexes: under
# row-level security the planner only uses a condition as an index condition when every
# function in it is leakproof; lower(), LIKE and the trigram operators are not, so they could
# only filter row by row. A plain column compared with text_pattern_ops' ~>=~ / ~<~ (leakproof)
# is an index range scan: word-prefix search. Accents folded (people type "joao" for "João"):
# translate() is immutable and built in (no unaccent extension); both cases listed, since
# lower() leaves them alone under a "C" ctype. Queries fold the same way with FOLD (Python).
# Who computes them: the writer, with ``search_keys`` (the CSV import: a bulk insert then
# evaluates no expression a row); for any writer that leaves them out (the ORM, raw SQL) the
# trigger of migration 0012 computes the SQL expressions below, which ``search_keys`` mirrors
# (tests/contacts/test_search_keys.py holds the two to the same result).
FOLD_FROM = "áàâãäåéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝŸ"
FOLD_TO = "aaaaaaeeeeiiiiooooouuuucnyyaaaaaaeeeeiiiiooooouuuucnyy"
FOLD = str.maketrans(FOLD_FROM, FOLD_TO)
_NAME = (
    f"regexp_replace(translate(lower(btrim(name)), '{FOLD_FROM}', '{FOLD_TO}'), '\\s+', ' ', 'g')"
)
SEARCH_NAME = _NAME
SEARCH_WORD2 = f"nullif(split_part({_NAME}, ' ', 2), '')"
# The last word, unless it is the second (a two-word name): searches match either column.
SEARCH_LAST = (
    f"nullif(case when strpos({_NAME}, ' ') > 0 then regexp_replace({_NAME}, '^.* ', '') end, "
    f"{SEARCH_WORD2})"
)
SEARCH_EMAIL = "lower(btrim(email))"
# (column, SQL expression over ``name`` / ``email``) of every search key; indexes
# (tenant_id, column text_pattern_ops) where the key is not null.
SEARCH_COLUMNS = (
    ("search_name", SEARCH_NAME),
    ("search_word2", SEARCH_WORD2),
    ("search_last", SEARCH_LAST),
    ("search_email", SEARCH_EMAIL),
)
# PostgreSQL's \s in a regular expression: ASCII white space (Unicode spaces are not folded).
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


class SearchKeys(NamedTuple):
    search_name: str | None
    search_word2: str | None
    search_last: str | None
    search_email: str | None


def search_keys(name: str | None, email: str | None) -> SearchKeys:
    """The search keys of a name and an e-mail, as the SQL expressions compute them
    (``btrim`` trims spaces only; ``split_part`` and the last word split on one space; no
    last word when it is the second)."""
    if name is None:
        folded = word2 = last = None
    else:
        folded = _SPACES.sub(" ", name.strip(" ").lower().translate(FOLD))
        first_space = folded.find(" ")
        if first_space < 0:
            word2 = last = None
        else:
            second_space = folded.find(" ", first_space + 1)
            word2 = folded[first_space + 1 : None if second_space < 0 else second_space] or None
            last = folded[folded.rfind(" ") + 1 :]
            if last == word2:
                last = None
    return SearchKeys(folded, word2, last, None if email is None else email.strip(" ").lower())


class Contact(IdMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # One contact per number; text_pattern_ops (same equality) so that the same index
        # answers the prefix search on the number (~>=~ / ~<~, see SEARCH_COLUMNS).
        Index(
            "uq_contacts_tenant_phone",
            "tenant_id",
            "phone_e164",
            unique=True,
            postgresql_ops={"phone_e164": "text_pattern_ops"},
        ),
        # The target of the ledger's and the tag links' tenant-scoped foreign keys; led by id
        # (see migration 0012: a narrow index led by tenant_id misleads the planner).
        UniqueConstraint("id", "tenant_id", name="uq_contacts_id_tenant"),
        CheckConstraint(
            "legal_basis in ('consent', 'legitimate_interest')", name="legal_basis_valid"
        ),
        CheckConstraint("consent_state in ('granted', 'revoked', 'none')", name="consent_valid"),
        CheckConstraint("phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164_format"),
        # Keyset pagination order (newest first) and the filters that narrow it.
        Index("ix_contacts_tenant_created", "tenant_id", "created_at", "id"),
        Index(
            "ix_contacts_tenant_opted_out",
            "tenant_id",
            "opted_out_at",
            postgresql_where=text("opted_out_at is not null"),
        ),
        # ix_contacts_search_*: (tenant_id, <search column> text_pattern_ops) where the key
        # is not null (0007, 0012).
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str | None] = mapped_column(String(120))
    phone_e164: Mapped[str] = mapped_column(String(16), nullable=False)
    # The WhatsApp id, resolved lazily at the first send by the sending number (never by bulk
    # "is on WhatsApp" checks, which get numbers banned).
    wa_jid: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(10))
    notes: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    legal_basis: Mapped[LegalBasis] = mapped_column(str_enum(LegalBasis, 24), nullable=False)
    # Reference of the balancing test (LIA) when the basis is legitimate interest.
    li_assessment_ref: Mapped[str | None] = mapped_column(String(200))
    consent_state: Mapped[ConsentState] = mapped_column(
        str_enum(ConsentState, 10), nullable=False, server_default="none"
    )
    provenance_source: Mapped[str] = mapped_column(String(120), nullable=False)
    provenance_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    provenance_note: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
    # Search keys (see search_keys): written by the CSV import, else filled by the trigger.
    search_name: Mapped[str | None] = mapped_column(Text, **_TRIGGER_FILLED)
    search_word2: Mapped[str | None] = mapped_column(Text, **_TRIGGER_FILLED)
    search_last: Mapped[str | None] = mapped_column(Text, **_TRIGGER_FILLED)
    search_email: Mapped[str | None] = mapped_column(Text, **_TRIGGER_FILLED)


class Tag(IdMixin, TimestampMixin, Base):
    __tablename__ = "tags"
    __table_args__ = (
        Index("uq_tags_tenant_name", "tenant_id", text("lower(name)"), unique=True),
        UniqueConstraint("id", "tenant_id", name="uq_tags_id_tenant"),
        CheckConstraint("color ~ '^#[0-9a-f]{6}$'", name="color_valid"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    color: Mapped[str] = mapped_column(String(7), nullable=False, server_default="#64748b")


class ContactTag(IdMixin, Base):
    __tablename__ = "contact_tags"
    __table_args__ = (
        UniqueConstraint("contact_id", "tag_id", name="uq_contact_tags_pair"),
        ForeignKeyConstraint(
            ["contact_id", "tenant_id"],
            ["contacts.id", "contacts.tenant_id"],
            name="fk_contact_tags_contact_id_contacts",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tag_id", "tenant_id"],
            ["tags.id", "tags.tenant_id"],
            name="fk_contact_tags_tag_id_tags",
            ondelete="CASCADE",
        ),
        # Tag filter and counts: all contacts of a tag, inside the tenant.
        Index("ix_contact_tags_tenant_tag", "tenant_id", "tag_id", "contact_id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_col()
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tag_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


class ConsentEvent(IdMixin, TimestampMixin, Base):
    """Append-only for the runtime role (SELECT/INSERT only). Rows go away only with their
    contact (LGPD erasure), through the foreign key's cascade."""

    __tablename__ = "consent_events"
    __table_args__ = (
        CheckConstraint(
            "kind in ('basis_recorded', 'consent_granted', 'consent_revoked', 'opt_out', 'opt_in')",
            name="kind_valid",
        ),
        Index("ix_consent_events_contact", "tenant_id", "contact_id", "created_at"),
        ForeignKeyConstraint(
            ["contact_id", "tenant_id"],
            ["contacts.id", "contacts.tenant_id"],
            name="fk_consent_events_contact_id_contacts",
            ondelete="CASCADE",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_col()
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[ConsentEventKind] = mapped_column(str_enum(ConsentEventKind, 20), nullable=False)
    legal_basis: Mapped[str | None] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(40), nullable=False)  # api, import, inbound...
    detail: Mapped[str | None] = mapped_column(String(500))
    # The inbound message that caused an opt-out or opt-in.
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_token_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Ledger order: several events of one transaction share created_at (now()).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), nullable=False)


class Suppression(IdMixin, TimestampMixin, Base):
    """A number never to be messaged by the tenant, kept as a keyed hash (no phone stored) so
    it survives the contact's deletion. ``review``: a probable opt-out from an inbound reply
    ("me deixa em paz"): nothing automatic goes to it until a person confirms it (it becomes
    an opt-out) or lifts it (admins)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone_hash", name="uq_suppressions_tenant_hash"),
        CheckConstraint(
            "reason in ('opt_out', 'blocked', 'complaint', 'manual', 'data_request', 'review')",
            name="reason_valid",
        ),
        Index("ix_suppressions_tenant_created", "tenant_id", "created_at", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    phone_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    note: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class DataRequest(IdMixin, TimestampMixin, Base):
    """The LGPD art. 18 log: who asked what about whom (the subject as a keyed hash only)."""

    __tablename__ = "data_requests"
    __table_args__ = (
        CheckConstraint("kind in ('find', 'export', 'erase')", name="kind_valid"),
        CheckConstraint("subject_kind in ('phone', 'email')", name="subject_kind_valid"),
        Index("ix_data_requests_tenant_created", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    kind: Mapped[DataRequestKind] = mapped_column(str_enum(DataRequestKind, 10), nullable=False)
    subject_kind: Mapped[str] = mapped_column(String(8), nullable=False)
    subject_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    contacts_found: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    note: Mapped[str | None] = mapped_column(String(300))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    requested_by_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
