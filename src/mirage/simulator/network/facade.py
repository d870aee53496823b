"""``Network``: the one object the HTTP layer talks to.

It is the shared ``NetState`` (so ``net.instances``, ``net.config``, ``net.webhooks`` … are the
state itself) plus one collaborator per concern, all holding that same state:

* ``pairing`` — instance lifecycle and the connection state machine;
* ``messaging`` — where messages start (the Evolution send API, the simulated people);
* ``routing`` — messages between simulated numbers, delivery and read acks;
* ``contacts`` — simulated external contacts and how they answer;

plus ``faults`` (request fault plans) and ``views`` (JSON shapes), which are plain functions.
The methods below only delegate; they are the surface ``evolution``, ``control`` and the tests use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mirage.simulator import degradation
from mirage.simulator.config import SimulatorConfig
from mirage.simulator.network import profiles, views
from mirage.simulator.network.contacts import Contacts
from mirage.simulator.network.core import NetState
from mirage.simulator.network.faults import FaultPlan, RequestFaults, plan_request
from mirage.simulator.network.messaging import Messaging
from mirage.simulator.network.pairing import Pairing
from mirage.simulator.network.routing import Routing
from mirage.simulator.network.state import Account, Contact, Instance
from mirage.simulator.webhooks import WebhookConfig


class Network(NetState):
    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self.pairing = Pairing(self)
        self.contacts = Contacts(self)
        self.routing = Routing(self, self.contacts)
        self.messaging = Messaging(self, self.routing)

    def get(self, name: str) -> Instance | None:
        return self.instances.get(name)

    # ------------------------------------------------------------------ instance lifecycle

    def create_instance(
        self,
        *,
        name: str,
        token: str | None,
        webhook: dict[str, Any] | None,
        settings: dict[str, Any],
        number: str | None,
    ) -> Instance:
        return self.pairing.create_instance(
            name=name, token=token, webhook=webhook, settings=settings, number=number
        )

    def set_webhook(self, inst: Instance, spec: dict[str, Any]) -> WebhookConfig:
        return self.pairing.set_webhook(inst, spec)

    async def connect(self, inst: Instance, number: str | None, *, wait_s: float) -> dict[str, Any]:
        return await self.pairing.connect(inst, number, wait_s=wait_s)

    def start_pairing(self, inst: Instance) -> None:
        self.pairing.start_pairing(inst)

    def scan(self, inst: Instance, number: str | None, profile_name: str | None) -> dict[str, Any]:
        return self.pairing.scan(inst, number, profile_name)

    def disconnect(self, inst: Instance, code: int, *, reconnect: bool = True) -> dict[str, Any]:
        return self.pairing.disconnect(inst, code, reconnect=reconnect)

    def restart(self, inst: Instance) -> dict[str, Any]:
        return self.pairing.restart(inst)

    def logout(self, inst: Instance) -> None:
        self.pairing.logout(inst)

    def delete(self, inst: Instance) -> None:
        self.pairing.delete(inst)

    def ban(self, inst: Instance, code: int) -> dict[str, Any]:
        return self.pairing.ban(inst, code)

    def unban(self, inst: Instance) -> dict[str, Any]:
        return self.pairing.unban(inst)

    def set_zombie(self, inst: Instance, zombie: bool) -> None:
        self.pairing.set_zombie(inst, zombie)

    # ------------------------------------------------------------------ messaging

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
        degradation.before_send(self, inst, number)
        return await self.messaging.send_text(
            inst,
            number=number,
            text=text,
            delay_ms=delay_ms,
            quoted_id=quoted_id,
            mentioned=mentioned,
        )

    async def send_presence(
        self, inst: Instance, *, number: str, presence: str, delay_ms: int
    ) -> dict[str, Any]:
        return await self.messaging.send_presence(
            inst, number=number, presence=presence, delay_ms=delay_ms
        )

    def check_numbers(self, inst: Instance, numbers: Iterable[str]) -> list[dict[str, Any]]:
        return self.messaging.check_numbers(inst, numbers)

    def mark_read(self, inst: Instance, keys: list[dict[str, Any]]) -> None:
        self.messaging.mark_read(inst, keys)

    def phone_send(self, inst: Instance, to: str, text: str) -> dict[str, Any]:
        return self.messaging.phone_send(inst, to, text)

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
        return self.messaging.inbound(
            inst, sender=sender, text=text, push_name=push_name, lid=lid, group=group
        )

    def contact_send(self, number: str, to: str, text: str) -> dict[str, Any]:
        return self.messaging.contact_send(number, to, text)

    # ------------------------------------------------------------------ contacts

    def upsert_contact(self, number: str, name: str | None, contact: Contact) -> Account:
        return self.contacts.upsert(number, name, contact)

    def remove_contact(self, number: str) -> bool:
        return self.contacts.remove(number)

    def populate_contacts(
        self, numbers: Sequence[str], mix: profiles.Mix, seed: int | None
    ) -> list[Account]:
        return self.contacts.populate(numbers, mix, seed)

    # ------------------------------------------------------------------ faults

    def plan_faults(self, method: str, path: str) -> FaultPlan:
        """Count the request and roll the dice for it (global faults, then the instance's)."""
        return plan_request(
            method,
            path,
            requests=self.requests,
            global_faults=self.faults,
            instance_faults=self._instance_faults,
            rng=self.rng,
        )

    def _instance_faults(self, name: str) -> RequestFaults | None:
        inst = self.instances.get(name)
        return inst.faults if inst is not None else None

    # ------------------------------------------------------------------ views

    def state_payload(self, inst: Instance) -> dict[str, Any]:
        return views.state_payload(inst)

    def instance_row(self, inst: Instance) -> dict[str, Any]:
        return views.instance_row(self, inst)

    def control_view(self, inst: Instance) -> dict[str, Any]:
        return views.control_view(self, inst)

    def contact_view(self, acct: Account) -> dict[str, Any]:
        return views.contact_view(acct)

    def stats(self) -> dict[str, Any]:
        return views.stats(self)
