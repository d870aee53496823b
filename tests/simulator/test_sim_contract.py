"""Contract tests: the simulator answers and emits exactly the shapes that
/work/shared/reference/evolution-api.md documents, field by field.

The reference examples are transcribed below (``…`` placeholders become sample values of the
right type). ``assert_shape`` checks names, nesting and JSON types, and refuses fields the
reference does not know, so the simulator cannot drift into a private dialect.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mirage.simulator.testing import SimulatorHarness

# --------------------------------------------------------------------------- reference examples

# §3.1 create → 201
CREATE_RESPONSE = {
    "instance": {
        "instanceName": "sales-01",
        "instanceId": "6f1c-uuid",
        "integration": "WHATSAPP-BAILEYS",
        "webhookWaBusiness": None,
        "accessTokenWaBusiness": "",
        "status": "connecting",
    },
    "hash": "my-instance-secret",
    "webhook": {
        "webhookUrl": "https://hooks.example.com/evo",
        "webhookHeaders": {"x-evo-secret": "s3cr3t"},
        "webhookByEvents": False,
        "webhookBase64": False,
    },
    "websocket": {},
    "rabbitmq": {},
    "nats": {},
    "sqs": {},
    "settings": {
        "rejectCall": False,
        "msgCall": "",
        "groupsIgnore": False,
        "alwaysOnline": False,
        "readMessages": False,
        "readStatus": False,
        "syncFullHistory": False,
        "wavoipToken": "",
    },
    "qrcode": {
        "pairingCode": None,
        "code": "2@AbC",
        "base64": "data:image/png;base64,iVBOR",
        "count": 1,
    },
}
# §3.1 connect on close/connecting → the QR object; on open → the state object
CONNECT_QR = {
    "pairingCode": "ABCD1234",
    "code": "2@raw",
    "base64": "data:image/png;base64,i",
    "count": 3,
}
CONNECT_OPEN = {"instance": {"instanceName": "sales-01", "state": "open"}}
# §3.1 fetchInstances → array of Prisma rows (which also include Chatwoot, Proxy, …)
FETCH_ROW = {
    "id": "6f1c",
    "name": "sales-01",
    "connectionStatus": "open",
    "ownerJid": "5511999999999@s.whatsapp.net",
    "profileName": "Acme",
    "integration": "WHATSAPP-BAILEYS",
    "token": "my-instance-secret",
    "disconnectionReasonCode": None,
    "disconnectionAt": None,
    "createdAt": "2025-10-21T11:40:39.123Z",
    "Setting": {},
    "_count": {"Message": 10, "Contact": 3, "Chat": 2},
}
FETCH_ROW_DOCUMENTED_EXTRAS = {
    # other Prisma ``Instance`` columns and the relations the reference lists
    "profilePicUrl",
    "number",
    "businessId",
    "clientName",
    "disconnectionObject",
    "updatedAt",
    "Chatwoot",
    "Proxy",
    "Rabbitmq",
    "Nats",
    "Sqs",
    "Websocket",
}
# §3.1 logout / delete
LOGOUT_RESPONSE = {
    "status": "SUCCESS",
    "error": False,
    "response": {"message": "Instance logged out"},
}
DELETE_RESPONSE = {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
# §3.2 sendText → 201, the stored message record
SEND_TEXT_RESPONSE = {
    "key": {
        "remoteJid": "5511999999999@s.whatsapp.net",
        "fromMe": True,
        "id": "3EB08EE80DB4E276AFE8",
    },
    "pushName": "Você",
    "status": "PENDING",
    "message": {"conversation": "Hello!"},
    "contextInfo": {"mentionedJid": [], "groupMentions": [], "disappearingMode": {"initiator": 0}},
    "messageType": "conversation",
    "messageTimestamp": 1757464274,
    "instanceId": "6f1c",
    "source": "unknown",
}
# §3.2 whatsappNumbers → 200
WHATSAPP_NUMBERS_ITEM = {
    "jid": "5511999999999@s.whatsapp.net",
    "exists": True,
    "number": "5511999999999",
    "name": "Ana",
    "lid": "lid",
}
# §3.3 webhook set/find → the stored row
WEBHOOK_ROW = {
    "id": "clx",
    "url": "https://hooks.example.com/evo",
    "headers": {"jwt_key": "k"},
    "enabled": True,
    "events": ["MESSAGES_UPSERT"],
    "webhookByEvents": False,
    "webhookBase64": False,
    "createdAt": "2025-10-21T11:40:39.123Z",
    "updatedAt": "2025-10-21T11:40:39.123Z",
    "instanceId": "6f1c",
}
# §5.1 webhook envelope
ENVELOPE = {
    "event": "messages.upsert",
    "instance": "sales-01",
    "data": {},
    "destination": "https://hooks.example.com/evo",
    "date_time": "2025-10-21T11:40:39.123Z",
    "sender": "5511999999999@s.whatsapp.net",
    "server_url": "https://evo.example.com",
    "apikey": "my-instance-secret",
}
# §5.5 payloads
QRCODE_UPDATED = {
    "qrcode": {
        "instance": "sales-01",
        "pairingCode": None,
        "code": "2@AbC",
        "base64": "data:image/png;base64,i",
    }
}
QRCODE_LIMIT = {"message": "QR code limit reached, please login again", "statusCode": 500}
CONNECTION_CONNECTING = {"instance": "sales-01", "state": "connecting", "statusReason": 200}
CONNECTION_OPEN = {
    "instance": "sales-01",
    "wuid": "5511999999999@s.whatsapp.net",
    "profileName": "Acme",
    "profilePictureUrl": "https://pps.whatsapp.net/x",
    "state": "open",
    "statusReason": 200,
}
CONNECTION_CLOSE = {"instance": "sales-01", "state": "close", "statusReason": 401}
CONNECTION_REFUSED = {"instance": "sales-01", "state": "refused", "statusReason": 428}
MESSAGES_UPSERT = {
    "key": {
        "remoteJid": "5511988887777@s.whatsapp.net",
        "fromMe": False,
        "id": "3A554E20ECABF3D45BB2",
        "participant": "(groups only)",
        "remoteJidAlt": "(if addressing by LID)",
        "addressingMode": "pn",
    },
    "pushName": "Ana",
    "status": "DELIVERY_ACK",
    "message": {"conversation": "Oi, tudo bem?", "messageContextInfo": {}},
    "contextInfo": None,
    "messageType": "conversation",
    "messageTimestamp": 1757464274,
    "instanceId": "6f1c",
    "source": "android",
}
UPSERT_OPTIONAL = {"$.key.participant", "$.key.remoteJidAlt", "$.message.messageContextInfo"}
MESSAGES_UPDATE = {
    "keyId": "3EB08EE80DB4E276AFE8",
    "remoteJid": "5511999999999@s.whatsapp.net",
    "fromMe": True,
    "participant": None,
    "status": "DELIVERY_ACK",
    "instanceId": "6f1c",
    "messageId": "clx",
}
STATUS_INSTANCE = {
    "instance": "sales-01",
    "status": "closed",
    "disconnectionAt": "2025-10-21T11:40:39.123Z",
    "disconnectionReasonCode": 401,
    "disconnectionObject": "{}",
}
INSTANCE_CREATE_DELETE = {"instanceName": "sales-01", "instanceId": "6f1c"}
PRESENCE_UPDATE = {"id": "5511@s.whatsapp.net", "presences": {}}

DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MESSAGE_STATUSES = {"ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED"}


def assert_shape(
    actual: Any,
    example: Any,
    path: str = "$",
    *,
    optional: set[str] | frozenset[str] = frozenset(),
    extras: dict[str, set[str]] | None = None,
) -> None:
    """Same field names, nesting and JSON types as ``example``.

    A ``None`` in the example is a nullable scalar; ``{}`` is an object whose members the
    reference does not detail; a list's first element is the shape of every element.
    """
    extras = extras or {}
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        if not example:
            return
        missing = set(example) - set(actual) - {k for k in example if f"{path}.{k}" in optional}
        assert not missing, f"{path}: missing {sorted(missing)} in {actual!r}"
        unknown = set(actual) - set(example) - extras.get(path, set())
        assert not unknown, f"{path}: fields the reference does not have: {sorted(unknown)}"
        for key, sub in example.items():
            if key in actual:
                assert_shape(actual[key], sub, f"{path}.{key}", optional=optional, extras=extras)
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        if example:
            for i, item in enumerate(actual):
                assert_shape(item, example[0], f"{path}[{i}]", optional=optional, extras=extras)
    elif example is None:
        assert actual is None or isinstance(actual, str | int), f"{path}: {actual!r}"
    elif isinstance(example, bool):
        assert isinstance(actual, bool), f"{path}: expected a boolean, got {actual!r}"
    elif isinstance(example, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{path}: {actual!r}"
    elif isinstance(example, str):
        assert isinstance(actual, str), f"{path}: expected a string, got {actual!r}"


def envelope_of(status: int, error: str, message: Any) -> dict[str, Any]:
    return {"status": status, "error": error, "response": {"message": message}}


# --------------------------------------------------------------------------- instance lifecycle


async def test_create_response_matches_reference(sim: SimulatorHarness) -> None:
    body = {
        "instanceName": "sales-01",
        "integration": "WHATSAPP-BAILEYS",
        "token": "my-instance-secret",
        "qrcode": True,
        "webhook": {
            "url": sim.hook_url("sales-01"),
            "byEvents": False,
            "base64": False,
            "headers": {"x-evo-secret": "s3cr3t"},
            "events": ["QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPSERT"],
        },
    }
    resp = await sim.http.post("/instance/create", json=body)
    assert resp.status_code == 201
    data = resp.json()
    assert_shape(data, CREATE_RESPONSE)
    assert data["hash"] == "my-instance-secret"
    assert data["instance"]["status"] == "connecting"
    assert data["webhook"]["webhookHeaders"] == {"x-evo-secret": "s3cr3t"}
    assert data["qrcode"]["count"] == 1
    assert data["qrcode"]["base64"].startswith("data:image/png;base64,")

    # qrcode:false → status "close" and no ``qrcode`` member; no token → upper-case UUID.
    resp = await sim.http.post(
        "/instance/create", json={"instanceName": "b", "integration": "WHATSAPP-BAILEYS"}
    )
    assert resp.status_code == 201
    data = resp.json()
    assert data["instance"]["status"] == "close"
    assert "qrcode" not in data
    assert data["webhook"] == {}
    assert re.fullmatch(
        r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}", data["hash"]
    )


async def test_connect_state_fetch_logout_delete_match_reference(sim: SimulatorHarness) -> None:
    await sim.create("sales-01")
    resp = await sim.http.get("/instance/connect/sales-01", params={"number": "5511999999999"})
    assert resp.status_code == 200
    assert_shape(resp.json(), CONNECT_QR)
    assert re.fullmatch(r"[1-9A-Z]{8}", resp.json()["pairingCode"])

    resp = await sim.http.get("/instance/connectionState/sales-01")
    assert resp.status_code == 200
    assert resp.json() == {"instance": {"instanceName": "sales-01", "state": "connecting"}}

    await sim.control.scan("sales-01", profile_name="Acme")
    resp = await sim.http.get("/instance/connect/sales-01")
    assert resp.status_code == 200
    assert resp.json() == CONNECT_OPEN

    resp = await sim.http.get("/instance/fetchInstances")
    assert resp.status_code == 200
    rows = resp.json()
    assert isinstance(rows, list) and len(rows) == 1
    assert_shape(rows[0], FETCH_ROW, extras={"$": FETCH_ROW_DOCUMENTED_EXTRAS})
    assert rows[0]["connectionStatus"] == "open"
    assert rows[0]["ownerJid"] == "5511999999999@s.whatsapp.net"  # the pairing number
    assert rows[0]["profileName"] == "Acme"

    resp = await sim.http.delete("/instance/logout/sales-01")
    assert (resp.status_code, resp.json()) == (200, LOGOUT_RESPONSE)
    resp = await sim.http.delete("/instance/delete/sales-01")
    assert (resp.status_code, resp.json()) == (200, DELETE_RESPONSE)


async def test_restart_and_presence_match_reference(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    resp = await sim.http.post("/instance/restart/a")
    assert resp.status_code == 200
    assert_shape(resp.json(), CONNECT_OPEN)
    resp = await sim.http.post("/instance/setPresence/a", json={"presence": "available"})
    assert (resp.status_code, resp.json()) == (201, {"presence": "available"})
    await sim.create("closed")
    resp = await sim.http.post("/instance/restart/closed")
    # Evolution catches its own BadRequest here and answers 200 (reference §3.1).
    assert (resp.status_code, resp.json()) == (200, {"error": True, "message": "[object Object]"})


# --------------------------------------------------------------------------- messaging


async def test_send_text_and_chat_endpoints_match_reference(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b", profile_name="Ana")
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": b["number"], "text": "Hello!"}
    )
    assert resp.status_code == 201
    record = resp.json()
    assert_shape(record, SEND_TEXT_RESPONSE)
    assert record["key"] == {"remoteJid": b["wuid"], "fromMe": True, "id": record["key"]["id"]}
    for field in ("pushName", "status", "messageType", "source", "message", "contextInfo"):
        assert record[field] == SEND_TEXT_RESPONSE[field]

    resp = await sim.http.post(
        "/chat/sendPresence/a", json={"number": b["number"], "presence": "composing", "delay": 10}
    )
    assert (resp.status_code, resp.json()) == (201, {"presence": "composing"})

    resp = await sim.http.post("/chat/whatsappNumbers/a", json={"numbers": [b["number"], "123"]})
    assert resp.status_code == 200
    items = resp.json()
    for item in items:
        assert_shape(item, WHATSAPP_NUMBERS_ITEM, optional={"$.name", "$.lid"})
    assert items[0] == {"jid": b["wuid"], "exists": True, "number": b["number"], "name": "Ana"}
    assert items[1]["exists"] is False

    resp = await sim.http.post(
        "/chat/markMessageAsRead/b",
        json={"readMessages": [{"remoteJid": "x@s.whatsapp.net", "fromMe": False, "id": "1"}]},
    )
    assert (resp.status_code, resp.json()) == (201, {"message": "Read messages", "read": "success"})


async def test_webhook_set_and_find_match_reference(sim: SimulatorHarness) -> None:
    await sim.create("a")
    body = {
        "webhook": {
            "enabled": True,
            "url": sim.hook_url("a"),
            "headers": {"jwt_key": "k"},
            "byEvents": False,
            "base64": False,
            "events": ["MESSAGES_UPSERT"],
        }
    }
    resp = await sim.http.post("/webhook/set/a", json=body)
    assert resp.status_code == 201
    assert_shape(resp.json(), WEBHOOK_ROW)
    found = await sim.http.get("/webhook/find/a")
    assert found.status_code == 200 and found.json() == resp.json()
    # enabled:true without ``events`` crashes Evolution with a 500 (reference §3.3)
    body["webhook"].pop("events")
    resp = await sim.http.post("/webhook/set/a", json=body)
    assert resp.status_code == 500


# --------------------------------------------------------------------------- error catalogue (§4)


async def test_error_catalogue_matches_reference(sim: SimulatorHarness) -> None:
    bad = {"apikey": "wrong"}
    resp = await sim.http.get("/instance/connectionState/ghost", headers=bad)
    # 404 before authentication
    assert resp.status_code == 404
    assert resp.json() == envelope_of(404, "Not Found", ['The "ghost" instance does not exist'])

    await sim.create("x")
    resp = await sim.http.get("/instance/connectionState/x", headers=bad)
    assert resp.status_code == 401
    assert resp.json() == envelope_of(401, "Unauthorized", "Unauthorized")  # a string, not a list
    resp = await sim.http.get("/instance/connectionState/x", headers={"apikey": ""})
    assert resp.status_code == 401

    resp = await sim.http.post(
        "/instance/create",
        headers=bad,
        json={"instanceName": "x", "integration": "WHATSAPP-BAILEYS"},
    )
    # duplicate name: 403 before authentication
    assert resp.status_code == 403
    assert resp.json() == envelope_of(403, "Forbidden", ['This name "x" is already in use.'])

    resp = await sim.http.post("/instance/create", json={"instanceName": "y"})
    assert resp.json() == envelope_of(400, "Bad Request", ["Invalid integration"])
    resp = await sim.http.post(
        "/instance/create",
        json={
            "instanceName": "y",
            "integration": "WHATSAPP-BAILEYS",
            "webhook": {"url": "http://h"},
        },
    )
    assert resp.status_code == 400  # webhook without ``events``
    assert (await sim.http.get("/instance/connectionState/y")).status_code == 404  # rolled back

    resp = await sim.http.post("/message/sendText/x", json={"number": "5511999999999"})
    assert resp.json() == envelope_of(400, "Bad Request", ['instance requires property "text"'])
    resp = await sim.http.post("/message/sendText/x", json={"number": 5511, "text": "a"})
    assert resp.json() == envelope_of(400, "Bad Request", ["Invalid format"])

    # sending on a closed socket
    resp = await sim.http.post("/message/sendText/x", json={"number": "5511999999999", "text": "a"})
    assert resp.status_code == 500
    assert resp.json() == envelope_of(500, "Internal Server Error", ["Error: Connection Closed"])

    resp = await sim.http.delete("/instance/logout/x")
    assert resp.json() == envelope_of(400, "Bad Request", ['The "x" instance is not connected'])

    resp = await sim.http.post("/foo")
    assert resp.json() == envelope_of(404, "Not Found", ["Cannot POST /foo"])

    a = await sim.pair("a")
    resp = await sim.http.post("/message/sendText/a", json={"number": "123", "text": "a"})
    assert resp.status_code == 400
    assert resp.json() == envelope_of(
        400, "Bad Request", [{"jid": "123@s.whatsapp.net", "exists": False, "number": "123"}]
    )
    resp = await sim.http.post("/message/sendText/a", json={"number": a["number"], "text": "  "})
    assert resp.json() == envelope_of(400, "Bad Request", ["Text is required"])


async def test_instance_token_scope(sim: SimulatorHarness) -> None:
    a = await sim.create("a", token="token-a")
    await sim.create("b", token="token-b")
    assert a["hash"] == "token-a"
    own = {"apikey": "token-a"}
    assert (await sim.http.get("/instance/connectionState/a", headers=own)).status_code == 200
    assert (await sim.http.get("/instance/connectionState/b", headers=own)).status_code == 401
    rows = (await sim.http.get("/instance/fetchInstances", headers=own)).json()
    assert [r["name"] for r in rows] == ["a"]
    resp = await sim.http.get("/instance/fetchInstances", headers={"apikey": "nobody"})
    assert resp.status_code == 401
    resp = await sim.http.get("/instance/fetchInstances", params={"instanceName": "zz"})
    assert resp.status_code == 404
    resp = await sim.http.post(
        "/instance/create",
        headers=own,
        json={"instanceName": "c", "integration": "WHATSAPP-BAILEYS"},
    )
    assert resp.status_code == 401  # only the global key creates


# --------------------------------------------------------------------------- webhooks (§5)


async def test_webhook_envelopes_and_payloads_match_reference(sim: SimulatorHarness) -> None:
    created = await sim.create("sales-01", qrcode=True)
    await sim.recorder.wait_event("sales-01", "qrcode.updated")
    view = await sim.control.scan("sales-01", profile_name="Acme")
    await sim.recorder.wait_event("sales-01", "connection.update", lambda d: d["state"] == "open")
    await sim.pair("b")
    await sim.http.post(
        "/message/sendText/sales-01",
        json={"number": (await sim.control.instance("b"))["number"], "text": "Oi"},
    )
    await sim.recorder.wait_event("sales-01", "messages.update", lambda d: d["status"] == "READ")
    await sim.recorder.wait_event("b", "messages.upsert")
    await sim.control.disconnect("sales-01", 401)
    await sim.recorder.wait_event("sales-01", "connection.update", lambda d: d["state"] == "close")
    await sim.http.delete("/instance/delete/sales-01")
    await sim.recorder.wait_event("sales-01", "remove.instance")

    deliveries = sim.recorder.accepted(instance="sales-01")
    for d in deliveries:
        body = d.body
        # ``sender`` is checked separately: absent before the first open
        assert_shape(body, ENVELOPE | {"data": body["data"]}, optional={"$.sender"})
        assert body["event"] == body["event"].lower() and "_" not in body["event"]
        assert body["destination"] == sim.hook_url("sales-01")
        assert DATE_TIME.match(body["date_time"])
        assert body["server_url"] == sim.url
        assert body["apikey"] == created["hash"]
        assert d.path == "/hooks/sales-01"
        assert d.headers["content-type"] == "application/json"
    # ``sender`` is absent until the first open, present afterwards (§5.1)
    first_qr = next(d for d in deliveries if d.event == "qrcode.updated")
    assert "sender" not in first_qr.body
    last = deliveries[-1]
    assert last.body["sender"] == view["wuid"]

    def payloads(event: str) -> list[Any]:
        return [d.data for d in deliveries if d.event == event]

    for data in payloads("qrcode.updated"):
        assert_shape(data, QRCODE_UPDATED)
    states = {d["state"]: d for d in payloads("connection.update")}
    assert_shape(states["connecting"], CONNECTION_CONNECTING)
    assert_shape(states["open"], CONNECTION_OPEN)
    assert states["open"]["wuid"] == view["wuid"] and states["open"]["profileName"] == "Acme"
    assert_shape(states["close"], CONNECTION_CLOSE)
    assert states["close"]["statusReason"] == 401
    (sent,) = payloads("send.message")
    assert_shape(sent, SEND_TEXT_RESPONSE)
    assert sent["status"] == "PENDING" and sent["pushName"] == "Você"
    updates = payloads("messages.update")
    assert {u["status"] for u in updates} == {"SERVER_ACK", "DELIVERY_ACK", "READ"}
    for update in updates:
        assert_shape(update, MESSAGES_UPDATE)
        assert update["keyId"] == sent["key"]["id"] and update["status"] in MESSAGE_STATUSES
    (status,) = payloads("status.instance")
    assert_shape(status, STATUS_INSTANCE)
    assert payloads("logout.instance") == [None]
    assert payloads("remove.instance") == [None]
    for data in payloads("instance.create") + payloads("instance.delete"):
        assert_shape(data, INSTANCE_CREATE_DELETE)

    (upsert,) = [d.data for d in sim.recorder.accepted(instance="b", event="messages.upsert")]
    assert_shape(upsert, MESSAGES_UPSERT, optional=UPSERT_OPTIONAL)
    assert upsert["key"]["fromMe"] is False and upsert["message"]["conversation"] == "Oi"
    assert upsert["source"] in {"android", "ios", "web", "desktop", "unknown"}


async def test_refused_and_presence_payloads(sim: SimulatorHarness) -> None:
    await sim.reset(qrIntervalS=0.05, qrLimit=2)
    await sim.create("q", qrcode=True)
    limit = await sim.recorder.wait_event("q", "qrcode.updated", lambda d: "message" in d)
    assert limit.data == QRCODE_LIMIT
    refused = await sim.recorder.wait_event(
        "q", "connection.update", lambda d: d["state"] == "refused"
    )
    assert_shape(refused.data, CONNECTION_REFUSED)

    # Back to the usual QR timing: a 2-code, 50 ms limit would refuse the next pairings
    # whenever the machine is slower than 100 ms between connect and scan.
    await sim.reset()
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.http.post(
        "/chat/sendPresence/a", json={"number": b["number"], "presence": "composing", "delay": 0}
    )
    presence = await sim.recorder.wait_event("b", "presence.update")
    assert_shape(presence.data, PRESENCE_UPDATE)
    jid = presence.data["id"]
    assert presence.data["presences"] == {jid: {"lastKnownPresence": "composing"}}


@pytest.mark.parametrize("by_events", [False, True])
async def test_event_filter_and_by_events_suffix(sim: SimulatorHarness, by_events: bool) -> None:
    await sim.create("a", events=["CONNECTION_UPDATE"], by_events=by_events)
    await sim.http.get("/instance/connect/a")
    await sim.control.scan("a")
    await sim.recorder.wait_event("a", "connection.update", lambda d: d["state"] == "open")
    events = {d.event for d in sim.recorder.accepted(instance="a")}
    assert events == {"connection.update"}  # no instance.create, no qrcode.updated
    paths = {d.path for d in sim.recorder.accepted(instance="a")}
    assert paths == ({"/hooks/a/connection-update"} if by_events else {"/hooks/a"})
    # ``destination`` never carries the suffix (§5.1)
    assert {d.body["destination"] for d in sim.recorder.accepted(instance="a")} == {
        sim.hook_url("a")
    }
