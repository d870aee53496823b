"""Helpers shared by the import tests: upload, start and run through the real service."""

from __future__ import annotations

import io
import uuid
from typing import Any

from sqlalchemy import text

from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.contacts import imports_service as svc
from mirage.db.engine import session_scope
from mirage.db.tenancy import tenant_context
from mirage.models.contact_imports import ContactImport
from mirage.models.tenancy import Role
from tests.conftest import TenantFixture


def principal(t: TenantFixture) -> Principal:
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=Role.OWNER,
        user_id=t.user_id,
        scopes=ROLE_SCOPES[Role.OWNER],
    )


async def upload(t: TenantFixture, data: bytes, name: str = "contatos.csv") -> uuid.UUID:
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            imp = await svc.create_import(s, principal(t), filename=name, stream=io.BytesIO(data))
            return imp.id


async def start(
    t: TenantFixture, import_id: uuid.UUID, mapping: dict[str, str] | None = None, **options: Any
) -> None:
    options.setdefault("basis", "consent")
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            await svc.start_import(
                s,
                principal(t),
                import_id,
                mapping=mapping,
                options=svc.ImportOptions(**options),
                enqueue=False,
            )


async def run(t: TenantFixture, import_id: uuid.UUID, **kw: Any) -> ContactImport | None:
    with tenant_context(t.tenant_id, t.user_id):
        return await svc.run_import(import_id, **kw)


async def get(t: TenantFixture, import_id: uuid.UUID) -> ContactImport:
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            return await svc.get_import(s, principal(t), import_id)


async def imported(
    t: TenantFixture, data: bytes, mapping: dict[str, str] | None = None, **kw: Any
) -> ContactImport:
    run_kw = {k: kw.pop(k) for k in ("chunk_rows",) if k in kw}
    import_id = await upload(t, data)
    await start(t, import_id, mapping, **kw)
    await run(t, import_id, **run_kw)
    return await get(t, import_id)


async def scalar(t: TenantFixture, sql: str, /, **params: Any) -> Any:
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            return (await s.execute(text(sql), params)).scalar()


async def execute(t: TenantFixture, sql: str, /, **params: Any) -> None:
    with tenant_context(t.tenant_id, t.user_id):
        async with session_scope() as s:
            await s.execute(text(sql), params)
