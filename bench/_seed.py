"""Seeding a bench's Mirage the way an operator would: the CLI, the dashboard, the API and the
simulator's control plane (bench/_stack.py starts the processes). Shared by bench/faults.py and
bench/fleet.py, so both measure the same kind of fleet."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from bench._stack import MIRAGE, SIM_KEY, Stack, wait_for
from mirage.kit.http import limits as pool_limits

# Both benches' conversations are between these two personas.
PERSONA = {
    "style": "casual",
    "vocabulary": ["top", "massa"],
    "emoji_rate": 0.3,
    "typo_rate": 0.05,
    "min_length": 10,
    "max_length": 120,
    "greetings": {"morning": ["Bom dia!"], "afternoon": ["Boa tarde!"], "night": ["Boa noite!"]},
}
PERSONA_NAMES = ("Carla", "Duda")


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Db:
    """The bench's own view of the database (superuser: sees every tenant)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            return list(conn.execute(query, params).fetchall())

    def one(self, query: str, *params: Any) -> Any:
        rows = self.rows(query, *params)
        return rows[0][0] if rows else None


def cli(stack: Stack, *args: str) -> str:
    out = subprocess.run(
        [MIRAGE, *args], env=stack.env, cwd=stack.logs, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"mirage {' '.join(args[:2])} failed: {out.stdout}{out.stderr}")
    return out.stdout


def sim_call(stack: Stack, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(
        method, f"{stack.sim}/_sim{path}", headers={"apikey": SIM_KEY}, timeout=30, **kw
    )
    r.raise_for_status()
    return r.json() if r.content else None


def checked(r: httpx.Response, what: str, ok: int = 201) -> dict[str, Any]:
    if r.status_code != ok:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")
    return dict(r.json())


def sign_in(c: httpx.Client, email: str, password: str) -> httpx.Response:
    c.get("/signin")
    return c.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": c.cookies.get("mirage_csrf", "")},
    )


def enroll_mfa(web: httpx.Client) -> None:
    """Enroll the signed-in user's authenticator as they would in the dashboard (the secret
    shown in text, confirmed with a code computed from it): sensitive operations, such as
    creating an API token, need it and a fresh verification (which the confirmation is)."""
    from mirage.auth import mfa

    r = web.post(
        "/account/security/enroll", data={"csrf_token": web.cookies.get("mirage_csrf", "")}
    )
    if r.status_code >= 400:
        raise RuntimeError(f"MFA enrollment: {r.status_code}")
    page = web.get("/account/security")
    m = re.search(r'id="mfa-secret">([^<]+)<', page.text)
    if m is None:
        raise RuntimeError("MFA enrollment: no secret on the page")
    secret = m.group(1).strip()
    code = mfa.code_at(secret, mfa.time_step(datetime.now(UTC)))
    r = web.post(
        "/account/security/confirm",
        data={"code": code, "csrf_token": web.cookies.get("mirage_csrf", "")},
    )
    if r.status_code != 200:
        raise RuntimeError(f"MFA confirmation: {r.status_code}")


def owner_with_token(
    stack: Stack, db: Db, *, name: str, slug: str, email: str, password: str
) -> tuple[str, str]:
    """A tenant and its owner (CLI), then an API token made in the dashboard as that owner.
    Returns (tenant id, token)."""
    cli(stack, "tenant", "create", name, "--slug", slug)
    cli(
        stack, "user", "create", email, "--tenant", slug, "--role", "owner",
        "--password", password,
    )  # fmt: skip
    tenant_id = str(db.one("select id from tenants where slug = %s", slug))
    with httpx.Client(limits=pool_limits(), base_url=stack.api, timeout=30) as web:
        r = sign_in(web, email, password)
        if r.status_code >= 400:
            raise RuntimeError(f"sign-in {email}: {r.status_code}")
        enroll_mfa(web)
        r = web.post(
            "/settings/tokens",
            data={
                "name": f"{slug} bench",
                "scopes": ["read", "write", "admin"],
                "expires_in_days": "0",
                "csrf_token": web.cookies.get("mirage_csrf", ""),
            },
        )
        m = re.search(r'id="new-token-value">([^<]+)<', r.text)
        if r.status_code != 201 or m is None:
            raise RuntimeError(f"token for {email} not created: {r.status_code}")
        return tenant_id, m.group(1).strip()


def pair(stack: Stack, api: httpx.Client, auth: dict[str, str], inst: dict[str, Any]) -> None:
    """Connect through the API, scan in the simulator, wait until Mirage sees it open."""
    r = api.post(f"/api/v1/instances/{inst['id']}/connect", headers=auth)
    if r.status_code >= 400:
        raise RuntimeError(f"connect {inst['display_name']}: {r.status_code} {r.text}")
    wait_for(
        f"a QR for {inst['display_name']}",
        lambda: sim_call(
            stack,
            "POST",
            f"/instances/{inst['gateway_name']}/scan",
            json={"number": inst["bench_phone"], "profileName": inst["display_name"]},
        ),
        30,
        0.5,
    )
    wait_for(
        f"{inst['display_name']} open",
        lambda: api.get(f"/api/v1/instances/{inst['id']}", headers=auth).json()["connected"],
        60,
        0.5,
    )


def personas_and_settings(
    api: httpx.Client, auth: dict[str, str], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The two personas, and the tenant's cadence settings; returns the personas."""
    personas = [
        checked(api.post("/api/v1/personas", headers=auth, json={"name": n, **PERSONA}), "persona")
        for n in PERSONA_NAMES
    ]
    checked(api.put("/api/v1/settings", headers=auth, json=settings), "settings", 200)
    return personas


def start_pair_conversation(
    api: httpx.Client,
    auth: dict[str, str],
    k: int,
    a: dict[str, Any],
    b: dict[str, Any],
    personas: list[dict[str, Any]],
) -> dict[str, Any]:
    """Conversation ``Pair k`` between numbers ``a`` and ``b``, any hour of any day."""
    body = {
        "name": f"Pair {k + 1}",
        "participants": [
            {"instance_id": a["id"], "persona_id": personas[0]["id"]},
            {"instance_id": b["id"], "persona_id": personas[1]["id"]},
        ],
        "topics": ["futebol", "trabalho", "fim de semana"],
        "rounds_per_window": 50,
        "windows": {str(d): [["00:00", "00:00"]] for d in range(7)},
    }
    return checked(api.post("/api/v1/conversations", headers=auth, json=body), "conversation")


def mature(db: Db, tenant_id: str | None = None) -> None:
    """Numbers connected 60 days ago: the warm-up ramp (20 messages on day 0) is not what the
    benches measure, and a turn it defers to tomorrow would hold its round until then."""
    if tenant_id is None:
        db.rows("update instances set first_connected_at = now() - interval '60 days' returning id")
    else:
        db.rows(
            "update instances set first_connected_at = now() - interval '60 days' "
            "where tenant_id = %s returning id",
            tenant_id,
        )
