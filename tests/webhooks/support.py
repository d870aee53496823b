"""Helpers for webhook tests: an instance row with a known secret, signed calls, counts."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import psycopg

from mirage.config import get_settings
from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.instances.repository import InstanceRepository
from mirage.kit import crypto
from mirage.models import Instance
from tests.conftest import TenantFixture


async def _instance(t: TenantFixture, name: str | None = None) -> tuple[Instance, str]:
    """An instance row with a known webhook secret (no gateway needed for the receiver)."""
    secret = crypto.random_token(32)
    key = get_settings().resolved_secret_key()
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = await InstanceRepository(session).add(
            Instance(
                id=iid,
                tenant_id=t.tenant_id,
                display_name=name or f"n-{iid.hex[:6]}",
                gateway_name=f"mirage-{iid.hex[:20]}",
                token_enc=crypto.encrypt(key, "tok"),
                webhook_secret_enc=crypto.encrypt(key, secret),
                provisioned=True,
            )
        )
    return inst, secret


def _token(secret: str, *, exp_in: int = 600, iat_shift: int = 0, **claims: Any) -> str:
    now = int(time.time()) + iat_shift
    payload = {"iat": now, "exp": now + exp_in, "app": "evolution", "action": "webhook", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def _envelope(inst: Instance, event: str, data: Any) -> bytes:
    return json.dumps(
        {
            "event": event,
            "instance": inst.gateway_name,
            "data": data,
            "destination": "http://x/y",
            "date_time": "2026-11-26T10:00:00.000Z",
            "sender": "5511999990000@s.whatsapp.net",
            "server_url": "http://sim",
            "apikey": None,
        }
    ).encode()


def _upsert(msg_id: str, text: str = "Oi", *, from_me: bool = False) -> dict[str, Any]:
    return {
        "key": {"remoteJid": "5511988887777@s.whatsapp.net", "fromMe": from_me, "id": msg_id},
        "pushName": "Ana",
        "status": "DELIVERY_ACK",
        "message": {"conversation": text},
        "contextInfo": None,
        "messageType": "conversation",
        "messageTimestamp": 1764151200,
        "instanceId": "x",
        "source": "android",
    }


_COUNTING: dict[str, psycopg.Connection[Any]] = {}


def _counts(conninfo: str, tenant_id: uuid.UUID) -> tuple[int, int]:
    """Stored events and messages of a tenant: one autocommit connection per test process,
    reused (a connection per call cost the fuzzers more PostgreSQL CPU than the checks)."""
    conn = _COUNTING.get(conninfo)
    if conn is None or conn.closed:
        conn = _COUNTING[conninfo] = psycopg.connect(conninfo, autocommit=True)
    row = conn.execute(
        "select (select count(*) from webhook_events where tenant_id = %s), "
        "(select count(*) from messages where tenant_id = %s)",
        (tenant_id, tenant_id),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def _post(
    client: httpx.AsyncClient,
    inst: Instance,
    body: bytes,
    *,
    token: str | None,
    tenant: uuid.UUID | None = None,
    suffix: str = "",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(extra or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers["X-Mirage-Tenant"] = str(tenant or inst.tenant_id)
    return await client.post(
        f"/webhooks/evolution/{inst.id}{suffix}", content=body, headers=headers
    )
