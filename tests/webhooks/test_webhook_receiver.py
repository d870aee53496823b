"""The webhook receiver: only correctly signed calls for the right instance get in; nothing
is stored otherwise; redelivery and disorder never corrupt state; garbage never gives a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.db.urls import RoleUrls
from mirage.models import Instance
from tests.conftest import TenantFixture, make_tenant, sql
from tests.webhooks.support import _counts, _envelope, _instance, _post, _token, _upsert


async def test_signed_event_is_stored_once_in_both_url_forms(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    body = _envelope(inst, "messages.upsert", _upsert("MSG-1"))
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code == 200 and r.json() == {"received": "messages.upsert"}
    # Redelivery (at-least-once) through the byEvents URL and the UPPER_SNAKE spelling.
    body2 = _envelope(inst, "MESSAGES_UPSERT", _upsert("MSG-1"))
    r = await _post(client, inst, body2, token=_token(secret), suffix="/messages-upsert")
    assert r.status_code == 200
    assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == (2, 1)  # 2 raw, 1 message
    # A suffix that contradicts the body is refused.
    r = await _post(client, inst, body, token=_token(secret), suffix="/send-message")
    assert r.status_code == 422


@pytest.mark.parametrize(
    "case",
    [
        "no-token",
        "bad-signature",
        "expired",
        "other-instance",
        "wrong-tenant-header",
        "not-a-webhook-token",
        "bad-hmac",
        "unknown-instance",
    ],
)
async def test_unauthenticated_calls_are_401_and_store_nothing(
    case: str,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    inst, secret = await _instance(tenant_a)
    other, other_secret = await _instance(tenant_a)
    body = _envelope(inst, "messages.upsert", _upsert("X-" + case))
    before = _counts(bootstrap_conninfo, tenant_a.tenant_id)
    kwargs: dict[str, Any] = {}
    if case == "no-token":
        kwargs["token"] = None
    elif case == "bad-signature":
        kwargs["token"] = _token(secret + "x")
    elif case == "expired":
        kwargs["token"] = _token(secret, exp_in=600, iat_shift=-1200)
    elif case == "other-instance":
        kwargs["token"] = _token(other_secret)
    elif case == "wrong-tenant-header":
        kwargs["token"] = _token(secret)
        kwargs["tenant"] = tenant_b.tenant_id
    elif case == "not-a-webhook-token":
        kwargs["token"] = _token(secret, action="login")
    elif case == "bad-hmac":
        kwargs["token"] = _token(secret)
        kwargs["extra"] = {"X-Webhook-Hmac": "00" * 64}
    elif case == "unknown-instance":
        inst = Instance(id=uuid.uuid4(), tenant_id=tenant_a.tenant_id, gateway_name="x")
        kwargs["token"] = _token(secret)
    r = await _post(client, inst, body, **kwargs)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == before
    del other


async def test_valid_body_hmac_is_accepted(
    client: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    inst, secret = await _instance(tenant_a)
    body = _envelope(inst, "messages.upsert", _upsert("HMAC-1"))
    sig = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    r = await _post(client, inst, body, token=_token(secret), extra={"X-Webhook-Hmac": sig})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body,status",
    [
        (b"{not json", 422),
        (b"[]", 422),
        (b'{"event": "contacts.update", "instance": "INST", "data": [Infinity]}', 422),
        (b'{"event": "messages.upsert", "instance": "x", "data": {}}', 422),
        (b'{"event": 5, "instance": "x", "data": {}}', 422),
        (b"\xff\xfe garbage", 422),
        (
            b'{"event": "messages.upsert", "instance": "INST", '
            b'"data": {"key": {"remoteJid": "a@s", "id": "\\u0000", "fromMe": false}}}',
            422,
        ),
        (b"x" * (5 * 1024 * 1024), 413),
    ],
)
async def test_malformed_or_huge_bodies_are_refused_with_nothing_stored(
    body: bytes,
    status: int,
    client: httpx.AsyncClient,
    tenant_a: TenantFixture,
    bootstrap_conninfo: str,
) -> None:
    inst, secret = await _instance(tenant_a)
    body = body.replace(b"INST", inst.gateway_name.encode())
    before = _counts(bootstrap_conninfo, tenant_a.tenant_id)
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == before


async def test_acks_out_of_order_and_twice_never_move_backwards(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    sent = _upsert("OUT-1", "Olá!", from_me=True) | {"status": "PENDING", "pushName": "Você"}
    acks = [
        {
            "keyId": "OUT-1",
            "remoteJid": "5511988887777@s.whatsapp.net",
            "fromMe": True,
            "participant": None,
            "status": s,
            "instanceId": "x",
        }
        for s in ("SERVER_ACK", "DELIVERY_ACK", "READ")
    ]
    events = [("send.message", sent)] + [("messages.update", a) for a in acks]
    events = events * 2  # every event delivered twice
    random.Random(7).shuffle(events)
    for event, data in events:
        r = await _post(client, inst, _envelope(inst, event, data), token=_token(secret))
        assert r.status_code == 200, r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select status, status_rank, status_history, text, push_name, message_type, direction "
            "from messages where tenant_id = %s and provider_message_id = 'OUT-1'",
            (tenant_a.tenant_id,),
        ).fetchall()
    assert len(row) == 1
    status, rank, history, text, push, mtype, direction = row[0]
    assert (status, rank, text, push, mtype, direction) == (
        "READ",
        4,
        "Olá!",
        "Você",
        "conversation",
        "outbound",
    )
    assert sorted(h["status"] for h in history) == ["DELIVERY_ACK", "PENDING", "READ", "SERVER_ACK"]


# --- property: thousands of generated payloads, never a 500, never a malformed row ---------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=15,
)
event_names = st.sampled_from(
    [
        "messages.upsert",
        "MESSAGES_UPSERT",
        "send.message",
        "messages.update",
        "connection.update",
        "qrcode.updated",
        "contacts.update",
        "bogus",
        "",
        "x" * 50,
    ]
)
key_objs = st.fixed_dictionaries(
    {},
    optional={
        "remoteJid": st.one_of(st.text(max_size=40), st.integers(), st.none()),
        "id": st.one_of(st.text(max_size=40), st.integers(), st.none()),
        "fromMe": st.one_of(st.booleans(), st.text(max_size=3)),
        "remoteJidAlt": st.text(max_size=40),
    },
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(key_objs, json_values),
        "status": st.one_of(
            st.sampled_from(["PENDING", "READ", "DELIVERY_ACK", "weird"]),
            st.integers(-1, 9),
            json_values,
        ),
        "message": json_values,
        "messageType": json_values,
        "messageTimestamp": json_values,
        "keyId": st.one_of(st.text(max_size=40), json_values),
        "remoteJid": st.one_of(st.text(max_size=40), json_values),
        "state": st.one_of(
            st.sampled_from(["open", "close", "connecting", "refused", "?"]), json_values
        ),
        "statusReason": json_values,
        "qrcode": json_values,
        "pushName": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {"event": st.one_of(event_names, json_values)},
    optional={"data": st.one_of(message_like, json_values), "instance": json_values},
)


@pytest.fixture(scope="module")
async def fuzz_instance(database: Any) -> tuple[Instance, str, TenantFixture]:
    t = await make_tenant()
    inst, secret = await _instance(t)
    return inst, secret, t


@pytest.fixture(scope="module")
def fuzz_reader(role_urls: RoleUrls) -> Iterator[psycopg.Connection[Any]]:
    """One autocommit superuser connection for the examples' read-only checks (each statement
    sees everything committed before it): 1,500 examples, not 4,500 connection set-ups."""
    with psycopg.connect(RoleUrls.libpq(role_urls.bootstrap), autocommit=True) as conn:
        yield conn


MALFORMED_ROWS = (
    "select count(*) from messages where tenant_id = %s and (provider_message_id = '' "
    "or remote_jid = '' or status not in ('ERROR','PENDING','SERVER_ACK','DELIVERY_ACK',"
    "'READ','PLAYED','DELETED') or status_rank not between 0 and 6 "
    "or jsonb_typeof(status_history) <> 'array' or jsonb_array_length(status_history) = 0)"
)
# The receiver's rows for one tenant (as _counts) and the malformed ones, in one statement.
COUNTS_AND_MALFORMED = (
    "select (select count(*) from webhook_events where tenant_id = %(t)s), "
    "(select count(*) from messages where tenant_id = %(t)s), "
    f"({MALFORMED_ROWS.replace('%s', '%(t)s')})"
)


def _counts_and_malformed(
    conn: psycopg.Connection[Any], tenant_id: uuid.UUID
) -> tuple[tuple[int, int], int]:
    row = conn.execute(COUNTS_AND_MALFORMED, {"t": tenant_id}).fetchone()
    assert row is not None
    return (row[0], row[1]), row[2]


@settings(
    max_examples=int(os.environ.get("MIRAGE_WEBHOOK_FUZZ", "1500")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@given(doc=envelopes, right_instance=st.booleans())
async def test_generated_payloads_never_500_and_store_only_wellformed_rows(
    client: httpx.AsyncClient,
    fuzz_instance: tuple[Instance, str, TenantFixture],
    fuzz_reader: psycopg.Connection[Any],
    doc: dict[str, Any],
    right_instance: bool,
) -> None:
    inst, secret, t = fuzz_instance
    if right_instance:
        doc["instance"] = inst.gateway_name
    body = json.dumps(doc).encode()
    before, _ = _counts_and_malformed(fuzz_reader, t.tenant_id)
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code in (200, 422), (r.status_code, body[:300], r.text[:300])
    after, bad = _counts_and_malformed(fuzz_reader, t.tenant_id)
    if r.status_code == 422:
        assert after == before  # nothing stored
    assert bad == 0


async def test_lid_sender_keeps_its_phone_alternative(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    data = _upsert("LID-1", "Oi, sou eu")
    data["key"] = {
        "remoteJid": "123456789012345@lid",
        "remoteJidAlt": "5511988887777@s.whatsapp.net",
        "addressingMode": "lid",
        "fromMe": False,
        "id": "LID-1",
    }
    r = await _post(client, inst, _envelope(inst, "messages.upsert", data), token=_token(secret))
    assert r.status_code == 200
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select remote_jid, remote_jid_alt, direction, text, source from messages "
            "where tenant_id = %s and provider_message_id = 'LID-1'",
            (tenant_a.tenant_id,),
        ).fetchone()
    assert row == (
        "123456789012345@lid",
        "5511988887777@s.whatsapp.net",
        "inbound",
        "Oi, sou eu",
        "android",
    )


async def test_events_for_a_just_deleted_instance_are_refused_not_crashed(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    ok = await _post(
        client, inst, _envelope(inst, "messages.upsert", _upsert("DEL-1")), token=_token(secret)
    )
    assert ok.status_code == 200  # the instance's identity is now cached
    await sql(bootstrap_conninfo, "delete from instances where id = %s", inst.id)
    r = await _post(
        client, inst, _envelope(inst, "messages.upsert", _upsert("DEL-2")), token=_token(secret)
    )
    assert r.status_code == 401, r.text
    r = await _post(
        client, inst, _envelope(inst, "messages.upsert", _upsert("DEL-3")), token=_token(secret)
    )
    assert r.status_code == 401  # and the stale identity is forgotten
