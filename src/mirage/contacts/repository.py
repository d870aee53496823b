"""Queries for contacts, tags, the consent ledger, suppressions and data-subject requests.

Everything runs under the tenant's RLS context; no query filters by tenant_id for isolation
(the policy does), but inserts carry it and indexes lead with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.models import (
    ConsentEvent,
    Contact,
    ContactTag,
    DataRequest,
    Message,
    OutgoingMessage,
    Suppression,
    Tag,
    WebhookEvent,
)
from mirage.models.tenancy import Tenant

# Rows per multi-row INSERT: ~16 parameters a row stays far below PostgreSQL's 65,535.
UPSERT_CHUNK = 2000


@dataclass(frozen=True)
class ContactFilter:
    """What the list shows. ``phone`` is an exact E.164. ``words``: every word must start a
    word of the name (first, second or last) or the e-mail; ``phone_prefixes``: the number
    starts with one of them (E.164 prefixes such as ``+5511987``)."""

    phone: str | None = None
    words: tuple[str, ...] = ()
    phone_prefixes: tuple[str, ...] = ()
    tag_id: uuid.UUID | None = None
    basis: str | None = None
    consent: str | None = None
    opted_out: bool | None = None
    # A campaign's audience: any of these tags (none given: every contact), none of those;
    # ``reachable``: a legal basis still standing (consent granted, or legitimate interest
    # not opposed) and no opt-out.
    any_tags: tuple[uuid.UUID, ...] = ()
    no_tags: tuple[uuid.UUID, ...] = ()
    reachable: bool = False


@dataclass(frozen=True)
class UpsertedRow:
    id: uuid.UUID
    phone_e164: str
    inserted: bool


def _upper_bound(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (code point order,
    which is text_pattern_ops' byte order in UTF-8); None when there is none."""
    cp = ord(prefix[-1]) + 1
    if 0xD800 <= cp <= 0xDFFF:  # surrogates are not characters
        cp = 0xE000
    if cp > 0x10FFFF:
        return None
    return prefix[:-1] + chr(cp)


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    # ~>=~ / ~<~ (text_pattern_ops) are leakproof, so usable as index conditions under RLS;
    # LIKE 'x%', starts_with() and lower() are not (they would filter row by row).
    lower: ColumnElement[bool] = column.op("~>=~", is_comparison=True)(prefix)
    upper = _upper_bound(prefix)
    if upper is None:
        return lower
    return and_(lower, column.op("~<~", is_comparison=True)(upper))


_WORD_COLUMNS = (
    Contact.search_name,
    Contact.search_word2,
    Contact.search_last,
    Contact.search_email,
)


def _where(f: ContactFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.phone is not None:
        conds.append(Contact.phone_e164 == f.phone)
    for word in f.words:
        conds.append(or_(*(_starts_with(col, word) for col in _WORD_COLUMNS)))
    if f.phone_prefixes:
        conds.append(or_(*(_starts_with(Contact.phone_e164, p) for p in f.phone_prefixes)))
    if f.tag_id is not None:
        conds.append(
            exists(
                select(ContactTag.id).where(
                    ContactTag.contact_id == Contact.id, ContactTag.tag_id == f.tag_id
                )
            )
        )
    if f.basis is not None:
        conds.append(Contact.legal_basis == f.basis)
    if f.consent is not None:
        conds.append(Contact.consent_state == f.consent)
    if f.opted_out is True:
        conds.append(Contact.opted_out_at.is_not(None))
    elif f.opted_out is False:
        conds.append(Contact.opted_out_at.is_(None))
    if f.any_tags:
        conds.append(_tagged(f.any_tags))
    if f.no_tags:
        conds.append(~_tagged(f.no_tags))
    if f.reachable:
        conds.append(Contact.opted_out_at.is_(None))
        conds.append(Contact.consent_state != "revoked")
        conds.append(or_(Contact.legal_basis != "consent", Contact.consent_state == "granted"))
    return conds


def _tagged(tag_ids: tuple[uuid.UUID, ...]) -> ColumnElement[bool]:
    return exists(
        select(ContactTag.id).where(
            ContactTag.contact_id == Contact.id, ContactTag.tag_id.in_(tag_ids)
        )
    )


# The conflict target of an upsert: uq_contacts_tenant_phone, a unique index (not a
# constraint: it is built with text_pattern_ops to serve the prefix search too).
_PHONE_KEY = ("tenant_id", "phone_e164")


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- the tenant -----------------------------------------------------------------------

    async def tenant_country(self, tenant_id: uuid.UUID) -> str:
        """The tenant's country (ISO 3166-1 alpha-2): the default region of its phones."""
        stmt = select(Tenant.country).where(Tenant.id == tenant_id)
        country: str | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return country or "BR"

    # --- contacts -------------------------------------------------------------------------

    async def page(
        self, f: ContactFilter, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[Contact]:
        """Newest first; ``after`` is the (created_at, id) of the last row already shown."""
        stmt = select(Contact).where(*_where(f))
        if after is not None:
            stmt = stmt.where(
                tuple_(Contact.created_at, Contact.id)
                < tuple_(literal(after[0]), literal(after[1]))
            )
        stmt = stmt.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def count(self, f: ContactFilter, cap: int) -> int:
        """How many contacts match, counted up to ``cap + 1`` (the rows scanned stay bounded
        at any size: a count past the cap is shown as "cap+")."""
        matching = select(literal(1)).select_from(Contact).where(*_where(f)).limit(cap + 1)
        stmt = select(func.count()).select_from(matching.subquery())
        return int((await self.session.execute(stmt)).scalar_one())

    def audience_select(self, f: ContactFilter) -> Select[tuple[uuid.UUID, str, str | None]]:
        """The audience as one statement — (id, phone, why it may not be messaged: opted out,
        or no legal basis standing; else null) — for a set-based copy (a campaign's freeze)."""
        blocked = case(
            (Contact.opted_out_at.is_not(None), literal("suppressed")),
            (Contact.consent_state == "revoked", literal("no_basis")),
            (
                and_(Contact.legal_basis == "consent", Contact.consent_state != "granted"),
                literal("no_basis"),
            ),
            else_=null(),
        )
        return select(Contact.id, Contact.phone_e164, blocked).where(*_where(f))

    async def by_ids(self, ids: Collection[uuid.UUID]) -> Sequence[Contact]:
        if not ids:
            return []
        stmt = select(Contact).where(Contact.id.in_(list(ids)))
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, contact_id: uuid.UUID) -> Contact | None:
        return await self.session.get(Contact, contact_id)

    async def by_phone(self, phone_e164: str) -> Contact | None:
        stmt = select(Contact).where(Contact.phone_e164 == phone_e164)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_email(self, email: str) -> Sequence[Contact]:
        # The stored lower-cased key (indexed), not lower(email): see _starts_with.
        stmt = select(Contact).where(Contact.search_email == email.strip().lower())
        return (await self.session.execute(stmt)).scalars().all()

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def delete(self, contact: Contact) -> None:
        await self.session.delete(contact)
        await self.session.flush()

    async def delete_ids(self, ids: Collection[uuid.UUID]) -> int:
        if not ids:
            return 0
        result = await self.session.execute(delete(Contact).where(Contact.id.in_(list(ids))))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_opted_out(self, phones: Collection[str], at: datetime) -> list[uuid.UUID]:
        """Opt the given numbers out (those not already); returns the contacts changed."""
        if not phones:
            return []
        stmt = (
            update(Contact)
            .where(Contact.phone_e164.in_(list(phones)), Contact.opted_out_at.is_(None))
            .values(opted_out_at=at, updated_at=func.now())
            .returning(Contact.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def upsert(
        self, tenant_id: uuid.UUID, rows: Sequence[Mapping[str, Any]], *, update_existing: bool
    ) -> list[UpsertedRow]:
        """Insert new numbers; existing ones are updated (profile fields only) or left alone.

        Never touched on an existing contact: legal basis, consent state, opt-out — those move
        only through the ledger's own paths, so a re-import cannot re-activate anyone.
        """
        out: list[UpsertedRow] = []
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = [
                {"id": uuid.uuid4(), "tenant_id": tenant_id, **r}
                for r in rows[start : start + UPSERT_CHUNK]
            ]
            stmt = pg_insert(Contact).values(chunk)
            if update_existing:
                ex = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=_PHONE_KEY,
                    set_={
                        "name": func.coalesce(ex.name, Contact.name),
                        "email": func.coalesce(ex.email, Contact.email),
                        "language": func.coalesce(ex.language, Contact.language),
                        "notes": func.coalesce(ex.notes, Contact.notes),
                        "custom_fields": Contact.custom_fields.op("||")(ex.custom_fields),
                        "updated_at": func.now(),
                    },
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=_PHONE_KEY)
            returning: Any = stmt.returning(
                Contact.id, Contact.phone_e164, literal_column("(xmax = 0)").label("inserted")
            )
            for row in (await self.session.execute(returning)).all():
                out.append(UpsertedRow(row[0], row[1], bool(row[2])))
        return out

    # --- tags -----------------------------------------------------------------------------

    async def tags_with_counts(self) -> list[tuple[Tag, int]]:
        counts = (
            select(ContactTag.tag_id, func.count().label("n"))
            .group_by(ContactTag.tag_id)
            .subquery()
        )
        stmt = (
            select(Tag, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.tag_id == Tag.id)
            .order_by(func.lower(Tag.name))
        )
        return [(t, int(n)) for t, n in (await self.session.execute(stmt)).all()]

    async def tag_count(self, tag_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(ContactTag).where(ContactTag.tag_id == tag_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def existing_tags(self, tag_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not tag_ids:
            return set()
        stmt = select(Tag.id).where(Tag.id.in_(list(tag_ids)))
        return set((await self.session.execute(stmt)).scalars().all())

    async def get_tag(self, tag_id: uuid.UUID) -> Tag | None:
        return await self.session.get(Tag, tag_id)

    async def tag_by_name(self, name: str) -> Tag | None:
        stmt = select(Tag).where(func.lower(Tag.name) == name.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_tag(self, tag: Tag) -> Tag:
        self.session.add(tag)
        await self.session.flush()
        return tag

    async def delete_tag(self, tag: Tag) -> None:
        await self.session.delete(tag)
        await self.session.flush()

    async def ensure_tags(self, tenant_id: uuid.UUID, names: Iterable[str]) -> dict[str, Tag]:
        """Tags by lower-cased name, created when missing (concurrent creators agree)."""
        wanted: dict[str, str] = {}
        for n in names:
            wanted.setdefault(n.lower(), n)  # the first spelling names a new tag
        if not wanted:
            return {}
        await self.session.execute(
            text(
                "insert into tags (id, tenant_id, name) "
                "select gen_random_uuid(), :tenant, n from unnest(cast(:names as text[])) n "
                "on conflict (tenant_id, lower(name)) do nothing"
            ),
            {"tenant": tenant_id, "names": list(wanted.values())},
        )
        stmt = select(Tag).where(func.lower(Tag.name).in_(list(wanted)))
        return {t.name.lower(): t for t in (await self.session.execute(stmt)).scalars().all()}

    async def tags_of(self, contact_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[Tag]]:
        out: dict[uuid.UUID, list[Tag]] = {cid: [] for cid in contact_ids}
        if not contact_ids:
            return out
        stmt = (
            select(ContactTag.contact_id, Tag)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(list(contact_ids)))
            .order_by(func.lower(Tag.name))
        )
        for cid, tag in (await self.session.execute(stmt)).all():
            out[cid].append(tag)
        return out

    async def set_tags(
        self, tenant_id: uuid.UUID, contact_id: uuid.UUID, tag_ids: Collection[uuid.UUID]
    ) -> None:
        await self.session.execute(
            delete(ContactTag).where(
                ContactTag.contact_id == contact_id, ContactTag.tag_id.not_in(list(tag_ids))
            )
        )
        await self.link(tenant_id, [(contact_id, t) for t in tag_ids])

    async def link(
        self, tenant_id: uuid.UUID, pairs: Collection[tuple[uuid.UUID, uuid.UUID]]
    ) -> None:
        if not pairs:
            return
        rows = [
            {"id": uuid.uuid4(), "tenant_id": tenant_id, "contact_id": c, "tag_id": t}
            for c, t in pairs
        ]
        for start in range(0, len(rows), 10_000):
            await self.session.execute(
                pg_insert(ContactTag)
                .values(rows[start : start + 10_000])
                .on_conflict_do_nothing(constraint="uq_contact_tags_pair")
            )

    async def bulk_tag(
        self,
        tenant_id: uuid.UUID,
        tag_id: uuid.UUID,
        *,
        f: ContactFilter | None,
        ids: Collection[uuid.UUID] | None,
        add: bool,
    ) -> int:
        """Add or remove a tag on every contact of a filter (set-based) or of a list of ids."""
        target = select(Contact.id)
        target = target.where(*_where(f)) if f is not None else target
        if ids is not None:
            target = target.where(Contact.id.in_(list(ids)))
        if add:
            stmt = (
                pg_insert(ContactTag)
                .from_select(
                    ["id", "tenant_id", "contact_id", "tag_id"],
                    select(
                        func.gen_random_uuid(),
                        literal(tenant_id),
                        target.subquery().c.id,
                        literal(tag_id),
                    ),
                )
                .on_conflict_do_nothing(constraint="uq_contact_tags_pair")
                .returning(ContactTag.id)
                .cte("added")
            )
            # Counted in the database: a filter may match a million contacts.
            count = select(func.count()).select_from(stmt)
            return int((await self.session.execute(count)).scalar_one())
        result = await self.session.execute(
            delete(ContactTag).where(ContactTag.tag_id == tag_id, ContactTag.contact_id.in_(target))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # --- consent ledger -------------------------------------------------------------------

    async def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        if events:
            await self.session.execute(
                insert(ConsentEvent), [{"id": uuid.uuid4(), **e} for e in events]
            )

    async def events_of(self, contact_id: uuid.UUID) -> Sequence[ConsentEvent]:
        stmt = (
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id)
            .order_by(ConsentEvent.seq)
        )
        return (await self.session.execute(stmt)).scalars().all()

    # --- suppressions ---------------------------------------------------------------------

    async def suppressed(self, hashes: Collection[str]) -> dict[str, str]:
        """hash → reason, for those of ``hashes`` on the list."""
        if not hashes:
            return {}
        # One array parameter, not one bind per hash: a campaign's freeze asks 5,000 at once.
        listed = bindparam("hashes", list(hashes), type_=ARRAY(String))
        stmt = select(Suppression.phone_hash, Suppression.reason).where(
            Suppression.phone_hash == any_(listed)
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def add_suppression(self, row: Mapping[str, Any]) -> bool:
        """True when added; False when the number was already suppressed (first reason kept)."""
        stmt = (
            pg_insert(Suppression)
            .values(id=uuid.uuid4(), **row)
            .on_conflict_do_nothing(constraint="uq_suppressions_tenant_hash")
            .returning(Suppression.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def harden_suppression(self, phone_hash: str, *, source: str, note: str | None) -> bool:
        """An opt-out on top of a suppression someone could lift (a review, a block, a
        complaint, a manual entry): it becomes an opt-out, which only the contact undoes.
        True when a row changed."""
        stmt = (
            update(Suppression)
            .where(
                Suppression.phone_hash == phone_hash,
                Suppression.reason.not_in(("opt_out", "data_request")),
            )
            .values(reason="opt_out", source=source, note=note)
            .returning(Suppression.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def get_suppression(self, suppression_id: uuid.UUID) -> Suppression | None:
        return await self.session.get(Suppression, suppression_id)

    async def suppression_by_hash(self, phone_hash: str) -> Suppression | None:
        stmt = select(Suppression).where(Suppression.phone_hash == phone_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def delete_suppression(self, suppression: Suppression) -> None:
        await self.session.delete(suppression)
        await self.session.flush()

    async def suppressions_page(
        self, after: tuple[datetime, uuid.UUID] | None, limit: int, phone_hash: str | None
    ) -> Sequence[Suppression]:
        stmt = select(Suppression)
        if phone_hash is not None:
            stmt = stmt.where(Suppression.phone_hash == phone_hash)
        if after is not None:
            stmt = stmt.where(
                tuple_(Suppression.created_at, Suppression.id)
                < tuple_(literal(after[0]), literal(after[1]))
            )
        stmt = stmt.order_by(Suppression.created_at.desc(), Suppression.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    # --- data-subject requests ------------------------------------------------------------

    async def add_request(self, request: DataRequest) -> DataRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def requests(self, limit: int) -> Sequence[DataRequest]:
        stmt = select(DataRequest).order_by(DataRequest.created_at.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def messages_of(self, jids: Collection[str]) -> Sequence[Message]:
        stmt = (
            select(Message)
            .where(or_(Message.remote_jid.in_(list(jids)), Message.remote_jid_alt.in_(list(jids))))
            .order_by(Message.created_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def outgoing_of(self, numbers: Collection[str]) -> Sequence[OutgoingMessage]:
        stmt = (
            select(OutgoingMessage)
            .where(OutgoingMessage.to_number.in_(list(numbers)))
            .order_by(OutgoingMessage.created_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def redact_messages(self, jids: Collection[str], placeholder: str) -> int:
        """Personal content of the subject's messages removed; the rows (and their counts in
        metrics) stay."""
        stmt = (
            update(Message)
            .where(or_(Message.remote_jid.in_(list(jids)), Message.remote_jid_alt.in_(list(jids))))
            .values(
                remote_jid=placeholder,
                remote_jid_alt=None,
                participant=None,
                push_name=None,
                text=None,
            )
        )
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def redact_outgoing(self, numbers: Collection[str], placeholder: str) -> int:
        stmt = (
            update(OutgoingMessage)
            .where(OutgoingMessage.to_number.in_(list(numbers)))
            .values(to_number=placeholder, text="")
        )
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def delete_raw_events(self, needles: Collection[str]) -> int:
        """Raw webhook bodies that mention the subject's number (a scan: erasure is rare)."""
        if not needles:
            return 0
        # Needles are digits only (no LIKE wildcards to escape).
        conds = [cast(WebhookEvent.payload, Text).contains(n) for n in needles if n.isdigit()]
        stmt = delete(WebhookEvent).where(or_(*conds))
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
