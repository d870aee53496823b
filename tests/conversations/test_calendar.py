"""The weekly calendar (issue 9, part 2): schedules per conversation and the tenant default,
the engine's plan (round slots) as the API shows it, the no-overlap rule per number, and
validation of windows with problems named by place."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import GatewayWorld
from tests.conversations.conftest import WarmPair, conversation_body

ZONE = ZoneInfo("America/Sao_Paulo")
EVERY_DAY_10_TO_11 = {str(d): [["10:00", "11:00"]] for d in range(7)}
SCHEDULE = {"rounds_per_window": 2, "pause_min_s": 60, "pause_max_s": 600}


def _body(w: WarmPair, name: str, **extra: Any) -> dict[str, Any]:
    body = conversation_body(w, name=name, **extra)
    if "windows" not in extra:
        body.pop("windows")  # no schedule given: it follows the tenant default
    return body


async def _calendar(client: httpx.AsyncClient, w: WarmPair, week: str = "") -> dict[str, Any]:
    r = await client.get(f"/api/v1/calendar{'?week=' + week if week else ''}", headers=w.auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _local(at: str) -> datetime:
    return datetime.fromisoformat(at).astimezone(ZONE)


def _inside(slot: dict[str, Any], ranges: list[tuple[time, time]]) -> bool:
    start, end = _local(slot["starts_at"]), _local(slot["ends_at"])
    return start.date() == end.date() and any(
        a <= start.time() and end.time() <= b for a, b in ranges
    )


async def test_new_conversations_follow_the_default_and_own_schedules_are_never_rewritten(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    r = await client.get("/api/v1/schedule/default", headers=warm.auth)
    assert r.status_code == 200 and r.json()["rounds_per_window"] == 3, r.text
    follows = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=_body(warm, "Segue"))
    ).json()
    own_windows = {str(d): [["15:00", "16:30"]] for d in range(7)}
    own = (
        await client.post(
            "/api/v1/conversations",
            headers=warm.auth,
            json=_body(warm, "Própria", windows=own_windows, state="paused"),
        )
    ).json()
    assert follows["schedule"]["source"] == "default"
    assert own["schedule"]["source"] == "own"

    r = await client.put(
        "/api/v1/schedule/default",
        headers=warm.auth,
        json={"windows": EVERY_DAY_10_TO_11, **SCHEDULE},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["conversations_following"], r.json()["conversations_own"]) == (1, 1)

    follows = (await client.get(f"/api/v1/conversations/{follows['id']}", headers=warm.auth)).json()
    own = (await client.get(f"/api/v1/conversations/{own['id']}", headers=warm.auth)).json()
    assert follows["windows"] == EVERY_DAY_10_TO_11 and follows["rounds_per_window"] == 2
    assert own["windows"] == {str(d): [["15:00", "16:30"]] for d in range(7)}
    assert own["rounds_per_window"] == 3  # copied from the default it was created under
    # Its plan moved into the new default's windows: every planned round is 10–11 local.
    cal = await _calendar(client, warm)
    planned = [
        s for s in cal["slots"] if s["conversation_id"] == follows["id"] and s["state"] == "planned"
    ]
    assert planned and all(_inside(s, [(time(10), time(11))]) for s in planned), planned
    # A conversation created now takes the new default.
    later = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json=_body(warm, "Nova", state="paused")
        )
    ).json()
    assert later["schedule"] == {"source": "default", "windows": EVERY_DAY_10_TO_11, **SCHEDULE}
    # Put on its own schedule, the first one no longer moves with the default.
    r = await client.put(
        f"/api/v1/conversations/{follows['id']}/schedule",
        headers=warm.auth,
        json={"source": "own"},
    )
    assert r.status_code == 200 and r.json()["source"] == "own", r.text
    r = await client.put(
        "/api/v1/schedule/default",
        headers=warm.auth,
        json={"windows": own_windows, **SCHEDULE},
    )
    assert r.json()["conversations_following"] == 1  # only "Nova"
    again = (await client.get(f"/api/v1/conversations/{follows['id']}", headers=warm.auth)).json()
    assert again["windows"] == EVERY_DAY_10_TO_11


async def test_a_numbers_planned_rounds_never_overlap_across_conversations(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    # Three conversations on the same two numbers, the same windows, many rounds each.
    windows = {str(d): [["08:00", "12:00"], ["14:00", "18:00"]] for d in range(7)}
    ids = []
    for name in ("Um", "Dois", "Três"):
        r = await client.post(
            "/api/v1/conversations",
            headers=warm.auth,
            json=_body(
                warm, name, windows=windows, rounds_per_window=12, pause_min_s=60, pause_max_s=120
            ),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    slots = []
    for week in ("", _next_week()):
        slots += (await _calendar(client, warm, week))["slots"]
    mine = [s for s in slots if s["conversation_id"] in ids]
    assert {s["conversation_id"] for s in mine} == set(ids)  # each got rounds
    for number in warm.numbers:
        held = sorted(
            {(s["starts_at"], s["ends_at"]) for s in mine if number["id"] in s["instance_ids"]}
        )
        assert len(held) > 40
        for (_, end), (start, _) in pairwise(held):
            assert datetime.fromisoformat(end) <= datetime.fromisoformat(start), (end, start)
    # Every planned round lies inside its windows.
    ranges = [(time(8), time(12)), (time(14), time(18))]
    assert all(_inside(s, ranges) for s in mine if s["state"] == "planned")


def _next_week() -> str:
    return (datetime.now(ZONE).date() + timedelta(days=7)).isoformat()


async def test_bad_windows_are_refused_with_each_problem_named(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    conv = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json=_body(warm, "V", state="paused")
        )
    ).json()
    url = f"/api/v1/conversations/{conv['id']}/schedule"
    r = await client.put(
        url,
        headers=warm.auth,
        json={
            "windows": {
                "0": [["08:00", "12:00"], ["11:00", "13:00"]],
                "1": [["18:00", "09:00"]],
                "2": [["25:00", "26:00"]],
                "3": [["10:00", "10:05"]],
            }
        },
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problems = {e["field"]: e["detail"] for e in r.json()["errors"]}
    assert problems == {
        "windows.0.1": "Monday, range 2 overlaps range 1",
        "windows.1.0": "Tuesday, range 1: the start must be before the end (a range that "
        "crosses midnight is split into one range on each day)",
        "windows.2.0": "Wednesday, range 1: enter times as HH:MM (an end of 00:00 is midnight)",
        "windows.3.0": "Thursday, range 1: a range lasts at least 15 minutes",
    }, r.json()
    for body in (
        {"rounds_per_window": 0},
        {"pause_min_s": 30},
        {"pause_min_s": 3600, "pause_max_s": 600},
        {"windows": {"7": [["08:00", "09:00"]]}},
        {"windows": {}},
    ):
        r = await client.put(url, headers=warm.auth, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.put(
        "/api/v1/schedule/default",
        headers=warm.auth,
        json={"windows": {"0": [["09:00", "08:00"]]}, **SCHEDULE},
    )
    assert r.status_code == 422 and r.json()["field"] == "windows.0.0", r.text
    # Nothing was changed by the refused requests.
    r = await client.get(url, headers=warm.auth)
    assert r.json()["source"] == "default"
