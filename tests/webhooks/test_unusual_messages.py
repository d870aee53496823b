"""Every authentic message is stored: fields the sender controls are normalized, never a
reason to refuse (Evolution does not retry a 4xx, so a refusal loses the message). Wrapped
content (ephemeral, view-once, document with caption) is unwrapped, and edits are applied to
the message they name, in the same tenant and instance only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from mirage.models import Instance
from tests.conftest import TenantFixture, make_tenant
from tests.webhooks.support import _envelope, _instance, _post, _token, _upsert

JID = "5511988887777@s.whatsapp.net"


def _row(conninfo: str, tenant_id: uuid.UUID, pid: str, cols: str) -> tuple[Any, ...] | None:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            f"select {cols} from messages where tenant_id = %s and provider_message_id = %s",
            (tenant_id, pid),
        ).fetchone()


async def _send(
    client: httpx.AsyncClient, inst: Instance, secret: str, event: str, data: Any
) -> httpx.Response:
    return await _post(client, inst, _envelope(inst, event, data), token=_token(secret))


async def test_long_and_odd_sender_fields_are_normalized_not_refused(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    data = _upsert("LONG-1", "Oi")
    data["pushName"] = "Ana " + "🌸" * 150  # 154 characters
    data["messageType"] = "someFutureMessageTypeWithAVeryLongNameIndeed" * 2
    data["source"] = "a-device-name-nobody-expected"
    data["status"] = "SOME_NEW_STATUS"
    data["key"]["participant"] = "x" * 300  # not a JID: dropped, not refused
    r = await _send(client, inst, secret, "messages.upsert", data)
    assert r.status_code == 200, r.text
    row = _row(
        bootstrap_conninfo,
        tenant_a.tenant_id,
        "LONG-1",
        "text, push_name, message_type, source, status, participant",
    )
    assert row is not None
    text, push, mtype, source, status, participant = row
    assert text == "Oi" and status == "DELIVERY_ACK" and participant is None
    assert push == ("Ana " + "🌸" * 150)[:120]
    assert mtype == data["messageType"][:40] and source == data["source"][:16]


async def test_a_very_long_text_is_kept_up_to_the_bound(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    r = await _send(client, inst, secret, "messages.upsert", _upsert("TXT-1", "a" * 100_000))
    assert r.status_code == 200, r.text
    row = _row(bootstrap_conninfo, tenant_a.tenant_id, "TXT-1", "length(text)")
    assert row == (65_536,)


async def test_a_long_profile_name_on_connection_update_is_accepted(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    data = {
        "instance": inst.gateway_name,
        "wuid": "5511999990000@s.whatsapp.net",
        "profileName": "P" * 200,
        "state": "connecting",
        "statusReason": 200,
    }
    r = await _send(client, inst, secret, "connection.update", data)
    assert r.status_code == 200, r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select state, profile_name from instances where id = %s", (inst.id,)
        ).fetchone()
    assert row == ("connecting", "P" * 120)


SHAPES: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (message, expected text, expected type)
    "ephemeral-text": (
        {"ephemeralMessage": {"message": {"extendedTextMessage": {"text": "efêmera"}}}},
        "efêmera",
        "extendedTextMessage",
    ),
    "ephemeral-conversation": (
        {
            "ephemeralMessage": {"message": {"conversation": "some em 7 dias"}},
            "messageContextInfo": {"deviceListMetadata": {}},
        },
        "some em 7 dias",
        "conversation",
    ),
    "view-once-image": (
        {"viewOnceMessage": {"message": {"imageMessage": {"caption": "só uma vez"}}}},
        "só uma vez",
        "imageMessage",
    ),
    "view-once-v2-video": (
        {"viewOnceMessageV2": {"message": {"videoMessage": {"caption": "vídeo único"}}}},
        "vídeo único",
        "videoMessage",
    ),
    "ephemeral-view-once": (
        {
            "ephemeralMessage": {
                "message": {
                    "viewOnceMessageV2": {"message": {"imageMessage": {"caption": "dupla"}}}
                }
            }
        },
        "dupla",
        "imageMessage",
    ),
    "document-with-caption": (
        {
            "documentWithCaptionMessage": {
                "message": {"documentMessage": {"caption": "o contrato", "fileName": "c.pdf"}}
            }
        },
        "o contrato",
        "documentMessage",
    ),
    "image-caption": ({"imageMessage": {"caption": "foto"}}, "foto", "imageMessage"),
    "video-caption": ({"videoMessage": {"caption": "filme"}}, "filme", "videoMessage"),
    "document-caption": ({"documentMessage": {"caption": "doc"}}, "doc", "documentMessage"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_wrapped_content_is_unwrapped(
    shape: str, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    message, text, mtype = SHAPES[shape]
    data = _upsert(f"W-{shape}")
    data["message"] = message
    # Evolution reports Baileys' content key: the wrapper's name for wrapped content.
    data["messageType"] = next(iter(message))
    r = await _send(client, inst, secret, "messages.upsert", data)
    assert r.status_code == 200, r.text
    row = _row(bootstrap_conninfo, tenant_a.tenant_id, f"W-{shape}", "text, message_type")
    assert row == (text, mtype)


def _protocol_edit(pid: str, text: str, *, ts_ms: int | None = None, kind: Any = 14) -> dict:
    edit: dict[str, Any] = {
        "key": {"remoteJid": JID, "fromMe": False, "id": pid},
        "type": kind,
        "editedMessage": {"conversation": text},
    }
    if ts_ms is not None:
        edit["timestampMs"] = ts_ms
    return edit


async def test_messages_edited_event_replaces_the_text_and_keeps_a_trace(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """Evolution 2.3: ``messages.edited`` whose data is the protocolMessage itself."""
    inst, secret = await _instance(tenant_a)
    assert (await _send(client, inst, secret, "messages.upsert", _upsert("E-1", "oi"))).is_success
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "E-1", "edited_at") == (None,)
    r = await _send(
        client,
        inst,
        secret,
        "messages.edited",
        _protocol_edit("E-1", "olá", ts_ms=1764151300000, kind="MESSAGE_EDIT"),
    )
    assert r.status_code == 200, r.text
    row = _row(
        bootstrap_conninfo,
        tenant_a.tenant_id,
        "E-1",
        "text, extract(epoch from edited_at)::bigint, message_type, push_name",
    )
    assert row == ("olá", 1764151300, "conversation", "Ana")
    # An older edit delivered late changes nothing; a newer one applies.
    old = _protocol_edit("E-1", "oi!", ts_ms=1764151250000)
    assert (await _send(client, inst, secret, "messages.edited", old)).status_code == 200
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "E-1", "text") == ("olá",)
    new = _protocol_edit("E-1", "olá!!", ts_ms=1764151400000)
    assert (await _send(client, inst, secret, "messages.edited", new)).status_code == 200
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "E-1", "text") == ("olá!!",)
    with psycopg.connect(bootstrap_conninfo) as conn:
        count = conn.execute(
            "select count(*) from messages where tenant_id = %s", (tenant_a.tenant_id,)
        ).fetchone()
    assert count == (1,)  # edits add no message rows


async def test_edit_inside_an_upsert_applies_to_the_original(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """Older builds (and own edits from the phone) deliver the edit as a message whose
    content is ``editedMessage.message.protocolMessage`` or a bare ``protocolMessage``."""
    inst, secret = await _instance(tenant_a)
    for pid in ("U-1", "U-2"):
        ok = await _send(client, inst, secret, "messages.upsert", _upsert(pid, "antes"))
        assert ok.status_code == 200
    wrapped = _upsert("EDIT-MSG-1")
    wrapped["message"] = {
        "editedMessage": {"message": {"protocolMessage": _protocol_edit("U-1", "depois 1")}}
    }
    wrapped["messageType"] = "editedMessage"
    bare = _upsert("EDIT-MSG-2")
    bare["message"] = {"protocolMessage": _protocol_edit("U-2", "depois 2", kind="MESSAGE_EDIT")}
    bare["messageType"] = "protocolMessage"
    for data in (wrapped, bare):
        r = await _send(client, inst, secret, "messages.upsert", data)
        assert r.status_code == 200, r.text
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "U-1", "text") == ("depois 1",)
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "U-2", "text") == ("depois 2",)
    # The edit's own message id is not stored as a message.
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "EDIT-MSG-1", "text") is None
    edited = _row(bootstrap_conninfo, tenant_a.tenant_id, "U-1", "edited_at is not null")
    assert edited == (True,)


async def test_an_edit_before_its_message_is_kept_when_the_message_arrives(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    edit = _protocol_edit("LATE-1", "versão final", ts_ms=1764151300000)
    assert (await _send(client, inst, secret, "messages.edited", edit)).status_code == 200
    original = _upsert("LATE-1", "rascunho")
    assert (await _send(client, inst, secret, "messages.upsert", original)).status_code == 200
    row = _row(bootstrap_conninfo, tenant_a.tenant_id, "LATE-1", "text, message_type, push_name")
    assert row == ("versão final", "conversation", "Ana")


async def test_an_edit_never_reaches_another_instance_or_tenant(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    sibling, sibling_secret = await _instance(tenant_a)
    other_tenant = await make_tenant()
    stranger, stranger_secret = await _instance(other_tenant)
    for i, s in ((inst, secret), (sibling, sibling_secret), (stranger, stranger_secret)):
        assert (await _send(client, i, s, "messages.upsert", _upsert("SAME-ID", "meu"))).is_success
    edit = _protocol_edit("SAME-ID", "editado")
    assert (await _send(client, inst, secret, "messages.edited", edit)).status_code == 200
    with psycopg.connect(bootstrap_conninfo) as conn:
        rows = dict(
            conn.execute(
                "select instance_id, text from messages where provider_message_id = 'SAME-ID' "
                "and instance_id = any(%s)",
                ([inst.id, sibling.id, stranger.id],),
            ).fetchall()
        )
    assert rows == {inst.id: "editado", sibling.id: "meu", stranger.id: "meu"}


async def test_other_protocol_messages_are_stored_raw_without_touching_messages(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    assert (await _send(client, inst, secret, "messages.upsert", _upsert("R-1", "fica"))).is_success
    revoke = {"key": {"remoteJid": JID, "fromMe": False, "id": "R-1"}, "type": 0}
    r = await _send(client, inst, secret, "messages.edited", revoke)
    assert r.status_code == 200, r.text
    assert _row(bootstrap_conninfo, tenant_a.tenant_id, "R-1", "text, edited_at") == ("fica", None)
    with psycopg.connect(bootstrap_conninfo) as conn:
        raw = conn.execute(
            "select count(*) from webhook_events where instance_id = %s "
            "and event = 'messages.edited'",
            (inst.id,),
        ).fetchone()
    assert raw == (1,)


async def test_evolutions_deleted_fallback_on_an_edit_update_does_not_delete(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """Evolution 2.3 sends ``messages.update`` with ``status: DELETED`` for an update without
    a status (the edit itself); the message is neither deleted nor refused."""
    inst, secret = await _instance(tenant_a)
    assert (await _send(client, inst, secret, "messages.upsert", _upsert("D-1", "oi"))).is_success
    update = {"keyId": "D-1", "remoteJid": JID, "fromMe": False, "status": "DELETED"}
    r = await _send(client, inst, secret, "messages.update", update)
    assert r.status_code == 200, r.text
    edit = _protocol_edit("D-1", "oi, editado")
    assert (await _send(client, inst, secret, "messages.edited", edit)).status_code == 200
    row = _row(bootstrap_conninfo, tenant_a.tenant_id, "D-1", "status, text")
    assert row == ("DELIVERY_ACK", "oi, editado")


async def test_a_name_cut_inside_an_emoji_and_a_nul_are_cleaned_not_refused(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """Valid JSON that PostgreSQL cannot store (a lone surrogate, a NUL) is cleaned: the
    message and its raw event are stored."""
    inst, secret = await _instance(tenant_a)
    body = (
        _envelope(inst, "messages.upsert", _upsert("SUR-1", "Oi__NUL__!"))
        .replace(b'"Ana"', b'"Ana \\ud83c"')
        .replace(b"__NUL__", b"\\u0000")
    )
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code == 200, r.text
    row = _row(bootstrap_conninfo, tenant_a.tenant_id, "SUR-1", "push_name, text")
    assert row == ("Ana \ufffd", "Oi!")
    with psycopg.connect(bootstrap_conninfo) as conn:
        raw = conn.execute(
            "select payload->'data'->>'pushName' from webhook_events where instance_id = %s",
            (inst.id,),
        ).fetchone()
    assert raw == ("Ana \ufffd",)
