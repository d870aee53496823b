"""End to end against the simulator (real HTTP, real webhooks, the worker): a simulated
contact replies PARAR to a running campaign. It gets exactly one confirmation, from the number
it wrote to, and nothing more from any number — a second PARAR, a second campaign from every
number — while the others keep receiving. What the simulated network delivered is the proof,
not Mirage's own rows."""

from __future__ import annotations

import httpx

from mirage.outreach.schemas import DEFAULT_CONFIRMATION
from tests.conftest import GatewayWorld, eventually, sign_in, sql
from tests.outreach.conftest import campaign_world, draft, recipients, wait_all

DONE = {"sent", "delivered", "read", "replied", "failed", "expired", "skipped"}


async def test_a_contact_who_says_parar_gets_one_confirmation_and_nothing_more(
    gw: GatewayWorld, client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    w = await campaign_world(
        gw,
        client,
        numbers=2,
        contacts=[{"behavior": "ignore"}] * 4,
        settings={"delay_min_s": 20, "delay_max_s": 40},
    )
    a, b = (n["id"] for n in w.numbers)
    sender_a = str(next(n["phone"] for n in w.numbers if n["id"] == a)).lstrip("+")
    phones = [c["phone_e164"].lstrip("+") for c in w.contacts]

    async def delivered_to(number: str) -> list[dict[str, object]]:
        return [m for m in await gw.sim.control.messages() if m["to"] == number]

    # The first campaign goes out from A alone, at a human pace.
    first = await draft(w, client, "Primeira")
    r = await client.post(
        f"/api/v1/campaigns/{first}/start", headers=w.auth, json={"sender_ids": [a]}
    )
    assert r.status_code == 200, r.text

    async def first_reached() -> list[str] | None:
        log = await gw.sim.control.messages()
        reached = [str(m["to"]) for m in log if m["to"] in phones]
        return reached or None

    reached = await eventually(first_reached, timeout_s=60, what="a first campaign message")
    # Whoever got it first answers PARAR — mid-campaign: A still owes the others theirs.
    leaver = reached[0]
    others = [p for p in phones if p != leaver]
    assert len(reached) < len(phones)
    await gw.sim.control.contact_send(leaver, sender_a, "PARAR")

    async def confirmed() -> list[tuple[object, ...]] | None:
        rows = await sql(
            bootstrap_conninfo,
            "select instance_id::text, status from outgoing_messages where tenant_id = %s "
            "and purpose = 'optout_confirm'",
            w.tenant.tenant_id,
        )
        return rows if rows and rows[0][1] == "sent" else None

    assert await eventually(confirmed, timeout_s=90, what="the confirmation sent") == [(a, "sent")]
    rows = await wait_all(bootstrap_conninfo, first, DONE, timeout_s=90)
    # The first campaign's funnel counts the opt-out that answered its message.
    f = (await client.get(f"/api/v1/campaigns/{first}/funnel", headers=w.auth)).json()
    assert f["opted_out"] == 1
    r = await client.get(f"/api/v1/campaigns/{first}/recipients", headers=w.auth)
    marked = [x["phone_e164"] for x in r.json()["items"] if x["opted_out_at"]]
    assert marked == ["+" + leaver]
    await sign_in(client, w.tenant)
    page = (await client.get(f"/campaigns/{first}")).text
    assert page.count("data-opted-out") == 1 and 'data-status="opted_out"' in page
    assert all(
        r["status"] in ("sent", "delivered", "read") for r in rows if r["phone"] != "+" + leaver
    )

    # The others kept receiving after the PARAR: each got the first campaign's message.
    log = await gw.sim.control.messages()
    assert all(sum(1 for m in log if m["to"] == p) == 1 for p in others)
    # The person writes again, to both numbers: still the one confirmation.
    for number in w.numbers:
        await gw.sim.control.contact_send(leaver, number["phone"], "PARAR!!")

    async def stored_inbound() -> bool:
        found = await sql(
            bootstrap_conninfo,
            "select count(*) from messages where tenant_id = %s and text = 'PARAR!!'",
            w.tenant.tenant_id,
        )
        return found[0][0] == 2

    await eventually(stored_inbound, timeout_s=30, what="both PARAR stored")

    # A second campaign from every number: the others receive again, the person does not.
    second = await draft(w, client, "Segunda")
    r = await client.post(
        f"/api/v1/campaigns/{second}/start", headers=w.auth, json={"sender_ids": [a, b]}
    )
    assert r.status_code == 200, r.text
    rows = await wait_all(bootstrap_conninfo, second, DONE, timeout_s=90)
    by = {str(x["phone"]).lstrip("+"): x for x in rows}
    assert (by[leaver]["status"], by[leaver]["reason"]) == ("skipped", "suppressed")
    for number in others:
        assert by[number]["status"] in ("sent", "delivered", "read")

    async def all_second_delivered() -> bool:
        log = await gw.sim.control.messages()
        return all(sum(1 for m in log if m["to"] == n) == 2 for n in others)

    await eventually(all_second_delivered, timeout_s=30, what="the others' second messages")
    to_leaver = await delivered_to(leaver)
    # Exactly two messages ever reached the person: the first campaign's, then the one
    # confirmation (from A, the number they wrote to) — nothing from B, nothing after.
    assert len(to_leaver) == 2, to_leaver
    assert to_leaver[1]["text"] == DEFAULT_CONFIRMATION
    assert {m["from"] for m in to_leaver} == {sender_a}
    assert len(await recipients(bootstrap_conninfo, second)) == 4
    f = (await client.get(f"/api/v1/campaigns/{second}/funnel", headers=w.auth)).json()
    assert f["opted_out"] == 0  # the person never heard from the second one
