"""Raw events are stored without their secrets: the instance token Evolution puts in every
envelope (``apikey``) and any token/secret/password-like field near the top of ``data``."""

from __future__ import annotations

import json

import httpx
import psycopg

from mirage.webhooks import normalize as n
from tests.conftest import TenantFixture
from tests.webhooks.support import _instance, _post, _token, _upsert


async def test_secrets_in_envelopes_are_redacted_before_storage(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    token = "B1D2C3E4-0000-4000-8000-SECRETTOKEN1"
    data = _upsert("RED-1", "Oi, tudo bem?")
    data["instance"] = {"token": "nested-secret-value-1", "name": "x"}
    data["hash"] = "create-hash-secret-2"
    data["message"]["jwt_key"] = "jwt-key-secret-3"
    envelope = {
        "event": "messages.upsert",
        "instance": inst.gateway_name,
        "data": data,
        "destination": "http://x/y",
        "date_time": "2026-11-26T10:00:00.000Z",
        "sender": "5511999990000@s.whatsapp.net",
        "server_url": "http://sim",
        "apikey": token,
        "Authorization": "Bearer abc.def.ghi-secret-4",
    }
    r = await _post(client, inst, json.dumps(envelope).encode(), token=_token(secret))
    assert r.status_code == 200, r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        payload, as_text = conn.execute(
            "select payload, payload::text from webhook_events where instance_id = %s",
            (inst.id,),
        ).fetchone()  # type: ignore[misc]
        text = conn.execute(
            "select text from messages where instance_id = %s", (inst.id,)
        ).fetchone()
    for leaked in (
        token,
        "nested-secret-value-1",
        "create-hash-secret-2",
        "jwt-key-secret-3",
        "abc.def.ghi-secret-4",
    ):
        assert leaked not in as_text
    assert payload["apikey"] == n.REDACTED and payload["Authorization"] == n.REDACTED
    assert payload["data"]["instance"] == {"token": n.REDACTED, "name": "x"}
    assert payload["data"]["message"]["jwt_key"] == n.REDACTED
    # Everything else is kept as received, and the message itself is stored.
    assert payload["data"]["key"] == data["key"] and payload["sender"] == envelope["sender"]
    assert text == ("Oi, tudo bem?",)


async def test_an_envelope_without_secrets_is_stored_as_received(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    envelope = {
        "event": "messages.upsert",
        "instance": inst.gateway_name,
        "data": _upsert("RED-2"),
        "apikey": None,
    }
    r = await _post(client, inst, json.dumps(envelope).encode(), token=_token(secret))
    assert r.status_code == 200, r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        (payload,) = conn.execute(
            "select payload from webhook_events where instance_id = %s", (inst.id,)
        ).fetchone()  # type: ignore[misc]
    assert payload == envelope
