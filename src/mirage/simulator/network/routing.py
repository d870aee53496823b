"""Routing: messages travelling between simulated numbers, and their acks.

A message goes from its sender to an instance's handset (a ``messages.upsert`` on the receiver)
or to an external contact (who may read and answer, see ``contacts``). Acks only move forward
(SERVER_ACK → DELIVERY_ACK → READ) and reach the sender as ``messages.update``; events for an
instance whose socket is down wait in its pending queue (``NetState.to_device``).
"""

from __future__ import annotations

import time
from typing import Any

from mirage.simulator import jids
from mirage.simulator.network.contacts import Contacts
from mirage.simulator.network.core import NetState
from mirage.simulator.network.state import (
    DELIVERY_ACK_S,
    READ_S,
    SERVER_ACK_S,
    STATUS_RANK,
    Account,
    Instance,
    NetMessage,
    StoredMessage,
)
from mirage.simulator.network.views import upsert_data


class Routing:
    """Carries messages across the network and moves their acks forward."""

    def __init__(self, net: NetState, contacts: Contacts) -> None:
        self.net = net
        self.contacts = contacts

    def deliver_from(
        self, acct: Account, to_number: str, text: str, *, group: str | None
    ) -> dict[str, Any]:
        """A message from ``acct`` reaches an instance's handset now (its upsert, or ``{}``)."""
        device = acct.contact.device if acct.contact else "android"
        msg = self.new_message(acct.number, to_number, text, device=device)
        self.net.message_log.append(self._log_entry(msg))
        self.net.net_messages[msg.key_id] = msg
        self._trim_net_messages()
        return self._deliver_to_handset(msg, group=group) or {}

    def new_message(
        self, from_number: str, to_number: str, text: str, *, device: str
    ) -> NetMessage:
        return NetMessage(
            key_id=self.net.key_id(device),
            from_number=from_number,
            to_number=to_number,
            text=text,
            timestamp=int(time.time()),
        )

    def store(
        self, inst: Instance, msg: NetMessage, *, from_me: bool, remote_jid: str, status: str
    ) -> StoredMessage:
        """Keep ``inst``'s copy of ``msg`` (bounded), linked to it as sender or receiver row."""
        row = StoredMessage(
            row_id=self.net.cuid(),
            key_id=msg.key_id,
            remote_jid=remote_jid,
            from_me=from_me,
            text=msg.text,
            timestamp=msg.timestamp,
            status=status,
            instance=inst.name,
        )
        inst.messages[msg.key_id] = row
        inst.peers.add(jids.user_part(remote_jid))
        while len(inst.messages) > self.net.config.max_messages_per_instance:
            inst.messages.popitem(last=False)
        if from_me:
            msg.sender_row = row
        else:
            msg.receiver_row = row
        return row

    def _trim_net_messages(self) -> None:
        limit = self.net.config.max_log_entries * 4
        while len(self.net.net_messages) > limit:
            self.net.net_messages.popitem(last=False)

    def _log_entry(self, msg: NetMessage) -> dict[str, Any]:
        return {
            "id": msg.key_id,
            "from": msg.from_number,
            "to": msg.to_number,
            "text": msg.text,
            "timestamp": msg.timestamp,
            "fromInstance": self._instance_of(msg.from_number),
            "toInstance": self._instance_of(msg.to_number),
        }

    def _instance_of(self, number: str) -> str | None:
        acct = self.net.accounts.get(number)
        return acct.instance if acct else None

    def route(self, msg: NetMessage, *, server_ack: bool = True) -> None:
        """Send ``msg`` on its way: server ack, then delivery to a handset or a contact."""
        self.net.net_messages[msg.key_id] = msg
        self._trim_net_messages()
        self.net.message_log.append(self._log_entry(msg))
        if server_ack:
            self.net.after(SERVER_ACK_S, lambda: self.ack(msg, "SERVER_ACK"))
        target = self.net.accounts.get(msg.to_number)
        if target is None:
            return
        if target.instance is not None:
            self.net.after(DELIVERY_ACK_S, lambda: self._deliver_to_handset(msg, group=None))
        elif target.contact is not None:
            self.net.after(DELIVERY_ACK_S, lambda: self._deliver_to_contact(msg, target))

    def _deliver_to_handset(self, msg: NetMessage, *, group: str | None) -> dict[str, Any] | None:
        target = self.net.accounts.get(msg.to_number)
        receiver = self.net.instances.get(target.instance) if target and target.instance else None
        sender = self.net.accounts.get(msg.from_number)
        if receiver is None or target is None or target.banned or sender is None:
            return None
        contact = sender.contact
        lid_mode = contact is not None and contact.lid_addressing
        remote = jids.lid_jid(sender.lid) if lid_mode else sender.jid
        if group:
            remote = jids.create_jid(group)
        self.store(receiver, msg, from_me=False, remote_jid=remote, status="DELIVERY_ACK")
        data = upsert_data(
            self.net,
            receiver,
            msg,
            from_me=False,
            remote_jid=remote,
            push_name=sender.name,
            status="DELIVERY_ACK",
            alt=sender.jid if lid_mode and not group else None,
            participant=sender.jid if group else None,
            lid_mode=lid_mode,
        )
        self.net.to_device(receiver, "messages.upsert", data)
        # The handset is a phone: it is online even when the linked Evolution socket is not.
        self.ack(msg, "DELIVERY_ACK")
        if receiver.auto_read or receiver.settings.get("readMessages"):
            self.net.after(READ_S, lambda: self.ack(msg, "READ"))
        return data

    def _deliver_to_contact(self, msg: NetMessage, target: Account) -> None:
        contact = target.contact
        if contact is None or target.banned or msg.from_number in contact.blocked:
            return  # a blocked sender's message stays at one tick
        contact.received += 1
        self.ack(msg, "DELIVERY_ACK")
        if contact.reads:
            self.net.after(READ_S, lambda: self.ack(msg, "READ"))
        reply = self.contacts.answer(contact, msg.from_number)
        if reply is not None:
            back_to = msg.from_number
            text = reply.text
            self.net.after(
                reply.delay_s, lambda: self._reply(target, back_to, text), scaled=reply.scaled
            )

    def _reply(self, contact: Account, to_number: str, text: str) -> None:
        if to_number in self.net.accounts and self.net.accounts[to_number].instance is not None:
            self.deliver_from(contact, to_number, text, group=None)

    def ack(self, msg: NetMessage, status: str) -> None:
        """Advance ``msg`` to ``status`` and tell the sender (``messages.update``)."""
        # Acks only move forward at the source; duplicates and reordering are delivery faults.
        if STATUS_RANK[status] <= STATUS_RANK[msg.status]:
            return
        msg.status = status
        row = msg.sender_row
        if row is None:
            return
        sender = self.net.instances.get(row.instance)
        if sender is None:
            return
        row.status = status
        self.net.to_device(
            sender,
            "messages.update",
            {
                "keyId": msg.key_id,
                "remoteJid": row.remote_jid,
                "fromMe": True,
                "participant": None,
                "status": status,
                "instanceId": sender.id,
                "messageId": row.row_id,
            },
        )
