"""Simulated people with profiles: a crowd of external contacts to rehearse a campaign on.

A tenant rehearsing a campaign in the sandbox needs recipients that behave like a real
audience, not five hand-configured contacts. ``populate`` turns a list of numbers into
contacts whose behaviour follows a configurable ``Mix`` of profiles:

- ``responsive``: reads, and replies to a message with some probability
  (``reply_probability``), after a human delay (log-normal: most within a minute, a few much
  later);
- ``silent``: ignores (reads or not);
- ``leaver``: opts out once, with a realistic phrasing ("PARAR", "me tira da lista",
  "não quero mais receber 🙏", "STOP"...), after a human delay;
- ``blocker``: blocks the sender after its first message: later messages from that number
  stay at one tick (server ack), as WhatsApp shows a sender who was blocked;
- ``absent``: not on WhatsApp (the gateway refuses the send).

The counts follow the mix exactly (largest remainders), and which number gets which profile
is drawn from ``seed``: the same call gives the same crowd. The behaviours themselves are
the network's (``contacts.Contacts.answer``, ``routing``); this module only configures them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, fields

from mirage.simulator.network.state import Contact

PROFILES = ("responsive", "silent", "leaver", "blocker", "absent")

#: Opt-outs as people write them (pt-BR first, then English and Spanish): every one a
#: *certain* opt-out for Mirage's detector (tests/simulator/test_sim_profiles.py checks it).
OPTOUT_PHRASES = (
    "PARAR",
    "Parar",
    "pare",
    "SAIR",
    "sair!!",
    "Descadastrar",
    "não quero mais receber",
    "Não quero mais receber essas mensagens",
    "me tira da lista",
    "me tira dessa lista por favor",
    "para de me mandar mensagem",
    "CANCELAR",
    "STOP",
    "unsubscribe",
    "no quiero recibir más mensajes",
)

#: What a responsive person says back.
REPLIES = (
    "Oi! Quero saber mais",
    "Qual o valor?",
    "Tem em outra cor?",
    "Agora não posso, depois te chamo",
    "Obrigado!",
    "👍",
    "Como funciona?",
    "Pode me mandar o link?",
)

# The human delay before a reply or an opt-out, in simulated seconds (scaled by the
# simulator's time scale): a log-normal with a median of 20 s, clamped to [3 s, 10 min].
DELAY_MEDIAN_S = 20.0
DELAY_SIGMA = 1.0
DELAY_MIN_S = 3.0
DELAY_MAX_S = 600.0


@dataclass(frozen=True)
class Mix:
    """The share of each profile (weights: they need not add up to 1) and how often a
    responsive person replies to a message."""

    responsive: float = 0.3
    silent: float = 0.4
    leaver: float = 0.1
    blocker: float = 0.1
    absent: float = 0.1
    reply_probability: float = 0.7

    def problems(self) -> list[str]:
        found = [
            f"{f.name} must be a number, 0 or more"
            for f in fields(self)
            if not isinstance(getattr(self, f.name), int | float)
            or isinstance(getattr(self, f.name), bool)
            or not math.isfinite(getattr(self, f.name))
            or getattr(self, f.name) < 0
        ]
        if not found and sum(self.weights().values()) <= 0:
            found.append("give at least one profile a weight above 0")
        if not found and self.reply_probability > 1:
            found.append("reply_probability must be between 0 and 1")
        return found

    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in PROFILES}


def counts(mix: Mix, total: int) -> dict[str, int]:
    """How many of ``total`` people get each profile: the mix's shares, rounded so that they
    add up to ``total`` (largest remainders, ties in profile order)."""
    weights = mix.weights()
    whole = sum(weights.values())
    exact = {name: total * w / whole for name, w in weights.items()}
    result = {name: math.floor(v) for name, v in exact.items()}
    left = total - sum(result.values())
    for name in sorted(PROFILES, key=lambda n: (-(exact[n] - result[n]), PROFILES.index(n))):
        if left <= 0:
            break
        result[name] += 1
        left -= 1
    return result


def human_delay(rng: random.Random) -> float:
    """Seconds (simulated) before a person answers."""
    seconds = DELAY_MEDIAN_S * math.exp(rng.gauss(0.0, DELAY_SIGMA))
    return min(DELAY_MAX_S, max(DELAY_MIN_S, seconds))


def contact_for(profile: str, mix: Mix, rng: random.Random) -> Contact:
    """A contact that behaves like ``profile``."""
    if profile == "responsive":
        return Contact(
            behavior="reply",
            reply_text=rng.choice(REPLIES),
            reply_probability=mix.reply_probability,
            human_delay=True,
            profile=profile,
        )
    if profile == "silent":
        return Contact(behavior="ignore", reads=rng.random() < 0.6, profile=profile)
    if profile == "leaver":
        return Contact(
            behavior="optout",
            optout_text=rng.choice(OPTOUT_PHRASES),
            human_delay=True,
            profile=profile,
        )
    if profile == "blocker":
        return Contact(behavior="block", reads=False, profile=profile)
    if profile == "absent":
        return Contact(behavior="ignore", exists=False, reads=False, profile=profile)
    raise ValueError(f"unknown profile {profile!r}")


def assign(numbers: Sequence[str], mix: Mix, seed: int | None) -> list[tuple[str, Contact]]:
    """Each number with its contact: profiles in the mix's counts, shuffled by ``seed``."""
    rng = random.Random(seed)
    profiles = [name for name, n in counts(mix, len(numbers)).items() for _ in range(n)]
    rng.shuffle(profiles)
    return [(number, contact_for(p, mix, rng)) for number, p in zip(numbers, profiles, strict=True)]
