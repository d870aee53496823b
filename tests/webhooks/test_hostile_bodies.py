"""Hostile bodies after valid authentication: every parse failure of any kind is a 4xx with
nothing stored, never a 5xx (Evolution retries 5xx up to 10 times).

Three layers: the probe's exact cases, a hypothesis run that plants deep nesting, huge
numbers and non-ASCII digits anywhere in otherwise valid events, and a schemathesis run over
an OpenAPI description of the receiver (positive and negative generation) with the same
plantings."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirage.models import Instance
from mirage.webhooks import normalize as n
from tests.conftest import TenantFixture, make_tenant
from tests.webhooks.support import _counts, _envelope, _instance, _post, _token, _upsert

DEEP = 10_000


def _raw_envelope(inst: Instance, data_json: str, event: str = "messages.upsert") -> bytes:
    """An envelope whose ``data`` is given as raw JSON text (to plant literals json.dumps
    cannot write)."""
    head = json.dumps({"event": event, "instance": inst.gateway_name, "apikey": None})
    return (head[:-1] + ', "data": ' + data_json + "}").encode()


def _upsert_json(**overrides: str) -> str:
    """A valid upsert as JSON text, with some values replaced by raw JSON literals."""
    data = _upsert(f"H-{uuid.uuid4().hex[:10]}")
    text = json.dumps(data)
    for key, literal in overrides.items():
        marker = f"__{key}__"
        data[key] = marker
        text = json.dumps(data).replace(f'"{marker}"', literal)
    return text


HOSTILE = {
    "nested-10000-deep-in-data": lambda inst: _raw_envelope(inst, "[" * DEEP + "]" * DEEP),
    "nested-10000-deep-objects": lambda inst: _raw_envelope(
        inst, '{"a":' * DEEP + "1" + "}" * DEEP
    ),
    "nested-10000-deep-whole-body": lambda inst: b"[" * DEEP + b"]" * DEEP,
    "nested-just-over-the-bound": lambda inst: _raw_envelope(
        inst, "[" * (n.MAX_DEPTH + 1) + "]" * (n.MAX_DEPTH + 1)
    ),
    "timestamp-5000-ascii-digits": lambda inst: _raw_envelope(
        inst, _upsert_json(messageTimestamp='"' + "9" * 5000 + '"')
    ),
    "timestamp-arabic-indic-digits": lambda inst: _raw_envelope(
        inst, _upsert_json(messageTimestamp='"' + "\u0661\u0667\u0666\u0664" * 3 + '"')
    ),
    "timestamp-fullwidth-digits": lambda inst: _raw_envelope(
        inst, _upsert_json(messageTimestamp='"\uff11\uff17\uff16\uff14\uff11\uff15"')
    ),
    "timestamp-5000-unicode-digits": lambda inst: _raw_envelope(
        inst, _upsert_json(messageTimestamp='"' + "\u0663" * 5000 + '"')
    ),
    "timestamp-1e1000000": lambda inst: _raw_envelope(
        inst, _upsert_json(messageTimestamp="1e1000000")
    ),
    "number-1e1000000-elsewhere": lambda inst: _raw_envelope(
        inst, _upsert_json(contextInfo='{"x": [1, {"y": 1e1000000}]}')
    ),
    "number-minus-1e1000000": lambda inst: _raw_envelope(
        inst, _upsert_json(instanceId="-1E+1000000")
    ),
    "number-1e-1000000": lambda inst: _raw_envelope(inst, _upsert_json(instanceId="1e-1000000")),
    "number-5000-digit-int": lambda inst: _raw_envelope(
        inst, _upsert_json(contextInfo="1" + "0" * 5000)
    ),
    "number-5000-digit-fraction": lambda inst: _raw_envelope(
        inst, _upsert_json(contextInfo="0." + "0" * 5000 + "1")
    ),
    "top-level-1e1000000": lambda inst: (
        b'{"event":"messages.upsert","instance":"'
        + inst.gateway_name.encode()
        + b'","data":{},"x":1e1000000}'
    ),
    "nan-literal": lambda inst: _raw_envelope(inst, _upsert_json(instanceId="NaN")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_bodies_are_4xx_and_store_nothing(
    case: str, client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    inst, secret = await _instance(tenant_a)
    body = HOSTILE[case](inst)
    before = _counts(bootstrap_conninfo, tenant_a.tenant_id)
    r = await _post(client, inst, body, token=_token(secret))
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    assert _counts(bootstrap_conninfo, tenant_a.tenant_id) == before


async def test_bounds_do_not_refuse_ordinary_values(
    client: httpx.AsyncClient, tenant_a: TenantFixture, bootstrap_conninfo: str
) -> None:
    """The bounds are far from real payloads: string timestamps, floats, nested replies."""
    inst, secret = await _instance(tenant_a)
    data = _upsert("ORD-1", "Oi")
    data["messageTimestamp"] = "1764151200"
    data["contextInfo"] = {"quotedMessage": {"conversation": "x"}, "expiration": 604800.0}
    data["message"]["messageContextInfo"] = {"deviceListMetadata": {"a": [1, 2.5e-3, {"b": []}]}}
    r = await _post(client, inst, _envelope(inst, "messages.upsert", data), token=_token(secret))
    assert r.status_code == 200, r.text
    with psycopg.connect(bootstrap_conninfo) as conn:
        row = conn.execute(
            "select text, extract(epoch from provider_timestamp)::bigint from messages "
            "where tenant_id = %s and provider_message_id = 'ORD-1'",
            (tenant_a.tenant_id,),
        ).fetchone()
    assert row == ("Oi", 1764151200)


# --- generated: valid events with hostile values planted anywhere --------------------------

HUGE_LITERALS = st.sampled_from(
    [
        "1e1000000",
        "-1e1000000",
        "1E+400000",
        "1e-1000000",
        "9" * 5000,
        "-" + "1" * 4500,
        "0." + "0" * 3000 + "1",
        "1" + "0" * 400 + ".5",
        "NaN",
        "Infinity",
        "-Infinity",
    ]
)
NON_ASCII_DIGITS = st.text(
    alphabet=st.characters(categories=["Nd"], exclude_characters="0123456789"),
    min_size=1,
    max_size=5000,
).map(lambda s: json.dumps(s))
LONG_ASCII_DIGITS = st.integers(16, 6000).map(lambda k: '"' + "7" * k + '"')
DEPTHS = st.integers(n.MAX_DEPTH + 1, 20_000)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str]:
    """(what, raw JSON text of a hostile value)."""
    kind = draw(st.sampled_from(["deep-list", "deep-object", "huge", "digits", "long-digits"]))
    if kind == "deep-list":
        d = draw(DEPTHS)
        return kind, "[" * d + "]" * d
    if kind == "deep-object":
        d = draw(DEPTHS)
        return kind, '{"k":' * d + "0" + "}" * d
    if kind == "huge":
        return kind, draw(HUGE_LITERALS)
    if kind == "digits":
        return kind, draw(NON_ASCII_DIGITS)
    return kind, draw(LONG_ASCII_DIGITS)


def _plant(doc: Any, path: list[int], marker: str) -> Any:
    """Replace one value of ``doc``, chosen by ``path``, with ``marker``."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return marker
    if isinstance(doc, dict):
        keys = sorted(doc)
        key = keys[path[0] % len(keys)]
        return {**doc, key: _plant(doc[key], path[1:], marker)}
    i = path[0] % len(doc)
    return [*doc[:i], _plant(doc[i], path[1:], marker), *doc[i + 1 :]]


EVENTS = st.sampled_from(
    ["messages.upsert", "send.message", "messages.update", "messages.edited", "connection.update"]
)


@pytest.fixture(scope="module")
async def hostile_instance(database: Any) -> tuple[Instance, str, TenantFixture]:
    t = await make_tenant()
    inst, secret = await _instance(t)
    return inst, secret, t


# Kinds no JSON body may carry (refused while parsing); digit strings are valid JSON and
# refused only where a number is read from them (``messageTimestamp``).
UNPARSEABLE = ("deep-list", "deep-object", "huge")


async def _check_hostile(
    client: httpx.AsyncClient,
    conninfo: str,
    inst: Instance,
    secret: str,
    t: TenantFixture,
    body: bytes,
    *,
    must_refuse: bool,
) -> None:
    before = _counts(conninfo, t.tenant_id)
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code < 500, (r.status_code, body[:200], r.text[:300])
    if must_refuse:
        assert 400 <= r.status_code < 500, (r.status_code, body[:200])
    if r.status_code >= 400:
        assert _counts(conninfo, t.tenant_id) == before  # nothing stored


@settings(
    max_examples=int(os.environ.get("MIRAGE_WEBHOOK_FUZZ", "1500")) // 5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@given(
    event=EVENTS,
    value=planted(),
    path=st.lists(st.integers(0, 50), min_size=0, max_size=6),
    ts=st.booleans(),
)
async def test_generated_hostile_values_anywhere_are_4xx_never_5xx(
    client: httpx.AsyncClient,
    hostile_instance: tuple[Instance, str, TenantFixture],
    bootstrap_conninfo: str,
    event: str,
    value: tuple[str, str],
    path: list[int],
    ts: bool,
) -> None:
    inst, secret, t = hostile_instance
    doc = json.loads(_envelope(inst, event, _upsert(f"G-{uuid.uuid4().hex[:12]}")))
    marker = "__HOSTILE__"
    at_timestamp = ts and value[0] in ("digits", "long-digits", "huge")
    if at_timestamp:
        doc["data"]["messageTimestamp"] = marker  # the field the probe aimed at
    else:
        doc["data"] = _plant(doc["data"], path, marker)
    body = json.dumps(doc).replace(f'"{marker}"', value[1]).encode()
    must_refuse = value[0] in UNPARSEABLE or (
        at_timestamp and event in ("messages.upsert", "send.message")
    )
    await _check_hostile(client, bootstrap_conninfo, inst, secret, t, body, must_refuse=must_refuse)


# --- schemathesis over a description of the receiver ---------------------------------------

RECEIVER_SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Mirage webhook receiver", "version": "1"},
    "paths": {
        "/webhooks/evolution/{instance_id}": {
            "post": {
                "parameters": [
                    {
                        "name": "instance_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["event", "instance", "data"],
                                "properties": {
                                    "event": {
                                        "type": "string",
                                        "enum": [*sorted(n.HANDLED), "contacts.update"],
                                    },
                                    "instance": {"type": "string"},
                                    "apikey": {"type": "string", "nullable": True},
                                    "date_time": {"type": "string"},
                                    "data": {
                                        "type": "object",
                                        "properties": {
                                            "key": {
                                                "type": "object",
                                                "required": ["remoteJid", "id"],
                                                "properties": {
                                                    "remoteJid": {"type": "string"},
                                                    "id": {"type": "string"},
                                                    "fromMe": {"type": "boolean"},
                                                },
                                            },
                                            "pushName": {"type": "string"},
                                            "status": {"type": "string"},
                                            "message": {"type": "object"},
                                            "messageType": {"type": "string"},
                                            "messageTimestamp": {
                                                "oneOf": [
                                                    {"type": "integer"},
                                                    {"type": "string"},
                                                    {"type": "number"},
                                                ]
                                            },
                                            "keyId": {"type": "string"},
                                            "remoteJid": {"type": "string"},
                                            "state": {"type": "string"},
                                            "statusReason": {"type": "integer"},
                                            "type": {"type": "integer"},
                                            "editedMessage": {"type": "object"},
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "stored"},
                    "401": {"description": "not authenticated"},
                    "422": {"description": "not parseable"},
                },
            }
        }
    },
}
_OPERATION = schemathesis.openapi.from_dict(RECEIVER_SCHEMA)["/webhooks/evolution/{instance_id}"][
    "POST"
]
_MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
CASES = st.one_of(*(_OPERATION.as_strategy(generation_mode=m) for m in _MODES))


@settings(
    max_examples=int(os.environ.get("MIRAGE_WEBHOOK_FUZZ", "1500")) // 5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@given(
    case=CASES,
    right_instance=st.booleans(),
    value=st.none() | planted(),
    path=st.lists(st.integers(0, 50), max_size=5),
)
async def test_schemathesis_generated_bodies_never_5xx_and_4xx_store_nothing(
    client: httpx.AsyncClient,
    hostile_instance: tuple[Instance, str, TenantFixture],
    bootstrap_conninfo: str,
    case: Any,
    right_instance: bool,
    value: tuple[str, str] | None,
    path: list[int],
) -> None:
    inst, secret, t = hostile_instance
    doc = case.body
    if right_instance and isinstance(doc, dict):
        doc["instance"] = inst.gateway_name
    marker = "__HOSTILE__"
    if value is not None:
        doc = _plant(doc, path, marker)
    try:
        text = json.dumps(doc)
    except (TypeError, ValueError):
        return  # not representable as JSON at all (schemathesis may produce such bodies)
    body = (text.replace(f'"{marker}"', value[1]) if value is not None else text).encode()
    if value is not None:
        await _check_hostile(
            client, bootstrap_conninfo, inst, secret, t, body, must_refuse=value[0] in UNPARSEABLE
        )
        return
    before = _counts(bootstrap_conninfo, t.tenant_id)
    r = await _post(client, inst, body, token=_token(secret))
    assert r.status_code in (200, 422), (r.status_code, body[:300], r.text[:300])
    if r.status_code == 422:
        assert _counts(bootstrap_conninfo, t.tenant_id) == before


# --- every string field of every handled event, with strings that break bounded columns ---

HOSTILE_STRINGS = [
    "",
    " " * 10,
    "x" * 200,
    "9" * 5000,
    "\u0663" * 200,  # Arabic-Indic digits
    "\u0130" * 40,  # "İ": lower() doubles its length
    "\u00df" * 41,  # "ß": upper() doubles its length
    "\ufb03" * 30,  # "ﬃ": upper() triples it
    "\U0001f338" * 130,  # astral characters
    "a\u0301" * 100,  # combining marks
    "\u202eevil",  # right-to-left override
    "5511999990000@s.whatsapp.net" * 5,
    # Just past the usual column sizes (16, 32, 40, 64, 80, 120, 128), as text and as JIDs.
    *("x" * k for k in (17, 33, 41, 65, 81, 121, 129)),
    *("5" * k + "@s.whatsapp.net" for k in (20, 40, 70, 100)),
    "\u0663" * 40 + "@s.whatsapp.net",
]

TEMPLATES: dict[str, dict[str, Any]] = {
    "messages.upsert": {
        "key": {
            "remoteJid": "5511988887777@s.whatsapp.net",
            "fromMe": False,
            "id": "T-1",
            "participant": "5511988887777@s.whatsapp.net",
            "remoteJidAlt": "5511988887777@s.whatsapp.net",
            "senderPn": "5511988887777@s.whatsapp.net",
        },
        "pushName": "Ana",
        "status": "DELIVERY_ACK",
        "message": {
            "conversation": "Oi",
            "extendedTextMessage": {"text": "Oi"},
            "imageMessage": {"caption": "foto"},
        },
        "messageType": "conversation",
        "messageTimestamp": "1764151200",
        "instanceId": "x",
        "source": "android",
    },
    "messages.update": {
        "keyId": "T-1",
        "remoteJid": "5511988887777@s.whatsapp.net",
        "fromMe": True,
        "participant": "5511988887777@s.whatsapp.net",
        "status": "READ",
        "instanceId": "x",
    },
    "messages.edited": {
        "key": {"remoteJid": "5511988887777@s.whatsapp.net", "fromMe": False, "id": "T-1"},
        "type": "MESSAGE_EDIT",
        "editedMessage": {"conversation": "novo"},
        "timestampMs": "1764151300000",
    },
    "connection.update": {
        "instance": "x",
        "wuid": "5511999990000@s.whatsapp.net",
        "profileName": "Acme",
        "profilePictureUrl": "https://pps.whatsapp.net/x",
        "state": "connecting",
        "statusReason": 200,
    },
    "qrcode.updated": {
        "qrcode": {"instance": "x", "pairingCode": "ABCD1234", "code": "2@x", "base64": "data:x"}
    },
}
TEMPLATES["send.message"] = TEMPLATES["messages.upsert"]
ENVELOPE_FIELDS = ["event", "destination", "date_time", "sender", "server_url", "apikey"]


def _string_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _string_paths(v, (*prefix, k))]
    return [prefix] if isinstance(node, str) else []


def _with(doc: Any, path: tuple[str, ...], value: str) -> Any:
    if not path:
        return value
    return {**doc, path[0]: _with(doc[path[0]], path[1:], value)}


FIELD_CASES = [
    (event, ("data", *path))
    for event, template in sorted(TEMPLATES.items())
    for path in _string_paths(template)
] + [("messages.upsert", (field,)) for field in ENVELOPE_FIELDS]


@pytest.mark.parametrize(
    "event,path", FIELD_CASES, ids=[f"{e}:{'.'.join(p)}" for e, p in FIELD_CASES]
)
async def test_hostile_strings_in_every_field_never_5xx(
    event: str,
    path: tuple[str, ...],
    client: httpx.AsyncClient,
    hostile_instance: tuple[Instance, str, TenantFixture],
    bootstrap_conninfo: str,
) -> None:
    """A new field written to a bounded column is covered: each string leaf of each handled
    event gets strings that overflow, change length with case, or are not ASCII."""
    inst, secret, t = hostile_instance
    for value in HOSTILE_STRINGS:
        doc = json.loads(_envelope(inst, event, TEMPLATES[event]))
        doc = _with(doc, path, value)
        body = json.dumps(doc, ensure_ascii=False).encode()
        before = _counts(bootstrap_conninfo, t.tenant_id)
        r = await _post(client, inst, body, token=_token(secret))
        assert r.status_code < 500, (path, value[:40], r.text[:300])
        if r.status_code >= 400:
            assert _counts(bootstrap_conninfo, t.tenant_id) == before


@pytest.mark.parametrize("value", HOSTILE_STRINGS[1:])
async def test_hostile_url_suffixes_never_5xx(
    value: str, client: httpx.AsyncClient, hostile_instance: tuple[Instance, str, TenantFixture]
) -> None:
    inst, secret, _ = hostile_instance
    body = _envelope(inst, "messages.upsert", _upsert(f"S-{uuid.uuid4().hex[:8]}"))
    from urllib.parse import quote

    r = await _post(client, inst, body, token=_token(secret), suffix="/" + quote(value[:2000]))
    assert r.status_code < 500, (value[:40], r.text[:300])
