"""No secret is ever stored in plaintext, anywhere in the database.

A real round-trip first (numbers created and paired through the simulator, a round of
messages sent and received over real webhooks, an inbound message from a contact and one
sent from the phone, an API token, a dashboard sign-in with a password, a tenant AI key, the
alert targets' secrets),
then every text/json column of every table (discovered, so future tables are covered) is
searched for every secret's plaintext: gateway instance tokens, webhook JWT keys, the AI
key, the alert webhook secret and SMTP password, API token plaintexts, the session id, the
password, and the process-wide keys."""

from __future__ import annotations

import httpx
import psycopg

from mirage.config import get_settings
from mirage.kit import crypto
from tests.conftest import PASSWORD, GatewayWorld, eventually, make_token, sign_in
from tests.conversations.conftest import FAST_SETTINGS, WarmPair, conversation_body, start_now
from tests.conversations.test_rounds_flow import _round_done
from tests.security.scan import occurrences


def _instance_secrets(conninfo: str, tenant_id: object) -> dict[str, str]:
    key = get_settings().resolved_secret_key()
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select gateway_name, token_enc, webhook_secret_enc from instances "
            "where tenant_id = %s",
            (tenant_id,),
        ).fetchall()
    secrets: dict[str, str] = {}
    for name, token_enc, secret_enc in rows:
        secrets[f"gateway token of {name}"] = crypto.decrypt(key, token_enc)
        secrets[f"webhook JWT key of {name}"] = crypto.decrypt(key, secret_enc)
    return secrets


async def test_no_secret_is_stored_in_plaintext_anywhere(
    gw: GatewayWorld, client: httpx.AsyncClient, warm: WarmPair, bootstrap_conninfo: str
) -> None:
    # Evolution's default (.env.example): the instance token rides in every envelope.
    assert gw.sim.config.expose_instance_token
    # A round: sends (SEND_MESSAGE), receipts and the other number's inbound upserts.
    r = await client.post("/api/v1/conversations", headers=warm.auth, json=conversation_body(warm))
    assert r.status_code == 201, r.text
    conv = r.json()
    await start_now(bootstrap_conninfo, conv["id"])
    rnd = await _round_done(client, warm, conv["id"])
    assert rnd["state"] == "completed", rnd["outcome"]
    await client.post(f"/api/v1/conversations/{conv['id']}/pause", headers=warm.auth)
    # An inbound message from a contact, and one sent from the phone itself.
    ana, bia = warm.numbers
    await gw.sim.control.inbound(ana["gateway_name"], "5511955554444", "Oi, tudo bem?")
    await gw.sim.control.phone_send(bia["gateway_name"], "5511955553333", "Mandei do celular")

    async def stored() -> bool:
        with psycopg.connect(bootstrap_conninfo) as conn:
            row = conn.execute(
                "select count(*) from messages where tenant_id = %s and text = any(%s)",
                (warm.tenant.tenant_id, ["Oi, tudo bem?", "Mandei do celular"]),
            ).fetchone()
        return bool(row and row[0] == 2)

    await eventually(stored, what="the contact's and the phone's messages")

    # The other secrets: an AI key, a second API token, a signed-in session.
    ai_key = "sk-test-" + crypto.random_token(24)
    r = await client.put(
        "/api/v1/settings", headers=warm.auth, json={**FAST_SETTINGS, "ai_api_key": ai_key}
    )
    assert r.status_code == 200 and r.json()["ai_key_set"], r.text
    # The alert targets' secrets: the webhook's signing key and the SMTP password.
    alert_secret = "whsec-" + crypto.random_token(24)
    smtp_password = "smtp-" + crypto.random_token(24)
    r = await client.put(
        "/api/v1/alerts/settings",
        headers=warm.auth,
        json={
            "webhook_url": "https://hooks.example.com/mirage",
            "webhook_secret": alert_secret,
            "smtp_host": "smtp.example.com",
            "email_from": "alertas@example.com",
            "email_to": ["noc@example.com"],
            "smtp_username": "mirage",
            "smtp_password": smtp_password,
        },
    )
    assert r.status_code == 200, r.text
    second_token = await make_token(warm.tenant, scopes=("read",))
    await sign_in(client, warm.tenant)
    session_id = client.cookies.get("mirage_session")
    assert session_id

    settings = get_settings()
    secrets = {
        **_instance_secrets(bootstrap_conninfo, warm.tenant.tenant_id),
        "API token": warm.token,
        "second API token": second_token,
        "tenant AI key": ai_key,
        "alert webhook secret": alert_secret,
        "alert SMTP password": smtp_password,
        "session id": session_id,
        "password": PASSWORD,
        "MIRAGE_SECRET_KEY": settings.resolved_secret_key(),
        "gateway global API key": gw.sim.config.api_key,
    }
    assert len(secrets) >= 10  # two numbers' tokens and JWT keys, plus the rest

    # The scan works: values that are meant to be stored are found by it.
    controls = {"Oi, tudo bem?", warm.tenant.slug, ana["gateway_name"]}
    found_controls = {needle for _, needle in occurrences(bootstrap_conninfo, controls)}
    assert found_controls == controls

    leaks = occurrences(bootstrap_conninfo, secrets.values())
    names = {v: k for k, v in secrets.items()}
    assert not leaks, [(column, names[needle]) for column, needle in leaks]
