"""The dashboard's alerts page: the open alerts (and the overview's pointer to them), the
open/resolved filter, the targets form (errors next to their fields, secrets never shown
back) and the test button."""

from __future__ import annotations

import uuid

import httpx

from mirage.db.deps import bind_context
from mirage.db.engine import session_scope
from mirage.kit.clock import utcnow
from mirage.models import Instance
from mirage.policy import Band
from mirage.providers import ConnectionState
from mirage.safety import alerts
from tests.conftest import make_tenant, sign_in, sql


async def test_the_alerts_page_lists_filters_and_configures(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant()
    iid = uuid.uuid4()
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=None)
        inst = Instance(
            id=iid,
            tenant_id=t.tenant_id,
            display_name="Loja Centro",
            gateway_name=f"view-{iid.hex}",
            token_enc="x",
            webhook_secret_enc="x",
            state=ConnectionState.OPEN,
            owner_jid="5511900000003@s.whatsapp.net",
            needs_pairing=False,
        )
        session.add(inst)
        await session.flush()
        await alerts.on_band(session, inst, Band.RED, "risk score 61", utcnow())
    csrf = await sign_in(client, t)
    await client.post("/language", data={"lang": "en", "csrf_token": csrf})

    page = await client.get("/alerts")
    assert page.status_code == 200
    assert "Loja Centro" in page.text and 'data-state="open"' in page.text
    resolved = await client.get("/alerts?state=resolved")
    assert "Loja Centro" not in resolved.text and 'id="no-alerts"' in resolved.text
    home = await client.get("/")
    assert 'data-alert="safety_alerts_open"' in home.text and 'href="/alerts"' in home.text

    # Nothing to test yet.
    r = await client.post("/alerts/test", data={"csrf_token": csrf})
    assert r.status_code == 422 and "no alert target is set" in r.text

    form = {
        "csrf_token": csrf,
        "webhook_url": "http://169.254.169.254/latest",
        "webhook_secret": "a-very-long-secret-123",
        "email_to": "",
        "email_from": "",
        "smtp_host": "",
        "smtp_port": "",
        "smtp_security": "starttls",
        "smtp_username": "",
        "smtp_password": "",
    }
    r = await client.post("/alerts/settings", data=form)
    assert r.status_code == 422
    assert 'id="f-webhook_url-error"' in r.text and "link-local" in r.text
    assert "a-very-long-secret-123" not in r.text  # a secret is never shown back

    form["webhook_url"] = "https://hooks.example.com/mirage"
    r = await client.post("/alerts/settings", data=form)
    assert r.status_code == 303, r.text[:2000]
    page = await client.get("/alerts")
    assert "https://hooks.example.com/mirage" in page.text
    assert "A secret is set: leave empty to keep it." in page.text
    assert "a-very-long-secret-123" not in page.text

    r = await client.post("/alerts/test", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/alerts?state=all&tested=1"
    rows = await sql(
        bootstrap_conninfo,
        "select kind, resolved_at is not null from safety_alerts where tenant_id = %s "
        "and kind = 'test'",
        t.tenant_id,
    )
    assert rows == [("test", True)]


async def test_below_admin_the_webhook_url_is_masked_and_the_form_absent(
    client: httpx.AsyncClient, bootstrap_conninfo: str
) -> None:
    t = await make_tenant("viewer")
    await sql(
        bootstrap_conninfo,
        "insert into tenant_settings (id, tenant_id, alert_webhook_url, alert_webhook_secret_enc) "
        "values (gen_random_uuid(), %s, %s, 'x') on conflict (tenant_id) do update set "
        "alert_webhook_url = excluded.alert_webhook_url, "
        "alert_webhook_secret_enc = excluded.alert_webhook_secret_enc",
        t.tenant_id,
        "https://hooks.example.com/services/T000/B000/token-in-the-path",
    )
    await sign_in(client, t)
    page = await client.get("/alerts")
    assert page.status_code == 200
    assert "token-in-the-path" not in page.text and "https://hooks.example.com/…" in page.text
    assert 'action="/alerts/settings"' not in page.text
