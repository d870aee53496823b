"""Realistic degradation of a simulated number that writes to too many strangers.

WhatsApp answers a number that keeps opening chats with people who never wrote to it in
stages (reference/market-anchors.md §4 and §7: "many new conversations/h" is the top volume
trigger; the 463 "reach-out time lock" lets existing chats reply but refuses new contacts; 5–10
reports get a number banned). A degradation plan, set per instance through the control API
(``PUT …/instances/{name}/degradation`` of the control API), replays that:

- the first ``free_strangers`` messages to strangers go out as usual;
- then each one raises the failure rate by ``failure_step`` (sends fail with Baileys'
  ``rate-overlimit``, as a 400);
- from ``time_lock_after`` strangers past the free ones, every new contact is refused with the
  463 time lock (chats where the other side wrote first still work);
- from ``ban_after`` the account is banned: the session closes with 403; with
  ``ban_delay_s`` the ban also comes by itself that long (simulated time) after the first time
  lock, whether the number kept sending or not (reports keep arriving).

Deterministic (no dice): the failures come from an accumulator of the rising rate, so a test
knows when each stage starts. ``Degradation`` is pure; ``before_send`` is the network's hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mirage.simulator.errors import SimError, bad_request, connection_closed

if TYPE_CHECKING:  # the network calls this module; a type only
    from mirage.simulator.network.facade import Network
    from mirage.simulator.network.state import Instance

Verdict = Literal["ok", "fail", "time_lock", "ban"]
RATE_LIMITED = "Error: rate-overlimit"
TIME_LOCKED = "Error: 463 reach-out time lock: this account cannot message new contacts now"


@dataclass(frozen=True)
class DegradationPlan:
    free_strangers: int = 5
    failure_step: float = 0.15
    time_lock_after: int = 6
    ban_after: int = 10
    ban_delay_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "freeStrangers": self.free_strangers,
            "failureStep": self.failure_step,
            "timeLockAfter": self.time_lock_after,
            "banAfter": self.ban_after,
            "banDelayS": self.ban_delay_s,
        }


def plan_from_json(body: dict[str, Any]) -> DegradationPlan:
    """A plan from the control API's body (camelCase, every field optional); 400 if invalid."""
    base = DegradationPlan()
    fields = {
        "freeStrangers": "free_strangers",
        "timeLockAfter": "time_lock_after",
        "banAfter": "ban_after",
    }
    values: dict[str, Any] = {}
    for key, name in fields.items():
        v = body.get(key, getattr(base, name))
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 100_000:
            raise bad_request(f"{key} must be a whole number from 0 to 100000")
        values[name] = v
    step = body.get("failureStep", base.failure_step)
    if not isinstance(step, int | float) or isinstance(step, bool) or not 0 <= step <= 1:
        raise bad_request("failureStep must be a number from 0 to 1")
    if not values["time_lock_after"] <= values["ban_after"]:
        raise bad_request("timeLockAfter must not be after banAfter")
    delay = body.get("banDelayS")
    if delay is not None and (
        not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 86_400
    ):
        raise bad_request("banDelayS must be a number of seconds from 0 to 86400, or null")
    return DegradationPlan(
        failure_step=float(step), ban_delay_s=None if delay is None else float(delay), **values
    )


@dataclass
class Degradation:
    """One instance's degradation: the plan and how far the number has gone."""

    plan: DegradationPlan
    strangers: int = 0  # messages to strangers asked for (refused ones count too)
    debt: float = 0.0  # the failure rate accumulated since the last failure
    ban_scheduled: bool = False

    def verdict(self, stranger: bool) -> Verdict:
        if not stranger:
            return "ok"  # existing chats keep working, even under the time lock
        self.strangers += 1
        over = self.strangers - self.plan.free_strangers
        if over <= 0:
            return "ok"
        if over >= self.plan.ban_after:
            return "ban"
        if over >= self.plan.time_lock_after:
            return "time_lock"
        self.debt += min(1.0, over * self.plan.failure_step)
        if self.debt >= 1.0:
            self.debt -= 1.0
            return "fail"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        return {**self.plan.as_json(), "strangers": self.strangers}


def before_send(net: Network, inst: Instance, number: str) -> None:
    """The send hook: count a message to a stranger and answer as WhatsApp would."""
    deg = inst.degradation
    if deg is None or not inst.can_send or inst.number is None:
        return
    target = net.messaging.resolve_recipient(number)
    wrote_first = any(not m.from_me and m.remote_jid == target.jid for m in inst.messages.values())
    verdict = deg.verdict(not wrote_first)
    if verdict == "fail":
        raise SimError(400, [RATE_LIMITED])
    if verdict == "time_lock":
        delay = deg.plan.ban_delay_s
        if delay is not None and not deg.ban_scheduled:
            deg.ban_scheduled = True
            net.after(delay, lambda: _ban_later(net, inst))
        raise SimError(400, [TIME_LOCKED])
    if verdict == "ban":
        net.ban(inst, 403)
        raise connection_closed(400)


def _ban_later(net: Network, inst: Instance) -> None:
    """The delayed ban, unless the instance is gone or was unbanned meanwhile."""
    if net.instances.get(inst.name) is inst and inst.degradation is not None and inst.paired:
        net.ban(inst, 403)
