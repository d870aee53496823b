"""Where messages start: the Evolution send API and the people on the simulated phones.

The API side (``sendText``, ``sendPresence``, ``whatsappNumbers``, ``markMessageAsRead``) keeps
Evolution's guard order and errors; the control side injects what a handset owner types
(``phone_send``), what an external number sends (``inbound``) and contact-to-instance traffic
(``contact_send``). Everything then travels through ``Routing``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from mirage.simulator import jids
from mirage.simulator.errors import SimError, boom_connection_closed, connection_closed
from mirage.simulator.network.core import NetState
from mirage.simulator.network.routing import Routing
from mirage.simulator.network.state import Account, Instance
from mirage.simulator.network.views import upsert_data


class Messaging:
    """The entry points that put a new message on the network."""

    def __init__(self, net: NetState, routing: Routing) -> None:
        self.net = net
        self.routing = routing

    def _require_socket(self, inst: Instance) -> None:
        # The existence check runs first and is not caught: a closed socket surfaces as 500.
        if inst.state != "open":
            raise connection_closed(500)

    def resolve_recipient(self, number: str) -> Account:
        acct = self.net.lookup(number, create_implicit=True)
        if acct is None:
            jid = jids.create_jid(number)
            raise SimError(400, [{"jid": jid, "exists": False, "number": number}])
        return acct

    async def send_text(
        self,
        inst: Instance,
        *,
        number: str,
        text: str,
        delay_ms: int,
        quoted_id: str | None,
        mentioned: list[str],
    ) -> dict[str, Any]:
        self._require_socket(inst)
        target = self.resolve_recipient(number)
        if inst.zombie:
            raise connection_closed(400)
        if delay_ms > 0:
            # The request blocks: 'composing' for ``delay`` ms, then 'paused', then the send.
            self._presence_to(inst, target, "composing")
            await asyncio.sleep(delay_ms / 1000)
            self._presence_to(inst, target, "paused")
            if not inst.can_send or self.net.instances.get(inst.name) is not inst:
                raise connection_closed(400)
        if inst.number is None:  # open implies paired implies a number
            raise connection_closed(400)
        msg = self.routing.new_message(inst.number, target.number, text, device="web")
        self.routing.store(inst, msg, from_me=True, remote_jid=target.jid, status="PENDING")
        context: dict[str, Any] = {
            "mentionedJid": [jids.create_jid(m) for m in mentioned],
            "groupMentions": [],
            "disappearingMode": {"initiator": 0},
        }
        if quoted_id:
            context["stanzaId"] = quoted_id
            if (quoted := inst.messages.get(quoted_id)) is not None:
                context["participant"] = inst.owner_jid if quoted.from_me else quoted.remote_jid
                context["quotedMessage"] = {"conversation": quoted.text}
        record = {
            "key": {"remoteJid": target.jid, "fromMe": True, "id": msg.key_id},
            "pushName": "Você",
            "status": "PENDING",
            "message": {"conversation": text},
            "contextInfo": context,
            "messageType": "conversation",
            "messageTimestamp": msg.timestamp,
            "instanceId": inst.id,
            "source": "unknown",
        }
        self.net.emit(inst, "send.message", record)
        self.routing.route(msg)
        return record

    def _presence_to(self, inst: Instance, target: Account, presence: str) -> None:
        receiver = self.net.instances.get(target.instance) if target.instance else None
        if receiver is None or not receiver.can_send or inst.owner_jid is None:
            return  # presence is ephemeral: nobody listening, nothing queued
        jid = inst.owner_jid
        self.net.emit(
            receiver,
            "presence.update",
            {"id": jid, "presences": {jid: {"lastKnownPresence": presence}}},
        )

    async def send_presence(
        self, inst: Instance, *, number: str, presence: str, delay_ms: int
    ) -> dict[str, Any]:
        self._require_socket(inst)
        target = self.resolve_recipient(number)
        if inst.zombie:
            raise connection_closed(400)
        self._presence_to(inst, target, presence)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
            self._presence_to(inst, target, "paused")
        return {"presence": presence}

    def check_numbers(self, inst: Instance, numbers: Iterable[str]) -> list[dict[str, Any]]:
        if not inst.can_send:
            raise boom_connection_closed()
        out: list[dict[str, Any]] = []
        for raw in numbers:
            acct = self.net.lookup(raw)
            jid = jids.create_jid(raw)
            item: dict[str, Any] = {
                "jid": acct.jid if acct else jid,
                "exists": acct is not None,
                "number": raw,
            }
            if acct is not None and (
                acct.instance is not None
                or (acct.contact is not None and not acct.contact.implicit)
            ):
                item["name"] = acct.name
            if acct is not None and acct.contact is not None and acct.contact.lid_addressing:
                item["lid"] = jids.lid_jid(acct.lid)
            out.append(item)
        return out

    def mark_read(self, inst: Instance, keys: list[dict[str, Any]]) -> None:
        for key in keys:
            row = inst.messages.get(str(key.get("id")))
            if row is None or row.from_me:
                continue
            msg = self.net.net_messages.get(row.key_id)
            if msg is not None:
                self.routing.ack(msg, "READ")

    def phone_send(self, inst: Instance, to: str, text: str) -> dict[str, Any]:
        """A message typed on the instance's handset (reaches Evolution as fromMe=true upsert)."""
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        if self.net.accounts[inst.number].banned:
            raise SimError(403, [f"The number {inst.number} is banned"])
        target = self.net.lookup(to, create_implicit=True)
        if target is None:
            raise SimError(400, [{"jid": jids.create_jid(to), "exists": False, "number": to}])
        msg = self.routing.new_message(inst.number, target.number, text, device=inst.device)
        msg.status = "SERVER_ACK"  # the phone already got the server's ack before syncing
        self.routing.store(inst, msg, from_me=True, remote_jid=target.jid, status="SERVER_ACK")
        data = upsert_data(
            self.net,
            inst,
            msg,
            from_me=True,
            remote_jid=target.jid,
            push_name=inst.profile_name or "",
            status="SERVER_ACK",
        )
        self.net.to_device(inst, "messages.upsert", data)
        self.routing.route(msg, server_ack=False)
        return data

    def inbound(
        self,
        inst: Instance,
        *,
        sender: str,
        text: str,
        push_name: str | None,
        lid: bool | None,
        group: str | None,
    ) -> dict[str, Any]:
        """Inject a message from any external number (optionally via @lid or in a group)."""
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        acct = self.net.lookup(sender, create_implicit=True)
        if acct is None:
            raise SimError(400, [f"{sender} is not on WhatsApp"])
        if push_name:
            acct.name = push_name
        if lid is not None and acct.contact is not None:
            acct.contact.lid_addressing = lid
        return self.routing.deliver_from(acct, inst.number, text, group=group)

    def contact_send(self, number: str, to: str, text: str) -> dict[str, Any]:
        acct = self.net.lookup(number, create_implicit=True)
        if acct is None:
            raise SimError(400, [f"{number} is not on WhatsApp"])
        target_inst = self.net.instances.get(to)
        target = (
            self.net.accounts.get(target_inst.number)
            if target_inst and target_inst.number
            else self.net.lookup(to)
        )
        if target is None:
            raise SimError(400, [f"{to} is not a simulated instance or reachable number"])
        return self.routing.deliver_from(acct, target.number, text, group=None)
