"""The network's shared state and the primitives every concern uses.

``NetState`` holds everything in memory (instances, accounts, messages in flight, the message
log, request counters) and offers the small shared tools: simulated delays through the one
``Scheduler``, seeded ids, the account directory (``lookup``) and webhook emission, including
the queue of events that wait for a live socket. The concerns (pairing, routing, contacts,
messaging) each hold the same ``NetState``.
"""

from __future__ import annotations

import itertools
import random
import secrets
import string
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any

from mirage.simulator import jids
from mirage.simulator.config import SimulatorConfig
from mirage.simulator.errors import SimError
from mirage.simulator.network.faults import RequestFaults
from mirage.simulator.network.state import Account, Contact, Instance, NetMessage
from mirage.simulator.scheduler import Scheduler, Timer
from mirage.simulator.webhooks import WebhookDispatcher

_DDDS = ("11", "21", "27", "41", "51", "61", "71", "81", "85", "19")
_CUID_ALPHABET = string.ascii_lowercase + string.digits


class NetState:
    """Everything the network holds, and the primitives shared by every concern."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.scheduler = Scheduler()
        self.webhooks = WebhookDispatcher(lambda: self.config, self.scheduler, self.rng)
        self.faults = RequestFaults()
        self.instances: dict[str, Instance] = {}
        self.accounts: dict[str, Account] = {}
        self.lids: dict[str, Account] = {}
        self.net_messages: OrderedDict[str, NetMessage] = OrderedDict()
        self.message_log: deque[dict[str, Any]] = deque(maxlen=config.max_log_entries)
        self.requests: Counter[str] = Counter()
        self._row_ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle

    async def reset(self) -> None:
        await self.scheduler.cancel_all()
        self.rng.seed(self.config.seed)
        await self.webhooks.reset()
        self.faults = RequestFaults()
        self.instances.clear()
        self.accounts.clear()
        self.lids.clear()
        self.net_messages.clear()
        self.message_log = deque(maxlen=self.config.max_log_entries)
        self.requests.clear()

    async def aclose(self) -> None:
        await self.scheduler.aclose()
        await self.webhooks.aclose()

    # ------------------------------------------------------------------ ids and helpers

    def scaled(self, seconds: float) -> float:
        return seconds * self.config.time_scale

    def after(self, seconds: float, fn: Callable[[], Any], *, scaled: bool = True) -> Timer | None:
        """Run ``fn`` after a simulated delay; a zero delay runs it now, keeping order exact."""
        delay = self.scaled(seconds) if scaled else seconds
        if delay <= 0:
            fn()
            return None
        return self.scheduler.call_later(delay, fn)

    def new_uuid(self) -> str:
        if self.config.seed is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def cuid(self) -> str:
        # Prisma's cuid()-shaped row ids ("clx…"), unique thanks to the counter.
        tail = "".join(self.rng.choice(_CUID_ALPHABET) for _ in range(17))
        return f"cm{next(self._row_ids):06x}{tail}"[:25]

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789ABCDEF") for _ in range(n))

    def key_id(self, device: str) -> str:
        if device == "web":  # what Baileys' generateMessageIDV2 gives API sends
            return "3EB0" + self._hex(18)
        if device == "ios":
            return "3A" + self._hex(18)
        return self._hex(32)

    def new_token(self) -> str:
        if self.config.seed is None:
            return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)).upper()
        return self.new_uuid().upper()

    # ------------------------------------------------------------------ the account directory

    def allocate_number(self) -> str:
        while True:
            number = "55" + self.rng.choice(_DDDS) + "9" + f"{self.rng.randrange(10**8):08d}"
            if not any(v in self.accounts for v in jids.br_variants(number)):
                return number

    def _allocate_lid(self) -> str:
        while True:
            lid = str(self.rng.randrange(10**14, 10**15))
            if lid not in self.lids:
                return lid

    def account(self, number: str, name: str | None = None) -> Account:
        acct = self.accounts.get(number)
        if acct is None:
            acct = Account(number=number, lid=self._allocate_lid(), name=name or f"+{number}")
            self.accounts[number] = acct
            self.lids[acct.lid] = acct
        elif name:
            acct.name = name
        return acct

    def lookup(self, raw: str, *, create_implicit: bool = False) -> Account | None:
        """The existence check: which account a number or JID reaches, if any."""
        jid = jids.create_jid(raw)
        if jids.is_lid_jid(jid):
            acct = self.lids.get(jids.user_part(jid))
        elif jids.is_user_jid(jid):
            user = jids.user_part(jid)
            acct = next(
                (self.accounts[v] for v in jids.br_variants(user) if v in self.accounts), None
            )
            if acct is None and self.config.unknown_numbers_exist and 10 <= len(user) <= 15:
                if not create_implicit:
                    return Account(number=user, lid="", name=f"+{user}")
                acct = self.account(user)
                acct.contact = Contact(implicit=True)
        else:
            return None  # groups and broadcasts are not simulated
        if acct is None or acct.banned or (acct.contact is not None and not acct.contact.exists):
            return None
        if acct.instance is None and acct.contact is None:
            # A handset whose instance was deleted: the phone still exists on WhatsApp.
            acct.contact = Contact(implicit=True)
        return acct

    # ------------------------------------------------------------------ webhooks

    def emit(self, inst: Instance, event: str, data: Any) -> None:
        self.webhooks.emit(
            instance=inst.name,
            token=inst.token,
            webhook=inst.webhook,
            sender=inst.sender_jid,
            event=event,
            data=data,
        )

    def to_device(self, inst: Instance, event: str, data: Any) -> None:
        """Events that reach Evolution only through a live socket wait while it is down."""
        if inst.can_send:
            self.emit(inst, event, data)
            return
        if len(inst.pending) >= self.config.max_messages_per_instance:
            inst.pending.popleft()
        inst.pending.append((event, data))

    def flush_pending(self, inst: Instance) -> None:
        while inst.pending and inst.can_send:
            event, data = inst.pending.popleft()
            self.emit(inst, event, data)


def valid_number(raw: str) -> str:
    number = jids.digits(raw)
    if not 8 <= len(number) <= 15:
        raise SimError(400, [f"{raw!r} is not a phone number (8 to 15 digits)"])
    return number
