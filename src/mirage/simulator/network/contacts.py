"""Simulated external contacts: who they are, and what they do when messaged.

A contact replies (a configured text or a canned one, always or with a probability), ignores,
opts out once with its opt-out text, or blocks its sender; ``populate`` makes a crowd of them
from a mix of profiles (``network.profiles``). Routing asks ``Contacts.answer`` after
delivering to a contact and sends the reply back through the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mirage.simulator import jids
from mirage.simulator.errors import SimError
from mirage.simulator.network import profiles
from mirage.simulator.network.core import NetState, valid_number
from mirage.simulator.network.state import REPLY_S, Account, Contact

DEFAULT_REPLIES = (
    "Oi! Tudo bem?",
    "Obrigado pela mensagem 🙂",
    "Pode me contar mais?",
    "Agora não consigo falar, depois te respondo.",
    "Beleza, combinado!",
    "👍",
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a contact sends back, and after how long (simulated unless configured literally)."""

    text: str
    delay_s: float
    scaled: bool


class Contacts:
    """The directory of simulated external contacts and their behaviour."""

    def __init__(self, net: NetState) -> None:
        self.net = net

    def upsert(self, number: str, name: str | None, contact: Contact) -> Account:
        user = valid_number(number)
        acct = self.net.accounts.get(user)
        if acct is not None and acct.instance is not None:
            raise SimError(409, [f"{user} is the handset of instance {acct.instance!r}"])
        acct = self.net.account(user, name)
        acct.contact = contact
        return acct

    def remove(self, number: str) -> bool:
        user = jids.digits(number)
        acct = self.net.accounts.get(user)
        if acct is None or acct.instance is not None:
            return False
        del self.net.accounts[user]
        self.net.lids.pop(acct.lid, None)
        return True

    def answer(self, contact: Contact, sender: str | None = None) -> Reply | None:
        """The contact's reaction to a delivered message from ``sender``: a reply (with the
        contact's probability), an opt-out (once), blocking the sender, or none."""
        text: str | None = None
        if contact.behavior == "reply":
            if contact.reply_probability < 1 and self.net.rng.random() >= contact.reply_probability:
                return None
            text = contact.reply_text or self.net.rng.choice(DEFAULT_REPLIES)
        elif contact.behavior == "optout" and not contact.opted_out:
            contact.opted_out = True
            text = contact.optout_text
        elif contact.behavior == "block" and sender is not None:
            contact.blocked.add(sender)
        if text is None:
            return None
        if contact.reply_delay_s is not None:  # configured explicitly: taken literally
            return Reply(text, contact.reply_delay_s, scaled=False)
        if contact.human_delay:
            return Reply(text, profiles.human_delay(self.net.rng), scaled=True)
        return Reply(text, REPLY_S, scaled=True)

    def populate(
        self, numbers: Sequence[str], mix: profiles.Mix, seed: int | None
    ) -> list[Account]:
        """Contacts for ``numbers`` whose behaviour follows ``mix`` (``network.profiles``)."""
        return [
            self.upsert(number, None, contact)
            for number, contact in profiles.assign(numbers, mix, seed)
        ]
