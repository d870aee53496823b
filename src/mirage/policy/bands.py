"""Risk bands: how much a number may send, from its risk score (``mirage.safety.score``).

The band is one more input of the policy engine and applies to *every* send of the number,
warm-up and campaign alike (reference/market-anchors.md §6: "one risk budget per number"):

- ``green``: the number's own caps;
- ``yellow``: caps halved, and no more than a few sends to new contacts per day;
- ``orange``: replies and warm-up only (no campaign sends), caps halved;
- ``red``: replies only, caps halved;
- ``critical``: paused (nothing is sent).

The thresholds mirror whats-agents' trust bands (market-anchors §7: 80–100 green, 60–79
yellow, 40–59 orange, 20–39 red, 0–19 critical) on a *risk* scale (risk = 100 − trust), the
scale baileys-antiban uses (points added per bad signal). They are tenant settings; these are
the defaults. docs/number-safety.md cites every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from mirage.kit.i18n import N_


class Band(StrEnum):
    """Risk bands, safest first."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"
    CRITICAL = "critical"


BANDS: Final = tuple(Band)
#: How pages name each band (catalog ids, translated when shown).
BAND_LABELS: Final[dict[str, str]] = {
    Band.GREEN: N_("green"),
    Band.YELLOW: N_("yellow"),
    Band.ORANGE: N_("orange"),
    Band.RED: N_("red"),
    Band.CRITICAL: N_("critical"),
}
#: Bands whose caps are halved (wapower's "at risk: caps halved").
TIGHTENED: Final = frozenset({Band.YELLOW, Band.ORANGE, Band.RED})
#: Bands that refuse campaign (outreach) sends that are not replies.
NO_OUTREACH: Final = frozenset({Band.ORANGE, Band.RED, Band.CRITICAL})


@dataclass(frozen=True)
class BandThresholds:
    """The lowest risk score of each band (a score of ``yellow`` or more is at least yellow)."""

    yellow: int = 20
    orange: int = 40
    red: int = 60
    critical: int = 80

    def problems(self) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        values = (self.yellow, self.orange, self.red, self.critical)
        if any(not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 100 for v in values):
            found.append(("risk_yellow_from", "band thresholds are whole numbers from 1 to 100"))
        elif not self.yellow < self.orange < self.red < self.critical:
            found.append(
                ("risk_orange_from", "band thresholds must rise: yellow < orange < red < critical")
            )
        return tuple(found)


DEFAULT_THRESHOLDS: Final = BandThresholds()


def band_of(score: float, thresholds: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """The band of a risk score (0 = no risk, 100 = the most)."""
    if score >= thresholds.critical:
        return Band.CRITICAL
    if score >= thresholds.red:
        return Band.RED
    if score >= thresholds.orange:
        return Band.ORANGE
    if score >= thresholds.yellow:
        return Band.YELLOW
    return Band.GREEN


def band_rank(band: str) -> int:
    """0 for green … 4 for critical; an unknown band counts as critical (fail closed)."""
    try:
        return BANDS.index(Band(band))
    except ValueError:
        return len(BANDS) - 1
