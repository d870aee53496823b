"""Contact rules: one contact per number, a legal basis and a provenance for each, an
append-only consent ledger, and a tenant-wide suppression list that nothing but the contact
can undo.

Suppression is kept as a keyed hash of the E.164 number (HMAC under MIRAGE_SECRET_KEY, see
``phone_hash``), so it outlives the contact: a deleted-then-recreated or re-imported
number stays suppressed. Rotating the secret key therefore orphans the list (documented in
docs/contacts.md).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import phonenumbers
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.config import get_settings
from mirage.contacts import keywords, phones
from mirage.contacts.repository import ContactFilter, ContactRepository
from mirage.contacts.schemas import (
    BulkTagIn,
    ConsentAction,
    ContactFilterIn,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    EraseOut,
    SubjectIn,
    SuppressionIn,
    SuppressionOut,
    SuppressionPage,
    TagIn,
    TagOut,
    TagPatch,
    TagRef,
)
from mirage.kit import crypto, jobs
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mirage.kit.i18n import N_
from mirage.models import (
    ConsentEventKind,
    ConsentState,
    Contact,
    DataRequest,
    DataRequestKind,
    LegalBasis,
    Suppression,
    Tag,
)
from mirage.models.contacts import FOLD
from mirage.models.tenancy import Role
from mirage.ops import audit

DEFAULT_REGION = "BR"  # Brazil: the product's default (a tenant's country says otherwise)
MAX_PAGE = 200
COUNT_CAP = 10_000  # list counts stop here ("10,000+"): bounded work at any list size
# The built-in keywords have one definition (contacts.keywords), shared with the opt-out
# detector (outreach.optout), which adds phrases and the tenant's own keywords.
OPT_IN_KEYWORDS = keywords.OPT_IN_KEYWORDS
OPT_OUT_KEYWORDS = keywords.OPT_OUT_KEYWORDS
REDACTED = "redacted"


# --- keyed hashes -------------------------------------------------------------------------


def phone_hash(e164: str) -> str:
    """The suppression list's key for a number: HMAC-SHA256 of its E.164 form under the
    deployment's secret key, domain-separated ("phone:") from every other use of that key.
    Every path (API, importer, inbound) must use this one function."""
    return crypto.sign(get_settings().resolved_secret_key(), f"phone:{e164}")


def email_hash(email: str) -> str:
    return crypto.sign(get_settings().resolved_secret_key(), f"email:{email.strip().lower()}")


def normalize(raw: str, region: str = DEFAULT_REGION) -> str:
    """A phone as the API gets it → E.164, or a 422 naming the reason. ``region``: the
    tenant's country (``tenant_region``), for numbers written without their country code."""
    try:
        return phones.normalize_phone(raw, region)
    except phones.InvalidPhone as exc:
        raise ValidationFailed(str(exc), field="phone", reason=exc.reason.value) from None


async def tenant_region(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """The default region of a tenant's phone numbers: its country (Brazil by default)."""
    return await ContactRepository(session).tenant_country(tenant_id)


def check_country(code: str) -> str:
    """A tenant's country as stored (``pt`` → ``PT``), or a 422: an ISO 3166-1 alpha-2 code
    whose numbering plan phonenumbers knows (its one use today is reading phone numbers)."""
    region = phones.check_region(code)
    if region is None:
        raise ValidationFailed(
            "country must be a two-letter country code (ISO 3166-1 alpha-2)", field="country"
        )
    return region


# --- cursors ------------------------------------------------------------------------------


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        if len(cursor) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, rid = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed, uuid.UUID(rid)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor: use next_cursor from a previous page") from None


# --- filters and output -------------------------------------------------------------------

_PHONEISH = re.compile(r"^[0-9+()\-. ]+$")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def build_filter(f: ContactFilterIn, region: str = DEFAULT_REGION) -> ContactFilter:
    """The API's filter → the repository's. Digits (with phone punctuation) are a prefix of
    the number, with or without the country code, or the whole number they normalize to;
    anything else is word prefixes of the name (first, second or last word) or the e-mail.
    Prefixes, not substrings: that is what indexes can answer under RLS (repository)."""
    q = " ".join((f.q or "").split())
    if "\x00" in q:
        raise ValidationFailed("the search text must not contain NUL characters", field="q")
    words: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    if q and _PHONEISH.match(q):
        # Digits: a prefix of the number, with or without the country code; and the number
        # they make when read as a whole one (a 10-digit Brazilian mobile gains its nine).
        digits = re.sub(r"\D", "", q).lstrip("0")  # a trunk 0 is not part of the number
        exact = phones.check_phone(q, region)
        if digits:
            cc = str(phonenumbers.country_code_for_region(region))
            candidates = [f"+{digits}", f"+{cc}{digits}"]
            if isinstance(exact, str):
                candidates.append(exact)
            prefixes = tuple(dict.fromkeys(candidates))
        else:  # only punctuation: matches what starts with it (nothing, in practice)
            words = (q,)
    elif q:
        words = tuple(dict.fromkeys(q.lower().translate(FOLD).split()))[:5]
    return ContactFilter(
        words=words,
        phone_prefixes=prefixes,
        tag_id=f.tag_id,
        basis=f.basis,
        consent=f.consent,
        opted_out=f.opted_out,
    )


def _out(contact: Contact, tags: Sequence[Tag], suppressed: bool) -> ContactOut:
    return ContactOut(
        id=contact.id,
        name=contact.name,
        phone_e164=contact.phone_e164,
        wa_jid=contact.wa_jid,
        email=contact.email,
        language=contact.language,
        notes=contact.notes,
        custom_fields=contact.custom_fields,
        legal_basis=contact.legal_basis.value,
        li_assessment_ref=contact.li_assessment_ref,
        consent_state=contact.consent_state.value,
        provenance_source=contact.provenance_source,
        provenance_at=contact.provenance_at,
        provenance_note=contact.provenance_note,
        recorded_by=contact.recorded_by,
        opted_out_at=contact.opted_out_at,
        suppressed=suppressed,
        tags=[TagRef(id=t.id, name=t.name, color=t.color) for t in tags],
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


async def _outs(repo: ContactRepository, contacts: Sequence[Contact]) -> list[ContactOut]:
    tags = await repo.tags_of([c.id for c in contacts])
    hashes = {c.id: phone_hash(c.phone_e164) for c in contacts}
    suppressed = await repo.suppressed(set(hashes.values()))
    return [_out(c, tags[c.id], hashes[c.id] in suppressed) for c in contacts]


def _actor(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"actor_user_id": None, "actor_token_id": None}
    return {"actor_user_id": principal.user_id, "actor_token_id": principal.token_id}


def _event(
    contact: Contact,
    kind: ConsentEventKind,
    source: str,
    principal: Principal | None,
    *,
    detail: str | None = None,
    message_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "tenant_id": contact.tenant_id,
        "contact_id": contact.id,
        "kind": kind,
        "legal_basis": contact.legal_basis.value,
        "source": source,
        "detail": detail,
        "message_id": message_id,
        **_actor(principal),
    }


# --- contacts -----------------------------------------------------------------------------


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    f: ContactFilterIn,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> ContactPage:
    require(principal, "read")
    repo = ContactRepository(session)
    limit = max(1, min(limit, MAX_PAGE))
    region = await repo.tenant_country(principal.tenant_id)
    rows = list(await repo.page(build_filter(f, region), decode_cursor(cursor), limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return ContactPage(items=await _outs(repo, rows), next_cursor=nxt)


async def count_contacts(
    session: AsyncSession, principal: Principal, f: ContactFilterIn, *, cap: int = COUNT_CAP
) -> tuple[int, bool]:
    """How many contacts the filter matches, up to ``cap``; the flag says there are more."""
    require(principal, "read")
    repo = ContactRepository(session)
    region = await repo.tenant_country(principal.tenant_id)
    n = await repo.count(build_filter(f, region), max(1, cap))
    return min(n, cap), n > cap


@dataclass(frozen=True)
class AudienceMember:
    """A contact as a campaign sees it: who, how to address them, and whether they may be
    messaged at all (a send is checked again by the policy engine at send time)."""

    id: uuid.UUID
    name: str | None
    phone_e164: str
    custom_fields: dict[str, Any]
    legal_basis: str
    consent_state: str
    opted_out: bool
    suppressed: bool


@dataclass(frozen=True)
class AudienceSize:
    """Contacts with the tags (capped at ``cap``) and, among them, those who may be messaged
    (a legal basis standing, no opt-out); ``more``: past the cap."""

    matching: int
    reachable: int
    more: bool


async def _audience_filter(
    repo: ContactRepository, include: Sequence[uuid.UUID], exclude: Sequence[uuid.UUID]
) -> ContactFilter:
    wanted = set(include) | set(exclude)
    unknown = wanted - await repo.existing_tags(wanted)
    if unknown:
        raise ValidationFailed(
            N_("unknown tag: %(tags)s"),
            params={"tags": ", ".join(sorted(str(t) for t in unknown))},
            field="include_tag_ids" if unknown & set(include) else "exclude_tag_ids",
        )
    return ContactFilter(any_tags=tuple(dict.fromkeys(include)), no_tags=tuple(exclude))


async def audience_size(
    session: AsyncSession,
    principal: Principal,
    include: Sequence[uuid.UUID],
    exclude: Sequence[uuid.UUID],
    *,
    cap: int = COUNT_CAP,
) -> AudienceSize:
    """A campaign audience's size before it starts: contacts with any ``include`` tag (every
    contact when none is given) and no ``exclude`` tag. Suppressions are keyed hashes, so
    suppressed numbers that never opted out are only found per contact (at freeze and send)."""
    require(principal, "read")
    repo = ContactRepository(session)
    f = await _audience_filter(repo, include, exclude)
    matching = await repo.count(f, max(1, cap))
    reachable = await repo.count(replace(f, reachable=True), max(1, cap))
    return AudienceSize(min(matching, cap), min(reachable, cap), matching > cap)


async def audience_sample(
    session: AsyncSession,
    principal: Principal,
    include: Sequence[uuid.UUID],
    exclude: Sequence[uuid.UUID],
    *,
    limit: int = 5,
    contact_ids: Sequence[uuid.UUID] = (),
) -> list[AudienceMember]:
    """Some real contacts of the audience (the newest ``limit``), or the given ones, with
    their suppression checked: what a campaign's preview renders its message for."""
    require(principal, "read")
    repo = ContactRepository(session)
    if contact_ids:
        rows = [c for c in [await repo.get(i) for i in dict.fromkeys(contact_ids)] if c]
    else:
        f = await _audience_filter(repo, include, exclude)
        rows = list(await repo.page(f, None, max(1, min(limit, MAX_PAGE))))
    blocked = await suppressed_numbers(session, [c.phone_e164 for c in rows])
    return [
        AudienceMember(
            id=c.id,
            name=c.name,
            phone_e164=c.phone_e164,
            custom_fields=dict(c.custom_fields),
            legal_basis=c.legal_basis.value,
            consent_state=c.consent_state.value,
            opted_out=c.opted_out_at is not None,
            suppressed=c.phone_e164 in blocked,
        )
        for c in rows
    ]


async def audience_statement(
    session: AsyncSession,
    principal: Principal,
    include: Sequence[uuid.UUID],
    exclude: Sequence[uuid.UUID],
) -> Select[tuple[uuid.UUID, str, str | None]]:
    """A campaign audience as one statement — (contact id, phone, why it may not be messaged
    or null) — for the campaign's set-based freeze (``INSERT … SELECT``: 100k rows in one
    statement). Suppressions by keyed hash are checked per contact afterwards."""
    require(principal, "read")
    repo = ContactRepository(session)
    return repo.audience_select(await _audience_filter(repo, include, exclude))


async def members(
    session: AsyncSession, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AudienceMember]:
    """These contacts as a campaign's send sees them, read fresh (for jobs, under the
    tenant's context): a deleted contact is absent; suppression checked now."""
    rows = await ContactRepository(session).by_ids(set(contact_ids))
    blocked = await suppressed_numbers(session, [c.phone_e164 for c in rows])
    return {
        c.id: AudienceMember(
            id=c.id,
            name=c.name,
            phone_e164=c.phone_e164,
            custom_fields=dict(c.custom_fields),
            legal_basis=c.legal_basis.value,
            consent_state=c.consent_state.value,
            opted_out=c.opted_out_at is not None,
            suppressed=c.phone_e164 in blocked,
        )
        for c in rows
    }


async def _get(repo: ContactRepository, contact_id: uuid.UUID) -> Contact:
    contact = await repo.get(contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


async def get_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> ContactOut:
    require(principal, "read")
    repo = ContactRepository(session)
    return (await _outs(repo, [await _get(repo, contact_id)]))[0]


async def _apply_suppression(
    repo: ContactRepository, contact: Contact, source: str, principal: Principal | None
) -> None:
    """A number on the suppression list for an opt-out comes (back) in opted out."""
    reason = (await repo.suppressed({phone_hash(contact.phone_e164)})).get(
        phone_hash(contact.phone_e164)
    )
    if reason in ("opt_out", "data_request") and contact.opted_out_at is None:
        contact.opted_out_at = utcnow()
        await repo.session.flush()
        await repo.add_events(
            [
                _event(
                    contact,
                    ConsentEventKind.OPT_OUT,
                    source,
                    principal,
                    detail=f"number on the suppression list ({reason})",
                )
            ]
        )


async def create_contact(
    session: AsyncSession, principal: Principal, data: ContactIn
) -> ContactOut:
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    e164 = normalize(data.phone, await repo.tenant_country(principal.tenant_id))
    if await repo.by_phone(e164) is not None:
        raise Conflict("a contact with this phone number already exists", field="phone")
    basis = LegalBasis(data.legal_basis)
    contact = Contact(
        tenant_id=principal.tenant_id,
        name=data.name,
        phone_e164=e164,
        email=data.email,
        language=data.language,
        notes=data.notes,
        custom_fields=data.custom_fields or {},
        legal_basis=basis,
        li_assessment_ref=data.li_assessment_ref,
        consent_state=ConsentState.GRANTED if basis is LegalBasis.CONSENT else ConsentState.NONE,
        provenance_source=data.provenance_source,
        provenance_at=data.provenance_at or utcnow(),
        provenance_note=data.provenance_note,
        recorded_by=principal.user_id,
    )
    try:
        async with session.begin_nested():
            await repo.add(contact)
    except IntegrityError:  # a concurrent create of the same number
        raise Conflict("a contact with this phone number already exists", field="phone") from None
    events = [_event(contact, ConsentEventKind.BASIS_RECORDED, "api", principal)]
    if basis is LegalBasis.CONSENT:
        events.append(_event(contact, ConsentEventKind.CONSENT_GRANTED, "api", principal))
    await repo.add_events(events)
    await _apply_suppression(repo, contact, "api", principal)
    if data.tags:
        tags = await repo.ensure_tags(principal.tenant_id, data.tags)
        await repo.set_tags(principal.tenant_id, contact.id, [t.id for t in tags.values()])
    await session.refresh(contact)
    await _audit(session, principal, "contact.create", "contact", contact.id, basis=basis)
    return (await _outs(repo, [contact]))[0]


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: uuid.UUID,
    **details: Any,
) -> None:
    """An operator's change to contacts, tags or imports in the audit log. The log outlives
    an erasure, so it names contacts by id only: never a phone, a name or an e-mail."""
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=action,
        target_type=target_type,
        target_id=target_id,
        **details,
    )


# Contact fields whose values the audit log may show (no personal data): others are named
# as changed, without their values.
CONTACT_AUDITED_VALUES = ("legal_basis", "consent_state", "language")
CONTACT_AUDITED_NAMES = (
    "name",
    "phone_e164",
    "email",
    "notes",
    "custom_fields",
    "li_assessment_ref",
)


async def update_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, data: ContactPatch
) -> ContactOut:
    """Profile fields, phone and basis. Opt-out and a revoked consent cannot be undone here
    (only the contact can, by writing a keyword); the basis of such a contact is frozen."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    contact = await _get(repo, contact_id)
    given = data.model_fields_set
    before = audit.snapshot(contact, (*CONTACT_AUDITED_VALUES, *CONTACT_AUDITED_NAMES))
    if "phone" in given and data.phone is not None:
        e164 = normalize(data.phone, await repo.tenant_country(principal.tenant_id))
        if e164 != contact.phone_e164:
            if await repo.by_phone(e164) is not None:
                raise Conflict("a contact with this phone number already exists", field="phone")
            contact.phone_e164 = e164
            contact.wa_jid = None  # resolved again at the next send
    for name in ("name", "email", "language", "notes"):
        if name in given:
            setattr(contact, name, getattr(data, name))
    if "custom_fields" in given:
        contact.custom_fields = data.custom_fields or {}
    events = []
    new_basis = LegalBasis(data.legal_basis) if data.legal_basis else None
    ref = data.li_assessment_ref if "li_assessment_ref" in given else contact.li_assessment_ref
    if new_basis is not None and new_basis is not contact.legal_basis:
        if contact.opted_out_at is not None or contact.consent_state is ConsentState.REVOKED:
            raise Conflict(
                "this contact opted out or withdrew consent; the legal basis cannot be changed",
                field="legal_basis",
            )
        if new_basis is LegalBasis.LEGITIMATE_INTEREST and not ref:
            raise ValidationFailed(
                "legitimate interest needs the reference of its balancing test (li_assessment_ref)",
                field="li_assessment_ref",
            )
        contact.legal_basis = new_basis
        events.append(_event(contact, ConsentEventKind.BASIS_RECORDED, "api", principal))
        if new_basis is LegalBasis.CONSENT and contact.consent_state is ConsentState.NONE:
            contact.consent_state = ConsentState.GRANTED
            events.append(_event(contact, ConsentEventKind.CONSENT_GRANTED, "api", principal))
    elif (
        "li_assessment_ref" in given
        and contact.legal_basis is LegalBasis.LEGITIMATE_INTEREST
        and not ref
    ):
        raise ValidationFailed(
            "legitimate interest needs the reference of its balancing test",
            field="li_assessment_ref",
        )
    contact.li_assessment_ref = ref
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a contact with this phone number already exists", field="phone") from None
    await repo.add_events(events)
    await _apply_suppression(repo, contact, "api", principal)
    if data.tags is not None:
        tags = await repo.ensure_tags(principal.tenant_id, data.tags)
        await repo.set_tags(principal.tenant_id, contact.id, [t.id for t in tags.values()])
    await session.refresh(contact)
    after = audit.snapshot(contact, (*CONTACT_AUDITED_VALUES, *CONTACT_AUDITED_NAMES))
    await _audit(
        session,
        principal,
        "contact.update",
        "contact",
        contact.id,
        changed=sorted(f for f in CONTACT_AUDITED_NAMES if before[f] != after[f]),
        tags_set=data.tags is not None,
        before={f: before[f] for f in CONTACT_AUDITED_VALUES},
        after={f: after[f] for f in CONTACT_AUDITED_VALUES},
    )
    return (await _outs(repo, [contact]))[0]


async def delete_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> None:
    """The contact, its tags and its ledger go; a suppression of its number stays."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    contact = await _get(repo, contact_id)
    await repo.delete(contact)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        action="contact.deleted",
        principal=principal,
        target_type="contact",
        target_id=contact_id,
    )


async def consent_events(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> list[Any]:
    require(principal, "read")
    repo = ContactRepository(session)
    await _get(repo, contact_id)
    return list(await repo.events_of(contact_id))


async def change_consent(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, data: ConsentAction
) -> ContactOut:
    """What an operator may record: consent given (only where none was withdrawn), consent
    withdrawn, and an opt-out the contact asked for elsewhere. Never an opt-in."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    contact = await _get(repo, contact_id)
    if data.action == "grant":
        if contact.opted_out_at is not None or contact.consent_state is ConsentState.REVOKED:
            raise Conflict(
                "this contact opted out or withdrew consent; only the contact can opt in again "
                "(by writing VOLTAR or START)"
            )
        if await _is_suppressed(repo, contact.phone_e164):
            raise Conflict("this number is on the suppression list")
        if contact.consent_state is not ConsentState.GRANTED:
            contact.consent_state = ConsentState.GRANTED
            contact.legal_basis = LegalBasis.CONSENT
            await repo.add_events(
                [
                    _event(
                        contact,
                        ConsentEventKind.CONSENT_GRANTED,
                        "api",
                        principal,
                        detail=data.detail,
                    )
                ]
            )
    elif data.action == "revoke":
        if contact.consent_state is not ConsentState.REVOKED:
            contact.consent_state = ConsentState.REVOKED
            await repo.add_events(
                [
                    _event(
                        contact,
                        ConsentEventKind.CONSENT_REVOKED,
                        "api",
                        principal,
                        detail=data.detail,
                    )
                ]
            )
    else:
        await _opt_out(repo, contact, "api", principal, detail=data.detail, message_id=None)
    before_state = contact.consent_state
    await session.flush()
    await session.refresh(contact)
    await _audit(
        session,
        principal,
        "contact.consent",
        "contact",
        contact.id,
        consent_action=data.action,
        before={"consent_state": before_state},
        after={"consent_state": contact.consent_state},
    )
    return (await _outs(repo, [contact]))[0]


async def _is_suppressed(repo: ContactRepository, e164: str) -> bool:
    return bool(await repo.suppressed({phone_hash(e164)}))


async def _opt_out(
    repo: ContactRepository,
    contact: Contact,
    source: str,
    principal: Principal | None,
    *,
    detail: str | None,
    message_id: uuid.UUID | None,
) -> bool:
    """The contact opts out and its number goes on the list as an opt-out. True when the
    number was not opted out before (the contact newly opted out, or its number newly
    suppressed as an opt-out)."""
    newly = False
    if contact.opted_out_at is None:
        contact.opted_out_at = utcnow()
        newly = True
        await repo.add_events(
            [
                _event(
                    contact,
                    ConsentEventKind.OPT_OUT,
                    source,
                    principal,
                    detail=detail,
                    message_id=message_id,
                )
            ]
        )
    suppressed = await _suppress_opt_out(
        repo,
        contact.tenant_id,
        phone_hash(contact.phone_e164),
        source,
        detail,
        principal.user_id if principal else None,
    )
    return newly or suppressed


async def _suppress_opt_out(
    repo: ContactRepository,
    tenant_id: uuid.UUID,
    h: str,
    source: str,
    note: str | None,
    created_by: uuid.UUID | None,
) -> bool:
    """The number on the list as an opt-out: added, or a liftable reason (review, block,
    complaint, manual) hardened into one. True when it was not an opt-out before."""
    added = await repo.add_suppression(
        {
            "tenant_id": tenant_id,
            "phone_hash": h,
            "reason": "opt_out",
            "source": source,
            "note": note,
            "created_by": created_by,
        }
    )
    return added or await repo.harden_suppression(h, source=source, note=note)


# --- the inbound path and the importer ----------------------------------------------------


class KeywordOutcome(StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    NONE = "none"  # not a keyword, or nothing changed


def keyword_of(message_text: str) -> str | None:
    """The built-in keyword a message is, if it is exactly one (accents, case, punctuation,
    emoji and a polite word around it ignored): ``contacts.keywords``."""
    return keywords.keyword_of(message_text)


async def record_inbound_keyword(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone_e164: str,
    message_text: str,
    message_id: uuid.UUID | None = None,
) -> KeywordOutcome:
    """For the inbound message path (under the tenant's context): an opt-out keyword
    suppresses the number; VOLTAR/START — the only way back — opts the contact in again and
    lifts an opt-out suppression (never an operator's block or an erasure)."""
    word = keyword_of(message_text)
    if word is None:
        return KeywordOutcome.NONE
    repo = ContactRepository(session)
    contact = await repo.by_phone(phone_e164)
    h = phone_hash(phone_e164)
    if word in OPT_OUT_KEYWORDS:
        if contact is not None:
            await _opt_out(repo, contact, "inbound", None, detail=word, message_id=message_id)
        else:
            await _suppress_opt_out(repo, tenant_id, h, "inbound", word, None)
        await session.flush()
        return KeywordOutcome.OPTED_OUT
    suppression = await repo.suppression_by_hash(h)
    changed = False
    # The contact's own word lifts their opt-out and a probable one waiting for review.
    if suppression is not None and suppression.reason in ("opt_out", "review"):
        await repo.delete_suppression(suppression)
        changed = True
    if contact is not None and (
        contact.opted_out_at is not None or contact.consent_state is ConsentState.REVOKED
    ):
        contact.opted_out_at = None
        if contact.legal_basis is LegalBasis.CONSENT:
            contact.consent_state = ConsentState.GRANTED
        await repo.add_events(
            [
                _event(
                    contact,
                    ConsentEventKind.OPT_IN,
                    "inbound",
                    None,
                    detail=word,
                    message_id=message_id,
                )
            ]
        )
        changed = True
    await session.flush()
    return KeywordOutcome.OPTED_IN if changed else KeywordOutcome.NONE


async def record_opt_out(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone_e164: str,
    message_id: uuid.UUID | None,
    detail: str | None = None,
) -> bool:
    """For the opt-out detector (a certain opt-out: a keyword or a clear phrase, ``detail``
    its rule): the contact (if the number is one) opts out, with ``message_id`` in its
    ledger, and the number is suppressed tenant-wide as an opt-out — contact or not. True when
    it was not opted out before (a confirmation is owed: the caller's business)."""
    repo = ContactRepository(session)
    contact = await repo.by_phone(phone_e164)
    if contact is not None:
        newly = await _opt_out(repo, contact, "inbound", None, detail=detail, message_id=message_id)
    else:
        newly = await _suppress_opt_out(
            repo, tenant_id, phone_hash(phone_e164), "inbound", detail, None
        )
    await session.flush()
    return newly


async def record_review(
    session: AsyncSession, *, tenant_id: uuid.UUID, phone_e164: str, note: str
) -> bool:
    """For the opt-out detector (a probable opt-out: "me deixa em paz"): the number goes on
    the suppression list as ``review`` — nothing automatic is sent to it (the policy engine
    reads the list at every send) until a person confirms it (``confirm_suppression``) or an
    admin lifts it. A number already on the list keeps its reason. True when added."""
    added = await ContactRepository(session).add_suppression(
        {
            "tenant_id": tenant_id,
            "phone_hash": phone_hash(phone_e164),
            "reason": "review",
            "source": "inbound",
            "note": note[:300],
            "created_by": None,
        }
    )
    await session.flush()
    return added


#: The domains of a person's JID (a group, a broadcast list or a channel is not a person).
PERSON_JID_DOMAINS = ("@s.whatsapp.net", "@c.us")


def phone_of_jid(jid: str | None) -> str | None:
    """A person's JID (``5511987654321@s.whatsapp.net``, a device suffix allowed) → E.164, or
    None for anything else (groups, ``@lid`` addresses, broadcasts, an invalid number). A
    Brazilian mobile in WhatsApp's old 8-digit form gets its ninth digit (one hash per
    number)."""
    if not jid or not jid.endswith(PERSON_JID_DOMAINS):
        return None
    digits = jid.split("@", 1)[0].split(":", 1)[0]
    if not (0 < len(digits) <= 15 and digits.isascii() and digits.isdigit()):
        return None
    found = phones.check_phone("+" + digits)
    return found if isinstance(found, str) else None


async def is_suppressed(session: AsyncSession, phone_e164: str) -> bool:
    return await _is_suppressed(ContactRepository(session), phone_e164)


async def suppressed_numbers(session: AsyncSession, numbers: Iterable[str]) -> set[str]:
    """Which of these E.164 numbers are on the tenant's suppression list."""
    by_hash = {phone_hash(n): n for n in numbers}
    found = await ContactRepository(session).suppressed(set(by_hash))
    return {by_hash[h] for h in found}


@dataclass(frozen=True)
class ContactDraft:
    """One contact as the importer (or any bulk path) hands it over: phone already E.164."""

    phone_e164: str
    legal_basis: LegalBasis
    provenance_source: str
    provenance_at: datetime
    name: str | None = None
    email: str | None = None
    language: str | None = None
    notes: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    li_assessment_ref: str | None = None
    provenance_note: str | None = None


@dataclass(frozen=True)
class UpsertSummary:
    inserted: int
    updated: int
    skipped: int  # existing numbers left alone (on_duplicate="skip")
    duplicates_in_batch: int
    suppressed: int  # numbers of the batch on the suppression list (kept/created opted out)
    ids: dict[str, uuid.UUID]  # E.164 → contact id, for the batch's inserted/updated rows


async def upsert_contacts(
    session: AsyncSession,
    principal: Principal,
    drafts: Sequence[ContactDraft],
    *,
    on_duplicate: Literal["update", "skip"] = "update",
    source: str = "import",
) -> UpsertSummary:
    """Set-based insert-or-update of a batch (a few thousand rows at a time).

    The suppression rule lives here so no bulk path can skip it: a new contact whose number is
    suppressed for an opt-out is created opted out (with a ledger entry); an existing contact
    keeps its basis, consent state and opt-out whatever the batch says.
    """
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    unique: dict[str, ContactDraft] = {}
    for d in drafts:
        unique.setdefault(d.phone_e164, d)
    hashes = {n: phone_hash(n) for n in unique}
    suppressed = await repo.suppressed(set(hashes.values()))
    now = utcnow()
    rows = [
        {
            "name": d.name,
            "phone_e164": d.phone_e164,
            "email": d.email,
            "language": d.language,
            "notes": d.notes,
            "custom_fields": d.custom_fields,
            "legal_basis": d.legal_basis.value,
            "li_assessment_ref": d.li_assessment_ref,
            "consent_state": (
                ConsentState.GRANTED if d.legal_basis is LegalBasis.CONSENT else ConsentState.NONE
            ).value,
            "provenance_source": d.provenance_source,
            "provenance_at": d.provenance_at,
            "provenance_note": d.provenance_note,
            "recorded_by": principal.user_id,
            "opted_out_at": (
                now if suppressed.get(hashes[d.phone_e164]) in ("opt_out", "data_request") else None
            ),
        }
        for d in unique.values()
    ]
    done = await repo.upsert(principal.tenant_id, rows, update_existing=on_duplicate == "update")
    actor = _actor(principal)
    events: list[dict[str, Any]] = []
    for r in done:
        if not r.inserted:
            continue
        d = unique[r.phone_e164]
        base = {
            "tenant_id": principal.tenant_id,
            "contact_id": r.id,
            "legal_basis": d.legal_basis.value,
            "source": source,
            "detail": None,
            "message_id": None,
            **actor,
        }
        events.append({**base, "kind": ConsentEventKind.BASIS_RECORDED.value})
        if d.legal_basis is LegalBasis.CONSENT:
            events.append({**base, "kind": ConsentEventKind.CONSENT_GRANTED.value})
        reason = suppressed.get(hashes[r.phone_e164])
        if reason in ("opt_out", "data_request"):
            events.append(
                {
                    **base,
                    "kind": ConsentEventKind.OPT_OUT.value,
                    "detail": f"number on the suppression list ({reason})",
                }
            )
    await repo.add_events(events)
    wanted_tags = {t for r in done for t in unique[r.phone_e164].tags}
    if wanted_tags:
        tags = await repo.ensure_tags(principal.tenant_id, wanted_tags)
        await repo.link(
            principal.tenant_id,
            [(r.id, tags[t.lower()].id) for r in done for t in unique[r.phone_e164].tags],
        )
    inserted = sum(1 for r in done if r.inserted)
    return UpsertSummary(
        inserted=inserted,
        updated=len(done) - inserted,
        skipped=len(unique) - len(done),
        duplicates_in_batch=len(drafts) - len(unique),
        suppressed=sum(1 for n in unique if hashes[n] in suppressed),
        ids={r.phone_e164: r.id for r in done},
    )


# --- tags ---------------------------------------------------------------------------------


def _tag_out(tag: Tag, count: int) -> TagOut:
    return TagOut(
        id=tag.id, name=tag.name, color=tag.color, contacts=count, created_at=tag.created_at
    )


async def list_tags(session: AsyncSession, principal: Principal) -> list[TagOut]:
    require(principal, "read")
    return [_tag_out(t, n) for t, n in await ContactRepository(session).tags_with_counts()]


async def _tag(repo: ContactRepository, tag_id: uuid.UUID) -> Tag:
    tag = await repo.get_tag(tag_id)
    if tag is None:
        raise NotFound("tag not found")
    return tag


async def get_tag(session: AsyncSession, principal: Principal, tag_id: uuid.UUID) -> TagOut:
    require(principal, "read")
    repo = ContactRepository(session)
    tag = await _tag(repo, tag_id)
    return _tag_out(tag, await repo.tag_count(tag.id))


async def create_tag(session: AsyncSession, principal: Principal, data: TagIn) -> TagOut:
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    if await repo.tag_by_name(data.name) is not None:
        raise Conflict("a tag with this name already exists", field="name")
    tag = Tag(tenant_id=principal.tenant_id, name=data.name, color=data.color)
    try:
        async with session.begin_nested():
            await repo.add_tag(tag)
    except IntegrityError:
        raise Conflict("a tag with this name already exists", field="name") from None
    await session.refresh(tag)
    await _audit(session, principal, "tag.create", "tag", tag.id, name=tag.name)
    return _tag_out(tag, 0)


async def update_tag(
    session: AsyncSession, principal: Principal, tag_id: uuid.UUID, data: TagPatch
) -> TagOut:
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    tag = await _tag(repo, tag_id)
    before = audit.snapshot(tag, ("name", "color"))
    if data.name is not None and data.name != tag.name:
        other = await repo.tag_by_name(data.name)
        if other is not None and other.id != tag.id:
            raise Conflict("a tag with this name already exists", field="name")
        tag.name = data.name
    if data.color is not None:
        tag.color = data.color
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a tag with this name already exists", field="name") from None
    await _audit(
        session,
        principal,
        "tag.update",
        "tag",
        tag.id,
        name=tag.name,
        before=before,
        after=audit.snapshot(tag, ("name", "color")),
    )
    return _tag_out(tag, await repo.tag_count(tag.id))


async def delete_tag(session: AsyncSession, principal: Principal, tag_id: uuid.UUID) -> None:
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    tag = await _tag(repo, tag_id)
    await _audit(session, principal, "tag.delete", "tag", tag.id, name=tag.name)
    await repo.delete_tag(tag)


async def bulk_tag(
    session: AsyncSession, principal: Principal, tag_id: uuid.UUID, data: BulkTagIn, *, add: bool
) -> int:
    """Add or remove a tag on every contact matching a filter (or on listed contacts)."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    tag = await _tag(repo, tag_id)
    f = (
        build_filter(data.filter, await repo.tenant_country(principal.tenant_id))
        if data.filter is not None
        else None
    )
    n = await repo.bulk_tag(principal.tenant_id, tag.id, f=f, ids=data.contact_ids, add=add)
    await _audit(
        session,
        principal,
        "tag.apply" if add else "tag.remove",
        "tag",
        tag.id,
        name=tag.name,
        contacts=n,
    )
    return n


# --- suppression list ---------------------------------------------------------------------


async def list_suppressions(
    session: AsyncSession,
    principal: Principal,
    *,
    phone: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> SuppressionPage:
    require(principal, "read")
    limit = max(1, min(limit, MAX_PAGE))
    region = await tenant_region(session, principal.tenant_id)
    h = phone_hash(normalize(phone, region)) if phone else None
    rows = list(
        await ContactRepository(session).suppressions_page(decode_cursor(cursor), limit + 1, h)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    items = [SuppressionOut.model_validate(r) for r in rows]
    return SuppressionPage(items=items, next_cursor=nxt)


async def get_suppression(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID
) -> Suppression:
    require(principal, "read")
    row = await ContactRepository(session).get_suppression(suppression_id)
    if row is None:
        raise NotFound("suppression not found")
    return row


#: Who hears that a person blocked or reported the tenant's number (an operator's suppression
#: with reason ``blocked`` or ``complaint``): the campaigns' owner, which knows the number that
#: last wrote to them, and weighs it on that number's risk (deferred by name: contacts imports
#: no campaign code).
REPORTED_JOB = "outreach.on_recipient_reported"
REPORTED_REASONS = frozenset({"blocked", "complaint"})


async def add_suppression(
    session: AsyncSession, principal: Principal, data: SuppressionIn
) -> Suppression:
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    e164 = normalize(data.phone, await repo.tenant_country(principal.tenant_id))
    h = phone_hash(e164)
    contact = await repo.by_phone(e164)
    if data.reason == "opt_out" and contact is not None:
        await _opt_out(repo, contact, "api", principal, detail=data.note, message_id=None)
    else:
        added = await repo.add_suppression(
            {
                "tenant_id": principal.tenant_id,
                "phone_hash": h,
                "reason": data.reason,
                "source": "api",
                "note": data.note,
                "created_by": principal.user_id,
            }
        )
        if not added:
            raise Conflict("this number is already on the suppression list")
        if data.reason in REPORTED_REASONS and contact is not None:
            # (A campaign writes only to contacts: a number with none was never reached.)
            await jobs.defer(
                session,
                REPORTED_JOB,
                tenant_id=principal.tenant_id,
                contact_id=str(contact.id),
                reason=data.reason,
            )
    row = await repo.suppression_by_hash(h)
    if row is None:  # added just above, in this transaction
        raise RuntimeError("the suppression just added is not visible")
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        action="suppression.added",
        principal=principal,
        target_type="suppression",
        target_id=row.id,
        reason=data.reason,
    )
    return row


async def remove_suppression(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID, reason: str
) -> None:
    """Admins only, with a recorded reason. An opt-out is the contact's to undo (keyword)."""
    require(principal, "read")
    repo = ContactRepository(session)
    row = await repo.get_suppression(suppression_id)
    if row is None:
        raise NotFound("suppression not found")
    if not principal.role.at_least(Role.ADMIN) or not principal.can("admin"):
        raise Forbidden("only an admin can remove a number from the suppression list")
    if row.reason in ("opt_out", "data_request"):
        raise Conflict(
            "this number opted out (or asked to be erased); only the contact can opt in again, "
            "by writing VOLTAR or START"
        )
    await repo.delete_suppression(row)
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        action="suppression.removed",
        principal=principal,
        target_type="suppression",
        target_id=suppression_id,
        reason=reason,
        original_reason=row.reason,
    )


async def confirm_suppression(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID
) -> Suppression:
    """A person read a probable opt-out (``review``) and confirms it: it becomes an opt-out,
    which only the contact can undo (VOLTAR/START). Operators and above; audited."""
    require(principal, "write", role=Role.OPERATOR)
    repo = ContactRepository(session)
    row = await repo.get_suppression(suppression_id)
    if row is None:
        raise NotFound("suppression not found")
    if row.reason != "review":
        raise Conflict(N_("only a suppression waiting for review can be confirmed"))
    row.reason = "opt_out"
    row.source = "review"
    await session.flush()
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        action="suppression.confirmed",
        principal=principal,
        target_type="suppression",
        target_id=row.id,
        original_reason="review",
    )
    return row


# --- data-subject requests (LGPD art. 18) -------------------------------------------------


@dataclass
class Subject:
    kind: Literal["phone", "email"]
    hash: str
    contacts: list[Contact]
    phones: set[str]  # E.164 numbers (the subject's, and those of the contacts found)


async def _subject(repo: ContactRepository, principal: Principal, data: SubjectIn) -> Subject:
    if data.phone:
        e164 = normalize(data.phone, await repo.tenant_country(principal.tenant_id))
        contact = await repo.by_phone(e164)
        return Subject("phone", phone_hash(e164), [contact] if contact else [], {e164})
    if data.email is None:
        raise ValidationFailed("give a phone number or an e-mail", field="email")
    contacts = list(await repo.by_email(data.email))
    return Subject("email", email_hash(data.email), contacts, {c.phone_e164 for c in contacts})


def _jids(subject: Subject) -> set[str]:
    out = {j for p in subject.phones for j in phones.wa_jid_candidates(p)}
    out |= {c.wa_jid for c in subject.contacts if c.wa_jid}
    return out


def _numbers(subject: Subject) -> set[str]:
    return {j.split("@", 1)[0] for j in _jids(subject)} | {p.lstrip("+") for p in subject.phones}


async def _log_request(
    session: AsyncSession,
    principal: Principal,
    kind: DataRequestKind,
    subject: Subject,
    note: str | None,
    **details: Any,
) -> DataRequest:
    request = await ContactRepository(session).add_request(
        DataRequest(
            tenant_id=principal.tenant_id,
            kind=kind,
            subject_kind=subject.kind,
            subject_hash=subject.hash,
            contacts_found=len(subject.contacts),
            note=note,
            requested_by=principal.user_id,
            requested_by_token=principal.token_id,
            completed_at=utcnow(),
        )
    )
    # The audit log names the subject by its keyed hash only: it must survive an erasure.
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        action=f"data_request.{kind.value}",
        principal=principal,
        target_type="data_request",
        target_id=request.id,
        subject_kind=subject.kind,
        subject_hash=subject.hash,
        contacts_found=len(subject.contacts),
        **details,
    )
    return request


async def find_subject(
    session: AsyncSession, principal: Principal, data: SubjectIn
) -> tuple[uuid.UUID, list[ContactOut]]:
    require(principal, "admin", role=Role.ADMIN)
    repo = ContactRepository(session)
    subject = await _subject(repo, principal, data)
    request = await _log_request(session, principal, DataRequestKind.FIND, subject, data.note)
    return request.id, await _outs(repo, subject.contacts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def _row(obj: Any, columns: Sequence[str]) -> dict[str, Any]:
    return {c: _jsonable(getattr(obj, c)) for c in columns}


_MESSAGE_COLS = (
    "id",
    "instance_id",
    "direction",
    "from_me",
    "remote_jid",
    "push_name",
    "message_type",
    "text",
    "status",
    "provider_timestamp",
    "created_at",
)
_OUTGOING_COLS = ("id", "instance_id", "purpose", "to_number", "text", "status", "sent_at")
_EVENT_COLS = ("id", "kind", "legal_basis", "source", "detail", "message_id", "created_at")


async def export_subject(
    session: AsyncSession, principal: Principal, data: SubjectIn
) -> dict[str, Any]:
    """Everything Mirage holds about a person: contacts (with tags and ledger), messages
    to and from their number, sends to it, and whether the number is suppressed."""
    require(principal, "admin", role=Role.ADMIN)
    repo = ContactRepository(session)
    subject = await _subject(repo, principal, data)
    tags = await repo.tags_of([c.id for c in subject.contacts])
    suppressed = await repo.suppressed({phone_hash(p) for p in subject.phones})
    contacts = []
    for c in subject.contacts:
        on_list = phone_hash(c.phone_e164) in suppressed
        item = _out(c, tags[c.id], on_list).model_dump(mode="json")
        item["consent_events"] = [_row(e, _EVENT_COLS) for e in await repo.events_of(c.id)]
        contacts.append(item)
    messages = await repo.messages_of(_jids(subject)) if subject.phones else []
    outgoing = await repo.outgoing_of(_numbers(subject)) if subject.phones else []
    request = await _log_request(
        session,
        principal,
        DataRequestKind.EXPORT,
        subject,
        data.note,
        messages=len(messages),
        outgoing=len(outgoing),
    )
    return {
        "request_id": str(request.id),
        "generated_at": utcnow().isoformat(),
        "subject": {"kind": subject.kind, "phones": sorted(subject.phones)},
        "contacts": contacts,
        "messages": [_row(m, _MESSAGE_COLS) for m in messages],
        "outgoing_messages": [_row(m, _OUTGOING_COLS) for m in outgoing],
        "suppressions": [{"reason": r} for r in suppressed.values()],
        "campaign_deliveries": [],  # no campaigns yet (outreach issue)
    }


def export_csv(export: dict[str, Any]) -> str:
    """The same export, one line per value: section, record, field, value."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["section", "record", "field", "value"])
    for key in ("request_id", "generated_at"):
        out.writerow(["request", "", key, export[key]])
    for p in export["subject"]["phones"]:
        out.writerow(["subject", "", "phone", _cell(p)])
    for section in ("contacts", "messages", "outgoing_messages", "suppressions"):
        for i, item in enumerate(export[section]):
            record = str(item.get("id", i))
            for k, v in item.items():
                if k == "consent_events":
                    for e in v:
                        for ek, ev in e.items():
                            out.writerow(["consent_events", e["id"], ek, _cell(ev)])
                    continue
                out.writerow([section, record, k, _cell(v)])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ is shown as text (a plain
    # number such as an E.164 phone is harmless and stays as it is).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


async def erase_subject(session: AsyncSession, principal: Principal, data: SubjectIn) -> EraseOut:
    """Delete the person's contacts (tags and ledger with them), redact their messages and
    sends, drop raw webhook bodies that name their number; keep only the suppression hash."""
    require(principal, "admin", role=Role.ADMIN)
    repo = ContactRepository(session)
    subject = await _subject(repo, principal, data)
    jids, numbers = _jids(subject), _numbers(subject)
    deleted = await repo.delete_ids([c.id for c in subject.contacts])
    redacted = await repo.redact_messages(jids, REDACTED) if jids else 0
    outgoing = await repo.redact_outgoing(numbers, REDACTED) if numbers else 0
    raw = await repo.delete_raw_events(numbers)
    for p in subject.phones:
        # Kept (or added) so the number is never messaged or re-imported as active again.
        await repo.add_suppression(
            {
                "tenant_id": principal.tenant_id,
                "phone_hash": phone_hash(p),
                "reason": "data_request",
                "source": "data_request",
                "note": None,
                "created_by": principal.user_id,
            }
        )
    request = await _log_request(
        session,
        principal,
        DataRequestKind.ERASE,
        subject,
        data.note,
        contacts_deleted=deleted,
        messages_redacted=redacted,
        outgoing_redacted=outgoing,
        webhook_events_deleted=raw,
    )
    return EraseOut(
        request_id=request.id,
        contacts_deleted=deleted,
        messages_redacted=redacted,
        outgoing_redacted=outgoing,
        webhook_events_deleted=raw,
        suppression_kept=bool(subject.phones),
    )


async def list_requests(
    session: AsyncSession, principal: Principal, limit: int = 100
) -> list[DataRequest]:
    require(principal, "admin", role=Role.ADMIN)
    return list(await ContactRepository(session).requests(max(1, min(limit, 500))))
