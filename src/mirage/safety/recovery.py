"""The recovery ladder of a number that is connected but cannot send: pure rules.

Restart the session (a fresh socket: what most "zombie" sessions need), then log out so it is
paired again (a new session), then give up and mark it dead (quarantined: an admin decides).
Never a blind loop (PRODUCT.md §2): a bounded number of attempts, each followed by a wait that
doubles (capped) before the number is looked at again — if it sent without failing since the
last attempt, it has recovered and the ladder starts over next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Rung(StrEnum):
    RESTART = "restart"
    REPAIR = "repair"  # log out: the number must be paired again (a QR scan)
    DEAD = "dead"


@dataclass(frozen=True)
class Ladder:
    restarts: int = 2
    repairs: int = 1
    first_wait: timedelta = timedelta(minutes=2)
    factor: float = 2.0
    max_wait: timedelta = timedelta(hours=1)

    def rung(self, attempts: int) -> Rung:
        """What the next attempt is, after ``attempts`` made."""
        if attempts < self.restarts:
            return Rung.RESTART
        if attempts < self.restarts + self.repairs:
            return Rung.REPAIR
        return Rung.DEAD

    def wait(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th attempt before looking again."""
        grown = self.first_wait * self.factor ** max(attempts - 1, 0)
        return min(grown, self.max_wait)

    @property
    def bound(self) -> int:
        """The most attempts the ladder ever makes."""
        return self.restarts + self.repairs


LADDER = Ladder()
