"""A conversation's schedule: its weekly windows, rounds per window and the pause between
rounds — its own, or the tenant's default.

The decision (issue 9, "tenant default"): a conversation either *follows* the tenant default
(``schedule_source = "default"``: the default is read at every planning, so a change of the
default re-plans it) or has its *own* schedule (``"own"``: a change of the default never
touches it). New conversations follow the default unless they are given a schedule; editing a
conversation's windows makes them its own, and it can be put back on the default. The
dashboard says which conversations a change of the default moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirage.conversations.windows import DEFAULT_WINDOWS
from mirage.models import Conversation, TenantSettings

DEFAULT = "default"
OWN = "own"
SOURCES = (DEFAULT, OWN)
# Built-in pauses between two rounds of a window (seconds), when nothing else is set.
PAUSE_MIN_S = 600
PAUSE_MAX_S = 7200


@dataclass(frozen=True)
class Schedule:
    source: str
    windows: dict[str, list[list[str]]]
    rounds_per_window: int
    pause_min_s: int
    pause_max_s: int


def tenant_default(row: TenantSettings) -> Schedule:
    return Schedule(
        source=DEFAULT,
        windows=row.default_windows or DEFAULT_WINDOWS,
        rounds_per_window=row.default_rounds_per_window,
        pause_min_s=row.default_pause_min_s,
        pause_max_s=row.default_pause_max_s,
    )


def effective(conversation: Conversation, row: TenantSettings) -> Schedule:
    """The schedule the engine plans the conversation by."""
    if conversation.schedule_source == DEFAULT:
        return tenant_default(row)
    return Schedule(
        source=OWN,
        windows=conversation.windows,
        rounds_per_window=conversation.rounds_per_window,
        pause_min_s=conversation.pause_min_s,
        pause_max_s=conversation.pause_max_s,
    )
