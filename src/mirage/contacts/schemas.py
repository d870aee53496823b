"""Contact, tag, suppression and data-request shapes for the API (and the dashboard later)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Basis = Literal["consent", "legitimate_interest"]
ConsentFilter = Literal["granted", "revoked", "none"]
CustomValue = str | int | float | bool | None

MAX_CUSTOM_FIELDS = 50
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _clean_text(v: str | None, *, limit: int, what: str) -> str | None:
    if v is None:
        return None
    if "\x00" in v:
        raise ValueError(f"the {what} must not contain NUL characters")
    v = " ".join(v.split())
    if len(v) > limit:
        raise ValueError(f"the {what} has at most {limit} characters")
    return v or None


def clean_email(v: str | None) -> str | None:
    v = _clean_text(v, limit=254, what="e-mail")
    if v is None:
        return None
    if not v.isascii() or not _EMAIL.match(v):
        raise ValueError("not a valid e-mail address")
    return v.lower()


def clean_custom_fields(v: dict[str, CustomValue]) -> dict[str, CustomValue]:
    if len(v) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
    out: dict[str, CustomValue] = {}
    for key, value in v.items():
        if not _CUSTOM_KEY.match(key):
            raise ValueError(
                "custom field names are 1-40 letters, digits or _ (not starting with a digit)"
            )
        if isinstance(value, str):
            if "\x00" in value or len(value) > 500:
                raise ValueError("a custom field value has at most 500 characters (no NUL)")
        elif isinstance(value, float) and not (-1e15 < value < 1e15):
            raise ValueError("custom field numbers must be finite and below 10^15")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
            raise ValueError("custom field numbers must be below 10^15")
        out[key] = value
    return out


class _ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=400)
    language: str | None = Field(default=None, max_length=20)
    notes: str | None = Field(default=None, max_length=5000)
    custom_fields: dict[str, CustomValue] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    li_assessment_ref: str | None = Field(default=None, max_length=400)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=120, what="name")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return clean_email(v)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not _LANGUAGE.match(v.strip()):
            raise ValueError("a language tag like pt-BR or en")
        return v.strip()

    @field_validator("notes")
    @classmethod
    def _notes(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("the notes must not contain NUL characters")
        return v.strip() or None if v is not None else None

    @field_validator("custom_fields")
    @classmethod
    def _custom(cls, v: dict[str, CustomValue] | None) -> dict[str, CustomValue] | None:
        return None if v is None else clean_custom_fields(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        names = [_clean_text(n, limit=40, what="tag name") for n in v]
        return list(dict.fromkeys(n for n in names if n))

    @field_validator("li_assessment_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=200, what="balancing-test reference")


class ContactIn(_ContactFields):
    phone: str = Field(max_length=100)
    legal_basis: Basis
    provenance_source: str = Field(min_length=1, max_length=400)
    provenance_at: datetime | None = None
    provenance_note: str | None = Field(default=None, max_length=2000)

    @field_validator("provenance_source")
    @classmethod
    def _source(cls, v: str) -> str:
        cleaned = _clean_text(v, limit=120, what="provenance source")
        if not cleaned:
            raise ValueError("say where the contact came from (provenance_source)")
        return cleaned

    @field_validator("provenance_note")
    @classmethod
    def _pnote(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=500, what="provenance note")

    @field_validator("provenance_at")
    @classmethod
    def _pat(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("provenance_at must include a time zone")
        return v

    @model_validator(mode="after")
    def _basis(self) -> ContactIn:
        if self.legal_basis == "legitimate_interest" and not self.li_assessment_ref:
            raise ValueError(
                "legitimate interest needs the reference of its balancing test (li_assessment_ref)"
            )
        return self


class ContactPatch(_ContactFields):
    """Every field optional; opt-out and consent are not editable here (see /consent)."""

    phone: str | None = Field(default=None, max_length=100)
    legal_basis: Basis | None = None


class ConsentAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["grant", "revoke", "opt_out"]
    detail: str | None = Field(default=None, max_length=500)

    @field_validator("detail")
    @classmethod
    def _detail(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=500, what="detail")


class TagRef(BaseModel):
    id: uuid.UUID
    name: str
    color: str


class ContactOut(BaseModel):
    id: uuid.UUID
    name: str | None
    phone_e164: str
    wa_jid: str | None
    email: str | None
    language: str | None
    notes: str | None
    custom_fields: dict[str, CustomValue]
    legal_basis: str
    li_assessment_ref: str | None
    consent_state: str
    provenance_source: str
    provenance_at: datetime
    provenance_note: str | None
    recorded_by: uuid.UUID | None
    opted_out_at: datetime | None
    suppressed: bool
    tags: list[TagRef]
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ConsentEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    legal_basis: str | None
    source: str
    detail: str | None
    message_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor_token_id: uuid.UUID | None
    created_at: datetime


class ContactFilterIn(BaseModel):
    """The list filters, as a body for bulk tag operations."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=100)
    tag_id: uuid.UUID | None = None
    basis: Basis | None = None
    consent: ConsentFilter | None = None
    opted_out: bool | None = None


def _tag_name(v: str) -> str:
    cleaned = _clean_text(v, limit=40, what="tag name")
    if not cleaned:
        raise ValueError("the tag name must not be blank")
    return cleaned


def _tag_color(v: str) -> str:
    if not _COLOR.match(v):
        raise ValueError("a colour like #1e88e5")
    return v.lower()


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    color: str = Field(default="#64748b", max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _tag_name(v)

    @field_validator("color")
    @classmethod
    def _color(cls, v: str) -> str:
        return _tag_color(v)


class TagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    color: str | None = Field(default=None, max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _tag_name(v)

    @field_validator("color")
    @classmethod
    def _color(cls, v: str | None) -> str | None:
        return None if v is None else _tag_color(v)


class TagOut(BaseModel):
    id: uuid.UUID
    name: str
    color: str
    contacts: int
    created_at: datetime


class BulkTagIn(BaseModel):
    """Either explicit contacts or a filter (the same as the list's); not both."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[uuid.UUID] | None = Field(default=None, max_length=10_000)
    filter: ContactFilterIn | None = None

    @model_validator(mode="after")
    def _one(self) -> BulkTagIn:
        if (self.contact_ids is None) == (self.filter is None):
            raise ValueError("give either contact_ids or filter")
        return self


class BulkResult(BaseModel):
    affected: int


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=100)
    reason: Literal["blocked", "complaint", "manual", "opt_out"] = "manual"
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=300, what="note")


class SuppressionRemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        cleaned = _clean_text(v, limit=300, what="reason")
        if not cleaned:
            raise ValueError("say why the number may be contacted again")
        return cleaned


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone_hash: str
    reason: str
    source: str
    note: str | None
    created_by: uuid.UUID | None
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_cursor: str | None


class SubjectIn(BaseModel):
    """A data subject, by phone or e-mail (in a body: personal data stays out of URLs)."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=400)
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return clean_email(v)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return _clean_text(v, limit=300, what="note")

    @model_validator(mode="after")
    def _one(self) -> SubjectIn:
        if not self.phone and not self.email:
            raise ValueError("give the subject's phone or e-mail")
        if self.phone and self.email:
            raise ValueError("give the subject's phone or e-mail, not both")
        return self


class ExportIn(SubjectIn):
    format: Literal["json", "csv"] = "json"


class EraseIn(SubjectIn):
    confirm: Literal[True]


class FindOut(BaseModel):
    request_id: uuid.UUID
    contacts: list[ContactOut]


class EraseOut(BaseModel):
    request_id: uuid.UUID
    contacts_deleted: int
    messages_redacted: int
    outgoing_redacted: int
    webhook_events_deleted: int
    suppression_kept: bool


class DataRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    subject_kind: str
    subject_hash: str
    contacts_found: int
    note: str | None
    requested_by: uuid.UUID | None
    requested_by_token: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
