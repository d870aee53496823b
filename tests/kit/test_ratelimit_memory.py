"""The in-memory moving window (kit.ratelimit.MemoryMovingWindow): the semantics of
``limits``' moving window at O(1) per hit, and bounded memory."""

from __future__ import annotations

from limits import parse

from mirage.kit.ratelimit import MemoryMovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_at_most_amount_hits_in_any_window() -> None:
    clock = Clock()
    window = MemoryMovingWindow(clock)
    item = parse("3/minute")
    results = []
    for at in (0, 10, 20, 30):
        clock.now = 100 + at
        results.append(window.hit_with_stats(item, ("k",)))
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert results[-1].reset_after == 30  # the hit at t=0 leaves the window at t=60
    clock.now = 100 + 59.9
    assert not window.hit_with_stats(item, ("k",)).allowed  # refused hits are not counted...
    clock.now = 100 + 60.1
    again = window.hit_with_stats(item, ("k",))
    assert again.allowed and again.remaining == 0  # ...the t=0 hit has left: one slot
    clock.now = 100 + 70.1
    assert window.hit_with_stats(item, ("k",)).allowed  # the t=10 hit has left too
    assert not window.hit_with_stats(item, ("k",)).allowed


def test_limits_and_keys_are_independent_and_clear_forgets() -> None:
    window = MemoryMovingWindow(Clock())
    one, two = parse("1/minute"), parse("2/minute")
    assert window.hit_with_stats(one, ("a",)).allowed
    assert not window.hit_with_stats(one, ("a",)).allowed
    assert window.hit_with_stats(one, ("b",)).allowed
    assert window.hit_with_stats(two, ("a",)).allowed  # another limit, another window
    window.clear(one, "a")
    assert window.hit_with_stats(one, ("a",)).allowed


def test_idle_keys_are_swept() -> None:
    clock = Clock()
    window = MemoryMovingWindow(clock)
    item = parse("5/second")
    for i in range(3000):
        window.hit_with_stats(item, (str(i),))
    clock.now += 2
    for _ in range(3001):
        window.hit_with_stats(item, ("live",))
    assert len(window._windows) < 100  # the 3,000 idle keys are gone
