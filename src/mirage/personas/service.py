"""Persona rules: unique names per tenant, validated styles, no deletion while in use."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mirage.ai.persona import PersonaSpec
from mirage.auth.principal import Principal
from mirage.auth.service import require
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.kit.errors import Conflict, NotFound
from mirage.kit.i18n import N_
from mirage.models import Persona
from mirage.models.tenancy import Role
from mirage.ops import audit
from mirage.personas.repository import PersonaRepository
from mirage.personas.schemas import PersonaIn
from mirage.tenants import service as tenants


async def list_personas(session: AsyncSession, principal: Principal) -> list[Persona]:
    require(principal, "read")
    return list(await PersonaRepository(session).list())


async def get_persona(
    session: AsyncSession, principal: Principal, persona_id: uuid.UUID
) -> Persona:
    require(principal, "read")
    persona = await PersonaRepository(session).get(persona_id)
    if persona is None:
        raise NotFound("persona not found")
    return persona


def _apply(persona: Persona, data: PersonaIn) -> None:
    persona.name = data.name
    persona.style = data.style
    persona.vocabulary = data.vocabulary
    persona.emoji_rate = data.emoji_rate
    persona.typo_rate = data.typo_rate
    persona.min_length = data.min_length
    persona.max_length = data.max_length
    persona.greetings = data.greetings.model_dump()
    persona.language = data.language


async def create_persona(session: AsyncSession, principal: Principal, data: PersonaIn) -> Persona:
    require(principal, "write", role=Role.OPERATOR)
    repo = PersonaRepository(session)
    if await repo.by_name(data.name):
        raise Conflict("a persona with this name already exists", field="name")
    persona = Persona(tenant_id=principal.tenant_id)
    _apply(persona, data)
    persona = await repo.add(persona)
    await _audit(session, principal, "persona.create", persona)
    return persona


# What an update's audit event compares (only the fields that changed are stored).
AUDITED = (
    "name",
    "style",
    "vocabulary",
    "emoji_rate",
    "typo_rate",
    "min_length",
    "max_length",
    "greetings",
    "language",
)


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    persona: Persona,
    before: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        principal=principal,
        action=action,
        target_type="persona",
        target_id=persona.id,
        name=persona.name,
        before=before,
        after=audit.snapshot(persona, AUDITED) if before is not None else None,
    )


async def update_persona(
    session: AsyncSession, principal: Principal, persona_id: uuid.UUID, data: PersonaIn
) -> Persona:
    require(principal, "write", role=Role.OPERATOR)
    persona = await get_persona(session, principal, persona_id)
    other = await PersonaRepository(session).by_name(data.name)
    if other is not None and other.id != persona.id:
        raise Conflict("a persona with this name already exists", field="name")
    before = audit.snapshot(persona, AUDITED)
    _apply(persona, data)
    await session.flush()
    await _audit(session, principal, "persona.update", persona, before)
    return persona


async def delete_persona(
    session: AsyncSession, principal: Principal, persona_id: uuid.UUID
) -> None:
    require(principal, "write", role=Role.OPERATOR)
    repo = PersonaRepository(session)
    persona = await get_persona(session, principal, persona_id)
    used_by = await repo.used_by(persona.id)
    if used_by:
        # Refused, naming them: a conversation cannot lose a speaker mid-way; each is edited
        # (Conversations → Edit) to choose another persona first.
        raise Conflict(
            N_(
                "this persona is used by: %(names)s. Edit those conversations (Conversations "
                "→ the conversation → Edit) and choose another persona first"
            ),
            params={"names": ", ".join(used_by)},
        )
    await _audit(session, principal, "persona.delete", persona)
    await repo.delete(persona)


def persona_spec(p: Persona) -> PersonaSpec:
    """A stored persona as the reply generator takes it."""
    return PersonaSpec(
        name=p.name,
        style=p.style,  # type: ignore[arg-type]
        vocabulary=tuple(p.vocabulary),
        emoji_rate=p.emoji_rate,
        typo_rate=p.typo_rate,
        min_length=p.min_length,
        max_length=p.max_length,
        greetings={k: tuple(v) for k, v in p.greetings.items()},  # type: ignore[misc]
        language=p.language,
    )


async def tenant_personas(slug: str) -> tuple[list[PersonaSpec], str] | None:
    """A tenant's personas (as the generator takes them) and its time zone, by the tenant's
    slug; None when no tenant has it. The slug is looked up across tenants (maintenance, the
    admin role, as `mirage user create --tenant` does); the personas are read under the
    tenant's row-level security."""
    tenant = await tenants.by_slug(slug)
    if tenant is None:
        return None
    with tenant_context(tenant.id):
        async with session_scope() as session:
            rows = await PersonaRepository(session).list()
            return [persona_spec(p) for p in rows], tenant.timezone
