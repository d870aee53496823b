"""Simulated people with profiles: a crowd from a mix, each behaving by its profile over
real HTTP (replies, ignores, opts out with a phrasing Mirage's detector calls certain, blocks
the sender, is not on WhatsApp)."""

from __future__ import annotations

from collections import Counter

import pytest

from mirage.outreach.optout import Tier, classify
from mirage.simulator.network import profiles
from mirage.simulator.testing import SimulatorHarness


def test_the_crowd_follows_the_mix_exactly_and_the_seed_repeats_it() -> None:
    assert profiles.counts(profiles.Mix(), 20) == {
        "responsive": 6,
        "silent": 8,
        "leaver": 2,
        "blocker": 2,
        "absent": 2,
    }
    odd = profiles.counts(profiles.Mix(responsive=1, silent=1, leaver=1), 7)
    assert sum(odd.values()) == 7 and max(odd.values()) - min(v for v in odd.values() if v) <= 1
    numbers = [f"55219000000{i:02d}" for i in range(30)]
    one = [(n, c.profile) for n, c in profiles.assign(numbers, profiles.Mix(), seed=7)]
    assert one == [(n, c.profile) for n, c in profiles.assign(numbers, profiles.Mix(), seed=7)]
    assert one != [(n, c.profile) for n, c in profiles.assign(numbers, profiles.Mix(), seed=8)]
    assert profiles.Mix(leaver=-1).problems() and profiles.Mix(reply_probability=2).problems()
    zero = profiles.Mix(responsive=0, silent=0, leaver=0, blocker=0, absent=0)
    assert zero.problems() == ["give at least one profile a weight above 0"]


@pytest.mark.parametrize("phrase", profiles.OPTOUT_PHRASES)
def test_every_simulated_opt_out_is_a_certain_one_for_mirage(phrase: str) -> None:
    assert classify(phrase).tier is Tier.CERTAIN, phrase


async def test_each_profile_behaves_over_http(sim: SimulatorHarness) -> None:
    await sim.pair("a")
    numbers = [f"552195555000{i}" for i in range(5)]
    mix = {"responsive": 1, "silent": 1, "leaver": 1, "blocker": 1, "absent": 1}
    made = await sim.control.populate(numbers, {**mix, "reply_probability": 1}, seed=3)
    by_profile = {c["profile"]: c["number"] for c in made}
    assert Counter(c["profile"] for c in made) == Counter(profiles.PROFILES)

    keys: dict[str, list[str]] = {}
    for text in ("Promoção de hoje!", "Última chance!"):
        for profile, number in by_profile.items():
            resp = await sim.http.post("/message/sendText/a", json={"number": number, "text": text})
            if profile == "absent":
                assert resp.status_code == 400  # not on WhatsApp
                continue
            assert resp.status_code == 201, resp.text
            keys.setdefault(profile, []).append(resp.json()["key"]["id"])

    def statuses(key_id: str) -> set[str]:
        return {
            d.data["status"]
            for d in sim.recorder.accepted(instance="a", event="messages.update")
            if d.data["keyId"] == key_id
        }

    def replies_from(profile: str) -> list[str]:
        jid = f"{by_profile[profile]}@s.whatsapp.net"
        return [
            d.data["message"]["conversation"]
            for d in sim.recorder.accepted(instance="a", event="messages.upsert")
            if d.data["key"]["remoteJid"] == jid
        ]

    await sim.recorder.wait_for(
        lambda _: len(replies_from("responsive")) == 2 and len(replies_from("leaver")) == 1,
        what="the replies and the opt-out",
    )
    assert replies_from("leaver")[0] in profiles.OPTOUT_PHRASES
    assert replies_from("silent") == [] and replies_from("blocker") == []
    # The blocker received the first message, then blocked the sender: one tick after that.
    first, second = keys["blocker"]
    await sim.recorder.wait_for(lambda _: "DELIVERY_ACK" in statuses(first), what="delivery")
    await sim.recorder.wait_for(lambda _: "SERVER_ACK" in statuses(second), what="server ack")
    assert "DELIVERY_ACK" not in statuses(second)
    seen = {c["profile"]: c for c in (await sim.http.get("/_sim/contacts")).json()}
    assert seen["blocker"]["received"] == 1 and seen["blocker"]["blockedSenders"]

    bad = await sim.http.post(
        "/_sim/contacts/population", json={"numbers": numbers, "mix": {"vip": 1}}
    )
    assert bad.status_code == 400 and "vip" in bad.text
