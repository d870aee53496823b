"""Messages routed on the simulated network, and the webhooks each side receives."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jwt
import pytest

from mirage.simulator.testing import SimulatorHarness

JWT_KEY = "a-long-enough-hs256-secret-for-tests-0123456789"


def statuses(sim: SimulatorHarness, instance: str, key_id: str) -> set[str]:
    return {
        d.data["status"]
        for d in sim.recorder.accepted(instance=instance, event="messages.update")
        if d.data["keyId"] == key_id
    }


async def test_send_between_two_instances(sim: SimulatorHarness) -> None:
    a = await sim.pair("a", jwt_key=JWT_KEY, profile_name="Alice")
    b = await sim.pair("b", profile_name="Bruno")
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": b["number"], "text": "Oi, Bruno!"}
    )
    assert resp.status_code == 201
    key_id = resp.json()["key"]["id"]

    upsert = await sim.recorder.wait_event(
        "b", "messages.upsert", lambda d: d["key"]["id"] == key_id
    )
    assert upsert.data["key"]["remoteJid"] == a["wuid"]
    assert upsert.data["key"]["fromMe"] is False
    assert upsert.data["pushName"] == "Alice"
    assert upsert.data["message"]["conversation"] == "Oi, Bruno!"
    assert upsert.data["status"] == "DELIVERY_ACK"

    sent = await sim.recorder.wait_event("a", "send.message")
    assert sent.data["key"] == {"remoteJid": b["wuid"], "fromMe": True, "id": key_id}
    await sim.recorder.wait_for(
        lambda _: statuses(sim, "a", key_id) == {"SERVER_ACK", "DELIVERY_ACK", "READ"},
        what="acks up to READ",
    )
    # The receiver gets no acks for a message it did not send; the sender no upsert.
    assert not sim.recorder.accepted(instance="b", event="messages.update")
    assert not sim.recorder.accepted(instance="a", event="messages.upsert")
    log = await sim.control.messages("b")
    assert [(m["fromInstance"], m["toInstance"], m["text"]) for m in log] == [
        ("a", "b", "Oi, Bruno!")
    ]


async def test_webhook_jwt_verifies_with_the_instance_key_and_expires_in_10_minutes(
    sim: SimulatorHarness,
) -> None:
    await sim.create("a", jwt_key=JWT_KEY, headers={"x-evo-secret": "s3cr3t"})
    delivery = await sim.recorder.wait_event("a", "instance.create")
    assert "jwt_key" not in delivery.headers  # replaced, never forwarded
    assert delivery.headers["x-evo-secret"] == "s3cr3t"
    scheme, token = delivery.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    assert claims["exp"] - claims["iat"] == 600
    assert (claims["app"], claims["action"]) == ("evolution", "webhook")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, JWT_KEY + "x", algorithms=["HS256"])
    with pytest.raises(jwt.ExpiredSignatureError):  # as seen ten minutes and a second later
        jwt.decode(token, JWT_KEY, algorithms=["HS256"], leeway=-601, options={"verify_iat": False})


async def test_an_instance_without_jwt_key_sends_no_authorization(sim: SimulatorHarness) -> None:
    await sim.create("a")
    delivery = await sim.recorder.wait_event("a", "instance.create")
    assert "authorization" not in delivery.headers


async def test_send_text_delay_shows_composing_before_the_send(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": b["number"], "text": "pensando…", "delay": 150}
    )
    assert resp.status_code == 201
    await sim.recorder.wait_event("b", "messages.upsert")
    # The simulator's delivery log is in emission order: composing, paused, then the send.
    log = await sim.control.webhook_log()
    order = [
        (e["instance"], e["event"])
        for e in log
        if e["event"] in ("presence.update", "send.message", "messages.upsert")
    ]
    assert order == [
        ("b", "presence.update"),
        ("b", "presence.update"),
        ("a", "send.message"),
        ("b", "messages.upsert"),
    ]
    presences = [
        d.data["presences"] for d in sim.recorder.accepted(instance="b", event="presence.update")
    ]
    assert {next(iter(p.values()))["lastKnownPresence"] for p in presences} == {
        "composing",
        "paused",
    }


async def test_message_typed_on_the_handset(sim: SimulatorHarness) -> None:
    a = await sim.pair("a", profile_name="Alice")
    b = await sim.pair("b")
    typed = await sim.control.phone_send("a", b["number"], "digitado no celular")
    key_id = typed["key"]["id"]
    own = await sim.recorder.wait_event("a", "messages.upsert", lambda d: d["key"]["id"] == key_id)
    assert own.data["key"]["fromMe"] is True
    assert own.data["key"]["remoteJid"] == b["wuid"]
    assert own.data["source"] == "android"
    other = await sim.recorder.wait_event(
        "b", "messages.upsert", lambda d: d["key"]["id"] == key_id
    )
    assert other.data["key"]["fromMe"] is False and other.data["key"]["remoteJid"] == a["wuid"]
    await sim.recorder.wait_for(
        lambda _: {"DELIVERY_ACK", "READ"} <= statuses(sim, "a", key_id), what="handset acks"
    )
    # Typed on the phone: there is no send.message (that is for API sends only).
    assert not sim.recorder.accepted(instance="a", event="send.message")


async def test_contact_who_replies(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    await sim.control.set_contact("5511955554444", name="Ana", behavior="reply", replyText="Oi! 😊")
    await sim.http.post("/message/sendText/a", json={"number": "5511955554444", "text": "Olá Ana"})
    reply = await sim.recorder.wait_event("a", "messages.upsert")
    assert reply.data["key"]["remoteJid"] == "5511955554444@s.whatsapp.net"
    assert reply.data["key"]["fromMe"] is False
    assert reply.data["pushName"] == "Ana"
    assert reply.data["message"]["conversation"] == "Oi! 😊"


async def test_contact_who_opts_out_only_once(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    await sim.control.set_contact("5511955554444", behavior="optout")
    for text in ("Promoção!", "Última chance!"):
        resp = await sim.http.post(
            "/message/sendText/a", json={"number": "5511955554444", "text": text}
        )
        assert resp.status_code == 201
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="a", event="send.message")) == 2, what="both sends"
    )
    replies = [
        d.data["message"]["conversation"]
        for d in sim.recorder.accepted(instance="a", event="messages.upsert")
    ]
    assert replies == ["PARAR"]
    contacts = await sim.http.get("/_sim/contacts")
    (contact,) = contacts.json()
    assert contact["optedOut"] is True and contact["received"] == 2


async def test_contact_who_ignores_and_contact_not_on_whatsapp(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    await sim.control.set_contact("5511955554444", behavior="ignore", reads=False)
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": "5511955554444", "text": "oi"}
    )
    key_id = resp.json()["key"]["id"]
    await sim.recorder.wait_for(
        lambda _: "DELIVERY_ACK" in statuses(sim, "a", key_id), what="delivery"
    )
    assert "READ" not in statuses(sim, "a", key_id)
    assert not sim.recorder.accepted(instance="a", event="messages.upsert")

    await sim.control.set_contact("5511900000000", exists=False)
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": "5511900000000", "text": "oi"}
    )
    assert resp.status_code == 400
    assert resp.json()["response"]["message"][0]["exists"] is False
    checks = (
        await sim.http.post("/chat/whatsappNumbers/a", json={"numbers": ["5511900000000"]})
    ).json()
    assert checks == [
        {"jid": "5511900000000@s.whatsapp.net", "exists": False, "number": "5511900000000"}
    ]


async def test_lid_addressing_and_group_inbound(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    await sim.control.set_contact("5511955554444", name="Ana", lidAddressing=True)
    await sim.control.contact_send("5511955554444", "a", "oi pelo lid")
    upsert = await sim.recorder.wait_event("a", "messages.upsert")
    key = upsert.data["key"]
    assert key["remoteJid"].endswith("@lid")
    assert key["remoteJidAlt"] == "5511955554444@s.whatsapp.net"
    assert key["addressingMode"] == "lid"
    # Replying to the @lid JID reaches the same person.
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": key["remoteJid"], "text": "oi"}
    )
    assert resp.status_code == 201
    assert resp.json()["key"]["remoteJid"] == "5511955554444@s.whatsapp.net"

    await sim.control.inbound("a", "5521977776666", "no grupo", group="120363025246125486@g.us")
    group = await sim.recorder.wait_event(
        "a", "messages.upsert", lambda d: d["key"]["remoteJid"].endswith("@g.us")
    )
    assert group.data["key"]["participant"] == "5521977776666@s.whatsapp.net"


async def test_receiver_offline_gets_messages_when_it_reconnects(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.disconnect("b", 428, reconnect=False)  # stuck in "connecting"
    resp = await sim.http.post(
        "/message/sendText/a", json={"number": b["number"], "text": "você está aí?"}
    )
    key_id = resp.json()["key"]["id"]
    # The phone is online: delivered; Evolution's socket is down: no upsert yet.
    await sim.recorder.wait_for(
        lambda _: "DELIVERY_ACK" in statuses(sim, "a", key_id), what="delivery"
    )
    assert not sim.recorder.accepted(instance="b", event="messages.upsert")
    assert (await sim.control.instance("b"))["pendingEvents"] == 1

    restarted = await sim.http.post("/instance/restart/b")  # the recovery ladder's first step
    assert restarted.status_code == 200
    upsert = await sim.recorder.wait_event("b", "messages.upsert")
    assert upsert.data["key"]["id"] == key_id


async def test_read_receipts_follow_mark_as_read(sim: SimulatorHarness) -> None:
    a = await sim.pair("a")
    b = await sim.pair("b")
    await sim.control.set_handset("b", auto_read=False)
    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "leia"})
    key_id = resp.json()["key"]["id"]
    await sim.recorder.wait_for(
        lambda _: "DELIVERY_ACK" in statuses(sim, "a", key_id), what="delivery"
    )
    assert "READ" not in statuses(sim, "a", key_id)
    read = await sim.http.post(
        "/chat/markMessageAsRead/b",
        json={"readMessages": [{"remoteJid": a["wuid"], "fromMe": False, "id": key_id}]},
    )
    assert read.status_code == 201
    await sim.recorder.wait_for(lambda _: "READ" in statuses(sim, "a", key_id), what="READ")
    ups = Counter(
        u
        for u in [
            d.data["status"] for d in sim.recorder.accepted(instance="a", event="messages.update")
        ]
    )
    assert ups["READ"] == 1


@pytest.mark.parametrize(
    ("registered", "dialled"),
    [
        # Evolution's createJid drops this 9 (DDD >= 31); the lookup finds the 13 digits.
        ("5531988887777", "+55 (31) 98888-7777"),
        ("553188887777", "5531988887777"),  # an old account without the 9th digit
        ("5511977776666", "551177776666"),  # dialled without the 9
    ],
)
async def test_brazilian_ninth_digit_resolves_to_the_registered_jid(
    sim: SimulatorHarness, registered: str, dialled: str
) -> None:
    await sim.pair("a")
    await sim.pair("b", number=registered)
    resp = await sim.http.post("/message/sendText/a", json={"number": dialled, "text": "oi"})
    assert resp.status_code == 201
    assert resp.json()["key"]["remoteJid"] == f"{registered}@s.whatsapp.net"
    checks: list[dict[str, Any]] = (
        await sim.http.post("/chat/whatsappNumbers/a", json={"numbers": [dialled]})
    ).json()
    assert checks[0]["jid"] == f"{registered}@s.whatsapp.net" and checks[0]["exists"] is True


async def test_the_same_flows_with_simulated_time(sim: SimulatorHarness) -> None:
    """time_scale > 0: waits, acks, reading, replies and reconnects run on timers."""
    await sim.reset(timeScale=0.01)  # 1/100 of real timings (acks in ms, a reply in 80 ms)
    created = await sim.create("a", qrcode=True)  # waits ~50 ms like Evolution's 5 s
    assert created["qrcode"]["count"] == 1
    a = await sim.control.scan("a")
    assert a["state"] == "connecting"  # the 515 restart after pairing is still under way
    await sim.recorder.wait_event("a", "connection.update", lambda d: d["state"] == "open")
    b = await sim.pair("b")
    await sim.control.set_contact("5511955554444", behavior="reply", replyText="já li")

    resp = await sim.http.post("/message/sendText/a", json={"number": b["number"], "text": "oi"})
    key_id = resp.json()["key"]["id"]
    await sim.http.post("/message/sendText/a", json={"number": "5511955554444", "text": "oi"})
    await sim.recorder.wait_for(
        lambda _: statuses(sim, "a", key_id) == {"SERVER_ACK", "DELIVERY_ACK", "READ"},
        what="timed acks",
    )
    await sim.recorder.wait_event("b", "messages.upsert", lambda d: d["key"]["id"] == key_id)
    reply = await sim.recorder.wait_event("a", "messages.upsert")
    assert reply.data["message"]["conversation"] == "já li"

    await sim.control.disconnect("a", 515)
    state = (await sim.http.get("/instance/connectionState/a")).json()["instance"]["state"]
    assert state == "connecting"
    reopened = [
        d
        for d in sim.recorder.accepted(instance="a", event="connection.update")
        if d.data["state"] == "open"
    ]
    await sim.recorder.wait_for(
        lambda r: (
            len(
                [
                    d
                    for d in r.accepted(instance="a", event="connection.update")
                    if d.data["state"] == "open"
                ]
            )
            > len(reopened)
        ),
        what="the silent reconnect",
    )
