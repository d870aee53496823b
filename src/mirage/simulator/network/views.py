"""The JSON shapes the HTTP layer returns and the webhooks carry.

Evolution's own shapes (``fetchInstances`` rows, connection-state payloads, ``messages.upsert``
data) must match the reference byte for byte; the ``/_sim`` control views are the simulator's
own, richer shapes.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from mirage.simulator import jids
from mirage.simulator.network.core import NetState
from mirage.simulator.network.state import (
    DEFAULT_SETTINGS,
    INTEGRATION,
    Account,
    Contact,
    Instance,
    NetMessage,
)


def device_of(key_id: str) -> str:
    """Baileys' ``getDevice``: the message id's shape tells which client wrote it."""
    if key_id.startswith("3A") and len(key_id) == 20:
        return "ios"
    if key_id.startswith("3E") and len(key_id) == 22:
        return "web"
    if len(key_id) in (21, 32):
        return "android"
    if key_id.startswith("3F") or len(key_id) == 18:
        return "desktop"
    return "unknown"


def state_payload(inst: Instance) -> dict[str, Any]:
    return {"instance": {"instanceName": inst.name, "state": inst.state}}


def instance_row(net: NetState, inst: Instance) -> dict[str, Any]:
    """fetchInstances' Prisma row (webhook config is not included, like the real one)."""
    status = (
        "open"
        if inst.state == "open"
        else ("connecting" if inst.state == "connecting" else "close")
    )
    return {
        "id": inst.id,
        "name": inst.name,
        "connectionStatus": status,
        "ownerJid": inst.owner_jid,
        "profileName": inst.profile_name,
        "profilePicUrl": inst.picture_url(net.config.public_url),
        "integration": INTEGRATION,
        "number": inst.pairing_number,
        "businessId": None,
        "token": inst.token,
        "clientName": "evolution_exchange",
        "disconnectionReasonCode": inst.disconnection_reason_code,
        "disconnectionObject": inst.disconnection_object,
        "disconnectionAt": inst.disconnection_at,
        "createdAt": inst.created_at,
        "updatedAt": inst.updated_at,
        "Chatwoot": None,
        "Proxy": None,
        "Rabbitmq": None,
        "Nats": None,
        "Sqs": None,
        "Websocket": None,
        "Setting": {
            "id": f"set-{inst.id}",
            **{k: inst.settings.get(k, v) for k, v in DEFAULT_SETTINGS.items()},
            "wavoipToken": "",
            "createdAt": inst.created_at,
            "updatedAt": inst.updated_at,
            "instanceId": inst.id,
        },
        "_count": {
            "Message": len(inst.messages),
            "Contact": len(inst.peers),
            "Chat": len(inst.peers),
        },
    }


def upsert_data(
    net: NetState,
    inst: Instance,
    msg: NetMessage,
    *,
    from_me: bool,
    remote_jid: str,
    push_name: str,
    status: str,
    alt: str | None = None,
    participant: str | None = None,
    lid_mode: bool = False,
) -> dict[str, Any]:
    """A ``messages.upsert`` payload (draws the message secret from the network's rng)."""
    key: dict[str, Any] = {"remoteJid": remote_jid, "fromMe": from_me, "id": msg.key_id}
    if participant:
        key["participant"] = participant
    if alt:
        key["remoteJidAlt"] = alt
    key["addressingMode"] = "lid" if lid_mode else "pn"
    secret = net.rng.randbytes(32)
    return {
        "key": key,
        "pushName": push_name,
        "status": status,
        "message": {
            "conversation": msg.text,
            "messageContextInfo": {"messageSecret": base64.b64encode(secret).decode()},
        },
        "contextInfo": None,
        "messageType": "conversation",
        "messageTimestamp": msg.timestamp,
        "instanceId": inst.id,
        "source": device_of(msg.key_id),
    }


# ---------------------------------------------------------------------- the /_sim control plane


def control_view(net: NetState, inst: Instance) -> dict[str, Any]:
    """The simulator's own view of an instance (``/_sim``), richer than Evolution's."""
    acct = net.accounts.get(inst.number) if inst.number else None
    return {
        "instance": inst.name,
        "instanceId": inst.id,
        "state": inst.state,
        "paired": inst.paired,
        "number": inst.number,
        "wuid": inst.owner_jid if inst.paired else None,
        "lid": jids.lid_jid(acct.lid) if acct else None,
        "profileName": inst.profile_name,
        "banned": bool(acct and acct.banned),
        "zombie": inst.zombie,
        "autoRead": inst.auto_read,
        "qrCount": inst.qr.count,
        "pairingCode": inst.qr.pairing_code,
        "pendingEvents": len(inst.pending),
        "messages": len(inst.messages),
        "disconnectionReasonCode": inst.disconnection_reason_code,
        "faults": inst.faults.as_json() if inst.faults else None,
    }


def contact_view(acct: Account) -> dict[str, Any]:
    c = acct.contact or Contact()
    return {
        "number": acct.number,
        "jid": acct.jid,
        "lid": jids.lid_jid(acct.lid),
        "name": acct.name,
        "behavior": c.behavior,
        "reads": c.reads,
        "exists": c.exists,
        "lidAddressing": c.lid_addressing,
        "replyText": c.reply_text,
        "optoutText": c.optout_text,
        "replyDelayMs": None if c.reply_delay_s is None else c.reply_delay_s * 1000,
        "device": c.device,
        "optedOut": c.opted_out,
        "received": c.received,
        "implicit": c.implicit,
        "profile": c.profile,
        "replyProbability": c.reply_probability,
        "blockedSenders": sorted(c.blocked),
    }


def stats(net: NetState) -> dict[str, Any]:
    states = Counter(i.state for i in net.instances.values())
    return {
        "requests": dict(net.requests),
        "webhooks": {**net.webhooks.stats, **net.webhooks.gauges()},
        "instances": {"total": len(net.instances), **states},
        "messages": len(net.message_log),
        "scheduled": net.scheduler.pending,
    }
