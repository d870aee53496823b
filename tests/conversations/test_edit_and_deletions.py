"""Conversations are editable, and deleting what they use is handled (issue 9, defect 3):
changing a conversation's numbers mid-round ends the round cleanly (nothing sent twice, the
numbers freed, the next round planned on the new numbers); a deleted number pauses its
conversations with the reason shown; a persona in use is refused with the conversations
named; the edit page keeps what was typed and puts each message on its field."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import GatewayWorld, eventually, sign_in
from tests.conversations.conftest import WarmPair, connect_number, conversation_body, start_now
from tests.conversations.test_repairs import _all, _one


async def _silence(gw: GatewayWorld, numbers: list[dict[str, Any]]) -> None:
    """The gateway stops delivering these numbers' webhooks: a sent turn's reply never comes,
    so the round stays running (awaiting it) for as long as the test needs."""
    for number in numbers:
        r = await gw.sim.http.post(
            f"/webhook/set/{number['gateway_name']}",
            json={"webhook": {"enabled": False, "url": "http://127.0.0.1:9/off"}},
        )
        assert r.status_code == 201, r.text


async def test_changing_numbers_mid_round_ends_it_cleanly_and_sends_nothing_twice(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    digits = str(int(warm.tenant.tenant_id.hex[:7], 16) % 10_000_000).zfill(7)
    third = await connect_number(gw, client, warm.auth, "Cris", f"55119{digits}3")
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    await _silence(gw, warm.numbers)
    await start_now(bootstrap_conninfo, conv["id"])

    async def awaiting() -> Any:
        return _one(
            bootstrap_conninfo,
            "select r.id from rounds r where r.conversation_id = %s and r.state = 'running' "
            "and r.awaiting_instance_id is not null",
            conv["id"],
        )

    round_id = await eventually(awaiting, timeout_s=60, what="a round awaiting a reply")
    members = {
        str(m[0])
        for m in _all(
            bootstrap_conninfo,
            "select instance_id from round_members where round_id = %s and active",
            round_id,
        )
    }
    assert members == {n["id"] for n in warm.numbers}

    # The second number leaves for a third one while the round holds both.
    r = await client.patch(
        f"/api/v1/conversations/{conv['id']}",
        headers=warm.auth,
        json={
            "participants": [
                {"instance_id": warm.numbers[0]["id"], "persona_id": warm.personas[0]["id"]},
                {"instance_id": third["id"], "persona_id": warm.personas[1]["id"]},
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert [p["instance_id"] for p in r.json()["participants"]] == [
        warm.numbers[0]["id"],
        third["id"],
    ]
    state, outcome = _all(
        bootstrap_conninfo, "select state, outcome from rounds where id = %s", round_id
    )[0]
    assert (state, outcome) == ("cancelled", "its numbers changed")
    assert not _one(
        bootstrap_conninfo,
        "select count(*) from round_members where round_id = %s and active",
        round_id,
    )

    # A turn already handed to the gateway (typing) goes out once and is the last; nothing
    # else of the ended round is left to go out, and no turn exists twice.
    async def settled() -> Any:
        turns = _all(
            bootstrap_conninfo,
            "select turn, count(*), bool_and(status in ('sent', 'cancelled', 'unknown', "
            "'failed')) from outgoing_messages where round_id = %s group by turn",
            round_id,
        )
        return turns if turns and all(final for _, _, final in turns) else None

    turns = await eventually(settled, timeout_s=60, what="the ended round's sends settled")
    assert all(count == 1 for _, count, _ in turns), turns
    assert (
        _one(bootstrap_conninfo, "select state from rounds where id = %s", round_id) == "cancelled"
    )  # the late outcome of its last send did not revive it
    # A reply arriving now for the ended round (its timeout job too) changes nothing.
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth
    )  # stop here: the next round is planned on the new numbers
    assert r.status_code == 200
    r = await client.post(f"/api/v1/conversations/{conv['id']}/resume", headers=warm.auth)
    cal = (await client.get("/api/v1/calendar", headers=warm.auth)).json()
    planned = [
        s for s in cal["slots"] if s["conversation_id"] == conv["id"] and s["state"] == "planned"
    ]
    assert planned and all(
        set(s["instance_ids"]) == {warm.numbers[0]["id"], third["id"]} for s in planned
    )
    sent_by_leaver_after = _one(
        bootstrap_conninfo,
        "select count(*) from outgoing_messages o join rounds r on r.id = o.round_id "
        "where r.conversation_id = %s and o.instance_id = %s and o.status = 'planned'",
        conv["id"],
        warm.numbers[1]["id"],
    )
    assert sent_by_leaver_after == 0
    audit = _all(
        bootstrap_conninfo,
        "select details from audit_events where target_id = %s and action = 'conversation.update'",
        conv["id"],
    )
    assert audit and audit[0][0]["changed"] == ["participants"]


async def test_a_deleted_number_pauses_its_conversations_and_they_say_why(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    conv = (
        await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    ).json()
    assert conv["state"] == "active"
    r = await client.delete(f"/api/v1/instances/{warm.numbers[1]['id']}", headers=warm.auth)
    assert r.status_code == 204, r.text
    after = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=warm.auth)).json()
    assert after["state"] == "paused"
    assert after["paused_reason"] == "number_deleted:Bia"
    assert len(after["participants"]) == 1 and after["next_round_at"] is None
    assert not _one(
        bootstrap_conninfo,
        "select count(*) from rounds where conversation_id = %s and state in "
        "('planned', 'running')",
        conv["id"],
    )
    assert not _one(
        bootstrap_conninfo,
        "select count(*) from round_slots where conversation_id = %s and round_id is null",
        conv["id"],
    )
    # It cannot run on one number: resuming is refused, with what to do.
    r = await client.post(f"/api/v1/conversations/{conv['id']}/resume", headers=warm.auth)
    assert r.status_code == 409 and "edit it and choose another number" in r.json()["detail"]
    # Its page says why, in the user's language, with the way out.
    await sign_in(client, warm.tenant)
    page = await client.get(f"/conversations/{conv['id']}")
    assert page.status_code == 200
    assert "Pausada pelo sistema" in page.text and "o número Bia foi excluído" in page.text
    assert f'href="/conversations/{conv["id"]}/edit"' in page.text
    pause = _all(
        bootstrap_conninfo,
        "select details from audit_events where target_id = %s and action = 'conversation.pause'",
        conv["id"],
    )
    assert pause and pause[0][0]["reason"] == "number_deleted"


async def test_a_persona_in_use_is_refused_naming_its_conversations(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    await client.post(
        "/api/v1/conversations",
        headers=warm.auth,
        json=conversation_body(warm, name="Vendas", state="paused"),
    )
    r = await client.delete(f"/api/v1/personas/{warm.personas[0]['id']}", headers=warm.auth)
    assert r.status_code == 409
    assert "this persona is used by: Vendas" in r.json()["detail"], r.text
    csrf = await sign_in(client, warm.tenant)
    page = await client.post(
        f"/personas/{warm.personas[0]['id']}/delete", data={"csrf_token": csrf}
    )
    assert page.status_code == 409
    assert "esta persona é usada por: Vendas" in page.text


async def test_the_edit_page_and_the_schedule_form_keep_what_was_typed_on_errors(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair
) -> None:
    conv = (
        await client.post(
            "/api/v1/conversations", headers=warm.auth, json=conversation_body(warm, state="paused")
        )
    ).json()
    csrf = await sign_in(client, warm.tenant)
    page = await client.get(f"/conversations/{conv['id']}/edit")
    assert page.status_code == 200 and 'name="instance_3"' in page.text
    base = {
        "csrf_token": csrf,
        "name": "Renomeada",
        "topics": "cinema, praia",
        "delay_min_s": "5",
        "delay_max_s": "3",  # below the minimum
        "instance_0": warm.numbers[0]["id"],
        "persona_0": warm.personas[0]["id"],
        "instance_1": warm.numbers[0]["id"],  # the same number twice
        "persona_1": warm.personas[1]["id"],
    }
    r = await client.post(f"/conversations/{conv['id']}/edit", data=base)
    assert r.status_code == 422
    # Every problem at once, each on its field, in pt-BR; what was typed is kept.
    for text in (
        "o atraso máximo deve ser pelo menos o mínimo",
        "um número só pode participar uma vez",
    ):
        # on its field: the error has the id its input's aria-describedby names
        assert re.search(
            f'<span class="field-error" id="([^"]+-error)" role="alert">{text}', r.text
        )
    assert 'value="Renomeada"' in r.text and 'aria-invalid="true"' in r.text
    good = {**base, "delay_max_s": "9", "instance_1": warm.numbers[1]["id"]}
    r = await client.post(f"/conversations/{conv['id']}/edit", data=good)
    assert r.status_code == 303, r.text
    after = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=warm.auth)).json()
    assert after["name"] == "Renomeada" and after["topics"] == ["cinema", "praia"]
    assert (after["delay_min_s"], after["delay_max_s"]) == (5, 9)

    # Its windows, in the calendar's week grid.
    grid = {
        "csrf_token": csrf,
        "source": "own",
        "cols": "3",
        "w0_0_start": "08:00",
        "w0_0_end": "12:00",
        "w0_2_start": "11:00",  # overlaps the morning, typed in the night column
        "w0_2_end": "13:00",
        "rounds_per_window": "0",
        "pause_min_m": "30",
        "pause_max_m": "10",
    }
    r = await client.post(f"/conversations/{conv['id']}/schedule", data=grid)
    assert r.status_code == 422
    for text in (
        "Segunda-feira, faixa 3 se sobrepõe à faixa 1",
        "Rodadas por janela: entre 1 e 50",
        "a pausa mais curta não pode ser maior que a mais longa",
    ):
        # on its field: the error has the id its input's aria-describedby names
        assert re.search(
            f'<span class="field-error" id="([^"]+-error)" role="alert">{text}', r.text
        )
    assert 'class="has-error"' in r.text and 'value="11:00"' in r.text
    fixed = {**grid, "w0_2_start": "19:00", "w0_2_end": "00:00", "rounds_per_window": "2"}
    r = await client.post(
        f"/conversations/{conv['id']}/schedule", data={**fixed, "pause_max_m": "60"}
    )
    assert r.status_code == 303, r.text
    after = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=warm.auth)).json()
    assert after["schedule"] == {
        "source": "own",
        "windows": {"0": [["08:00", "12:00"], ["19:00", "00:00"]]},
        "rounds_per_window": 2,
        "pause_min_s": 1800,
        "pause_max_s": 3600,
    }
